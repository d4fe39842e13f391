"""What operators read at the coordinator: one delegation with its clocks, how each due time was
computed, a page of the region's delegations, and the notices the board shows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from jiaodong.app.controls import Listed, check_states, coordinator_listing
from jiaodong.app.coordinator.base import CoordinatorBase, Guard, check_guard
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.domain import sla
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.lifecycle import EventKind
from jiaodong.store import documents as docstore
from jiaodong.store import ledger, outbox
from jiaodong.store.ledger import RegionFilter
from jiaodong.store.mapper import asset_key, view
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import sla_goals_pb

# Controls as listed (a name of its own: ``list`` is a method name below).
Listings = list[Listed]
# A page of delegations (a name of its own: ``list`` is a method name below).
Page = list[pb.Delegation]
Notices = list[str]


class Queries(CoordinatorBase):
    async def get(self, delegation_id: str, guard: Guard | None = None) -> pb.Delegation:
        if not delegation_id:
            raise InvalidInput.one("id", "is required")

        def work(uow: UnitOfWork) -> pb.Delegation:
            row = uow.require(delegation_id)
            check_guard(guard, row)
            out = pb.Delegation()
            out.CopyFrom(uow.view(row))  # the view is shared; this answer adds to it
            history = uow.history(row)
            clocks = self.sla.clocks(row, history)
            out.sla.extend(sla_goals_pb(clocks, uow.now, self.sla.calendar))
            returns = [e for e in history if e.kind is EventKind.RETURNED]
            for goal in out.sla:
                if goal.state == pb.SLA_STATE_PAUSED and returns:
                    reason = returns[-1].return_reason or "OTHER"
                    goal.pause_reason = f"退回待补正: {reason}"
            out.document_states.extend(docstore.states(uow.session, out))
            return out

        return await self.core.run(work)

    async def explain(
        self, delegation_id: str, guard: Guard | None = None
    ) -> tuple[list[pb.SlaGoal], list[str]]:
        """How each due time of a delegation was computed, day by day."""
        if not delegation_id:
            raise InvalidInput.one("id", "is required")

        def work(uow: UnitOfWork) -> tuple[list[pb.SlaGoal], list[str]]:
            row = uow.require(delegation_id)
            check_guard(guard, row)
            clocks = self.sla.clocks(row, uow.history(row))
            asset = asset_key(row)
            matched = self.sla.policy.matched(row.task_type, asset, row.priority)
            lines = [
                f"delegation {row.id}: {row.task_type.lower()} / {asset.lower()} / "
                f"{row.priority.lower()}, status {row.status}",
                f"policy {self.sla.policy.file}: rules on lines "
                + ", ".join(str(r.line) for r in matched),
            ]
            if not clocks:
                lines.append(
                    "no time limit runs yet: clocks start when the delegation is delivered"
                )
            lines.extend(sla.explain(clocks, uow.now, self.sla.calendar))
            return sla_goals_pb(clocks, uow.now, self.sla.calendar), lines

        return await self.core.run(work)

    async def list(
        self, where: RegionFilter, offset: int, size: int
    ) -> tuple[Page, bool, int, bool]:
        """A page of the region's delegations (newest first), whether more follow, the total
        (counted up to ``ledger.COUNT_CAP``) and whether more than that match."""
        for name, city in (("from_city", where.from_city), ("to_city", where.to_city)):
            if city and city not in self.registry.cities:
                raise InvalidInput.one(name, f"unknown city {city!r}")

        def work(session: Session) -> tuple[Page, bool, int, bool]:
            rows, total, capped = ledger.of_region(session, where, offset, size + 1)
            return [view(r) for r in rows[:size]], len(rows) > size, total, capped

        # A page of the board writes nothing (its views are masked, no read is recorded): it
        # runs beside the writer thread, not behind reconciliation and traffic.
        return await self.db.read(work)

    async def board_notices(self) -> Notices:
        """Everything operators should see on the board: calendar gaps and parked messages."""
        parked = await self.db.read(outbox.parked_count)
        out = self.notices()
        if parked:
            out.append(
                f"{parked} message(s) parked as dead letters at the coordinator: "
                "see its dead_letter table and the message_parked log lines"
            )
        return out

    async def controls(self, city: str | None, court: str, states: Sequence[str]) -> Listings:
        """Seizures and freezes in force touching ``court`` or ``city`` (neither: the region)
        and the watch on their expiry, soonest renewal limit first."""
        wanted = check_states(states)
        courts: frozenset[str] | None = None
        if city:
            courts = frozenset(c.court_id for c in self.registry.courts_in_city(city))
        if court:
            self.registry.court(court)  # NotFound for a court not in the registry
            courts = frozenset({court}) & courts if courts is not None else frozenset({court})
        now = self.clock.now()
        return await self.db.run(lambda s: coordinator_listing(s, courts, wanted, now))
