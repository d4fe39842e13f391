"""The command centres' own record: notes on delegations (at the coordinator), the operator
actions (who asked for what, when), and the parked messages (dead letters) they inspect, retry
or discard (at the coordinator and at each node, in the same tables). Every function takes an open
Session; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from jiaodong.store.tables import DeadLetterRow, OperatorActionRow, OperatorNoteRow
from jiaodong.wire import to_stored


def note(session: Session, delegation_id: str, request_id: str) -> OperatorNoteRow | None:
    query = select(OperatorNoteRow).where(
        OperatorNoteRow.delegation_id == delegation_id,
        OperatorNoteRow.request_id == request_id,
    )
    return session.exec(query).first()


def add_note(
    session: Session, delegation_id: str, request_id: str, operator: str, text: str, at: datetime
) -> OperatorNoteRow:
    row = OperatorNoteRow(
        delegation_id=delegation_id,
        request_id=request_id,
        operator=operator,
        at=to_stored(at),
        text=text,
    )
    session.add(row)
    session.flush()
    return row


def notes_of(session: Session, delegation_id: str) -> list[OperatorNoteRow]:
    query = (
        select(OperatorNoteRow)
        .where(OperatorNoteRow.delegation_id == delegation_id)
        .order_by(col(OperatorNoteRow.id))
    )
    return list(session.exec(query).all())


def record_action(
    session: Session,
    *,
    at: datetime,
    operator: str,
    action: str,
    target: str,
    request_id: str = "",
    reason: str = "",
    outcome: str = "",
) -> OperatorActionRow:
    row = OperatorActionRow(
        at=to_stored(at),
        operator=operator,
        action=action,
        target=target,
        request_id=request_id,
        reason=reason,
        outcome=outcome,
    )
    session.add(row)
    session.flush()
    return row


def actions_on(session: Session, target: str) -> list[OperatorActionRow]:
    query = (
        select(OperatorActionRow)
        .where(OperatorActionRow.target == target)
        .order_by(col(OperatorActionRow.id))
    )
    return list(session.exec(query).all())


def parked_target(parked_id: int) -> str:
    return f"parked:{parked_id}"


def parked(session: Session, parked_id: int) -> DeadLetterRow | None:
    return session.get(DeadLetterRow, parked_id)


def parked_page(
    session: Session, courts: Iterable[str] | None, offset: int, limit: int
) -> list[DeadLetterRow]:
    """Parked messages, newest first (only those whose subject names one of ``courts``)."""
    query = select(DeadLetterRow)
    if courts is not None:
        names = list(courts)
        if not names:
            return []
        query = query.where(
            or_(*[col(DeadLetterRow.subject).like(f"jd.v1.%.{c}.%") for c in names])
        )
    query = query.order_by(col(DeadLetterRow.id).desc()).offset(offset).limit(limit)
    return list(session.exec(query).all())


def drop_parked(session: Session, parked_id: int) -> bool:
    row = session.get(DeadLetterRow, parked_id)
    if row is None:
        return False
    session.delete(row)
    return True
