"""The command-centre board's figures, counted by the database (SQLAlchemy Core, SQLite and
PostgreSQL alike): every function is a handful of grouped queries whose cost does not grow with
what Python holds, never a load of every delegation.

What the words mean here:

* open: a delegation whose status is not closed (CONFIRMED, CANCELLED, ROUTING_FAILED);
* a running clock: a stored clock of an open delegation, not met, not paused, run against the
  court that holds the delegation now (a reroute ends the old court's clocks; their rows stay
  until the new court's clocks replace them and must not count);
* breached: a running clock whose due time has passed (the stored ``state`` is only refreshed
  when the history changes, so the due time, not the state column, decides).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from jiaodong.domain.lifecycle import CLOSED, Status
from jiaodong.store.ledger import COUNT_CAP, RegionFilter, plain_conditions
from jiaodong.store.tables import (
    DeadLetterRow,
    DelegationRow,
    NodeContactRow,
    OutboxRow,
    SlaClockRow,
)
from jiaodong.wire import to_stored, to_utc

_D = DelegationRow.__table__.c  # type: ignore[attr-defined]
_K = SlaClockRow.__table__.c  # type: ignore[attr-defined]
_O = OutboxRow.__table__.c  # type: ignore[attr-defined]
_DL_TABLE = DeadLetterRow.__table__  # type: ignore[attr-defined]
_DL = _DL_TABLE.c
_NC = NodeContactRow.__table__  # type: ignore[attr-defined]
_D_TABLE = DelegationRow.__table__  # type: ignore[attr-defined]
_K_TABLE = SlaClockRow.__table__  # type: ignore[attr-defined]

_CLOSED = [s.value for s in CLOSED]
# Stored states of a clock that is neither met, paused nor cancelled (see the module docstring).
_RUNNING_STATES = ("RUNNING", "BREACHED")


def is_open() -> ColumnElement[bool]:
    closed: ColumnElement[bool] = _D.status.not_in(_CLOSED)
    return closed


def running_clock() -> ColumnElement[bool]:
    """Joined with delegation: a clock that runs now."""
    return and_(
        _K.delegation_id == _D.id,
        _K.state.in_(_RUNNING_STATES),
        _K.met_at.is_(None),
        _K.court == _D.entrusted_court,
        is_open(),
    )


def _epoch(dialect: str, column: Any) -> Any:
    """Seconds since the epoch of a stored time, in the database's own arithmetic."""
    if dialect == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


def _epoch_of(dialect: str, at: datetime) -> Any:
    return literal(to_utc(at).timestamp())


def used_fraction(dialect: str, now: datetime) -> Any:
    """The part of a running clock's limit used at ``now``, pauses left out: the same measure the
    warnings use (``sla.ClockView.warn_times``): (now - start - time paused) / original limit."""
    start, due, first = (_epoch(dialect, c) for c in (_K.started_at, _K.due_at, _K.original_due_at))
    span = first - start
    used = _epoch_of(dialect, now) - start - (due - first)
    return case((span <= 0, 1.0), else_=used / span)


# Warning levels of a running clock, as on the board (the policy's default thresholds).
LEVEL_NONE, LEVEL_HALF, LEVEL_THREE_QUARTERS, LEVEL_BREACHED = 0, 50, 75, 100


def level_of(dialect: str, now: datetime) -> Any:
    """0, 50, 75 or 100 (breached) for a running clock at ``now``."""
    used = used_fraction(dialect, now)
    return case(
        (_K.due_at <= to_stored(now), LEVEL_BREACHED),
        (used >= 0.75, LEVEL_THREE_QUARTERS),
        (used >= 0.5, LEVEL_HALF),
        else_=LEVEL_NONE,
    )


def _rows(session: Session, query: Any) -> list[Any]:
    return list(session.connection().execute(query).all())


@dataclass(frozen=True)
class CityCounts:
    inbound_open: int = 0
    outbound_open: int = 0
    due_soon: int = 0
    breached: int = 0
    decided: int = 0
    on_time: int = 0


def city_counts(
    session: Session,
    now: datetime,
    horizon: datetime,
    window_start: datetime,
    city_of_court: Mapping[str, str],
) -> dict[str, CityCounts]:
    """Per city: open delegations its courts received and sent; open delegations its courts hold
    with a running clock due by ``horizon`` (not yet breached); those with a breached clock; and,
    of the clocks its courts decided since ``window_start`` (met, or unmet past their due time),
    how many and how many were met in time."""
    counts: dict[str, dict[str, int]] = {}

    def add(city: str, name: str, n: int) -> None:
        if city:
            counts.setdefault(city, {})[name] = counts.get(city, {}).get(name, 0) + int(n)

    for side, name in ((_D.entrusted_city, "inbound_open"), (_D.requesting_city, "outbound_open")):
        for city, n in _rows(session, select(side, func.count()).where(is_open()).group_by(side)):
            add(city, name, n)

    stored_now, stored_horizon = to_stored(now), to_stored(horizon)
    next_due = (
        select(_D.id, _D.entrusted_city, func.min(_K.due_at).label("next_due"))
        .select_from(_D_TABLE.join(_K_TABLE, running_clock()))
        .group_by(_D.id, _D.entrusted_city)
        .subquery()
    )
    soon = case(
        (and_(next_due.c.next_due > stored_now, next_due.c.next_due <= stored_horizon), 1),
        else_=0,
    )
    late = case((next_due.c.next_due <= stored_now, 1), else_=0)
    query = select(next_due.c.entrusted_city, func.sum(soon), func.sum(late)).group_by(
        next_due.c.entrusted_city
    )
    for city, n_soon, n_late in _rows(session, query):
        add(city, "due_soon", n_soon or 0)
        add(city, "breached", n_late or 0)

    start = to_stored(window_start)
    met_in_window = and_(_K.met_at.is_not(None), _K.met_at >= start, _K.met_at < stored_now)
    unmet_late = and_(
        _K.met_at.is_(None),
        _K.state.in_(_RUNNING_STATES),
        _K.due_at >= start,
        _K.due_at < stored_now,
    )
    court_city = _court_city(city_of_court)
    query = (
        select(
            court_city,
            func.count(),
            func.sum(case((and_(met_in_window, _K.met_at < _K.due_at), 1), else_=0)),
        )
        .where(or_(met_in_window, unmet_late))
        .group_by(court_city)
    )
    for city, decided, on_time in _rows(session, query):
        add(city, "decided", decided)
        add(city, "on_time", on_time or 0)
    return {city: CityCounts(**values) for city, values in counts.items()}


def _court_city(city_of_court: Mapping[str, str]) -> Any:
    """The city of a clock's court, by the registry (a CASE over the few dozen courts)."""
    if not city_of_court:
        return literal("")
    return case(dict(city_of_court), value=_K.court, else_=literal(""))


def pair_counts(session: Session, now: datetime) -> dict[tuple[str, str], tuple[int, int]]:
    """Per (requesting city, entrusted city) of open routed delegations: (open, breached)."""
    late = (
        select(_K.delegation_id)
        .select_from(_K_TABLE.join(_D_TABLE, running_clock()))
        .where(_K.due_at <= to_stored(now))
        .distinct()
        .subquery()
    )
    query = (
        select(
            _D.requesting_city,
            _D.entrusted_city,
            func.count(),
            func.count(late.c.delegation_id),
        )
        .select_from(_D_TABLE.outerjoin(late, late.c.delegation_id == _D.id))
        .where(is_open(), _D.entrusted_city != "")
        .group_by(_D.requesting_city, _D.entrusted_city)
    )
    return {(a, b): (int(n), int(m)) for a, b, n, m in _rows(session, query)}


def touching(city: str) -> ColumnElement[bool]:
    return or_(_D.requesting_city == city, _D.entrusted_city == city)


def aging_counts(session: Session, cutoffs: Sequence[datetime], city: str = "") -> list[int]:
    """Open delegations (touching ``city``, if given) created before each of ``cutoffs``: one
    count per cut-off (cumulative: older than 30 days is also older than 5)."""
    columns = [func.sum(case((_D.created_at < to_stored(c), 1), else_=0)) for c in cutoffs]
    query = select(*columns).where(is_open())
    if city:
        query = query.where(touching(city))
    row = session.connection().execute(query).one()
    return [int(v or 0) for v in row]


# -- node health --------------------------------------------------------------------------------


def note_contact(session: Session, node: str, court: str, at: datetime) -> None:
    """Record that a message from ``node`` (sent by ``court``) was applied at ``at``: one upsert."""
    dialect = session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"node": node, "court": court, "last_seen_at": to_stored(at)}
    stmt = insert(_NC).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["node"],
        set_={"court": stmt.excluded.court, "last_seen_at": stmt.excluded.last_seen_at},
        where=_NC.c.last_seen_at < stmt.excluded.last_seen_at,
    )
    session.connection().execute(stmt)


def contacts(session: Session) -> dict[str, datetime]:
    """node -> when a message from it was last applied here."""
    query = select(_NC.c.node, _NC.c.last_seen_at)
    return {node: to_utc(at) for node, at in _rows(session, query)}


def unpublished_to(session: Session) -> dict[str, int]:
    """court -> outbox messages addressed to it (``jd.v1.court.<court>.*``) not yet published.
    Grouped by subject (a court has a handful) through the index on published_at."""
    query = select(_O.subject, func.count()).where(_O.published_at.is_(None)).group_by(_O.subject)
    out: dict[str, int] = {}
    for subject, n in _rows(session, query):
        parts = subject.split(".")
        if len(parts) == 5 and parts[2] == "court":
            out[parts[3]] = out.get(parts[3], 0) + int(n)
    return out


def undelivered_to(session: Session) -> dict[str, int]:
    """court -> delegations routed to it whose delivery receipt has not arrived."""
    query = (
        select(_D.entrusted_court, func.count())
        .where(_D.status == Status.ROUTED.value)
        .group_by(_D.entrusted_court)
    )
    return {court: int(n) for court, n in _rows(session, query)}


def parked_count(session: Session, courts: Iterable[str] | None = None) -> int:
    """Dead letters parked here (only those whose subject names one of ``courts``, if given)."""
    query = select(func.count()).select_from(_DL_TABLE)
    if courts is not None:
        names = list(courts)
        if not names:
            return 0
        query = query.where(or_(*[_DL.subject.like(f"jd.v1.%.{c}.%") for c in names]))
    return int(session.connection().execute(query).scalar_one())


# -- the queue ----------------------------------------------------------------------------------


def clock_summary(dialect: str, now: datetime) -> Any:
    """Per delegation with a running clock: the earliest due time and the highest level."""
    return (
        select(
            _K.delegation_id.label("delegation_id"),
            func.min(_K.due_at).label("next_due"),
            func.max(level_of(dialect, now)).label("level"),
        )
        .select_from(_K_TABLE.join(_D_TABLE, running_clock()))
        .group_by(_K.delegation_id)
        .subquery("clock_summary")
    )


def _paused() -> ColumnElement[bool]:
    return (
        select(_K.delegation_id)
        .where(_K.delegation_id == _D.id, _K.state == "PAUSED", _K.met_at.is_(None))
        .exists()
    )


def of_region_due(
    session: Session, where: RegionFilter, now: datetime, offset: int, limit: int
) -> tuple[list[tuple[DelegationRow, datetime | None, int | None]], int, bool]:
    """A page of the region's delegations matching ``where``, each with its next due time and
    warning level (None: no running clock), in ``where.order``; how many match (up to
    COUNT_CAP) and whether more than that do."""
    dialect = session.connection().dialect.name
    summary = clock_summary(dialect, now)
    conditions: list[ColumnElement[bool]] = []
    if where.from_city:
        conditions.append(_D.requesting_city == where.from_city)
    if where.to_city:
        conditions.append(_D.entrusted_city == where.to_city)
    if where.touching:
        conditions.append(touching(where.touching))
    if where.statuses:
        conditions.append(_D.status.in_(list(where.statuses)))
    if where.task_types:
        conditions.append(_D.task_type.in_(list(where.task_types)))
    conditions += plain_conditions(where)
    if where.sla_levels:
        conditions.append(summary.c.level.in_(list(where.sla_levels)))
    if where.sla_states:
        states = []
        late = summary.c.next_due <= to_stored(now)
        if "BREACHED" in where.sla_states:
            states.append(late)
        if "RUNNING" in where.sla_states:
            states.append(and_(summary.c.next_due.is_not(None), ~late))
        if "PAUSED" in where.sla_states:
            states.append(and_(is_open(), _paused()))
        if "NONE" in where.sla_states:
            states.append(and_(summary.c.next_due.is_(None), ~and_(is_open(), _paused())))
        conditions.append(or_(*states) if states else literal(False))
    joined = _D_TABLE.outerjoin(summary, summary.c.delegation_id == _D.id)
    count = select(_D.id).select_from(joined).where(*conditions).limit(COUNT_CAP + 1).subquery()
    total = int(session.connection().execute(select(func.count()).select_from(count)).scalar_one())
    if where.order == "due":
        order = [
            case((summary.c.next_due.is_(None), 1), else_=0),
            summary.c.next_due,
            _D.created_at.desc(),
            _D.id.desc(),
        ]
    else:
        order = [_D.created_at.desc(), _D.id.desc()]
    query = (
        select(DelegationRow, summary.c.next_due, summary.c.level)
        .select_from(joined)
        .where(*conditions)
        .order_by(*order)
        .offset(offset)
        .limit(limit)
    )
    rows = [(r[0], r[1], r[2]) for r in session.exec(query).all()]  # type: ignore[call-overload]
    return rows, min(total, COUNT_CAP), total > COUNT_CAP


def running_clocks_of(
    session: Session, delegation_ids: Sequence[str]
) -> dict[str, list[tuple[str, datetime, str]]]:
    """delegation -> (goal, due time, period text) of each running clock: one query a page."""
    if not delegation_ids:
        return {}
    query = (
        select(_K.delegation_id, _K.goal, _K.due_at, _K.period)
        .select_from(_K_TABLE.join(_D_TABLE, running_clock()))
        .where(_K.delegation_id.in_(list(delegation_ids)))
    )
    out: dict[str, list[tuple[str, datetime, str]]] = {}
    for delegation_id, goal, due, period in _rows(session, query):
        out.setdefault(delegation_id, []).append((goal, to_utc(due), period))
    return out
