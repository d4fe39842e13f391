"""The coordinator: routes each delegation, relays every step between the two courts, and keeps the
region-wide record that command centres watch and steer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import structlog
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from jiaodong.api.paging import page_offset, page_size, page_token
from jiaodong.api.sla_view import asset_key, sla_goals_pb
from jiaodong.app.sla import SlaEngine, SweepReport
from jiaodong.app.watch import Broadcaster, Change, Outcome
from jiaodong.bus.subjects import Kind, court_of, to_court
from jiaodong.bus.transport import Permanent
from jiaodong.domain import sla
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.clock import Clock
from jiaodong.domain.delegation import check_request_id, check_text
from jiaodong.domain.errors import (
    AlreadyExists,
    DomainError,
    FieldViolation,
    IllegalTransition,
    InvalidInput,
    RoutingRefused,
)
from jiaodong.domain.lifecycle import (
    Event,
    EventKind,
    Side,
    Status,
    action_word,
    check_allowed,
)
from jiaodong.domain.registry import Registry
from jiaodong.domain.routing import Target, route
from jiaodong.domain.sla_policy import SlaPolicy
from jiaodong.store import documents as docstore
from jiaodong.store import ledger
from jiaodong.store.database import Database
from jiaodong.store.documents import report_arrival
from jiaodong.store.tables import DeadLetterRow, DelegationRow, RequestRow, SlaClockRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import (
    delegation_pb,
    document_from_pb,
    event_pb,
    from_ts,
    kind_from_pb,
    side_from_pb,
    state_from_row,
    to_stored,
    to_utc,
)

# An authorization check on one delegation: (requesting, entrusted court) -> raises NotAllowed.
Guard = Callable[[str, str], None]


def _check(guard: Guard | None, row: DelegationRow) -> None:
    if guard is not None:
        guard(row.requesting_court, row.entrusted_court or "")


log = structlog.get_logger("jiaodong.coordinator")

# A clock whose due time a recompute moved: delegation, goal, old due, new due.
Move = tuple[str, str, datetime, datetime]


class Coordinator:
    """Region-wide routing and record."""

    def __init__(
        self,
        registry: Registry,
        db: Database,
        clock: Clock,
        sla_engine: SlaEngine,
        broadcaster: Broadcaster | None = None,
        reload: Callable[[], tuple[SlaPolicy, WorkCalendar]] | None = None,
    ) -> None:
        self.registry = registry
        self.db = db
        self.clock = clock
        self.sla = sla_engine
        self.broadcaster = broadcaster or Broadcaster()
        self._reload = reload
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

    def _forward_sync(
        self, session: Session, row: DelegationRow, skip: str | None, also: str = ""
    ) -> None:
        """After a history change: restart the stored SLA clocks, and send the whole known state
        to both courts (and a court it just left), except ``skip``."""
        history = ledger.history(session, row.id)
        self.sla.refresh(session, row, history)
        sync = bus_pb2.DelegationSync(
            delegation=ledger.content_of(row), history=[event_pb(e) for e in history]
        )
        for court in dict.fromkeys((row.requesting_court, row.entrusted_court, also)):
            if court and court != skip:
                self._send(session, court, Kind.SYNC, bus_pb2.Envelope(sync=sync))
        if history and history[-1].kind in (EventKind.ROUTED, EventKind.REROUTED):
            self._forward_requesting_documents(session, row)

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
            if body == "receipt":
                return self._on_receipt(session, sender, envelope.receipt)
            if body == "digest":
                return self._on_digest(session, sender, envelope.digest)
            if body == "chunk":
                return self._on_chunk(session, subject, sender, envelope)
            raise Permanent(f"unknown envelope body {body}")

        outcome = await self.db.run(work)
        self._after_commit(outcome)

    # -- documents -----------------------------------------------------------------------------

    def _on_chunk(
        self, session: Session, subject: str, sender: str, envelope: bus_pb2.Envelope
    ) -> Outcome | None:
        """A piece of a document a party attached: stored; once whole and matching its declared
        SHA-256 and size, forwarded to the other party; a mismatch is parked and reported."""
        chunk = envelope.chunk
        row = ledger.get_row(session, chunk.delegation_id)
        if row is None:  # its sync travels first; retried, then parked if it never comes
            raise LookupError(f"document piece for unknown delegation {chunk.delegation_id}")
        if sender not in (row.requesting_court, row.entrusted_court) or (
            chunk.from_court != sender
        ):
            raise Permanent(f"court {sender} is no party to {row.id} or not the one attaching")
        try:
            arrival = docstore.receive(session, chunk, self.clock.now())
        except docstore.BadChunk as exc:
            raise Permanent(f"bad document piece: {exc}") from None
        docstore.use(session, row.id, chunk.sha256, sender)
        report_arrival(session, subject, envelope, arrival, self.clock.now())
        if arrival.verdict == docstore.VERIFIED:
            other = row.entrusted_court if sender == row.requesting_court else row.requesting_court
            if other:
                self._forward_document(session, row.id, chunk.sha256, sender, other)
        return None

    def _forward_document(
        self, session: Session, delegation_id: str, sha256: str, from_court: str, to: str
    ) -> None:
        for piece in docstore.chunks_of(session, delegation_id, sha256, from_court):
            self._send(session, to, Kind.DOC, bus_pb2.Envelope(chunk=piece))

    def _forward_requesting_documents(self, session: Session, row: DelegationRow) -> None:
        """A newly chosen entrusted court gets what the requesting court attached so far."""
        if not row.entrusted_court:
            return
        for used in docstore.uses(session, row.id):
            if used.from_court == row.requesting_court:
                self._forward_document(
                    session, row.id, used.sha256, used.from_court, row.entrusted_court
                )

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
        self._mark_applied(session, row, applied)
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
        except DomainError as exc:  # RoutingRefused, or an unknown court
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
        if state.writer is Side.ENTRUSTED:
            writer = state.writer_court()
            assert writer is not None
            self._send(session, writer, Kind.REQUEST, bus_pb2.Envelope(request=request))
            return None
        if any(e.request_id == request.request_id for e in ledger.history(session, row.id)):
            return None  # applied already (a re-sent copy): never refuse what was done
        try:
            if state.writer is None:
                raise IllegalTransition(
                    state.status.value, action_word(kind_from_pb(request.kind)), "it is closed"
                )
            return self._apply(session, row, request)
        except DomainError as exc:
            refusal = bus_pb2.RequestRefused(
                delegation_id=row.id,
                request_id=request.request_id,
                kind=request.kind,
                reason=str(exc),
                requesting_court=sender,
            )
            self._send(session, sender, Kind.REFUSED, bus_pb2.Envelope(refused=refusal))
            return None

    def _apply(
        self, session: Session, row: DelegationRow, request: bus_pb2.ActionRequest
    ) -> Outcome:
        """Apply a request while the coordinator is the writer (before delivery)."""
        kind = kind_from_pb(request.kind)
        state = state_from_row(row)
        if any(e.request_id == request.request_id for e in ledger.history(session, row.id)):
            return Outcome(ledger.full_pb(session, row))
        if kind is EventKind.REROUTED:
            self._check_reroute(row, state.entrusted_court, request.court_id)
        previous = state.entrusted_court
        event = ledger.seal_next(
            state,
            replace(
                self._event(kind, text=request.text, court_id=request.court_id),
                side=side_from_pb(request.side),
                actor_court=request.actor_court,
                request_id=request.request_id,
                documents=tuple(document_from_pb(d) for d in request.documents),
            ),
        )
        ledger.append(session, self.registry, row, event)
        self._mark_applied(session, row, [event])
        self._forward_sync(session, row, None, also=previous)
        log.info("request_applied", delegation_id=row.id, kind=kind.value)
        session.flush()
        change = Change(delegation_pb(row), event_pb(event))
        return Outcome(ledger.full_pb(session, row), [change])

    def _check_reroute(self, row: DelegationRow, current: str, court_id: str) -> None:
        if court_id == current:
            raise InvalidInput.one("court_id", "the delegation is already at that court")
        try:
            route(self.registry, row.requesting_court, Target(court_id=court_id))
        except RoutingRefused as exc:
            raise InvalidInput.one("court_id", exc.reason) from exc

    def _on_receipt(
        self, session: Session, sender: str, receipt: bus_pb2.DeliveryReceipt
    ) -> Outcome | None:
        row = ledger.get_row(session, receipt.delegation_id)
        if row is None:
            raise ledger.OutOfOrder(f"receipt for unknown delegation {receipt.delegation_id}")
        state = state_from_row(row)
        if not (
            state.status is Status.ROUTED
            and state.entrusted_court == sender
            and state.seq == receipt.routed_seq
        ):
            # Moved, cancelled or already delivered meanwhile: tell the node how things stand.
            self._send(
                session, sender, Kind.SYNC, bus_pb2.Envelope(sync=ledger.sync_message(session, row))
            )
            return None
        event = ledger.seal_next(
            state,
            replace(
                self._event(EventKind.DELIVERED),
                side=Side.ENTRUSTED,
                actor_court=sender,
                at=from_ts(receipt.at) if receipt.HasField("at") else self.clock.now(),
            ),
        )
        ledger.append(session, self.registry, row, event)
        self._forward_sync(session, row, None)
        log.info("delegation_delivered", delegation_id=row.id, court=sender)
        session.flush()
        change = Change(delegation_pb(row), event_pb(event))
        return Outcome(change.delegation, [change])

    def _on_digest(self, session: Session, sender: str, digest: bus_pb2.Digest) -> Outcome | None:
        """Compare a court's digest with the record here; send the court what it lacks, ask it
        for what this side lacks, and re-send requests of ours it never applied."""
        since = from_ts(digest.since)
        theirs = {e.delegation_id: e for e in digest.entries}
        want: list[str] = []
        behind = 0
        for delegation_id, entry in theirs.items():
            row = ledger.get_row(session, delegation_id)
            if row is None or row.seq < entry.seq:
                want.append(delegation_id)
            elif row.seq > entry.seq:
                self._send_sync(session, row, sender)
                behind += 1
            elif row.last_hash != entry.last_hash:
                log.error("reconcile_conflict", delegation_id=delegation_id, court=sender)
        mine = ledger.digest_scope(session, sender, since)
        for row in mine:
            if row.id not in theirs:
                self._send_sync(session, row, sender)
                behind += 1
            if row.entrusted_court == sender and state_from_row(row).writer_court() == sender:
                self._resend_own_requests(session, row)
        if want:
            self._send(
                session, sender, Kind.WANT, bus_pb2.Envelope(want=bus_pb2.Want(delegation_ids=want))
            )
        if want or behind:
            log.info("reconcile", court=sender, want=len(want), sent=behind)
        return None

    def _send_sync(self, session: Session, row: DelegationRow, court: str) -> None:
        self._send(
            session, court, Kind.SYNC, bus_pb2.Envelope(sync=ledger.sync_message(session, row))
        )

    def _resend_own_requests(self, session: Session, row: DelegationRow) -> None:
        """Operators' requests and SLA actions the writer has not applied yet: ask again."""
        history = ledger.history(session, row.id)
        done = {e.request_id for e in history if e.request_id}
        now = self.clock.now()
        pending = session.exec(
            select(RequestRow).where(
                RequestRow.delegation_id == row.id,
                RequestRow.state == "pending",
                RequestRow.side == Side.COORDINATOR.value,
            )
        ).all()
        for req in pending:
            if req.request_id not in done:
                ledger.resend(session, ledger.stable_id("req", row.id, req.request_id), now)
        self.sla.resend_unapplied(session, row, history)

    def _mark_applied(self, session: Session, row: DelegationRow, events: list[Event]) -> None:
        for event in events:
            if event.request_id:
                req = session.get(RequestRow, (row.id, event.request_id))
                if req is not None and req.state == "pending":
                    req.state = "applied"
                    session.add(req)

    def _on_refused(
        self, session: Session, sender: str, refused: bus_pb2.RequestRefused
    ) -> Outcome | None:
        row = ledger.get_row(session, refused.delegation_id)
        if row is None:
            raise ledger.OutOfOrder(f"refusal for unknown delegation {refused.delegation_id}")
        if refused.request_id.startswith("sla-"):
            log.info("sla_action_refused", delegation_id=row.id, reason=refused.reason)
            return None
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
        self,
        delegation_id: str,
        kind: EventKind,
        request_id: str,
        text: str,
        court_id: str = "",
        guard: Guard | None = None,
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
            _check(guard, row)
            known = session.get(RequestRow, (row.id, request_id))
            if known is not None:
                if known.kind != kind.value:
                    raise AlreadyExists(f"request_id {request_id!r} was used for {known.kind}")
                return Outcome(ledger.full_pb(session, row))
            state = state_from_row(row)
            check_allowed(state, kind, Side.COORDINATOR)
            if kind is EventKind.REROUTED:
                self._check_reroute(row, state.entrusted_court, court_id)
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
            if state.writer is Side.COORDINATOR:
                return self._apply(session, row, request)
            writer = state.writer_court()
            assert writer is not None
            envelope = bus_pb2.Envelope(
                message_id=ledger.stable_id("req", row.id, request_id), request=request
            )
            self._send(session, writer, Kind.REQUEST, envelope)
            session.flush()
            return Outcome(ledger.full_pb(session, row))

        outcome = await self.db.run(work)
        self._after_commit(outcome)
        log.info("operator_request", delegation_id=delegation_id, kind=kind.value)
        return outcome.delegation

    async def get(self, delegation_id: str, guard: Guard | None = None) -> pb.Delegation:
        if not delegation_id:
            raise InvalidInput.one("id", "is required")
        now = self.clock.now()

        def work(session: Session) -> pb.Delegation:
            row = ledger.require_row(session, delegation_id)
            _check(guard, row)
            out = ledger.full_pb(session, row)
            clocks = self.sla.clocks(row, ledger.history(session, row.id))
            out.sla.extend(sla_goals_pb(clocks, now, self.sla.calendar))
            out.document_states.extend(docstore.states(session, out))
            return out

        return await self.db.run(work)

    async def explain(
        self, delegation_id: str, guard: Guard | None = None
    ) -> tuple[list[pb.SlaGoal], list[str]]:
        """How each due time of a delegation was computed, day by day."""
        if not delegation_id:
            raise InvalidInput.one("id", "is required")
        now = self.clock.now()

        def work(session: Session) -> tuple[list[pb.SlaGoal], list[str]]:
            row = ledger.require_row(session, delegation_id)
            _check(guard, row)
            history = ledger.history(session, row.id)
            clocks = self.sla.clocks(row, history)
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
            lines.extend(sla.explain(clocks, now, self.sla.calendar))
            return sla_goals_pb(clocks, now, self.sla.calendar), lines

        return await self.db.run(work)

    async def sweep(self, limit: int = 1000) -> SweepReport:
        """Handle every clock due now, in batches of ``limit``."""
        total = SweepReport()
        while True:
            report, touched = await self.db.run(lambda s: self.sla.sweep(s, limit))
            for name in ("due", "claimed", "warnings", "breaches", "actions", "skipped"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            for goal, n in report.by_goal.items():
                total.by_goal[goal] = total.by_goal.get(goal, 0) + n
            if touched:
                self._wake()
            if report.due < limit:
                return total

    async def run_sweeper(self, interval: float) -> None:
        """Sweep forever, every ``interval`` seconds of real time."""
        while True:
            try:
                report = await self.sweep()
                if report.claimed:
                    log.info(
                        "sla_sweep",
                        due=report.due,
                        warnings=report.warnings,
                        breaches=report.breaches,
                        actions=report.actions,
                    )
            except Exception as exc:  # keep sweeping; the next round retries
                log.error("sla_sweep_failed", error=str(exc))
            await asyncio.sleep(interval)

    async def board_notices(self) -> list[str]:
        """Everything operators should see on the board: calendar gaps and parked messages."""
        parked = await self.db.run(lambda s: ledger.count(s, DeadLetterRow))
        out = self.notices()
        if parked:
            out.append(
                f"{parked} message(s) parked as dead letters at the coordinator: "
                "see its dead_letter table and the message_parked log lines"
            )
        return out

    def notices(self, calendar: WorkCalendar | None = None) -> list[str]:
        """What operators should know about the clocks: years the calendar does not cover."""
        calendar = calendar or self.sla.calendar
        now = self.clock.now()
        return [
            f"{year} is not covered by the official calendar: weekends only until "
            f"courts/holidays/{year}.toml is added"
            for year in calendar.uncovered_years(now.date(), (now + timedelta(days=400)).date())
        ]

    async def recompute(self, dry_run: bool) -> tuple[int, list[Move], list[str]]:
        """Reload calendar and policy files; recompute every open clock; report what moved.
        Met and breached clocks, and the SLA events in histories, are never rewritten."""
        if self._reload is not None:
            policy, calendar = self._reload()
        else:
            policy, calendar = self.sla.policy, self.sla.calendar
        engine = SlaEngine(policy, calendar, self.clock)

        def work(session: Session) -> tuple[int, list[Move]]:
            open_rows = session.exec(
                select(SlaClockRow).where(col(SlaClockRow.state).in_(["RUNNING", "PAUSED"]))
            ).all()
            before = {(r.delegation_id, r.goal): to_utc(r.due_at) for r in open_rows}
            moved: list[Move] = []
            for delegation_id in sorted({r.delegation_id for r in open_rows}):
                row = ledger.require_row(session, delegation_id)
                history = ledger.history(session, row.id)
                for clock in sla.current_clocks(engine.clocks(row, history)):
                    old = before.get((delegation_id, clock.goal.value))
                    if old is not None and old != clock.due:
                        moved.append((delegation_id, clock.goal.value, old, clock.due))
                if not dry_run:
                    engine.refresh(session, row, history)
            return len(open_rows), moved

        count, moved = await self.db.run(work)
        if not dry_run:
            self.sla = engine
        warnings = self.notices(calendar)
        return count, moved, warnings

    async def list(
        self,
        from_city: str,
        to_city: str,
        statuses: Sequence[Status],
        task_types: Sequence[str],
        size: int,
        token: str,
        touching: str = "",
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
            if touching:  # a city command centre: only what its city sent or received
                query = query.where(
                    or_(
                        col(DelegationRow.requesting_city) == touching,
                        col(DelegationRow.entrusted_city) == touching,
                    )
                )
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
