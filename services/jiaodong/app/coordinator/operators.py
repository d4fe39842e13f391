"""The command centres' own record at the coordinator: notes on delegations, and the parked
messages (dead letters) they inspect, apply again or drop. Every change is recorded with the
operator identity that asked for it (``operator_action``).

Notes are the centres' own: not events of the delegation, not part of the courts' hash-chained
history, never sent to the courts. A parked message is shown without personal data: its subject,
reason, time and a summary of what it carries (kind, delegation, sequence numbers, size).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import structlog
from google.protobuf.message import DecodeError
from sqlmodel import Session

from jiaodong.app.coordinator.base import Guard, check_guard
from jiaodong.app.coordinator.inbound import InboundHandlers
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.bus.subjects import court_of
from jiaodong.domain.delegation import check_request_id, check_text
from jiaodong.domain.errors import FieldViolation, InvalidInput, NotAllowed, NotFound
from jiaodong.store import ledger
from jiaodong.store import operators as record
from jiaodong.store.tables import DeadLetterRow, OperatorActionRow, OperatorNoteRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import to_utc

log = structlog.get_logger("jiaodong.coordinator")

MAX_NOTE = 2000
MAX_REASON = 2000
# Parked message ids are the dead_letter table's integer keys.
MAX_PARKED_ID = 2**31 - 1
# The courts an operator may see parked messages of (None: every court, the regional centre).
Courts = Collection[str] | None


@dataclass(frozen=True)
class Note:
    """An operator's note on a delegation: who (the certificate's operator identity), when."""

    delegation_id: str
    operator: str
    at: datetime
    text: str
    request_id: str


@dataclass(frozen=True)
class Parked:
    """A parked message, without its content: ``summary`` says what it carries, no personal
    data (kind, delegation, sequence numbers, size)."""

    id: int
    subject: str
    message_id: str
    reason: str
    parked_at: datetime
    court_id: str
    delegation_id: str
    summary: str


@dataclass(frozen=True)
class ParkedAction:
    """An operator's retry or discard of a parked message, and what came of it."""

    action: str
    operator: str
    at: datetime
    reason: str
    outcome: str


def _note(row: OperatorNoteRow) -> Note:
    return Note(row.delegation_id, row.operator, to_utc(row.at), row.text, row.request_id)


def _action(row: OperatorActionRow) -> ParkedAction:
    return ParkedAction(row.action, row.operator, to_utc(row.at), row.reason, row.outcome)


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


def _parked(row: DeadLetterRow) -> Parked:
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
    )


class OperatorRecord(InboundHandlers):
    # -- notes ---------------------------------------------------------------------------------

    async def annotate(
        self, delegation_id: str, request_id: str, text: str, operator: str, guard: Guard | None
    ) -> Note:
        """Add an operator's note (the same ``request_id`` again: the note already added)."""
        violations: list[FieldViolation] = []
        if not delegation_id:
            violations.append(FieldViolation("id", "is required"))
        check_request_id(violations, "request_id", request_id)
        check_text(violations, "text", text, required=True, limit=MAX_NOTE)
        if violations:
            raise InvalidInput(violations)

        def work(uow: UnitOfWork) -> Note:
            row = uow.require(delegation_id)
            check_guard(guard, row)
            known = record.note(uow.session, row.id, request_id)
            if known is not None:
                return _note(known)
            note = record.add_note(uow.session, row.id, request_id, operator, text, uow.now)
            record.record_action(
                uow.session,
                at=uow.now,
                operator=operator,
                action="annotate",
                target=row.id,
                request_id=request_id,
            )
            return _note(note)

        note = await self.core.run(work)
        log.info("operator_note", delegation_id=delegation_id, operator=operator)
        return note

    async def notes(self, delegation_id: str, guard: Guard | None = None) -> list[Note]:
        """The operators' notes on a delegation, oldest first."""
        if not delegation_id:
            raise InvalidInput.one("id", "is required")

        def work(session: Session) -> list[Note]:
            row = ledger.require_row(session, delegation_id)
            check_guard(guard, row)
            return [_note(n) for n in record.notes_of(session, row.id)]

        return await self.db.read(work)

    # -- parked messages -----------------------------------------------------------------------

    def _visible(self, row: DeadLetterRow | None, parked_id: int, courts: Courts) -> Parked:
        if row is None:
            raise NotFound(f"no parked message with id {parked_id}")
        parked = _parked(row)
        if courts is not None and parked.court_id not in courts:
            raise NotAllowed(f"parked message {parked_id} came from a court of another city")
        return parked

    async def parked_messages(
        self, courts: Courts, offset: int = 0, size: int = 50
    ) -> tuple[list[Parked], bool]:
        """A page of the coordinator's parked messages, newest first, and whether more follow
        (``courts``: only those whose subject names one of them; None: all)."""

        def work(session: Session) -> tuple[list[Parked], bool]:
            rows = record.parked_page(session, courts, offset, size + 1)
            return [_parked(r) for r in rows[:size]], len(rows) > size

        return await self.db.read(work)

    async def parked_message(
        self, parked_id: int, courts: Courts
    ) -> tuple[Parked, list[ParkedAction]]:
        """One parked message and the operators' earlier attempts on it."""
        if not 0 < parked_id <= MAX_PARKED_ID:
            raise InvalidInput.one("id", "is not a parked message id")

        def work(session: Session) -> tuple[Parked, list[ParkedAction]]:
            parked = self._visible(record.parked(session, parked_id), parked_id, courts)
            actions = record.actions_on(session, record.parked_target(parked_id))
            return parked, [_action(a) for a in actions]

        return await self.db.read(work)

    @staticmethod
    def _check_reason(parked_id: int, reason: str) -> None:
        violations: list[FieldViolation] = []
        if not 0 < parked_id <= MAX_PARKED_ID:
            violations.append(FieldViolation("id", "is not a parked message id"))
        check_text(violations, "reason", reason, required=True, limit=MAX_REASON)
        if violations:
            raise InvalidInput(violations)

    async def retry_parked(
        self, parked_id: int, reason: str, operator: str, courts: Courts
    ) -> tuple[bool, ParkedAction]:
        """Apply a parked message again, as if it had just arrived (applied once, whatever came
        before: the inbox). Applied: it leaves the parked list. Failed: it stays, and the
        failure is recorded with the attempt."""
        self._check_reason(parked_id, reason)

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
            row = record.record_action(
                session,
                at=self.clock.now(),
                operator=operator,
                action="retry",
                target=record.parked_target(parked_id),
                reason=reason,
                outcome=outcome,
            )
            return _action(row)

        action = await self.db.run(finish)
        log.info(
            "parked_retried",
            parked_id=parked_id,
            operator=operator,
            applied=outcome == "applied",
            delegation_id=parked.delegation_id,
        )
        return outcome == "applied", action

    async def discard_parked(
        self, parked_id: int, reason: str, operator: str, courts: Courts
    ) -> ParkedAction:
        """Drop a parked message for good; the record keeps who, when and why."""
        self._check_reason(parked_id, reason)

        def work(session: Session) -> ParkedAction:
            parked = self._visible(record.parked(session, parked_id), parked_id, courts)
            record.drop_parked(session, parked_id)
            row = record.record_action(
                session,
                at=self.clock.now(),
                operator=operator,
                action="discard",
                target=record.parked_target(parked_id),
                reason=reason,
                outcome=f"discarded ({parked.summary})",
            )
            return _action(row)

        action = await self.db.run(work)
        log.info("parked_discarded", parked_id=parked_id, operator=operator)
        return action
