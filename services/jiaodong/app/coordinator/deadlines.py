"""The coordinator's time limits at work: sweeping for due clocks, and recomputing every open
clock after operators change the policy or the calendar."""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog

from jiaodong.app import controls
from jiaodong.app.coordinator.base import CoordinatorBase
from jiaodong.app.sla import SlaEngine, SweepReport
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.domain import sla
from jiaodong.store.sla_clocks import open_due_times

log = structlog.get_logger("jiaodong.coordinator")

# A clock whose due time a recompute moved: delegation, goal, old due, new due.
Move = tuple[str, str, datetime, datetime]


class Deadlines(CoordinatorBase):
    async def sweep(self, limit: int = 1000) -> SweepReport:
        """Handle every clock due now, in batches of ``limit``; then move on the watches of
        seizures and freezes whose renewal falls due (app/controls.py)."""
        total = SweepReport()
        while True:
            report, touched = await self.db.run(lambda s: self.sla.sweep(s, limit))
            total.add(report)
            if touched:
                self.core.wake()
            if report.due < limit:
                break
        while True:
            moved, due = await self.db.run(lambda s: controls.sweep(s, self.clock.now(), limit))
            total.controls.update(moved)
            if due < limit:
                return total

    async def run_sweeper(self, interval: float) -> None:
        """Sweep forever, every ``interval`` seconds of real time."""
        while True:
            try:
                report = await self.sweep()
                if report.claimed or report.controls:
                    log.info("sla_sweep", **report.figures())
            except Exception as exc:  # noqa: BLE001 - any failure: keep sweeping, the next round retries
                log.error("sla_sweep_failed", error=str(exc))
            await asyncio.sleep(interval)

    async def recompute(self, dry_run: bool) -> tuple[int, list[Move], list[str]]:
        """Reload calendar and policy files; recompute every open clock; report what moved.
        Met and breached clocks, and the SLA events in histories, are never rewritten."""
        if self._reload is not None:
            policy, calendar = self._reload()
        else:
            policy, calendar = self.sla.policy, self.sla.calendar
        engine = SlaEngine(policy, calendar, self.clock)

        def work(uow: UnitOfWork) -> tuple[int, list[Move]]:
            before = open_due_times(uow.session)
            moved: list[Move] = []
            for delegation_id in sorted({d for d, _ in before}):
                row = uow.require(delegation_id)
                history = uow.history(row)
                for clock in sla.current_clocks(engine.clocks(row, history)):
                    old = before.get((delegation_id, clock.goal.value))
                    if old is not None and old != clock.due:
                        moved.append((delegation_id, clock.goal.value, old, clock.due))
                if not dry_run:
                    engine.refresh(uow.session, row, history)
            return len(before), moved

        count, moved = await self.core.run(work)
        if not dry_run:
            self.sla = engine
            rewatched = await self.db.run(
                lambda s: controls.rewatch(s, policy.renewal, calendar, self.clock.now())
            )
            log.info("controls_rewatched", moved=rewatched)
        return count, moved, self.notices(calendar)
