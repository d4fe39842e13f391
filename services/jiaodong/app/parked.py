"""Parked messages (dead letters) as operators see and handle them, wherever they are parked: at
the coordinator, or at a city's node (the coordinator asks the node over the bus, ``ParkedAsk``).

A parked message is shown without personal data: its subject, reason, time and a summary of what it
carries (kind, delegation, sequence numbers, size). A retry applies it again through the service's
own inbound handler (once, whatever came before: the inbox); a discard drops it. Both are recorded
in the service's own database (``operator_action``) with the operator identity and the reason.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import structlog
from google.protobuf.message import DecodeError
from sqlmodel import Session

from jiaodong.app.messagebus import Receiver
from jiaodong.bus.subjects import court_of
from jiaodong.domain.clock import Clock
from jiaodong.domain.delegation import check_text
from jiaodong.domain.errors import (
    DomainError,
    FieldViolation,
    InvalidInput,
    NotAllowed,
    NotFound,
)
from jiaodong.store import operators as record
from jiaodong.store.database import Database
from jiaodong.store.tables import DeadLetterRow, OperatorActionRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import to_utc

log = structlog.get_logger("jiaodong.parked")

MAX_REASON = 2000
# Parked message ids are the dead_letter table's integer keys.
MAX_PARKED_ID = 2**31 - 1
MAX_PAGE = 500
# The courts an operator may see parked messages of (None: every court, the regional centre).
Courts = Collection[str] | None


@dataclass(frozen=True)
class Parked:
    """A parked message, without its content: ``summary`` says what it carries, no personal
    data (kind, delegation, sequence numbers, size). ``city``: the city whose node holds it
    (empty: the coordinator)."""

    id: int
    subject: str
    message_id: str
    reason: str
    parked_at: datetime
    court_id: str
    delegation_id: str
    summary: str
    city: str = ""


@dataclass(frozen=True)
class ParkedAction:
    """An operator's retry or discard of a parked message, and what came of it."""

    action: str
    operator: str
    at: datetime
    reason: str
    outcome: str


def _court(subject: str) -> str:
    try:
        return court_of(subject)
    except (ValueError, IndexError):
        return ""


def summarise(payload: bytes) -> tuple[str, str]:
    """(delegation id, summary) of a parked envelope, naming no person, place or free text."""
    envelope = bus_pb2.Envelope()
    try:
        envelope.ParseFromString(payload)
    except DecodeError:
        return "", f"unreadable ({len(payload)} bytes)"
    kind = envelope.WhichOneof("body") or "empty"
    body = getattr(envelope, kind) if kind != "empty" else None
    delegation_id, detail = "", ""
    if isinstance(body, bus_pb2.DelegationSync):
        delegation_id = body.delegation.id
        seqs = [e.seq for e in body.history]
        detail = f"events {min(seqs)}-{max(seqs)}" if seqs else "no events"
    elif isinstance(body, bus_pb2.Want):
        detail = f"{len(body.delegation_ids)} delegation(s)"
        delegation_id = body.delegation_ids[0] if len(body.delegation_ids) == 1 else ""
    elif isinstance(body, bus_pb2.Digest):
        detail = f"{len(body.entries)} entries"
    elif body is not None:
        delegation_id = str(getattr(body, "delegation_id", ""))
        if isinstance(body, bus_pb2.DocumentChunk):
            detail = f"document piece {body.index + 1}/{body.count}"
        elif isinstance(body, bus_pb2.ActionRequest):
            detail = f"request {pb.EventKind.Name(body.kind)}"
    parts = [kind, f"delegation {delegation_id}" if delegation_id else "", detail]
    parts.append(f"{len(payload)} bytes")
    return delegation_id, ", ".join(p for p in parts if p)


def parked_of(row: DeadLetterRow, city: str = "") -> Parked:
    assert row.id is not None
    delegation_id, summary = summarise(row.payload)
    return Parked(
        row.id,
        row.subject,
        row.message_id,
        row.reason,
        to_utc(row.parked_at),
        _court(row.subject),
        delegation_id,
        summary,
        city,
    )


def action_of(row: OperatorActionRow) -> ParkedAction:
    return ParkedAction(row.action, row.operator, to_utc(row.at), row.reason, row.outcome)


def _id_violations(parked_id: int) -> list[FieldViolation]:
    if 0 < parked_id <= MAX_PARKED_ID:
        return []
    return [FieldViolation("id", "is not a parked message id")]


def check_id(parked_id: int) -> None:
    if violations := _id_violations(parked_id):
        raise InvalidInput(violations)


def check_reason(parked_id: int, reason: str) -> None:
    violations = _id_violations(parked_id)
    check_text(violations, "reason", reason, required=True, limit=MAX_REASON)
    if violations:
        raise InvalidInput(violations)


def _record(
    session: Session,
    at: datetime,
    parked_id: int,
    action: str,
    operator: str,
    reason: str,
    outcome: str,
) -> ParkedAction:
    """An operator's retry or discard of a parked message, recorded where it is parked."""
    row = record.record_action(
        session,
        at=at,
        operator=operator,
        action=action,
        target=record.parked_target(parked_id),
        reason=reason,
        outcome=outcome,
    )
    return action_of(row)


class ParkedRecord(Receiver):
    """A service's own parked messages: list, inspect, retry (through its inbound handler,
    ``Receiver.on_message``), discard. The service supplies its database, clock and
    ``parked_city`` (its city's id; empty at the coordinator)."""

    db: Database
    clock: Clock
    parked_city: str = ""

    def _visible(self, row: DeadLetterRow | None, parked_id: int, courts: Courts) -> Parked:
        if row is None:
            raise NotFound(f"no parked message with id {parked_id}")
        parked = parked_of(row, self.parked_city)
        if courts is not None and parked.court_id not in courts:
            raise NotAllowed(f"parked message {parked_id} came from a court of another city")
        return parked

    async def parked_messages(
        self, courts: Courts, offset: int = 0, size: int = 50
    ) -> tuple[list[Parked], bool]:
        """A page of the parked messages, newest first, and whether more follow (``courts``:
        only those whose subject names one of them; None: all)."""

        def work(session: Session) -> tuple[list[Parked], bool]:
            rows = record.parked_page(session, courts, offset, size + 1)
            return [parked_of(r, self.parked_city) for r in rows[:size]], len(rows) > size

        return await self.db.read(work)

    async def parked_message(
        self, parked_id: int, courts: Courts
    ) -> tuple[Parked, list[ParkedAction]]:
        """One parked message and the operators' earlier attempts on it."""
        check_id(parked_id)

        def work(session: Session) -> tuple[Parked, list[ParkedAction]]:
            parked = self._visible(record.parked(session, parked_id), parked_id, courts)
            actions = record.actions_on(session, record.parked_target(parked_id))
            return parked, [action_of(a) for a in actions]

        return await self.db.read(work)

    async def retry_parked(
        self, parked_id: int, reason: str, operator: str, courts: Courts
    ) -> tuple[bool, ParkedAction]:
        """Apply a parked message again, as if it had just arrived (applied once, whatever came
        before: the inbox). Applied: it leaves the parked list. Failed: it stays, and the
        failure is recorded with the attempt."""
        check_reason(parked_id, reason)

        def load(session: Session) -> tuple[Parked, bytes]:
            row = record.parked(session, parked_id)
            parked = self._visible(row, parked_id, courts)
            assert row is not None
            return parked, row.payload

        parked, payload = await self.db.read(load)
        envelope = bus_pb2.Envelope()
        outcome = "applied"
        try:
            envelope.ParseFromString(payload)
            await self.on_message(parked.subject, envelope)
        except Exception as exc:  # noqa: BLE001 - any failure keeps it parked, with the reason
            outcome = f"failed: {type(exc).__name__}: {exc}"[:2000]

        def finish(session: Session) -> ParkedAction:
            if outcome == "applied":
                record.drop_parked(session, parked_id)
            return _record(session, self.clock.now(), parked_id, "retry", operator, reason, outcome)

        action = await self.db.run(finish)
        log.info(
            "parked_retried",
            parked_id=parked_id,
            operator=operator,
            city=self.parked_city,
            applied=outcome == "applied",
            delegation_id=parked.delegation_id,
        )
        return outcome == "applied", action

    async def discard_parked(
        self, parked_id: int, reason: str, operator: str, courts: Courts
    ) -> ParkedAction:
        """Drop a parked message for good; the record keeps who, when and why."""
        check_reason(parked_id, reason)

        def work(session: Session) -> ParkedAction:
            parked = self._visible(record.parked(session, parked_id), parked_id, courts)
            record.drop_parked(session, parked_id)
            outcome = f"discarded ({parked.summary})"
            return _record(
                session, self.clock.now(), parked_id, "discard", operator, reason, outcome
            )

        action = await self.db.run(work)
        log.info("parked_discarded", parked_id=parked_id, operator=operator, city=self.parked_city)
        return action

    async def answer_parked_request(self, payload: bytes) -> bytes:
        """``answer_parked`` on the wire: a serialized ParkedAsk in, a ParkedAnswer out."""
        ask = bus_pb2.ParkedAsk()
        try:
            ask.ParseFromString(payload)
        except DecodeError:
            refused = refusal_pb(InvalidInput.one("ask", "is not a ParkedAsk"))
            return bus_pb2.ParkedAnswer(refused=refused).SerializeToString()
        return (await self.answer_parked(ask)).SerializeToString()

    async def answer_parked(self, ask: bus_pb2.ParkedAsk) -> bus_pb2.ParkedAnswer:
        """The answer to the coordinator's question on this service's parked messages (a
        refusal, not an exception, for bad input, an unknown id or a message out of scope)."""
        courts: Courts = None if ask.all_courts else frozenset(ask.courts)
        out = bus_pb2.ParkedAnswer()
        try:
            kind = ask.WhichOneof("ask")
            if kind in ("retry", "discard") and not ask.operator:
                # Recorded with who asked: the coordinator always says, so nobody is refused.
                raise InvalidInput.one("operator", "is required to retry or discard")
            if kind == "list":
                # The coordinator checked the page; on the bus the token is the plain offset.
                size = max(1, min(ask.list.page_size or 50, MAX_PAGE))
                offset = _offset(ask.list.page_token)
                items, more = await self.parked_messages(courts, offset, size)
                out.list.parked.extend(parked_pb(p) for p in items)
                out.list.next_page_token = str(offset + size) if more else ""
            elif kind == "get":
                parked, actions = await self.parked_message(ask.get.id, courts)
                out.get.parked.CopyFrom(parked_pb(parked))
                out.get.actions.extend(parked_action_pb(a) for a in actions)
            elif kind == "retry":
                applied, action = await self.retry_parked(
                    ask.retry.id, ask.retry.reason, ask.operator, courts
                )
                out.retry.applied = applied
                out.retry.action.CopyFrom(parked_action_pb(action))
            elif kind == "discard":
                action = await self.discard_parked(
                    ask.discard.id, ask.discard.reason, ask.operator, courts
                )
                out.discard.action.CopyFrom(parked_action_pb(action))
            else:
                raise InvalidInput.one("ask", "says neither list, get, retry nor discard")
        except DomainError as exc:
            out.refused.CopyFrom(refusal_pb(exc))
        return out


def _offset(token: str) -> int:
    if not token:
        return 0
    if not token.isdigit() or len(token) > 9:
        raise InvalidInput.one("page_token", "is not a page token")
    return int(token)


def parked_pb(parked: Parked) -> capi.ParkedMessage:
    out = capi.ParkedMessage(
        id=parked.id,
        subject=parked.subject,
        message_id=parked.message_id,
        reason=parked.reason,
        court_id=parked.court_id,
        summary=parked.summary,
        delegation_id=parked.delegation_id,
        city=parked.city,
    )
    out.parked_at.FromDatetime(parked.parked_at)
    return out


def parked_from_pb(message: capi.ParkedMessage) -> Parked:
    return Parked(
        message.id,
        message.subject,
        message.message_id,
        message.reason,
        to_utc(message.parked_at.ToDatetime()),
        message.court_id,
        message.delegation_id,
        message.summary,
        message.city,
    )


def parked_action_pb(action: ParkedAction) -> capi.ParkedAction:
    out = capi.ParkedAction(
        action=action.action, operator=action.operator, reason=action.reason, outcome=action.outcome
    )
    out.at.FromDatetime(action.at)
    return out


def parked_action_from_pb(action: capi.ParkedAction) -> ParkedAction:
    return ParkedAction(
        action.action,
        action.operator,
        to_utc(action.at.ToDatetime()),
        action.reason,
        action.outcome,
    )


def refusal_pb(exc: DomainError) -> bus_pb2.ParkedRefusal:
    out = bus_pb2.ParkedRefusal(message=str(exc))
    if isinstance(exc, InvalidInput):
        out.code = "INVALID_ARGUMENT"
        out.fields.extend(v.field for v in exc.violations)
        out.descriptions.extend(v.description for v in exc.violations)
    elif isinstance(exc, NotFound):
        out.code = "NOT_FOUND"
    elif isinstance(exc, NotAllowed):
        out.code = "PERMISSION_DENIED"
    else:
        out.code = "FAILED_PRECONDITION"
    return out


def refusal_error(refused: bus_pb2.ParkedRefusal) -> DomainError:
    """The domain error a node's refusal stands for (the coordinator raises it)."""
    if refused.code == "INVALID_ARGUMENT":
        pairs = zip(refused.fields, refused.descriptions, strict=False)
        violations = [FieldViolation(f, d) for f, d in pairs]
        return InvalidInput(violations or [FieldViolation("", refused.message)])
    if refused.code == "NOT_FOUND":
        return NotFound(refused.message)
    if refused.code == "PERMISSION_DENIED":
        return NotAllowed(refused.message)
    return DomainError(refused.message)
