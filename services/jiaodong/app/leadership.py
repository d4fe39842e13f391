"""Which coordinator replica acts: the lease holder is active, every other replica waits.

Only the active replica consumes the bus, relays the outbox and sweeps the SLA clocks (its
*duty*); every replica answers reads from the shared database. A standby tries the lease every
``poll`` seconds and, on taking it, starts the duty from what the database holds. The active one
checks the lease every ``check`` seconds and stops the duty the moment it cannot confirm it, then
waits as a standby again.

Double action is excluded by the lease and, in the short window a lost lease takes to notice,
made harmless by what already holds everywhere: messages go to one consumer of the shared durable
consumer and are applied once (the inbox), re-published rows are dropped by ``Nats-Msg-Id``, and
SLA claims are version-checked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from jiaodong.domain.errors import NotActive
from jiaodong.store.lease import Lease

log = structlog.get_logger("jiaodong.coordinator")


class Duty(Protocol):
    """What only the active replica runs."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Replica:
    """This replica's part right now, for the gRPC edge: writes need the active one."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.active = False
        self.holder = ""  # the active replica's address, as last seen

    def require_active(self) -> None:
        """Raise NotActive (naming the active replica) unless this replica is active."""
        if not self.active:
            raise NotActive(self.holder)


class Leadership:
    """The lease loop of one replica. ``on_change(active)`` runs after each switch (health)."""

    def __init__(
        self,
        lease: Lease,
        duty: Duty,
        replica: Replica,
        *,
        poll: float = 1.0,
        check: float = 1.0,
        on_change: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        self.lease = lease
        self.duty = duty
        self.replica = replica
        self.poll = poll
        self.check = check
        self.on_change = on_change
        self.takeovers = 0

    async def try_first(self) -> bool:
        """At start: take the lease if it is free and start the duty (a failure to start, such as
        an unreachable broker, releases the lease and propagates, as a start failure did before
        there were replicas). False: another replica is active; ``run`` waits for it."""
        if not await self.lease.try_acquire():
            return False
        try:
            await self.duty.start()
        except BaseException:
            await self.lease.release()
            raise
        await self._became_active(0.0)
        return True

    async def run(self) -> None:
        """Forever: wait for the lease, act while holding it, stop acting when it is lost."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self.replica.active:
                    await self._wait_for_lease(loop.time())
                await self._hold()
                await self._step_down()
                # Let the standbys take it first: a replica whose link to the database just
                # failed is the worst candidate (alone, it takes the lease back after the pause).
                await asyncio.sleep(self.poll * 2)
        finally:
            # Cancelled (the service stops): stop the duty before letting the lease go, so the
            # next holder does not start while this one still acts.
            if self.replica.active:
                await self._step_down()

    async def _wait_for_lease(self, since: float) -> None:
        loop = asyncio.get_running_loop()
        announced: str | None = None
        while True:
            if await self.lease.try_acquire():
                try:
                    await self.duty.start()
                except asyncio.CancelledError:
                    await self._safely(self.duty.stop())
                    await self.lease.release()
                    raise
                except Exception as exc:  # noqa: BLE001 - cannot act (broker down): let another try
                    log.error("coordinator_activation_failed", error=str(exc)[:300])
                    await self._safely(self.duty.stop())
                    await self.lease.release()
                    await asyncio.sleep(self.poll * 3)
                    continue
                await self._became_active(loop.time() - since)
                return
            holder = await self.lease.holder()
            self.replica.holder = holder
            if holder != announced:
                announced = holder
                log.info("coordinator_standby", replica=self.replica.address, active=holder)
            await asyncio.sleep(self.poll)

    async def _became_active(self, waited: float) -> None:
        self.replica.active = True
        self.replica.holder = self.replica.address
        self.takeovers += 1
        log.info("coordinator_active", replica=self.replica.address, waited_s=round(waited, 2))
        if self.on_change is not None:
            await self._safely(self.on_change(True))

    async def _hold(self) -> None:
        """Return when the lease can no longer be confirmed."""
        while await self.lease.alive():
            await asyncio.sleep(self.check)
        log.error("coordinator_lease_lost", replica=self.replica.address)

    async def _step_down(self) -> None:
        """Stop acting at once: writes refused first, then consumer, relay and sweeps stopped,
        then the lease let go (if the session still holds it)."""
        self.replica.active = False
        self.replica.holder = ""
        if self.on_change is not None:
            await self._safely(self.on_change(False))
        await self._safely(self.duty.stop())
        await self.lease.release()
        log.info("coordinator_stepped_down", replica=self.replica.address)

    @staticmethod
    async def _safely(work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as exc:  # noqa: BLE001 - stepping down must finish whatever fails
            log.error("coordinator_switch_failed", error=str(exc)[:300])


async def cancel_all(tasks: list[asyncio.Task[None]], timeout: float = 5.0) -> None:
    """Cancel ``tasks`` and wait (bounded) until they end."""
    for task in tasks:
        task.cancel()
    if tasks:
        with contextlib.suppress(Exception):
            await asyncio.wait(tasks, timeout=timeout)
    tasks.clear()
