"""The delegations and their histories: reading and writing them inside one transaction.

Every function takes an open Session; the caller (the unit of work) owns the transaction, so a
state change, its history event, its outbox message and its inbox mark commit together or not at
all. The rules (which event may follow, who may write it) are the domain's; this module stores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, and_, bindparam, func, or_
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from jiaodong.domain.assistance import Window, window_of
from jiaodong.domain.errors import InvalidInput, NotFound
from jiaodong.domain.history import RequestState
from jiaodong.domain.ids import DELEGATION_ID
from jiaodong.domain.lifecycle import CLOSED, DelegationState, Event, Status, apply, start
from jiaodong.domain.registry import Registry
from jiaodong.store.mapper import event_from_row, event_values, state_from_row, write_state
from jiaodong.store.tables import DelegationRow, EventRow, RequestRow, WaitingStepRow
from jiaodong.v1 import delegation_pb2
from jiaodong.wire import to_stored
from jiaodong.wire_assistance import is_assistance, proposed_of

# Fields of a delegation message that its history decides: not part of the stored content.
_STATE_FIELDS = (
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
)


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


# Reads on every message and call go through SQLAlchemy Core rows and statements built once, not
# ORM objects (a third of the database thread was the ORM's; docs/benchmarks.md). Each first
# flushes what the transaction added through the ORM (a no-op when nothing waits).
_EVENTS = EventRow.__table__  # type: ignore[attr-defined]
_REQUESTS = RequestRow.__table__  # type: ignore[attr-defined]
_DELEGATIONS = DelegationRow.__table__  # type: ignore[attr-defined]
_INSERT_EVENT = sa_insert(_EVENTS)
_INSERT_DELEGATION = sa_insert(_DELEGATIONS)
_HISTORY = (
    sa_select(_EVENTS).where(_EVENTS.c.delegation_id == bindparam("b_id")).order_by(_EVENTS.c.seq)
)
_REQUESTS_OF = (
    sa_select(_REQUESTS)
    .where(_REQUESTS.c.delegation_id == bindparam("b_id"))
    .order_by(_REQUESTS.c.created_at)
)
_BY_REQUEST_ID = sa_select(_DELEGATIONS.c.id).where(
    _DELEGATIONS.c.requesting_court == bindparam("b_court"),
    _DELEGATIONS.c.request_id == bindparam("b_request"),
)


def _read(session: Session, statement: Any, **params: Any) -> Any:
    session.flush()
    return session.connection().execute(statement, params)


def history(session: Session, delegation_id: str) -> list[Event]:
    return [event_from_row(r) for r in _read(session, _HISTORY, b_id=delegation_id)]


def known_request(session: Session, delegation_id: str, request_id: str) -> bool:
    """Whether this side recorded a request of that id for the delegation."""
    return session.get(RequestRow, (delegation_id, request_id)) is not None


def requests(session: Session, delegation_id: str) -> Sequence[RequestRow]:
    """The delegation's requests as read-only rows (for views), oldest first."""
    return list(_read(session, _REQUESTS_OF, b_id=delegation_id))


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
    changed_at: datetime | None = None,
) -> tuple[DelegationRow, DelegationState]:
    """Store a new delegation with its first event (CREATED); ``changed_at``: this database's
    time of the transaction (reconciliation compares it with a digest's)."""
    assistance = is_assistance(content)
    state = start(first, content.requesting_court, content.id, assistance=assistance)
    bare = delegation_pb2.Delegation()
    bare.CopyFrom(content)
    for name in _STATE_FIELDS:
        bare.ClearField(name)  # type: ignore[arg-type]
    row = DelegationRow(
        id=content.id,
        request_id=content.request_id,
        case_number=content.case_number[:60],
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
        changed_at=to_stored(changed_at) if changed_at is not None else None,
    )
    write_state(row, state, "")
    if assistance:
        set_operation(row, proposed_of(content))
    # Written with one Core INSERT, then handed to the session as a persistent object (its later
    # changes are UPDATEs at flush as usual): an ORM flush of a new object cost several times the
    # statement (docs/benchmarks.md).
    conn = session.connection()
    conn.execute(_INSERT_DELEGATION, row.model_dump())
    make_transient_to_detached(row)
    session.add(row)
    conn.execute(_INSERT_EVENT, event_values(row.id, first))
    return row, state


def append(
    session: Session, registry: Registry, row: DelegationRow, event: Event
) -> DelegationState:
    """Append one event (already sealed) after checking it against the state machine."""
    state = apply(state_from_row(row), event)
    session.connection().execute(_INSERT_EVENT, event_values(row.id, event))
    write_state(row, state, city_of(registry, state.entrusted_court))
    if state.assistance and (window := window_of(event)) is not None:
        set_operation(row, window)
    session.add(row)
    return state


def set_operation(row: DelegationRow, window: Window | None) -> None:
    """Keep the assistance operation's day and window on the row (the board's calendar)."""
    if window is not None:
        row.operation_day = window.day
        row.operation_window = f"{window.start:%H:%M}-{window.end:%H:%M}"


def count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(DelegationRow)).one())


def by_request_id(session: Session, court: str, request_id: str) -> DelegationRow | None:
    """The delegation ``court`` created under its client-chosen ``request_id``, if any (the id
    through Core: on every create, and almost always none)."""
    found = _read(session, _BY_REQUEST_ID, b_court=court, b_request=request_id).first()
    return None if found is None else session.get(DelegationRow, found.id)


# A place in a court's digest order: (created_at, id). Both sides hold the same created_at (the
# first event's time), so a node's chunk boundaries mean the same rows at the coordinator.
DigestKey = tuple[datetime, str]
DigestRow = Row[tuple[str, int, str, datetime, datetime | None, str]]
_D = DelegationRow.__table__.c  # type: ignore[attr-defined]
_DIGEST_COLUMNS = (_D.id, _D.seq, _D.last_hash, _D.created_at, _D.changed_at, _D.entrusted_court)


def _digest_where(side: ColumnElement[bool], since: datetime) -> list[ColumnElement[bool]]:
    return [
        side,
        or_(_D.status.not_in([s.value for s in CLOSED]), _D.updated_at >= to_stored(since)),
    ]


def _after(key: DigestKey) -> ColumnElement[bool]:
    at, delegation_id = to_stored(key[0]), key[1]
    return or_(_D.created_at > at, and_(_D.created_at == at, _D.id > delegation_id))


def _through(key: DigestKey) -> ColumnElement[bool]:
    at, delegation_id = to_stored(key[0]), key[1]
    return or_(_D.created_at < at, and_(_D.created_at == at, _D.id <= delegation_id))


def digest_range(
    session: Session,
    court: str,
    since: datetime,
    *,
    after: DigestKey | None = None,
    through: DigestKey | None = None,
    limit: int,
) -> list[DigestRow]:
    """The first ``limit`` delegations of ``court``'s digest scope (those it sent or received,
    open or changed since ``since``) after ``after`` up to ``through`` (None: unbounded), in
    (created_at, id) order: plain rows of id, seq, last_hash, created_at, changed_at and
    entrusted_court. Each side is read through its own (court, created_at, id) index from the
    key on, so a page costs what it returns, not what the court holds; the sides are merged here
    (a court is never on both sides of one delegation)."""
    rows: list[DigestRow] = []
    for side in (_D.requesting_court == court, _D.entrusted_court == court):
        query = sa_select(*_DIGEST_COLUMNS).where(*_digest_where(side, since))
        if after is not None:
            query = query.where(_D.created_at >= to_stored(after[0]), _after(after))
        if through is not None:
            query = query.where(_D.created_at <= to_stored(through[0]), _through(through))
        query = query.order_by(_D.created_at, _D.id).limit(limit)
        rows += cast(list[DigestRow], session.connection().execute(query).all())
    rows.sort(key=lambda r: (r.created_at, r.id))
    return rows[:limit]


def pending_requests(
    session: Session,
    *,
    courts: Sequence[str] = (),
    delegation_id: str = "",
    side: str = "",
) -> list[RequestRow]:
    """Requests still waiting for the writer's answer: those the given courts made, or those of
    one delegation (optionally of one side)."""
    query = select(RequestRow).where(RequestRow.state == RequestState.PENDING.value)
    if courts:
        query = query.where(col(RequestRow.actor_court).in_(list(courts)))
    if delegation_id:
        query = query.where(RequestRow.delegation_id == delegation_id)
    if side:
        query = query.where(RequestRow.side == side)
    return list(session.exec(query).all())


def pending_among(session: Session, delegation_ids: Sequence[str], side: str) -> set[str]:
    """Those of ``delegation_ids`` with a request of ``side`` still pending: one query for a
    whole digest chunk."""
    if not delegation_ids:
        return set()
    query = select(RequestRow.delegation_id).where(
        RequestRow.state == RequestState.PENDING.value,
        RequestRow.side == side,
        col(RequestRow.delegation_id).in_(list(delegation_ids)),
    )
    return set(session.exec(query).all())


def offered_to(session: Session, courts: Sequence[str]) -> list[DelegationRow]:
    """Delegations routed to one of ``courts`` whose delivery the coordinator has not recorded."""
    return list(
        session.exec(
            select(DelegationRow).where(
                DelegationRow.status == Status.ROUTED.value,
                col(DelegationRow.entrusted_court).in_(list(courts)),
            )
        ).all()
    )


def of_court(
    session: Session,
    court: str,
    direction: str,
    statuses: Sequence[str],
    offset: int,
    limit: int,
) -> list[DelegationRow]:
    """A page of the delegations ``court`` sent ("sent"), received ("received") or both, newest
    first. Each side is read through its own index in page order (an OR of the two would sort
    every delegation of the court); both sides are merged here (a court is never on both sides
    of one delegation: they are in different cities)."""
    sides = {
        "sent": [DelegationRow.requesting_court],
        "received": [DelegationRow.entrusted_court],
    }.get(direction, [DelegationRow.requesting_court, DelegationRow.entrusted_court])
    rows: list[DelegationRow] = []
    for side in sides:
        query = select(DelegationRow).where(side == court)
        if statuses:
            query = query.where(col(DelegationRow.status).in_(list(statuses)))
        query = query.order_by(col(DelegationRow.created_at).desc(), col(DelegationRow.id).desc())
        rows += session.exec(query.limit(offset + limit)).all()
    rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return rows[offset : offset + limit]


@dataclass(frozen=True)
class RegionFilter:
    """What a command centre's list asks for; empty fields do not filter."""

    from_city: str = ""
    to_city: str = ""
    touching: str = ""  # a city command centre: only what its city sent or received
    statuses: tuple[str, ...] = ()
    task_types: tuple[str, ...] = ()
    court: str = ""  # sent or received by this court
    # Warning levels of the most advanced running clock: 0, 50, 75 (share used), 100 (breached).
    sla_levels: tuple[int, ...] = ()
    # RUNNING (a running clock, none breached), BREACHED, PAUSED (a paused clock), NONE (neither).
    sla_states: tuple[str, ...] = ()
    created_from: datetime | None = None  # created at or after
    created_to: datetime | None = None  # created before
    case_number: str = ""  # part of the case number (案号)
    order: str = "newest"  # or "due": least time left to the next due time first


# A list counts what matches up to this many: the count then stays as cheap at 1,000,000 stored
# as at 10,000 (an exact count reads every match on every page).
COUNT_CAP = 10_000


def of_region(
    session: Session, where: RegionFilter, offset: int, limit: int
) -> tuple[list[DelegationRow], int, bool]:
    """A page of the region's delegations, newest first, how many match (up to COUNT_CAP), and
    whether more than that match."""
    query = select(DelegationRow)
    if where.from_city:
        query = query.where(DelegationRow.requesting_city == where.from_city)
    if where.to_city:
        query = query.where(DelegationRow.entrusted_city == where.to_city)
    if where.touching:
        query = query.where(
            or_(
                col(DelegationRow.requesting_city) == where.touching,
                col(DelegationRow.entrusted_city) == where.touching,
            )
        )
    if where.statuses:
        query = query.where(col(DelegationRow.status).in_(list(where.statuses)))
    if where.task_types:
        query = query.where(col(DelegationRow.task_type).in_(list(where.task_types)))
    query = query.where(*plain_conditions(where))
    capped = query.with_only_columns(col(DelegationRow.id)).limit(COUNT_CAP + 1)
    total = int(session.exec(select(func.count()).select_from(capped.subquery())).one())
    rows = session.exec(
        query.order_by(col(DelegationRow.created_at).desc(), col(DelegationRow.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), min(total, COUNT_CAP), total > COUNT_CAP


def waiting_steps(
    session: Session, delegation_id: str, states: Sequence[str] = ("waiting",)
) -> list[WaitingStepRow]:
    """Steps of the entrusted court waiting for the delivery to be recorded (or, with
    ``states``, also those applied or dropped), in order."""
    query = (
        select(WaitingStepRow)
        .where(
            WaitingStepRow.delegation_id == delegation_id,
            col(WaitingStepRow.state).in_(list(states)),
        )
        .order_by(col(WaitingStepRow.id))
    )
    return list(session.exec(query).all())


def hold_step(session: Session, delegation_id: str, court: str, event: Event) -> None:
    """Keep an entrusted court's step (an unsealed event) until the delivery is recorded."""
    values = event_values(delegation_id, event)
    kept = (
        "delegation_id",
        "kind",
        "text",
        "return_reason",
        "result",
        "documents",
        "controls",
        "detail",
        "at",
    )
    session.add(WaitingStepRow(court=court, **{name: values[name] for name in kept}))


def plain_conditions(where: RegionFilter) -> list[ColumnElement[bool]]:
    """The conditions of the filter fields that need no clock (court, dates, case number)."""
    out: list[ColumnElement[bool]] = []
    if where.court:
        out.append(or_(_D.requesting_court == where.court, _D.entrusted_court == where.court))
    if where.created_from is not None:
        out.append(_D.created_at >= to_stored(where.created_from))
    if where.created_to is not None:
        out.append(_D.created_at < to_stored(where.created_to))
    if where.case_number:
        escaped = where.case_number.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        out.append(_D.case_number.like(f"%{escaped}%", escape="\\"))
    return out
