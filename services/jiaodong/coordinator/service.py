"""The coordinator: routes each delegation, relays every step between the two courts, and keeps the
region-wide record that command centres watch and steer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog
from sqlalchemy import func
from sqlmodel import Session, col, select

from jiaodong.bus.subjects import Kind, court_of, to_court
from jiaodong.bus.transport import Permanent
from jiaodong.convert import delegation_pb, event_pb, state_from_row, to_stored
from jiaodong.domain.clock import Clock
from jiaodong.domain.delegation import check_request_id, check_text
from jiaodong.domain.errors import (
    AlreadyExists,
    DomainError,
    FieldViolation,
    InvalidInput,
    RoutingRefused,
)
from jiaodong.domain.lifecycle import Event, EventKind, Side, Status, check_allowed
from jiaodong.domain.registry import Registry
from jiaodong.domain.routing import Target, route
from jiaodong.node.service import Outcome, page_offset, page_size, page_token
from jiaodong.store import ledger
from jiaodong.store.database import Database
from jiaodong.store.tables import DelegationRow, RequestRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.watch import Broadcaster, Change

log = structlog.get_logger("jiaodong.coordinator")


class Coordinator:
    """Region-wide routing and record."""

    def __init__(
        self,
        registry: Registry,
        db: Database,
        clock: Clock,
        broadcaster: Broadcaster | None = None,
    ) -> None:
        self.registry = registry
        self.db = db
        self.clock = clock
        self.broadcaster = broadcaster or Broadcaster()
        self._wake: Callable[[], None] = lambda: None

    def set_relay_wake(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def _after_commit(self, outcome: Outcome | None) -> None:
        if outcome is not None and outcome.changes:
            self.broadcaster.publish(outcome.changes)
        self._wake()

    def _event(self, kind: EventKind, **fields: object) -> Event:
        return Event(
            event_id=ledger.new_id(),
            seq=0,
            kind=kind,
            side=Side.COORDINATOR,
            actor_court="",
            at=self.clock.now(),
            **fields,  # type: ignore[arg-type]
        )

    def _send(self, session: Session, court: str, kind: Kind, envelope: bus_pb2.Envelope) -> None:
        envelope.court_id = court
        ledger.enqueue(session, to_court(court, kind), envelope, self.clock.now())

    def _forward_sync(self, session: Session, row: DelegationRow, skip: str | None) -> None:
        sync = ledger.sync_message(session, row)
        for court in dict.fromkeys((row.requesting_court, row.entrusted_court)):
            if court and court != skip:
                self._send(session, court, Kind.SYNC, bus_pb2.Envelope(sync=sync))

    # -- the bus -------------------------------------------------------------------------------

    async def on_message(self, subject: str, envelope: bus_pb2.Envelope) -> None:
        sender = court_of(subject)
        if envelope.court_id != sender:
            raise Permanent(f"envelope says court {envelope.court_id} but came from {sender}")
        body = envelope.WhichOneof("body")

        def work(session: Session) -> Outcome | None:
            if ledger.seen(session, envelope.message_id):
                return None
            ledger.remember(session, envelope.message_id, subject, self.clock.now())
            if body == "sync":
                return self._on_sync(session, sender, envelope.sync)
            if body == "request":
                return self._on_request(session, sender, envelope.request)
            if body == "refused":
                return self._on_refused(session, sender, envelope.refused)
            raise Permanent(f"unknown envelope body {body}")

        outcome = await self.db.run(work)
        self._after_commit(outcome)

    def _on_sync(
        self, session: Session, sender: str, sync: bus_pb2.DelegationSync
    ) -> Outcome | None:
        merge = ledger.merge_sync(session, self.registry, sync, sender=sender)
        if not merge.applied:
            return None
        row, state = merge.row, merge.state
        applied = list(merge.applied)
        wrote = False
        if state.status is Status.CREATED:
            applied.append(self._route(session, row))
            wrote = True
        for event in applied:
            if event.request_id:
                req = session.get(RequestRow, (row.id, event.request_id))
                if req is not None and req.state == "pending":
                    req.state = "applied"
                    session.add(req)
        self._forward_sync(session, row, None if wrote else sender)
        session.flush()
        change = Change(delegation_pb(row), event_pb(applied[-1]))
        return Outcome(change.delegation, [change])

    def _route(self, session: Session, row: DelegationRow) -> Event:
        content = pb.Delegation()
        content.ParseFromString(row.content)
        target = Target(content.target.court_id, content.target.city, content.target.district)
        state = state_from_row(row)
        try:
            court = route(self.registry, row.requesting_court, target)
            event = self._event(EventKind.ROUTED, court_id=court.court_id)
        except (RoutingRefused, DomainError) as exc:
            event = self._event(EventKind.ROUTING_FAILED, text=str(exc))
        event = ledger.seal_next(state, event)
        ledger.append(session, self.registry, row, event)
        log.info(
            "delegation_routed" if event.kind is EventKind.ROUTED else "routing_failed",
            delegation_id=row.id,
            to=event.court_id,
        )
        return event

    def _on_request(
        self, session: Session, sender: str, request: bus_pb2.ActionRequest
    ) -> Outcome | None:
        row = ledger.get_row(session, request.delegation_id)
        if row is None:
            raise ledger.OutOfOrder(f"request for unknown delegation {request.delegation_id}")
        if sender != row.requesting_court or request.actor_court != sender:
            raise Permanent(f"court {sender} is not the requesting court of {row.id}")
        state = state_from_row(row)
        writer = state.writer_court()
        if writer is None:
            refusal = bus_pb2.RequestRefused(
                delegation_id=row.id,
                request_id=request.request_id,
                kind=request.kind,
                reason=f"the delegation is already {state.status.value}",
                requesting_court=sender,
            )
            self._send(session, sender, Kind.REFUSED, bus_pb2.Envelope(refused=refusal))
            return None
        self._send(session, writer, Kind.REQUEST, bus_pb2.Envelope(request=request))
        return None

    def _on_refused(
        self, session: Session, sender: str, refused: bus_pb2.RequestRefused
    ) -> Outcome | None:
        row = ledger.get_row(session, refused.delegation_id)
        if row is None:
            raise ledger.OutOfOrder(f"refusal for unknown delegation {refused.delegation_id}")
        own = session.get(RequestRow, (row.id, refused.request_id))
        if own is not None:
            own.state = "refused"
            own.reason = refused.reason
            session.add(own)
            log.info("request_refused", delegation_id=row.id, kind=own.kind)
            return None
        self._send(session, row.requesting_court, Kind.REFUSED, bus_pb2.Envelope(refused=refused))
        return None

    # -- operators -----------------------------------------------------------------------------

    async def steer(
        self, delegation_id: str, kind: EventKind, request_id: str, text: str, court_id: str = ""
    ) -> pb.Delegation:
        """An operator's reroute or escalation, sent to the delegation's current writer."""
        violations: list[FieldViolation] = []
        if not delegation_id:
            violations.append(FieldViolation("id", "is required"))
        check_request_id(violations, "request_id", request_id)
        check_text(violations, "text", text, required=True)
        if kind is EventKind.REROUTED and not court_id:
            violations.append(FieldViolation("court_id", "is required"))
        if violations:
            raise InvalidInput(violations)

        def work(session: Session) -> Outcome:
            row = ledger.require_row(session, delegation_id)
            known = session.get(RequestRow, (row.id, request_id))
            if known is not None:
                if known.kind != kind.value:
                    raise AlreadyExists(f"request_id {request_id!r} was used for {known.kind}")
                return Outcome(ledger.full_pb(session, row))
            state = state_from_row(row)
            check_allowed(state, kind, Side.COORDINATOR)
            if kind is EventKind.REROUTED:
                if court_id == state.entrusted_court:
                    raise InvalidInput.one("court_id", "the delegation is already at that court")
                try:
                    route(self.registry, row.requesting_court, Target(court_id=court_id))
                except RoutingRefused as exc:
                    raise InvalidInput.one("court_id", exc.reason) from exc
            writer = state.writer_court()
            assert writer is not None
            session.add(
                RequestRow(
                    delegation_id=row.id,
                    request_id=request_id,
                    kind=kind.value,
                    side=Side.COORDINATOR.value,
                    created_at=to_stored(self.clock.now()),
                )
            )
            request = bus_pb2.ActionRequest(
                delegation_id=row.id,
                request_id=request_id,
                kind=pb.EventKind.Value(f"EVENT_KIND_{kind.value}"),
                side=pb.SIDE_COORDINATOR,
                text=text,
                court_id=court_id,
            )
            self._send(session, writer, Kind.REQUEST, bus_pb2.Envelope(request=request))
            session.flush()
            return Outcome(ledger.full_pb(session, row))

        outcome = await self.db.run(work)
        self._after_commit(outcome)
        log.info("operator_request", delegation_id=delegation_id, kind=kind.value)
        return outcome.delegation

    async def get(self, delegation_id: str) -> pb.Delegation:
        if not delegation_id:
            raise InvalidInput.one("id", "is required")
        return await self.db.run(lambda s: ledger.full_pb(s, ledger.require_row(s, delegation_id)))

    async def list(
        self,
        from_city: str,
        to_city: str,
        statuses: Sequence[Status],
        task_types: Sequence[str],
        size: int,
        token: str,
    ) -> tuple[list[pb.Delegation], str, int]:
        size = page_size(size)
        offset = page_offset(token)
        for name, city in (("from_city", from_city), ("to_city", to_city)):
            if city and city not in self.registry.cities:
                raise InvalidInput.one(name, f"unknown city {city!r}")

        def work(session: Session) -> tuple[list[pb.Delegation], str, int]:
            query = select(DelegationRow)
            if from_city:
                query = query.where(DelegationRow.requesting_city == from_city)
            if to_city:
                query = query.where(DelegationRow.entrusted_city == to_city)
            if statuses:
                query = query.where(col(DelegationRow.status).in_([s.value for s in statuses]))
            if task_types:
                query = query.where(col(DelegationRow.task_type).in_(list(task_types)))
            total = session.exec(select(func.count()).select_from(query.subquery())).one()
            rows = session.exec(
                query.order_by(col(DelegationRow.created_at).desc(), col(DelegationRow.id).desc())
                .offset(offset)
                .limit(size + 1)
            ).all()
            more = len(rows) > size
            return (
                [delegation_pb(r) for r in rows[:size]],
                page_token(offset + size) if more else "",
                int(total),
            )

        return await self.db.run(work)
