"""What only the active coordinator replica runs: the bus consumer, the outbox relay, the SLA
sweeps and housekeeping. Started when the replica takes the lease, stopped when it loses it
(see jiaodong.app.leadership); each start begins from what the database holds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from jiaodong.app import controls
from jiaodong.app.coordinator import Coordinator
from jiaodong.app.leadership import cancel_all
from jiaodong.app.sla import SlaEngine
from jiaodong.bus.subjects import coordinator_consumer, coordinator_digest_consumer
from jiaodong.bus.transport import Transport

log = structlog.get_logger("jiaodong.coordinator")


class CoordinatorDuty:
    """``make_transport`` builds an unstarted transport (a stopped one cannot start again, so
    each activation gets a new one); ``background`` the further tasks of the active replica
    (housekeeping). ``on_transport`` hears of each new transport (the running service's
    handle)."""

    def __init__(
        self,
        coordinator: Coordinator,
        make_transport: Callable[[], Transport],
        sweep_seconds: float,
        background: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.make_transport = make_transport
        self.sweep_seconds = sweep_seconds
        self.background = background
        self.transport = make_transport()
        self.on_transport: Callable[[Transport], None] = lambda _: None
        self._tasks: list[asyncio.Task[None]] = []
        self._starts = 0

    async def start(self) -> None:
        if self._starts:
            # A takeover: the files may have changed since this replica started (an operator's
            # RecomputeSla on the previous active one reloaded them there).
            self._reload_sla()
            self.transport = self.make_transport()
            self.on_transport(self.transport)
        self._starts += 1
        coordinator = self.coordinator
        coordinator.set_relay_wake(self.transport.wake)
        # Digests have a consumer of their own, one chunk per transaction: never in front of syncs.
        await self.transport.start(
            coordinator_consumer(),
            coordinator.on_message,
            coordinator.on_messages,
            also=[(coordinator_digest_consumer(), coordinator.on_message)],
        )
        # Operators' questions to the nodes go out on this replica's link while it is active.
        coordinator.set_node_link(self.transport.request)
        self._tasks = [
            asyncio.create_task(coordinator.run_sweeper(self.sweep_seconds), name="sla-sweeper"),
            asyncio.create_task(self._backfill(), name="report-backfill"),
            asyncio.create_task(self._rewatch(), name="controls-rewatch"),
        ]
        if self.background is not None:
            self._tasks.append(asyncio.create_task(self.background(), name="housekeeping"))

    async def stop(self) -> None:
        """Sweeps first (they only write the database), then the bus, bounded in time."""
        await cancel_all(self._tasks)
        self.coordinator.set_relay_wake(lambda: None)
        self.coordinator.set_node_link(None)
        # Open board watches end: this replica hears of no further change (clients reconnect).
        self.coordinator.broadcaster.close()
        try:
            await asyncio.wait_for(self.transport.stop(), timeout=20)
        except TimeoutError:
            log.error("stop_stage_timed_out", service="coordinator", stage="bus", seconds=20)

    async def _backfill(self) -> None:
        """Delegations stored before the report facts existed get theirs (once; a no-op after)."""
        written = await self.coordinator.backfill_facts()
        if written:
            log.info("report_facts_backfilled", delegations=written)

    async def _rewatch(self) -> None:
        """The watches' renewal dates on the calendar as it is now (a new year's holidays may have
        been added since they were written); the sweep then moves what changed. Once, beside the
        sweeper, not before the link starts: a takeover does not wait for it."""
        coordinator = self.coordinator
        sla = coordinator.sla
        try:
            moved = await coordinator.db.run(
                lambda s: controls.rewatch(
                    s, sla.policy.renewal, sla.calendar, coordinator.clock.now()
                )
            )
        except Exception as exc:  # noqa: BLE001 - the dates stay as written; recompute fixes them
            log.error("controls_rewatch_failed", error=type(exc).__name__)
            return
        if moved:
            log.info("controls_rewatched", moved=moved)

    def _reload_sla(self) -> None:
        reload = self.coordinator._reload
        if reload is None:
            return
        try:
            policy, calendar = reload()
        except Exception as exc:  # noqa: BLE001 - a broken file: keep the clocks it had
            log.error("sla_files_not_reloaded", error=str(exc)[:300])
            return
        self.coordinator.sla = SlaEngine(policy, calendar, self.coordinator.clock)
