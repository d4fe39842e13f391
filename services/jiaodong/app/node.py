"""A city node's handlers: what its courts can do, and what it does with what the bus brings.

Each handler is one database transaction that changes state, appends history and writes the outbox
together; the relay publishes after commit and watchers hear of it after commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import structlog
from sqlalchemy import or_
from sqlmodel import Session, col, select

from jiaodong.api.paging import page_offset, page_size, page_token
from jiaodong.api.sla_view import goals_for, sla_goals_pb
from jiaodong.app.watch import Broadcaster, Change, Outcome
from jiaodong.bus.subjects import Kind, court_of, to_coordinator
from jiaodong.bus.transport import Permanent
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.clock import Clock
from jiaodong.domain.delegation import (
    Draft,
    check_documents,
    check_draft,
    check_request_id,
    check_text,
    fingerprint,
)
from jiaodong.domain.errors import (
    AlreadyExists,
    DomainError,
    FieldViolation,
    InvalidInput,
    NotAllowed,
    NotFound,
)
from jiaodong.domain.lifecycle import (
    REQUESTED_KINDS,
    DelegationState,
    Document,
    Event,
    EventKind,
    Side,
    Status,
    check_allowed,
)
from jiaodong.domain.registry import Registry
from jiaodong.domain.routing import Target, route
from jiaodong.domain.sla import fold as sla_fold
from jiaodong.domain.sla_policy import SlaPolicy
from jiaodong.store import documents as docstore
from jiaodong.store import ledger
from jiaodong.store.database import Database
from jiaodong.store.documents import documents_named, report_arrival
from jiaodong.store.tables import DelegationRow, RequestRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import (
    content_pb,
    delegation_pb,
    document_from_pb,
    event_pb,
    kind_from_pb,
    side_from_pb,
    state_from_row,
    to_stored,
)

log = structlog.get_logger("jiaodong.node")

Publish = Callable[[str, bus_pb2.Envelope], Awaitable[None]]

# Digests cover open delegations and those changed within this window.
RECONCILE_WINDOW = timedelta(days=30)
ENTRUSTED_ACTIONS = frozenset(
    {
        EventKind.ACKNOWLEDGED,
        EventKind.ACCEPTED,
        EventKind.RETURNED,
        EventKind.PROGRESS_REPORTED,
        EventKind.COMPLETED,
    }
)
REQUESTER_ACTIONS = frozenset(
    {EventKind.SUPPLEMENTED, EventKind.CONFIRMED, EventKind.CANCELLED, EventKind.URGED}
)


@dataclass(frozen=True)
class Step:
    """An entrusted court's step, as the officer gave it."""

    kind: EventKind
    text: str = ""
    return_reason: str = ""
    result: str = ""
    documents: tuple[Document, ...] = ()


class CourtNode:
    """The node of one city: hosts that city's courts."""

    def __init__(
        self,
        node_id: str,
        registry: Registry,
        db: Database,
        clock: Clock,
        broadcaster: Broadcaster | None = None,
        sla: tuple[SlaPolicy, WorkCalendar] | None = None,
    ) -> None:
        self.node_id = node_id
        self.sla = sla
        self.registry = registry
        self.db = db
        self.clock = clock
        self.courts = {c.court_id for c in registry.courts_of_node(node_id)}
        if not self.courts:
            raise NotFound(f"no court in the registry is hosted by node {node_id!r}")
        self.city = registry.courts_of_node(node_id)[0].city
        self.broadcaster = broadcaster or Broadcaster()
        self._wake: Callable[[], None] = lambda: None

    # -- plumbing ------------------------------------------------------------------------------

    def set_relay_wake(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def _after_commit(self, outcome: Outcome | None) -> None:
        if outcome is not None and outcome.changes:
            self.broadcaster.publish(outcome.changes)
        self._wake()

    def hosted(self, court_id: str) -> None:
        if court_id not in self.courts:
            raise NotAllowed(
                f"court {court_id or '(none)'} is not hosted by this node ({self.node_id}); "
                "call your own city's node"
            )

    def _publish_sync(self, session: Session, row: DelegationRow, from_court: str) -> None:
        envelope = bus_pb2.Envelope(court_id=from_court, sync=ledger.sync_message(session, row))
        ledger.enqueue(session, to_coordinator(from_court, Kind.SYNC), envelope, self.clock.now())

    def _change(self, session: Session, row: DelegationRow, event: Event | None) -> Change:
        return Change(
            delegation_pb(row, ledger.history(session, row.id), ledger.requests(session, row.id)),
            event_pb(event) if event else None,
        )

    def _event(
        self, kind: EventKind, side: Side, actor: str, *, request_id: str = "", **fields: object
    ) -> Event:
        return Event(
            event_id=ledger.new_id(),
            seq=0,
            kind=kind,
            side=side,
            actor_court=actor,
            at=self.clock.now(),
            request_id=request_id,
            **fields,  # type: ignore[arg-type]
        )

    def _row_for(self, session: Session, court: str, delegation_id: str) -> DelegationRow:
        if not delegation_id:
            raise InvalidInput.one("id", "is required")
        row = ledger.get_row(session, delegation_id)
        if row is None:
            raise NotFound(f"no delegation with id {delegation_id!r} at this node")
        if court not in (row.requesting_court, row.entrusted_court):
            raise NotAllowed(f"court {court} neither sent nor received delegation {delegation_id}")
        return row

    # -- requesting court ----------------------------------------------------------------------

    # -- documents -----------------------------------------------------------------------------

    async def upload(self, court: str, data: bytes) -> tuple[str, int, bool]:
        """Store a document's content for a later attachment; (sha256, size, already held)."""
        self.hosted(court)
        now = self.clock.now()
        sha, existed = await self.db.run(lambda s: docstore.store_upload(s, data, now))
        log.info("document_uploaded", court=court, sha256=sha, size=len(data), existed=existed)
        return sha, len(data), existed

    def _require_uploaded(self, session: Session, field: str, docs: Sequence[Document]) -> None:
        for i, doc in enumerate(docs):
            docstore.require_verified(session, doc.sha256, doc.size_bytes, f"{field}[{i}]")

    def _send_documents(
        self, session: Session, delegation_id: str, court: str, docs: Sequence[Document]
    ) -> None:
        """Queue the content of attached documents to the coordinator, after the step itself
        (the outbox keeps order), in pieces of at most 1 MiB under stable message ids."""
        now = self.clock.now()
        for doc in docs:
            if not docstore.use(session, delegation_id, doc.sha256, court):
                continue  # attached to this delegation before: its content has travelled
            for chunk in docstore.chunks_of(session, delegation_id, doc.sha256, court):
                ledger.enqueue(
                    session,
                    to_coordinator(court, Kind.DOC),
                    bus_pb2.Envelope(
                        message_id=ledger.stable_id(
                            "doc", delegation_id, doc.sha256, str(chunk.index)
                        ),
                        court_id=court,
                        chunk=chunk,
                    ),
                    now,
                )

    async def read_document(self, court: str, delegation_id: str, sha256: str) -> list[bytes]:
        """A document of a delegation the court sent or received, if held here and verified."""
        self.hosted(court)

        def work(session: Session) -> list[bytes]:
            row = self._row_for(session, court, delegation_id)
            if sha256 not in documents_named(session, row.id):
                raise NotFound(f"delegation {row.id} has no document {sha256[:12]}…")
            return docstore.read(session, sha256)

        return await self.db.run(work)

    async def create(self, court: str, draft: Draft) -> tuple[pb.Delegation, bool]:
        """Validate and store a new delegation, or return the one this request_id made before."""
        self.hosted(court)
        checked = check_draft(self.registry, court, draft)
        digest = hashlib.sha256(fingerprint(checked.draft).encode()).hexdigest()

        def work(session: Session) -> tuple[Outcome, bool]:
            existing = session.exec(
                select(DelegationRow).where(
                    DelegationRow.requesting_court == court,
                    DelegationRow.request_id == checked.draft.request_id,
                )
            ).first()
            if existing is not None:
                if existing.fingerprint != digest:
                    raise AlreadyExists(
                        f"request_id {checked.draft.request_id!r} was already used by court "
                        f"{court} for a different delegation ({existing.id})"
                    )
                return Outcome(ledger.full_pb(session, existing)), False
            self._require_uploaded(session, "documents", checked.draft.documents)
            delegation_id = ledger.new_id()
            content = content_pb(delegation_id, court, checked.draft)
            first = replace(self._event(EventKind.CREATED, Side.REQUESTING, court), seq=1)
            first = first.sealed("")
            row, _ = ledger.insert_delegation(
                session,
                self.registry,
                content,
                first,
                fingerprint=digest,
                warnings=checked.warnings,
            )
            self._publish_sync(session, row, court)
            self._send_documents(session, row.id, court, checked.draft.documents)
            return Outcome(ledger.full_pb(session, row), [self._change(session, row, first)]), True

        outcome, created = await self.db.run(work)
        self._after_commit(outcome)
        if created:
            log.info(
                "delegation_created",
                delegation_id=outcome.delegation.id,
                court=court,
                to=checked.entrusted_court,
            )
        return outcome.delegation, created

    async def request(
        self,
        court: str,
        delegation_id: str,
        kind: EventKind,
        request_id: str,
        text: str,
        documents: Sequence[Document] = (),
        *,
        text_required: bool = False,
    ) -> pb.Delegation:
        """A requesting court's wish (supplement, confirm, cancel, urge), sent to the writer."""
        self.hosted(court)
        violations: list[FieldViolation] = []
        check_request_id(violations, "request_id", request_id)
        check_text(violations, "text", text, required=text_required)
        check_documents(violations, "documents", tuple(documents))
        if violations:
            raise InvalidInput(violations)
        assert kind in REQUESTER_ACTIONS

        def work(session: Session) -> Outcome:
            row = self._row_for(session, court, delegation_id)
            if row.requesting_court != court:
                raise NotAllowed(
                    f"only the requesting court {row.requesting_court} may "
                    f"{kind.value.lower()} delegation {row.id}"
                )
            known = session.get(RequestRow, (row.id, request_id))
            if known is not None:
                if known.kind != kind.value:
                    raise AlreadyExists(f"request_id {request_id!r} was used for {known.kind}")
                return Outcome(ledger.full_pb(session, row))
            state = state_from_row(row)
            check_allowed(state, kind, Side.REQUESTING)
            self._require_uploaded(session, "documents", documents)
            session.add(
                RequestRow(
                    delegation_id=row.id,
                    request_id=request_id,
                    kind=kind.value,
                    side=Side.REQUESTING.value,
                    actor_court=court,
                    created_at=to_stored(self.clock.now()),
                )
            )
            message = bus_pb2.ActionRequest(
                delegation_id=row.id,
                request_id=request_id,
                kind=pb.EventKind.Value(f"EVENT_KIND_{kind.value}"),
                side=pb.SIDE_REQUESTING,
                actor_court=court,
                text=text,
                documents=[
                    pb.Document(
                        name=d.name,
                        media_type=d.media_type,
                        size_bytes=d.size_bytes,
                        sha256=d.sha256,
                    )
                    for d in documents
                ],
            )
            ledger.enqueue(
                session,
                to_coordinator(court, Kind.REQUEST),
                bus_pb2.Envelope(
                    message_id=ledger.stable_id("req", row.id, request_id),
                    court_id=court,
                    request=message,
                ),
                self.clock.now(),
            )
            self._send_documents(session, row.id, court, documents)
            session.flush()
            return Outcome(ledger.full_pb(session, row), [self._change(session, row, None)])

        outcome = await self.db.run(work)
        self._after_commit(outcome)
        log.info("request_sent", delegation_id=delegation_id, kind=kind.value, court=court)
        return outcome.delegation

    # -- entrusted court -----------------------------------------------------------------------

    async def act(self, court: str, delegation_id: str, step: Step) -> pb.Delegation:
        """An entrusted court's own step: acknowledge, accept, return, progress, complete."""
        self.hosted(court)
        assert step.kind in ENTRUSTED_ACTIONS
        violations: list[FieldViolation] = []
        needs_text = step.kind in (
            EventKind.RETURNED,
            EventKind.PROGRESS_REPORTED,
            EventKind.COMPLETED,
        )
        check_text(violations, "text", step.text, required=needs_text)
        check_documents(violations, "documents", step.documents)
        if step.kind is EventKind.RETURNED and not step.return_reason:
            violations.append(FieldViolation("reason", "is required"))
        if step.kind is EventKind.COMPLETED and not step.result:
            violations.append(FieldViolation("result", "is required"))
        if violations:
            raise InvalidInput(violations)

        def work(session: Session) -> Outcome:
            row = self._row_for(session, court, delegation_id)
            if row.entrusted_court != court:
                raise NotAllowed(
                    f"only the entrusted court {row.entrusted_court} may "
                    f"{step.kind.value.lower()} delegation {row.id}"
                )
            state = state_from_row(row)
            self._require_uploaded(session, "documents", step.documents)
            event = ledger.seal_next(
                state,
                self._event(
                    step.kind,
                    Side.ENTRUSTED,
                    court,
                    text=step.text,
                    return_reason=step.return_reason,
                    result=step.result,
                    documents=step.documents,
                ),
            )
            ledger.append(session, self.registry, row, event)
            self._publish_sync(session, row, court)
            self._send_documents(session, row.id, court, step.documents)
            return Outcome(ledger.full_pb(session, row), [self._change(session, row, event)])

        outcome = await self.db.run(work)
        self._after_commit(outcome)
        log.info("step_taken", delegation_id=delegation_id, kind=step.kind.value, court=court)
        return outcome.delegation

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, court: str, delegation_id: str) -> pb.Delegation:
        self.hosted(court)
        now = self.clock.now()

        def work(session: Session) -> pb.Delegation:
            row = self._row_for(session, court, delegation_id)
            out = ledger.full_pb(session, row)
            if self.sla is not None:
                policy, calendar = self.sla
                history = ledger.history(session, row.id)
                clocks = sla_fold(history, goals_for(policy, row), calendar)
                out.sla.extend(sla_goals_pb(clocks, now, calendar))
            out.document_states.extend(docstore.states(session, out))
            return out

        return await self.db.run(work)

    async def list(
        self,
        court: str,
        direction: str,
        statuses: Sequence[Status],
        size: int,
        token: str,
    ) -> tuple[list[pb.Delegation], str]:
        self.hosted(court)
        size = page_size(size)
        offset = page_offset(token)

        def work(session: Session) -> tuple[list[pb.Delegation], str]:
            query = select(DelegationRow)
            if direction == "sent":
                query = query.where(DelegationRow.requesting_court == court)
            elif direction == "received":
                query = query.where(DelegationRow.entrusted_court == court)
            else:
                query = query.where(
                    or_(
                        col(DelegationRow.requesting_court) == court,
                        col(DelegationRow.entrusted_court) == court,
                    )
                )
            if statuses:
                query = query.where(col(DelegationRow.status).in_([s.value for s in statuses]))
            query = query.order_by(
                col(DelegationRow.created_at).desc(), col(DelegationRow.id).desc()
            )
            rows = session.exec(query.offset(offset).limit(size + 1)).all()
            more = len(rows) > size
            out = [delegation_pb(r) for r in rows[:size]]
            return out, page_token(offset + size) if more else ""

        return await self.db.run(work)

    # -- the bus -------------------------------------------------------------------------------

    async def on_message(self, subject: str, envelope: bus_pb2.Envelope) -> None:
        """Apply one message from the coordinator, once, whatever the redeliveries."""
        body = envelope.WhichOneof("body")
        if envelope.court_id != court_of(subject) or envelope.court_id not in self.courts:
            raise Permanent(f"message for court {envelope.court_id} reached node {self.node_id}")

        def work(session: Session) -> Outcome | None:
            if ledger.seen(session, envelope.message_id):
                return None
            ledger.remember(session, envelope.message_id, subject, self.clock.now())
            if body == "sync":
                return self._on_sync(session, envelope.sync)
            if body == "request":
                return self._on_request(session, envelope.court_id, envelope.request)
            if body == "refused":
                return self._on_refused(session, envelope.refused)
            if body == "want":
                return self._on_want(session, envelope.court_id, envelope.want)
            if body == "chunk":
                return self._on_chunk(session, subject, envelope)
            raise Permanent(f"unknown envelope body {body}")

        outcome = await self.db.run(work)
        self._after_commit(outcome)

    def _on_chunk(
        self, session: Session, subject: str, envelope: bus_pb2.Envelope
    ) -> Outcome | None:
        """A piece of a document the other party attached: stored; the whole is checked against
        the SHA-256 and size the delegation's history declares, and a mismatch is refused (parked,
        on the record) and reported."""
        chunk = envelope.chunk
        row = session.get(DelegationRow, chunk.delegation_id)
        if row is None:  # the sync travels first; retried, then parked if it never comes
            raise LookupError(f"document piece for unknown delegation {chunk.delegation_id}")
        if envelope.court_id not in (row.requesting_court, row.entrusted_court):
            raise Permanent(f"court {envelope.court_id} is no party to {row.id}")
        declared = documents_named(session, row.id)
        if declared.get(chunk.sha256) != chunk.size_bytes:
            raise Permanent(
                f"document {chunk.sha256[:12]}… ({chunk.size_bytes} bytes) is not one the "
                f"history of {row.id} declares"
            )
        try:
            arrival = docstore.receive(session, chunk, self.clock.now())
        except docstore.BadChunk as exc:
            raise Permanent(f"bad document piece: {exc}") from None
        docstore.use(session, row.id, chunk.sha256, chunk.from_court)
        report_arrival(session, subject, envelope, arrival, self.clock.now())
        return None

    def _on_sync(self, session: Session, sync: bus_pb2.DelegationSync) -> Outcome:
        merge = ledger.merge_sync(session, self.registry, sync, sender=None)
        row, state = merge.row, merge.state
        applied = list(merge.applied)
        for event in applied:
            if event.request_id:
                req = session.get(RequestRow, (row.id, event.request_id))
                if req is not None and req.state == "pending":
                    req.state = "applied"
                    session.add(req)
        if applied and state.status is Status.ROUTED and state.entrusted_court in self.courts:
            # Offered to one of our courts: store it and tell the coordinator, which owns the
            # delegation until it records the delivery.
            receipt = bus_pb2.DeliveryReceipt(delegation_id=row.id, routed_seq=state.seq)
            receipt.at.FromDatetime(self.clock.now())
            court = state.entrusted_court
            ledger.enqueue(
                session,
                to_coordinator(court, Kind.RECEIPT),
                bus_pb2.Envelope(
                    message_id=ledger.stable_id("rcpt", row.id, str(state.seq)),
                    court_id=court,
                    receipt=receipt,
                ),
                self.clock.now(),
            )
            log.info("delegation_received", delegation_id=row.id, court=court)
        session.flush()
        return Outcome(
            ledger.full_pb(session, row), [self._change(session, row, e) for e in applied[-1:]]
        )

    def _on_request(
        self, session: Session, court: str, request: bus_pb2.ActionRequest
    ) -> Outcome | None:
        row = ledger.get_row(session, request.delegation_id)
        if row is None:
            raise ledger.OutOfOrder(f"request for unknown delegation {request.delegation_id}")
        kind = kind_from_pb(request.kind)
        side = side_from_pb(request.side)
        if kind not in REQUESTED_KINDS:
            raise Permanent(f"{kind.value} cannot be requested")
        if any(e.request_id == request.request_id for e in ledger.history(session, row.id)):
            return None
        state = state_from_row(row)
        try:
            if state.writer_court() != court:
                raise NotAllowed(f"court {court} is no longer the entrusted court")
            check_allowed(state, kind, side)
            if kind is EventKind.REROUTED:
                self._check_reroute(state, request.court_id)
        except DomainError as exc:
            refusal = bus_pb2.RequestRefused(
                delegation_id=row.id,
                request_id=request.request_id,
                kind=request.kind,
                reason=str(exc),
                requesting_court=request.actor_court or "",
            )
            ledger.enqueue(
                session,
                to_coordinator(court, Kind.REFUSED),
                bus_pb2.Envelope(court_id=court, refused=refusal),
                self.clock.now(),
            )
            log.info("request_refused", delegation_id=row.id, kind=kind.value, reason=str(exc))
            return None
        event = ledger.seal_next(
            state,
            self._event(
                kind,
                side,
                request.actor_court,
                request_id=request.request_id,
                text=request.text,
                court_id=request.court_id,
                documents=tuple(document_from_pb(d) for d in request.documents),
            ),
        )
        ledger.append(session, self.registry, row, event)
        self._publish_sync(session, row, court)
        log.info("request_applied", delegation_id=row.id, kind=kind.value)
        return Outcome(ledger.full_pb(session, row), [self._change(session, row, event)])

    def _on_want(self, session: Session, court: str, want: bus_pb2.Want) -> Outcome | None:
        """The coordinator lacks events of these delegations: send them again."""
        for delegation_id in want.delegation_ids:
            row = ledger.get_row(session, delegation_id)
            if row is not None and court in (row.requesting_court, row.entrusted_court):
                self._publish_sync(session, row, court)
        log.info("reconcile_resent", court=court, delegations=len(want.delegation_ids))
        return None

    # -- reconciliation ------------------------------------------------------------------------

    async def reconcile(self, publish: Publish) -> int:
        """Tell the coordinator what this node holds (a digest per court, published directly:
        it is rebuilt every round), and re-send through the outbox what may have been lost on
        the way: pending requests and receipts of undelivered offers. Returns the entries sent."""
        now = self.clock.now()
        since = now - RECONCILE_WINDOW

        def work(session: Session) -> list[tuple[str, bus_pb2.Envelope]]:
            digests = []
            for court in sorted(self.courts):
                rows = ledger.digest_scope(session, court, since)
                digest = bus_pb2.Digest(
                    entries=[
                        bus_pb2.DigestEntry(delegation_id=r.id, seq=r.seq, last_hash=r.last_hash)
                        for r in rows
                    ]
                )
                digest.since.FromDatetime(since)
                envelope = bus_pb2.Envelope(court_id=court, digest=digest)
                digests.append((to_coordinator(court, Kind.DIGEST), envelope))
            pending = session.exec(
                select(RequestRow).where(
                    RequestRow.state == "pending",
                    col(RequestRow.actor_court).in_(sorted(self.courts)),
                )
            ).all()
            for req in pending:
                original = ledger.stable_id("req", req.delegation_id, req.request_id)
                ledger.resend(session, original, now)
            offers = session.exec(
                select(DelegationRow).where(
                    DelegationRow.status == Status.ROUTED.value,
                    col(DelegationRow.entrusted_court).in_(sorted(self.courts)),
                )
            ).all()
            for row in offers:
                ledger.resend(session, ledger.stable_id("rcpt", row.id, str(row.seq)), now)
            return digests

        digests = await self.db.run(work)
        self._after_commit(None)
        for subject, envelope in digests:
            await publish(subject, envelope)
        return sum(len(e.digest.entries) for _, e in digests)

    async def run_reconciler(
        self, publish: Publish, interval: float, reconnected: asyncio.Event
    ) -> None:
        """Reconcile every ``interval`` seconds, at start, and whenever the bus reconnects."""
        while True:
            try:
                entries = await self.reconcile(publish)
                log.info("reconcile_digest_sent", node=self.node_id, entries=entries)
            except Exception as exc:
                log.warning("reconcile_failed", error=str(exc))  # a broker outage; retried
            reconnected.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reconnected.wait(), timeout=interval)

    def _check_reroute(self, state: DelegationState, new_court: str) -> None:
        if new_court == state.entrusted_court:
            raise InvalidInput.one("court_id", "the delegation is already at that court")
        route(self.registry, state.requesting_court, Target(court_id=new_court))

    def _on_refused(self, session: Session, refused: bus_pb2.RequestRefused) -> Outcome | None:
        req = session.get(RequestRow, (refused.delegation_id, refused.request_id))
        row = ledger.get_row(session, refused.delegation_id)
        if req is None or row is None or req.state == "applied":
            return None  # a refusal of a re-sent copy cannot undo what was applied
        req.state = "refused"
        req.reason = refused.reason
        session.add(req)
        session.flush()
        return Outcome(ledger.full_pb(session, row), [self._change(session, row, None)])

    # -- checks used by the demo and tests -----------------------------------------------------

    async def summary(self) -> dict[str, object]:
        def work(session: Session) -> dict[str, object]:
            from jiaodong.store.tables import DeadLetterRow, OutboxRow

            pending = session.exec(
                select(OutboxRow).where(col(OutboxRow.published_at).is_(None))
            ).all()
            return {
                "node": self.node_id,
                "delegations": ledger.count(session, DelegationRow),
                "dead_letters": ledger.count(session, DeadLetterRow),
                "outbox_pending": len(pending),
            }

        return await self.db.run(work)
