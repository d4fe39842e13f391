"""The inter-city SLA report (docs/reports.md): seven grouped queries over the coordinator's
report facts, assembled into the report's figures by the domain."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from sqlmodel import Session

from jiaodong.app.coordinator.base import CoordinatorBase
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.domain import report
from jiaodong.domain.errors import FieldViolation, InvalidInput
from jiaodong.store import report as facts

BACKFILL_BATCH = 500


class Reports(CoordinatorBase):
    async def sla_report(
        self, first: date, last: date, city: str | None = None
    ) -> dict[str, object]:
        """The report over delegations sent from ``first`` to ``last`` (local dates, inclusive)
        in ``city``'s rows (None: the region), as of now."""
        violations = [FieldViolation("to_date", text) for text in report.check_period(first, last)]
        if city is not None and city not in self.registry.cities:
            violations.append(FieldViolation("city", f"未知城市 {city!r}"))
        if violations:
            raise InvalidInput(violations)
        scope = facts.Scope(report.Period(first, last), self.clock.now(), city)

        # Two halves at once, each on a report thread (SQLite and PostgreSQL run a query without
        # holding the interpreter): the one pass over every fact of both periods, and the rest.
        def sums(session: Session) -> list[report.Cell]:
            return facts.cube(session, scope)

        def the_rest(session: Session) -> dict[str, Any]:
            return {
                "overdue": facts.overdue(session, scope),
                "acknowledge_days": facts.day_histograms(session, scope, "acknowledge_days"),
                "complete_days": facts.day_histograms(session, scope, "complete_days"),
                "weekly": facts.weekly(session, scope),
                "late_weeks": facts.late_weeks(session, scope),
                "aging": facts.aging(session, scope),
            }

        cells, rest = await asyncio.gather(
            self.db.read(sums, long=True), self.db.read(the_rest, long=True)
        )
        inputs = report.Inputs(
            period=scope.period,
            as_of=scope.as_of,
            city=city,
            cells=[*cells, *rest.pop("overdue")],
            **rest,
        )
        return await asyncio.to_thread(report.build, inputs, self.registry)

    async def backfill_facts(self) -> int:
        """Give every delegation stored before report facts existed its fact, a batch per
        transaction; returns how many were written."""
        written = 0
        while True:

            def work(uow: UnitOfWork) -> int:
                ids = facts.without_fact(uow.session, BACKFILL_BATCH)
                for delegation_id in ids:
                    row = uow.require(delegation_id)
                    history = uow.history(row)
                    clocks = self.sla.clocks(row, history)
                    facts.save_fact(uow.session, self.sla.fact(row, history, clocks))
                return len(ids)

            done = await self.core.run(work)
            written += done
            if done < BACKFILL_BATCH:
                return written
