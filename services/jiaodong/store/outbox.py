"""The outbox (messages to publish, written in the caller's transaction), the inbox (ids of the
messages applied, so a redelivery changes nothing) and the dead letters (messages that will never
apply). Every function takes an open Session; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from jiaodong.domain.ids import new_id
from jiaodong.store.database import Database
from jiaodong.store.tables import DeadLetterRow, InboxRow, OutboxRow
from jiaodong.v1 import bus_pb2
from jiaodong.wire import to_stored

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
    return int(out.rowcount or 0), int(inbox.rowcount or 0)  # type: ignore[attr-defined]


class DatabaseOutbox:
    """The outbox and dead letters of one service's database, as the bus transport uses them
    (it matches ``bus.transport.Outbox``); each call is a transaction on the database thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def unpublished(self, limit: int) -> list[Queued]:
        """Plain copies: the rows' session may be shared with other work (group commit)."""

        return await self.db.run(lambda s: unpublished(s, limit))

    async def mark_published(self, ids: Sequence[int], now: datetime) -> None:
        await self.db.run(lambda s: mark_published(s, ids, now))

    async def park(
        self, subject: str, message_id: str, reason: str, payload: bytes, now: datetime
    ) -> None:
        await self.db.run(lambda s: park(s, subject, message_id, reason, payload, now))
