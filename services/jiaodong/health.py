"""Health that means something: a service is SERVING only while its database answers, its NATS
link is connected and its consumers make progress; NOT_SERVING otherwise, with the reason logged
once per change.

``HealthWatch`` asks every ``period`` seconds (and at once when told, e.g. on a leadership
change) and sets the gRPC health statuses (grpc_health.v1) that grpc_health_probe, Kubernetes and
``jiaodong up`` read; the HTTP readiness probe (jiaodong.probes) reads the same answer. What is
asked is given as functions by the composition root (jiaodong.bootstrap): this module imports
nothing of the project.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from grpc_health.v1 import health_pb2

log = structlog.get_logger("jiaodong.health")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# How long the database may take to answer SELECT 1 before it counts as down.
DATABASE_SECONDS = 2.0


class HealthWatch:
    """``database``: answers SELECT 1 (True) or raises; ``link``: why the NATS link is unhealthy,
    None when it is fine, or None as the function itself when there is no link to check (a
    standby coordinator replica runs none). ``services``: the gRPC service names set to the
    service's health ("" included); ``acting``: the names SERVING only while ``active()`` too
    (the coordinator's service on its active replica)."""

    def __init__(
        self,
        name: str,
        servicer: Any,
        database: Callable[[], Awaitable[bool]],
        link: Callable[[], Callable[[], str | None] | None],
        services: Sequence[str] = ("",),
        acting: Sequence[str] = (),
        active: Callable[[], bool] = lambda: True,
        period: float = 1.0,
    ) -> None:
        self.name = name
        self.servicer = servicer
        self.database = database
        self.link = link
        self.services = tuple(services)
        self.acting = tuple(acting)
        self.active = active
        self.period = period
        self.reason = "starting"
        self.ready = False
        # NOT_SERVING whatever the checks say until the service has started as what it is (the
        # coordinator: active with its consumers running, or a standby).
        self.starting = False
        # Set when the service begins to stop: no more looks (the database closes next).
        self.closed = False
        self._set: dict[str, int] = {}
        self._lock = asyncio.Lock()

    def readiness(self) -> tuple[bool, str]:
        """For the HTTP probe: whether SERVING, and why not."""
        return self.ready, self.reason

    async def trouble(self) -> str | None:
        """What is wrong now (one line, no personal data), or None."""
        if self.starting:
            return "starting"
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation
            # that arrives as its inner call completes, and this loop would then never end.
            async with asyncio.timeout(DATABASE_SECONDS):
                answered = await self.database()
            if not answered:
                return "database: SELECT 1 gave a wrong answer"
        except TimeoutError:
            return f"database: no answer within {DATABASE_SECONDS:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure means the database is not usable
            return f"database: {type(exc).__name__}"
        check = self.link()
        return check() if check is not None else None

    async def apply(self) -> None:
        """Set the statuses again from the last look and the replica's role now, asking
        nothing: a coordinator stepping down (also while it stops) must not wait on its
        database or link to say it no longer acts."""
        if self.closed:
            return
        status = SERVING if self.ready else NOT_SERVING
        acting = SERVING if self.ready and self.active() else NOT_SERVING
        for name in self.services:
            await self._put(name, status)
        for name in self.acting:
            await self._put(name, acting)

    async def refresh(self) -> None:
        """Ask now and set the statuses; log the reason when the answer changes."""
        if self.closed:  # the service is stopping: its database may be closed already
            return
        async with self._lock:
            reason = await self.trouble()
            ready = reason is None
            if ready != self.ready or (reason is not None and reason != self.reason):
                if ready:
                    log.info("health_serving", service=self.name, was=self.reason)
                else:
                    log.warning("health_not_serving", service=self.name, reason=reason)
            self.ready, self.reason = ready, reason or ""
            await self.apply()

    async def _put(self, name: str, status: int) -> None:
        if self._set.get(name) != status:
            await self.servicer.set(name, status)
            self._set[name] = status

    async def run(self) -> None:
        """Refresh every ``period`` seconds until cancelled or the service stops (``closed``)."""
        while not self.closed:
            await asyncio.sleep(self.period)
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - the watch must outlive any failure
                log.error("health_watch_failed", service=self.name, error=type(exc).__name__)
