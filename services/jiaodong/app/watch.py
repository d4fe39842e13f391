"""In-process fan-out of committed changes to gRPC watch streams."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from jiaodong.v1 import delegation_pb2 as pb


@dataclass(frozen=True)
class Change:
    """A delegation after a committed change, and the event that made it (if any)."""

    delegation: pb.Delegation
    event: pb.DelegationEvent | None


_END = object()
_BEHIND = object()


class WatchBehind(Exception):
    """A watcher fell too far behind and was dropped; it should reconnect and re-list."""


class Broadcaster:
    """Each watcher gets its own bounded queue; a watcher that falls behind is dropped."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self._queues: set[asyncio.Queue[object]] = set()
        self._size = queue_size
        # Which courts each watcher hears of (None: all), rebuilt whole on every change so the
        # database thread can read it without a lock (one reference, swapped at once).
        self._courts: dict[asyncio.Queue[object], frozenset[str] | None] = {}
        self._interest: tuple[frozenset[str] | None, ...] = ()

    def wants(self, courts: Iterable[str]) -> bool:
        """Whether any watcher hears of a delegation between ``courts`` (building a change for
        nobody cost a full view per message; docs/benchmarks.md)."""
        interest = self._interest
        if not interest:
            return False
        wanted = [c for c in courts if c]
        return any(w is None or any(c in w for c in wanted) for w in interest)

    def _listen(self, queue: asyncio.Queue[object], courts: frozenset[str] | None) -> None:
        self._queues.add(queue)
        self._courts[queue] = courts
        self._interest = tuple(self._courts.values())

    def _forget(self, queue: asyncio.Queue[object]) -> None:
        self._queues.discard(queue)
        self._courts.pop(queue, None)
        self._interest = tuple(self._courts.values())

    def publish(self, changes: list[Change]) -> None:
        for queue in list(self._queues):
            for change in changes:
                try:
                    queue.put_nowait(change)
                except asyncio.QueueFull:
                    self._forget(queue)
                    self._force(queue, _BEHIND)
                    break

    async def watch(
        self, keep: Callable[[Change], bool], courts: Iterable[str] | None = None
    ) -> AsyncIterator[Change]:
        """Changes that ``keep`` accepts, among those of delegations between ``courts`` (None:
        of every delegation)."""
        queue: asyncio.Queue[object] = asyncio.Queue(self._size)
        self._listen(queue, None if courts is None else frozenset(courts))
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if item is _BEHIND:
                    raise WatchBehind("this watch fell too far behind; reconnect and list again")
                assert isinstance(item, Change)
                if keep(item):
                    yield item
        finally:
            self._forget(queue)

    def close(self) -> None:
        """End every watch stream (service shutdown)."""
        for queue in list(self._queues):
            self._force(queue, _END)
        self._queues.clear()
        self._courts.clear()
        self._interest = ()

    @staticmethod
    def _force(queue: asyncio.Queue[object], item: object) -> None:
        """Put a control item even into a full queue (dropping the oldest change)."""
        while True:
            try:
                queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()

    @property
    def watchers(self) -> int:
        return len(self._queues)
