"""In-process fan-out of committed changes to gRPC watch streams."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from jiaodong.v1 import delegation_pb2 as pb


@dataclass(frozen=True)
class Change:
    """A delegation after a committed change, and the event that made it (if any)."""

    delegation: pb.Delegation
    event: pb.DelegationEvent | None


class Broadcaster:
    """Each watcher gets its own bounded queue; a watcher that falls behind is dropped."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self._queues: set[asyncio.Queue[Change | None]] = set()
        self._size = queue_size

    def publish(self, changes: list[Change]) -> None:
        for queue in list(self._queues):
            for change in changes:
                try:
                    queue.put_nowait(change)
                except asyncio.QueueFull:
                    self._queues.discard(queue)
                    with contextlib.suppress(asyncio.QueueFull):
                        queue.put_nowait(None)
                    break

    async def watch(self, keep: Callable[[Change], bool]) -> AsyncIterator[Change]:
        queue: asyncio.Queue[Change | None] = asyncio.Queue(self._size)
        self._queues.add(queue)
        try:
            while True:
                change = await queue.get()
                if change is None:
                    raise OverflowError("watcher fell too far behind; reconnect and re-list")
                if keep(change):
                    yield change
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        self._queues.clear()

    @property
    def watchers(self) -> int:
        return len(self._queues)
