"""What a node's courts read: one delegation with its time limits, a page of delegations, a
document, and the node's own counts (for the demo and the fault suite)."""

from __future__ import annotations

from collections.abc import Sequence

from jiaodong.app.controls import Listed, check_states, node_listing
from jiaodong.app.node.base import NodeBase
from jiaodong.app.sla import goals_for
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.domain.errors import NotFound
from jiaodong.domain.lifecycle import Status
from jiaodong.domain.sla import fold as sla_fold
from jiaodong.store import documents as docstore
from jiaodong.store import ledger, outbox
from jiaodong.store.mapper import view
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import sla_goals_pb
from jiaodong.wire_assistance import notice_days

# Controls as listed (a name of its own: ``list`` is a method name below).
Listings = list[Listed]
# A page of delegations (a name of its own: ``list`` is a method name below).
Page = list[pb.Delegation]
Chunks = list[bytes]


class Queries(NodeBase):
    async def get(self, court: str, delegation_id: str) -> pb.Delegation:
        """The whole delegation, with its current time limits when the node knows the policy."""
        self.hosted(court)

        def work(uow: UnitOfWork) -> pb.Delegation:
            row = self.party_row(uow, court, delegation_id)
            out = pb.Delegation()
            out.CopyFrom(uow.view(row))  # the view is shared; this answer adds to it
            if self.sla is not None:
                policy, calendar = self.sla
                clocks = sla_fold(uow.history(row), goals_for(policy, row), calendar)
                out.sla.extend(sla_goals_pb(clocks, uow.now, calendar))
                if out.HasField("assistance"):
                    notice_days(out, calendar, policy.assistance)
            out.document_states.extend(docstore.states(uow.session, out))
            return out

        return await self.core.run(work)

    async def list(
        self,
        court: str,
        direction: str,
        statuses: Sequence[Status],
        offset: int,
        size: int,
    ) -> tuple[Page, bool]:
        """A page of what ``court`` sent or received (newest first), and whether more follow."""
        self.hosted(court)

        def work(uow: UnitOfWork) -> tuple[Page, bool]:
            rows = ledger.of_court(
                uow.session, court, direction, [s.value for s in statuses], offset, size + 1
            )
            return [view(r) for r in rows[:size]], len(rows) > size

        return await self.core.run(work)

    async def read_document(self, court: str, delegation_id: str, sha256: str) -> Chunks:
        """A document of a delegation the court sent or received, if held here and verified."""
        self.hosted(court)

        def work(uow: UnitOfWork) -> Chunks:
            row = self.party_row(uow, court, delegation_id)
            if sha256 not in docstore.documents_named(uow.session, row.id):
                raise NotFound(f"delegation {row.id} has no document {sha256[:12]}…")
            return docstore.read(uow.session, sha256)

        return await self.core.run(work)

    async def summary(self) -> dict[str, object]:
        """The node's counts: delegations held, messages parked, messages not yet published."""

        def work(uow: UnitOfWork) -> dict[str, object]:
            return {
                "node": self.node_id,
                "delegations": ledger.count(uow.session),
                "dead_letters": outbox.parked_count(uow.session),
                "outbox_pending": outbox.pending_count(uow.session),
            }

        return await self.core.run(work)

    async def controls(self, court: str, states: Sequence[str]) -> Listings:
        """The seizures and freezes ``court`` asked for or put in force, with the watch on their
        expiry, soonest renewal limit first (computed from the histories held here)."""
        self.hosted(court)
        wanted = check_states(states)
        if self.sla is None:
            raise NotFound("this node has no SLA policy loaded: it cannot compute renewal dates")
        policy, calendar = self.sla
        now = self.clock.now()
        renewal = policy.renewal
        return await self.db.run(lambda s: node_listing(s, court, wanted, renewal, calendar, now))
