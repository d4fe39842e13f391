"""One computation of the board's figures for many screens at once.

Every change in the region makes every open board fetch its figures again; with several screens
per command centre the same figures would be counted once per screen. Here concurrent requests
for the same key share one computation that *started after they arrived*, so none gets figures
older than its own request (a screen told of a change always sees it), and at most one
computation runs and one waits per key, however many screens ask.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Coalesced(Generic[T]):
    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[Any]] = {}
        self._waiting: dict[Hashable, asyncio.Future[Any]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = asyncio.ensure_future(self._next(key, compute))
            self._waiting[key] = waiting
        # Shielded: a screen that goes away does not cancel the others' answer.
        result: T = await asyncio.shield(waiting)
        return result

    async def _next(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is not None:
            with contextlib.suppress(Exception):  # its failure is its own callers'
                await asyncio.shield(running)
        this = self._waiting.pop(key)
        self._running[key] = this  # requests from now on wait for the next computation
        try:
            return await compute()
        finally:
            if self._running.get(key) is this:
                del self._running[key]
