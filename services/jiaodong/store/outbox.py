"""The outbox (messages to publish, written in the caller's transaction), the inbox (ids of the
messages applied, so a redelivery changes nothing), the dead letters (messages that will never
apply) and the re-send schedule (messages that may have been lost, re-sent with back-off). Every
function takes an open Session; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from jiaodong.domain.backoff import resend_after
from jiaodong.domain.ids import new_id, stable_id
from jiaodong.store.database import Database
from jiaodong.store.tables import DeadLetterRow, InboxRow, OutboxRow, ResendRow
from jiaodong.v1 import bus_pb2
from jiaodong.wire import to_stored, to_utc

_OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
_INBOX = InboxRow.__table__  # type: ignore[attr-defined]
_ENQUEUE = insert(_OUTBOX)


def enqueue(session: Session, subject: str, envelope: bus_pb2.Envelope, now: datetime) -> None:
    """Write a message to the outbox in the caller's transaction (one Core INSERT, executed at
    once: outbox ids keep the order messages were queued in)."""
    if not envelope.message_id:
        envelope.message_id = new_id()
    session.connection().execute(
        _ENQUEUE,
        {
            "message_id": envelope.message_id,
            "subject": subject,
            "payload": envelope.SerializeToString(deterministic=True),
            "created_at": to_stored(now),
        },
    )


def resend(session: Session, message_id: str, now: datetime, new_message_id: str = "") -> bool:
    """Publish again the outbox message ``message_id`` under another id (the receiver's inbox
    would drop the old one): ``new_message_id``, or a fresh one; False if there is no such
    message."""
    row = session.exec(select(OutboxRow).where(OutboxRow.message_id == message_id)).first()
    if row is None:
        return False
    _requeue(session, row, now, new_message_id or new_id())
    return True


def _requeue(session: Session, row: OutboxRow, now: datetime, message_id: str) -> None:
    envelope = bus_pb2.Envelope()
    envelope.ParseFromString(row.payload)
    envelope.message_id = message_id
    enqueue(session, row.subject, envelope, now)


def due(
    session: Session, key: str, now: datetime, interval: timedelta, sent_at: datetime | None
) -> int:
    """Whether the re-send of what ``key`` names is due now, with back-off per key: not before
    ``resend_after(0)`` intervals since ``sent_at`` (None: since now, the first time the key is
    seen), then ``resend_after(n)`` intervals after the n-th re-send. Returns the number of this
    attempt (1, 2, ...) and records it, or 0 when not due."""
    state = session.get(ResendRow, key)
    if state is None:
        first = to_utc(sent_at) if sent_at is not None else now
        state = ResendRow(
            message_id=key, attempts=0, next_at=to_stored(first + interval * resend_after(0))
        )
        session.add(state)
        if now < first + interval * resend_after(0):
            return 0
    elif now < to_utc(state.next_at):
        return 0
    state.attempts += 1
    state.next_at = to_stored(now + interval * resend_after(state.attempts))
    session.add(state)
    return state.attempts


def resend_due(session: Session, message_id: str, now: datetime, interval: timedelta) -> bool:
    """Re-send the outbox message ``message_id`` if its back-off allows (``due``), under a stable
    id per attempt (the original id and the attempt number): a copy of the same attempt
    (a relay that publishes twice) is dropped by the broker's duplicate window, while the
    receiver's inbox, which knows only earlier ids, still applies it. False if not due or there
    is no such message."""
    row = session.exec(select(OutboxRow).where(OutboxRow.message_id == message_id)).first()
    if row is None:
        return False
    attempt = due(session, message_id, now, interval, row.created_at)
    if not attempt:
        return False
    new_message_id = resend_id(message_id, attempt)
    while queued(session, new_message_id) is not None:  # a schedule pruned and begun again
        attempt += 1
        new_message_id = resend_id(message_id, attempt)
    _requeue(session, row, now, new_message_id)
    return True


def resend_id(message_id: str, attempt: int) -> str:
    """The message id of the ``attempt``-th re-send of ``message_id``."""
    return stable_id("resend", message_id, str(attempt))


def queued(session: Session, message_id: str) -> bool | None:
    """Whether the message waits unpublished (True), went out (False), or was never queued."""
    row = session.exec(select(OutboxRow).where(OutboxRow.message_id == message_id)).first()
    return None if row is None else row.published_at is None


@dataclass(frozen=True)
class Queued:
    """A committed outbox message waiting for the relay."""

    id: int | None
    message_id: str
    subject: str
    payload: bytes


def unpublished(session: Session, limit: int) -> list[Queued]:
    """The oldest messages not yet published, as plain values (SQLAlchemy Core: the relay reads
    these many times a second, and ORM objects cost more than the rows; docs/benchmarks.md)."""
    rows = session.connection().execute(
        sa_select(_OUTBOX.c.id, _OUTBOX.c.message_id, _OUTBOX.c.subject, _OUTBOX.c.payload)
        .where(_OUTBOX.c.published_at.is_(None))
        .order_by(_OUTBOX.c.id)
        .limit(limit)
    )
    return [Queued(r.id, r.message_id, r.subject, bytes(r.payload)) for r in rows]


def oldest_unpublished(session: Session) -> datetime | None:
    """When the oldest message still waiting for the relay was queued (None: none waits)."""
    query = (
        select(OutboxRow.created_at)
        .where(col(OutboxRow.published_at).is_(None))
        .order_by(col(OutboxRow.published_at), col(OutboxRow.id))
        .limit(1)
    )
    value = session.exec(query).first()
    return None if value is None else to_utc(value)


def pending_count(session: Session) -> int:
    query = select(func.count()).select_from(OutboxRow).where(col(OutboxRow.published_at).is_(None))
    return int(session.exec(query).one())


def mark_published(session: Session, ids: Sequence[int], now: datetime) -> None:
    """One UPDATE for the batch the relay published."""
    if ids:
        session.connection().execute(
            update(_OUTBOX).where(_OUTBOX.c.id.in_(list(ids))).values(published_at=to_stored(now))
        )


def seen(session: Session, message_id: str) -> bool:
    query = sa_select(_INBOX.c.message_id).where(_INBOX.c.message_id == message_id)
    return session.connection().execute(query).first() is not None


def first_mark(session: Session, message_id: str, subject: str, now: datetime) -> bool:
    """Mark a message applied; False if it was marked before. One INSERT that skips an existing
    mark (ON CONFLICT DO NOTHING, in SQLite and PostgreSQL alike) instead of a read and a write:
    every message applied passes here."""
    dialect = session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(_INBOX)
        .values(message_id=message_id, subject=subject, received_at=to_stored(now))
        .on_conflict_do_nothing(index_elements=["message_id"])
    )
    return bool(session.connection().execute(stmt).rowcount)


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


def parked_count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(DeadLetterRow)).one())


def _storable(text: str, limit: int) -> str:
    """Parking must never fail: control characters (PostgreSQL refuses NUL) escaped, cut to fit."""
    clean = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


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
    # Re-send schedules of messages no longer re-sent (a pending one moves on every few rounds).
    session.execute(delete(ResendRow).where(col(ResendRow.next_at) < cutoff))
    return int(out.rowcount or 0), int(inbox.rowcount or 0)  # type: ignore[attr-defined]


class DatabaseOutbox:
    """The outbox and dead letters of one service's database, as the bus transport uses them
    (it matches ``bus.transport.Outbox``); each call is a transaction on the database thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def unpublished(self, limit: int) -> list[Queued]:
        return await self.db.run(lambda s: unpublished(s, limit))

    async def mark_published(self, ids: Sequence[int], now: datetime) -> None:
        await self.db.run(lambda s: mark_published(s, ids, now))

    async def oldest_unpublished(self) -> datetime | None:
        """A measurement: read beside the writer thread, not queued behind traffic."""
        return await self.db.read(oldest_unpublished)

    async def park(
        self, subject: str, message_id: str, reason: str, payload: bytes, now: datetime
    ) -> None:
        await self.db.run(lambda s: park(s, subject, message_id, reason, payload, now))
