"""The coordinator's time limits at work: sweeping for due clocks, and recomputing every open
clock after operators change the policy or the calendar."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timedelta

import structlog
from sqlmodel import Session

from jiaodong.app import controls, operations
from jiaodong.app.coordinator.commands import Commands
from jiaodong.app.sla import SlaEngine, SweepReport
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.domain import sla
from jiaodong.domain.assistance import reminder_day
from jiaodong.domain.calendar import local_day
from jiaodong.domain.lifecycle import EventKind, Status
from jiaodong.store.ledger import known_request
from jiaodong.store.sla_clocks import open_due_times

log = structlog.get_logger("jiaodong.coordinator")

# How often the reminder pass looks for tomorrow's operations (the sweeper runs every second).
REMIND_EVERY = timedelta(minutes=1)

# A clock whose due time a recompute moved: delegation, goal, old due, new due.
Move = tuple[str, str, datetime, datetime]


class Deadlines(Commands):
    _reminded_at: datetime | None = None  # when the reminder pass last ran (clock time)
    # Told of every sweep's report (the composition root counts it in the metrics).
    on_sweep: Callable[[SweepReport], None] | None = None

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
                break
        total.reminders = await self.remind_operations()
        if self.on_sweep is not None:
            self.on_sweep(total)
        return total

    async def remind_operations(self) -> int:
        """On the working day before an agreed operation (or later, after an outage), remind both
        courts: an urge (催办) in its history, sent to the local court's node, once (its request
        id names the day). Returns how many were sent now.

        The work is by the day, so it runs at most once a minute of the clock (or when the clock
        went back), not at every sweep: the sweeper wakes every second."""
        now = self.clock.now()
        last = self._reminded_at
        if last is not None and last <= now < last + REMIND_EVERY:
            return 0
        self._reminded_at = now
        today = local_day(now)
        calendar = self.sla.calendar

        def due(session: Session) -> list[tuple[str, date, str, str]]:
            rows = operations.coming(session, today + timedelta(days=1), None, [Status.AGREED])
            return [
                (r.id, r.operation_day, r.operation_window, r.entrusted_court)
                for r in rows
                if r.operation_day is not None
                and reminder_day(calendar, r.operation_day) <= today
                and not known_request(session, r.id, f"reminder-{r.operation_day}")
            ]

        sent = 0
        for delegation_id, day, window, court in await self.db.read(due):
            name = self.registry.court(court).name_zh
            text = f"异地执行协助行动提醒：{day} {window} 在{name}辖区进行，请双方法院做好准备"
            await self.steer(delegation_id, EventKind.URGED, f"reminder-{day}", text)
            sent += 1
        return sent

    async def run_sweeper(self, interval: float) -> None:
        """Sweep forever, every ``interval`` seconds of real time."""
        while True:
            try:
                report = await self.sweep()
                if report.claimed or report.controls or report.reminders:
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
