"""What the coordinator does with what the nodes send: histories to merge (and route when new),
requests to apply as the writer before delivery or to relay to the entrusted node after, delivery
receipts, refusals, and document pieces to check and forward. Digests are in reconcile.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from jiaodong.app.coordinator.base import CoordinatorBase
from jiaodong.app.coordinator.reconcile import Reconciliation
from jiaodong.app.messagebus import Inbound, Receiver, known
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.bus import envelopes
from jiaodong.bus.subjects import Kind, to_court
from jiaodong.bus.transport import Permanent
from jiaodong.domain.errors import DomainError, IllegalTransition
from jiaodong.domain.lifecycle import Event, EventKind, Side, Status, action_word
from jiaodong.domain.routing import Target, route
from jiaodong.store import board
from jiaodong.store import documents as docstore
from jiaodong.store.mapper import content_of
from jiaodong.store.tables import DelegationRow
from jiaodong.v1 import bus_pb2
from jiaodong.wire import from_ts, kind_from_pb

log = structlog.get_logger("jiaodong.coordinator")


# A node's contact is written at most this often (per coordinator process): "last seen" needs
# seconds, not one more write for every message.
CONTACT_EVERY = timedelta(seconds=5)


class InboundHandlers(Receiver, Reconciliation, CoordinatorBase):
    _contact_noted: dict[str, datetime] | None = None

    def applied(self, uow: UnitOfWork, message: Inbound, body: Any) -> None:
        """Note when a message from the sender's node was last applied (the board's node
        health); a message naming an unknown court is refused by its handler before this."""
        court = self.registry.courts.get(message.court)
        if court is None:
            return
        if self._contact_noted is None:
            self._contact_noted = {}
        last = self._contact_noted.get(court.node)
        if last is not None and timedelta(0) <= uow.now - last < CONTACT_EVERY:
            return
        board.note_contact(uow.session, court.node, message.court, uow.now)
        self._contact_noted[court.node] = uow.now

    def check_addressed(self, message: Inbound) -> None:
        if message.envelope.court_id != message.court:
            raise Permanent(
                f"envelope says court {message.envelope.court_id} but came from {message.court}"
            )

    def on_sync(self, uow: UnitOfWork, message: Inbound, sync: bus_pb2.DelegationSync) -> None:
        absorbed = uow.absorb(sync, sender=message.court)
        row, appended = absorbed.row, absorbed.appended
        if absorbed.gap:
            held = row.seq if row is not None else 0
            body = bus_pb2.Want(delegation_ids=[sync.delegation.id])
            message_id = envelopes.want_message_id(message.court, sync.delegation.id, held)
            uow.ask(
                to_court(message.court, Kind.WANT),
                envelopes.envelope(message.court, body, message_id),
            )
            log.info("sync_gap", delegation_id=sync.delegation.id, held=held)
            return
        if row is None or not appended:
            return
        routed = uow.state(row).status is Status.CREATED
        if routed:
            appended.append(self._route(uow, row))
        uow.mark_applied(row, appended)
        self.forward(uow, row, None if routed else message.court)
        uow.changed(row, appended[-1], full=False)

    def _route(self, uow: UnitOfWork, row: DelegationRow) -> Event:
        target = content_of(row).target
        try:
            court = route(
                self.registry,
                row.requesting_court,
                Target(target.court_id, target.city, target.district),
            )
            event = uow.event(EventKind.ROUTED, Side.COORDINATOR, court_id=court.court_id)
        except DomainError as exc:  # RoutingRefused, or an unknown court
            event = uow.event(EventKind.ROUTING_FAILED, Side.COORDINATOR, text=str(exc))
        event = uow.seal(row, event)
        log.info(
            "delegation_routed" if event.kind is EventKind.ROUTED else "routing_failed",
            delegation_id=row.id,
            to=event.court_id,
        )
        return event

    def on_request(self, uow: UnitOfWork, message: Inbound, request: bus_pb2.ActionRequest) -> None:
        sender = message.court
        row = known(uow, request.delegation_id, "request")
        if sender != row.requesting_court or request.actor_court != sender:
            raise Permanent(f"court {sender} is not the requesting court of {row.id}")
        state = uow.state(row)
        if state.writer is Side.ENTRUSTED:
            writer = state.writer_court()
            assert writer is not None
            self.send(uow, writer, Kind.REQUEST, request)
            return
        if uow.applied_request(row, request.request_id):
            return  # applied already (a re-sent copy): never refuse what was done
        try:
            if state.writer is None:
                word = action_word(kind_from_pb(request.kind))
                raise IllegalTransition(state.status.value, word, "it is closed")
            self.apply_request(uow, row, request)
        except DomainError as exc:
            self.send(uow, sender, Kind.REFUSED, envelopes.refusal(request, str(exc), sender))

    def on_receipt(
        self, uow: UnitOfWork, message: Inbound, receipt: bus_pb2.DeliveryReceipt
    ) -> None:
        sender = message.court
        row = known(uow, receipt.delegation_id, "receipt")
        state = uow.state(row)
        if not (
            state.status is Status.ROUTED
            and state.entrusted_court == sender
            and state.seq == receipt.routed_seq
        ):
            # Moved, cancelled or already delivered meanwhile: tell the node how things stand.
            self.send_sync(uow, row, sender)
            return
        at = from_ts(receipt.at) if receipt.HasField("at") else uow.now
        event = uow.seal(row, uow.event(EventKind.DELIVERED, Side.ENTRUSTED, sender, at=at))
        self.forward(uow, row, None)
        uow.changed(row, event, full=False)
        log.info("delegation_delivered", delegation_id=row.id, court=sender)

    def on_refused(
        self, uow: UnitOfWork, message: Inbound, refused: bus_pb2.RequestRefused
    ) -> None:
        row = known(uow, refused.delegation_id, "refusal")
        if refused.request_id.startswith("sla-"):
            log.info("sla_action_refused", delegation_id=row.id, reason=refused.reason)
            return
        own = uow.request(row, refused.request_id)
        if own is not None:
            uow.mark_refused(own, refused.reason)
            log.info("request_refused", delegation_id=row.id, kind=own.kind)
            return
        self.send(uow, row.requesting_court, Kind.REFUSED, refused)

    def on_chunk(self, uow: UnitOfWork, message: Inbound, chunk: bus_pb2.DocumentChunk) -> None:
        """A piece of a document a party attached: stored; once whole and matching its declared
        SHA-256 and size, forwarded to the other party; a mismatch is parked and reported."""
        sender = message.court
        # Its sync travels first: until it arrives, retried, then parked if it never comes.
        row = known(uow, chunk.delegation_id, "document piece")
        if sender not in (row.requesting_court, row.entrusted_court) or (
            chunk.from_court != sender
        ):
            raise Permanent(f"court {sender} is no party to {row.id} or not the one attaching")
        try:
            arrival = docstore.receive(uow.session, chunk, uow.now)
        except docstore.BadChunk as exc:
            raise Permanent(f"bad document piece: {exc}") from None
        docstore.use(uow.session, row.id, chunk.sha256, sender)
        docstore.report_arrival(uow.session, message.subject, message.envelope, arrival, uow.now)
        if arrival.verdict == docstore.VERIFIED:
            other = row.entrusted_court if sender == row.requesting_court else row.requesting_court
            if other:
                self.forward_document(uow, row.id, chunk.sha256, sender, other)
