"""Reading and writing delegations and their histories inside one transaction.

Every function takes an open Session; the caller owns the transaction, so a state change, its
history event, its outbox message and its inbox mark commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_
from sqlmodel import Session, col, select

from jiaodong.domain.errors import InvalidInput, NotFound
from jiaodong.domain.lifecycle import CLOSED, DelegationState, Event, apply, start
from jiaodong.domain.registry import Registry
from jiaodong.store.tables import (
    DeadLetterRow,
    DelegationRow,
    EventRow,
    InboxRow,
    OutboxRow,
    RequestRow,
)
from jiaodong.v1 import bus_pb2, delegation_pb2
from jiaodong.wire import (
    check_synced_content,
    delegation_pb,
    event_from_pb,
    event_from_row,
    event_pb,
    event_row,
    state_from_row,
    to_stored,
    write_state,
)


class HistoryConflict(Exception):
    """Two histories disagree on an event both have: a broken single-writer rule. Never retried."""


class OutOfOrder(Exception):
    """A message refers to something not known here yet; retry later (it may still arrive)."""


def new_id() -> str:
    return uuid.uuid4().hex


def stable_id(*parts: str) -> str:
    """A message id derived from what the message is about, so it can be found and re-sent."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def resend(session: Session, message_id: str, now: datetime) -> bool:
    """Publish again the outbox message ``message_id`` under a fresh id (the receiver's inbox
    would drop the old one); False if there is no such message."""
    row = session.exec(select(OutboxRow).where(OutboxRow.message_id == message_id)).first()
    if row is None:
        return False
    envelope = bus_pb2.Envelope()
    envelope.ParseFromString(row.payload)
    envelope.message_id = new_id()
    enqueue(session, row.subject, envelope, now)
    return True


DELEGATION_ID = re.compile(r"[0-9a-f]{32}")


def get_row(session: Session, delegation_id: str) -> DelegationRow | None:
    """The delegation, None if unknown; a malformed id never reaches the database."""
    if not DELEGATION_ID.fullmatch(delegation_id):
        raise InvalidInput.one("id", "is not a delegation id (32 lowercase hex characters)")
    return session.get(DelegationRow, delegation_id)


def require_row(session: Session, delegation_id: str) -> DelegationRow:
    row = get_row(session, delegation_id)
    if row is None:
        raise NotFound(f"no delegation with id {delegation_id!r}")
    return row


def history(session: Session, delegation_id: str) -> list[Event]:
    rows = session.exec(
        select(EventRow).where(EventRow.delegation_id == delegation_id).order_by(col(EventRow.seq))
    ).all()
    return [event_from_row(r) for r in rows]


def requests(session: Session, delegation_id: str) -> list[RequestRow]:
    return list(
        session.exec(
            select(RequestRow)
            .where(RequestRow.delegation_id == delegation_id)
            .order_by(col(RequestRow.created_at))
        ).all()
    )


def full_pb(session: Session, row: DelegationRow) -> delegation_pb2.Delegation:
    return delegation_pb(row, history(session, row.id), requests(session, row.id))


def city_of(registry: Registry, court_id: str) -> str:
    return registry.court(court_id).city if court_id else ""


def insert_delegation(
    session: Session,
    registry: Registry,
    content: delegation_pb2.Delegation,
    first: Event,
    *,
    fingerprint: str = "",
    warnings: Sequence[str] = (),
) -> tuple[DelegationRow, DelegationState]:
    """Store a new delegation with its first event (CREATED)."""
    state = start(first, content.requesting_court, content.id)
    bare = delegation_pb2.Delegation()
    bare.CopyFrom(content)
    for name in (
        "history",
        "requests",
        "warnings",
        "entrusted_court",
        "status",
        "seq",
        "last_hash",
        "result",
        "created_at",
        "routed_at",
        "delivered_at",
        "acknowledged_at",
        "accepted_at",
        "returned_at",
        "completed_at",
        "closed_at",
        "updated_at",
    ):
        bare.ClearField(name)
    row = DelegationRow(
        id=content.id,
        request_id=content.request_id,
        requesting_court=content.requesting_court,
        requesting_city=city_of(registry, content.requesting_court),
        task_type=delegation_pb2.TaskType.Name(content.task_type).removeprefix("TASK_TYPE_"),
        priority=delegation_pb2.Priority.Name(content.priority).removeprefix("PRIORITY_"),
        status=state.status.value,
        seq=state.seq,
        last_hash=state.last_hash,
        fingerprint=fingerprint,
        warnings=json.dumps(list(warnings), ensure_ascii=False) if warnings else "",
        content=bare.SerializeToString(deterministic=True),
        created_at=to_stored(first.at),
        updated_at=to_stored(first.at),
    )
    write_state(row, state, "")
    session.add(row)
    session.flush()
    session.add(event_row(row.id, first))
    return row, state


def append(
    session: Session, registry: Registry, row: DelegationRow, event: Event
) -> DelegationState:
    """Append one event (already sealed) after checking it against the state machine."""
    state = apply(state_from_row(row), event)
    session.add(event_row(row.id, event))
    write_state(row, state, city_of(registry, state.entrusted_court))
    session.add(row)
    return state


def seal_next(state: DelegationState, event: Event) -> Event:
    """Number and link a new event after ``state``."""
    from dataclasses import replace

    return replace(event, seq=state.seq + 1).sealed(state.last_hash)


@dataclass(frozen=True)
class Merge:
    """What merging a sync did here."""

    row: DelegationRow
    state: DelegationState
    applied: list[Event]
    created: bool


def merge_sync(
    session: Session, registry: Registry, sync: bus_pb2.DelegationSync, *, sender: str | None
) -> Merge:
    """Apply the events of a sync that this side lacks, in order; drop those it has.

    ``sender`` is the court whose node sent the sync (None when the coordinator sent it). Every new
    event must have been the sender's to write: this is where one-writer-per-phase is enforced.
    """
    events = [event_from_pb(e) for e in sync.history]
    if not events or events[0].seq != 1:
        raise InvalidInput.one("history", "a sync must carry the history from event 1")
    content = sync.delegation
    row = get_row(session, content.id)
    created = False
    if row is None:
        if sender is not None and sender != content.requesting_court:
            raise InvalidInput.one("sync", f"court {sender} cannot introduce {content.id}")
        check_synced_content(registry, content.requesting_court, content)
        row, _ = insert_delegation(session, registry, content, events[0])
        created = True
    state = state_from_row(row)
    applied: list[Event] = [events[0]] if created else []
    for event in events:
        if event.seq <= state.seq:
            known = session.get(EventRow, (row.id, event.seq))
            if known is None or known.hash != event.hash:
                raise HistoryConflict(
                    f"delegation {row.id}: event {event.seq} differs from the one stored here"
                )
            continue
        writer = state.writer_court()
        if sender is not None and writer != sender:
            raise InvalidInput.one(
                "sync", f"court {sender} may not write event {event.seq} of {row.id}"
            )
        state = append(session, registry, row, event)
        applied.append(event)
    return Merge(row, state, applied, created)


def content_of(row: DelegationRow) -> delegation_pb2.Delegation:
    """The fixed content of a delegation (no state, no history)."""
    content = delegation_pb2.Delegation()
    content.ParseFromString(row.content)
    return content


def sync_message(session: Session, row: DelegationRow) -> bus_pb2.DelegationSync:
    """The whole known state of a delegation, to send to the other sides."""
    return bus_pb2.DelegationSync(
        delegation=content_of(row), history=[event_pb(e) for e in history(session, row.id)]
    )


def enqueue(session: Session, subject: str, envelope: bus_pb2.Envelope, now: datetime) -> None:
    """Write a message to the outbox in the caller's transaction."""
    if not envelope.message_id:
        envelope.message_id = new_id()
    session.add(
        OutboxRow(
            message_id=envelope.message_id,
            subject=subject,
            payload=envelope.SerializeToString(deterministic=True),
            created_at=to_stored(now),
        )
    )


def seen(session: Session, message_id: str) -> bool:
    return session.get(InboxRow, message_id) is not None


def remember(session: Session, message_id: str, subject: str, now: datetime) -> None:
    session.add(InboxRow(message_id=message_id, subject=subject, received_at=to_stored(now)))


def park(
    session: Session, subject: str, message_id: str, reason: str, payload: bytes, now: datetime
) -> None:
    session.add(
        DeadLetterRow(
            subject=_storable(subject, 120),
            message_id=_storable(message_id, 80),
            reason=_storable(reason, 2000),
            payload=payload,
            parked_at=to_stored(now),
        )
    )


def _storable(text: str, limit: int) -> str:
    """Parking must never fail: control characters (PostgreSQL refuses NUL) escaped, cut to fit."""
    clean = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def unpublished(session: Session, limit: int) -> list[OutboxRow]:
    return list(
        session.exec(
            select(OutboxRow)
            .where(col(OutboxRow.published_at).is_(None))
            .order_by(col(OutboxRow.id))
            .limit(limit)
        ).all()
    )


def mark_published(session: Session, ids: Sequence[int], now: datetime) -> None:
    for row in session.exec(select(OutboxRow).where(col(OutboxRow.id).in_(ids))).all():
        row.published_at = to_stored(now)
        session.add(row)


def count(session: Session, table: type[DelegationRow | DeadLetterRow | OutboxRow]) -> int:
    return int(session.exec(select(func.count()).select_from(table)).one())


def prune(session: Session, now: datetime, keep: timedelta = timedelta(days=31)) -> tuple[int, int]:
    """Delete published outbox rows and inbox marks older than ``keep``.

    ``keep`` outlasts the streams' 30-day age, so no message still in the broker can come back
    unrecognised; and re-applying one would change nothing anyway (sequence numbers, request
    ids). Returns (outbox rows, inbox rows) deleted."""
    cutoff = to_stored(now - keep)
    out = session.execute(
        delete(OutboxRow).where(
            col(OutboxRow.published_at).is_not(None), col(OutboxRow.published_at) < cutoff
        )
    )
    inbox = session.execute(delete(InboxRow).where(col(InboxRow.received_at) < cutoff))
    return int(out.rowcount or 0), int(inbox.rowcount or 0)  # type: ignore[attr-defined]


def digest_scope(session: Session, court: str, since: datetime) -> list[DelegationRow]:
    """The delegations a reconciliation digest of ``court`` covers: those it sent or received
    that are open or changed since ``since``."""
    return list(
        session.exec(
            select(DelegationRow).where(
                or_(
                    col(DelegationRow.requesting_court) == court,
                    col(DelegationRow.entrusted_court) == court,
                ),
                or_(
                    col(DelegationRow.status).not_in([s.value for s in CLOSED]),
                    col(DelegationRow.updated_at) >= to_stored(since),
                ),
            )
        ).all()
    )
