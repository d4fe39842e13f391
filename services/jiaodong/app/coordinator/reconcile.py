"""Reconciliation from the coordinator's side: compare a court's digest with the record here,
send the court what it lacks, ask it for what this side lacks, and re-send requests of ours (an
operator's, the SLA engine's) that its writer never applied."""

from __future__ import annotations

import structlog

from jiaodong.app.coordinator.base import CoordinatorBase
from jiaodong.app.messagebus import Inbound
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.bus import envelopes
from jiaodong.bus.subjects import Kind
from jiaodong.domain.lifecycle import Side
from jiaodong.store import ledger
from jiaodong.store.tables import DelegationRow
from jiaodong.v1 import bus_pb2
from jiaodong.wire import from_ts

log = structlog.get_logger("jiaodong.coordinator")


class Reconciliation(CoordinatorBase):
    def on_digest(self, uow: UnitOfWork, message: Inbound, digest: bus_pb2.Digest) -> None:
        sender = message.court
        theirs = {e.delegation_id: e for e in digest.entries}
        want: list[str] = []
        behind = 0
        for delegation_id, entry in theirs.items():
            row = uow.get(delegation_id)
            if row is not None and not self.was_party(uow, row, sender):
                log.warning("reconcile_not_party", delegation_id=delegation_id, court=sender)
                continue
            if row is None or row.seq < entry.seq:
                want.append(delegation_id)
            elif row.seq > entry.seq:
                self.send_sync(uow, row, sender, held=entry.seq)
                behind += 1
            elif row.last_hash != entry.last_hash:
                log.error("reconcile_conflict", delegation_id=delegation_id, court=sender)
        for row in ledger.digest_scope(uow.session, sender, from_ts(digest.since)):
            if row.id not in theirs:
                self.send_sync(uow, row, sender)
                behind += 1
            if row.entrusted_court == sender and uow.state(row).writer_court() == sender:
                self._resend_own_requests(uow, row)
        if want:
            self.send(uow, sender, Kind.WANT, bus_pb2.Want(delegation_ids=want))
        if want or behind:
            log.info("reconcile", court=sender, want=len(want), sent=behind)

    def on_want(self, uow: UnitOfWork, message: Inbound, want: bus_pb2.Want) -> None:
        """A court's node found a gap in what it received: send it the whole histories."""
        sender = message.court
        for delegation_id in want.delegation_ids:
            row = uow.get(delegation_id)
            if row is not None and self.was_party(uow, row, sender):
                self.send_sync(uow, row, sender)
        log.info("reconcile_resent", court=sender, delegations=len(want.delegation_ids))

    def _resend_own_requests(self, uow: UnitOfWork, row: DelegationRow) -> None:
        """Operators' requests and SLA actions the writer has not applied yet: ask again."""
        history = uow.history(row)
        done = {e.request_id for e in history if e.request_id}
        pending = ledger.pending_requests(
            uow.session, delegation_id=row.id, side=Side.COORDINATOR.value
        )
        for req in pending:
            if req.request_id not in done:
                uow.resend(envelopes.request_message_id(row.id, req.request_id))
        self.sla.resend_unapplied(uow.session, row, history)
