"""What a node does with what the coordinator sends: histories to merge, requests to apply or
refuse as the writer, refusals of its own requests, wants to answer, document pieces to check."""

from __future__ import annotations

import structlog

from jiaodong.app.messagebus import Inbound, Receiver, known
from jiaodong.app.node.base import NodeBase
from jiaodong.app.node.commands import check_assist_step, send_documents
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.bus import envelopes
from jiaodong.bus.subjects import Kind, to_coordinator
from jiaodong.bus.transport import Permanent
from jiaodong.domain.errors import DomainError, NotAllowed
from jiaodong.domain.ids import new_id
from jiaodong.domain.lifecycle import REQUESTED_KINDS, Event, EventKind, Side, Status, check_allowed
from jiaodong.domain.routing import check_reroute
from jiaodong.store import documents as docstore
from jiaodong.store import ledger
from jiaodong.store.mapper import waiting_event
from jiaodong.store.tables import DelegationRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import document_from_pb, kind_from_pb, optional_enum, side_from_pb

log = structlog.get_logger("jiaodong.node")


class InboundHandlers(Receiver, NodeBase):
    def check_addressed(self, message: Inbound) -> None:
        court = message.envelope.court_id
        if court != message.court or court not in self.courts:
            raise Permanent(f"message for court {court} reached node {self.node_id}")

    def on_sync(self, uow: UnitOfWork, message: Inbound, sync: bus_pb2.DelegationSync) -> None:
        absorbed = uow.absorb(sync, sender=None)
        row, appended = absorbed.row, absorbed.appended
        if absorbed.gap:
            court = message.envelope.court_id
            held = row.seq if row is not None else 0
            ask = bus_pb2.Want(delegation_ids=[sync.delegation.id])
            message_id = envelopes.want_message_id(court, sync.delegation.id, held)
            uow.ask(to_coordinator(court, Kind.WANT), envelopes.envelope(court, ask, message_id))
            log.info("sync_gap", delegation_id=sync.delegation.id, held=held)
            return
        assert row is not None
        uow.mark_applied(row, appended)
        if not appended:
            return
        state = uow.state(row)
        if state.status is Status.ROUTED and state.entrusted_court in self.courts:
            # Offered to one of our courts: store it and tell the coordinator, which owns the
            # delegation until it records the delivery.
            court = state.entrusted_court
            body = envelopes.receipt(row.id, state.seq, uow.now)
            message_id = envelopes.receipt_message_id(row.id, state.seq)
            uow.send(
                to_coordinator(court, Kind.RECEIPT), envelopes.envelope(court, body, message_id)
            )
            log.info("delegation_received", delegation_id=row.id, court=court)
        uow.changed(row, appended[-1])
        # Only an entrusted side holds waiting steps (a delegation goes to another city, so the
        # requesting court's node never does): skip the look-up for what this node sent.
        if row.requesting_court not in self.courts and any(
            e.kind is not EventKind.ROUTED for e in appended
        ):
            self.apply_waiting(uow, row)
        # After the officers' waiting steps: one they took up is theirs, not a registry's.
        delivered = [e for e in appended if e.kind is EventKind.DELIVERED]
        if (
            delivered
            and state.entrusted_court in self.courts
            and uow.state(row).status is Status.DELIVERED
        ):
            self.open_registry_task(uow, row, delivered[-1])

    def on_request(self, uow: UnitOfWork, message: Inbound, request: bus_pb2.ActionRequest) -> None:
        """A requesting court's or the coordinator's wish, for this node as the writer."""
        court = message.envelope.court_id
        row = known(uow, request.delegation_id, "request")
        kind = kind_from_pb(request.kind)
        side = side_from_pb(request.side)
        if kind not in REQUESTED_KINDS:
            raise Permanent(f"{kind.value} cannot be requested")
        if uow.applied_request(row, request.request_id):
            return
        state = uow.state(row)
        try:
            if state.writer_court() != court:
                raise NotAllowed(f"court {court} is no longer the entrusted court")
            check_allowed(state, kind, side)
            detail = request.detail
            result = optional_enum(pb.CompletionResult, "COMPLETION_RESULT", request.result)
            check_assist_step(
                uow, row, state, kind, side, text=request.text, detail=detail, result=result
            )
            if kind is EventKind.REROUTED:
                check_reroute(
                    self.registry, state.requesting_court, state.entrusted_court, request.court_id
                )
        except DomainError as exc:
            body = envelopes.refusal(request, str(exc), request.actor_court or "")
            uow.send(to_coordinator(court, Kind.REFUSED), envelopes.envelope(court, body))
            log.info("request_refused", delegation_id=row.id, kind=kind.value, reason=str(exc))
            return
        event = uow.seal(
            row,
            uow.event(
                kind,
                side,
                request.actor_court,
                request_id=request.request_id,
                text=request.text,
                court_id=request.court_id,
                documents=tuple(document_from_pb(d) for d in request.documents),
                detail=detail,
                result=result,
            ),
        )
        self.send_sync(uow, row, court)
        uow.changed(row, event)
        log.info("request_applied", delegation_id=row.id, kind=kind.value)

    def on_refused(self, uow: UnitOfWork, _: Inbound, refused: bus_pb2.RequestRefused) -> None:
        row = uow.get(refused.delegation_id)
        req = uow.request(row, refused.request_id) if row is not None else None
        if row is not None and req is not None and uow.mark_refused(req, refused.reason):
            uow.changed(row)

    def on_want(self, uow: UnitOfWork, message: Inbound, want: bus_pb2.Want) -> None:
        """The coordinator lacks events of these delegations: send them again."""
        court = message.envelope.court_id
        for delegation_id in want.delegation_ids:
            row = uow.get(delegation_id)
            if row is not None and court in (row.requesting_court, row.entrusted_court):
                self.send_sync(uow, row, court, whole=True)
        log.info("reconcile_resent", court=court, delegations=len(want.delegation_ids))

    def on_chunk(self, uow: UnitOfWork, message: Inbound, chunk: bus_pb2.DocumentChunk) -> None:
        """A piece of a document the other party attached: stored; the whole is checked against
        the SHA-256 and size the delegation's history declares, and a mismatch is refused (parked,
        on the record) and reported."""
        # The sync travels first: until it arrives, retried, then parked if it never comes.
        row = known(uow, chunk.delegation_id, "document piece")
        if message.envelope.court_id not in (row.requesting_court, row.entrusted_court):
            raise Permanent(f"court {message.envelope.court_id} is no party to {row.id}")
        declared = docstore.documents_named(uow.session, row.id)
        if declared.get(chunk.sha256) != chunk.size_bytes:
            raise Permanent(
                f"document {chunk.sha256[:12]}… ({chunk.size_bytes} bytes) is not one the "
                f"history of {row.id} declares"
            )
        try:
            arrival = docstore.receive(uow.session, chunk, uow.now)
        except docstore.BadChunk as exc:
            raise Permanent(f"bad document piece: {exc}") from None
        docstore.use(uow.session, row.id, chunk.sha256, chunk.from_court)
        docstore.report_arrival(uow.session, message.subject, message.envelope, arrival, uow.now)

    def apply_waiting(self, uow: UnitOfWork, row: DelegationRow) -> None:
        """Steps an entrusted court took before its delivery was recorded: applied in order now
        that it is (their times are when they were taken), or dropped, with the reason, if the
        delegation went elsewhere meanwhile (rerouted, cancelled)."""
        waiting = ledger.waiting_steps(uow.session, row.id)
        if not waiting:
            return
        state = uow.state(row)
        applied: list[Event] = []
        for step in waiting:
            if state.status is Status.ROUTED and state.entrusted_court == step.court:
                break  # still offered here, the delivery not yet recorded: keep waiting
            event = waiting_event(step, new_id())
            try:
                if state.entrusted_court != step.court:
                    raise NotAllowed(f"delegation {row.id} is no longer offered to {step.court}")
                check_allowed(state, event.kind, Side.ENTRUSTED)
            except DomainError as exc:
                step.state, step.reason = "dropped", str(exc)
                uow.session.add(step)
                log.info("waiting_step_dropped", delegation_id=row.id, kind=step.kind)
                continue
            applied.append(uow.seal(row, event))
            state = uow.state(row)
            step.state = "applied"
            uow.session.add(step)
        if applied:
            court = applied[0].actor_court
            self.send_sync(uow, row, court)
            for event in applied:
                send_documents(uow, row, court, event.documents)
            log.info("waiting_steps_applied", delegation_id=row.id, steps=len(applied))
        if applied or any(step.state == "dropped" for step in waiting):
            uow.changed(row, applied[-1] if applied else None)
