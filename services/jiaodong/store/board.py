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

# Listed, not "not closed": an IN list walks the (status, ...) index to the open delegations
# only, however many closed ones the years have stored.
_OPEN = [s.value for s in Status if s not in CLOSED]
# Stored states of a clock that is neither met, paused nor cancelled (see the module docstring).
_RUNNING_STATES = ("RUNNING", "BREACHED")
# Stored states of a met clock: met in time, or met late.
_MET_STATES = ("MET", "BREACHED")


def is_open() -> ColumnElement[bool]:
    listed: ColumnElement[bool] = _D.status.in_(_OPEN)
    return listed


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


Pair = tuple[str, str]


def city_and_pair_counts(
    session: Session,
    now: datetime,
    horizon: datetime,
    window_start: datetime,
    city_of_court: Mapping[str, str],
) -> tuple[dict[str, CityCounts], dict[Pair, tuple[int, int]]]:
    """Per city: open delegations its courts received and sent; open delegations its courts hold
    whose next due time (earliest running clock) is by ``horizon`` and not passed; those with a
    running clock past due; and, of the clocks its courts decided since ``window_start`` (met,
    or unmet past their due time), how many and how many were met in time. Per (requesting
    city, entrusted city) of open routed delegations: (open, breached). Four grouped queries."""
    counts: dict[str, dict[str, int]] = {}

    def add(city: str, name: str, n: int) -> None:
        if city:
            counts.setdefault(city, {})[name] = counts.get(city, {}).get(name, 0) + int(n)

    pair = (_D.requesting_city, _D.entrusted_city)
    opened = select(*pair, func.count()).where(is_open()).group_by(*pair)
    pairs: dict[Pair, list[int]] = {}
    for a, b, n in _rows(session, opened):
        add(a, "outbound_open", n)
        add(b, "inbound_open", n)
        if b:
            pairs[(a, b)] = [int(n), 0]

    stored_now, stored_horizon = to_stored(now), to_stored(horizon)
    summary = clock_summary(session.connection().dialect.name, now)
    soon = case(
        (and_(summary.c.next_due > stored_now, summary.c.next_due <= stored_horizon), 1),
        else_=0,
    )
    late = case((summary.c.next_due <= stored_now, 1), else_=0)
    running = (
        select(*pair, func.sum(soon), func.sum(late))
        .select_from(summary.join(_D_TABLE, held_now(summary)))
        .group_by(*pair)
    )
    for a, b, n_soon, n_late in _rows(session, running):
        add(b, "due_soon", n_soon or 0)
        add(b, "breached", n_late or 0)
        if (a, b) in pairs:
            pairs[(a, b)][1] += int(n_late or 0)

    # Decided in the window: met within it (on time or late), or unmet with the due time in
    # it. Two queries, each a range of the (state, met_at, due_at) index; grouped by court
    # (a few dozen) and summed per city here.
    start = to_stored(window_start)
    met_in_window = (
        select(_K.court, func.count(), func.sum(case((_K.met_at < _K.due_at, 1), else_=0)))
        .where(_K.state.in_(_MET_STATES), _K.met_at >= start, _K.met_at < stored_now)
        .group_by(_K.court)
    )
    unmet_late = (
        select(_K.court, func.count(), literal(0))
        .where(
            _K.state.in_(_RUNNING_STATES),
            _K.met_at.is_(None),
            _K.due_at >= start,
            _K.due_at < stored_now,
        )
        .group_by(_K.court)
    )
    for decided_query in (met_in_window, unmet_late):
        for court, decided, on_time in _rows(session, decided_query):
            add(city_of_court.get(court, ""), "decided", decided)
            add(city_of_court.get(court, ""), "on_time", on_time or 0)
    cities = {city: CityCounts(**values) for city, values in counts.items()}
    return cities, {key: (n, late) for key, (n, late) in pairs.items()}


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


def note_parked(session: Session, node: str, court: str, parked: int, at: datetime) -> None:
    """Record the count of parked messages a node's digest reported (and the contact)."""
    note_contact(session, node, court, at)
    session.connection().execute(
        _NC.update().where(_NC.c.node == node).values(parked=parked, parked_at=to_stored(at))
    )


@dataclass(frozen=True)
class Contact:
    last_seen_at: datetime
    parked: int | None
    parked_at: datetime | None


def contacts(session: Session) -> dict[str, Contact]:
    """node -> when a message from it was last applied here, and its last reported parked
    count."""
    query = select(_NC.c.node, _NC.c.last_seen_at, _NC.c.parked, _NC.c.parked_at)
    return {
        node: Contact(to_utc(at), parked, to_utc(parked_at) if parked_at else None)
        for node, at, parked, parked_at in _rows(session, query)
    }


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


def clock_summary(dialect: str, now: datetime, with_level: bool = False) -> Any:
    """Per delegation and court with an unmet, unpaused clock: the earliest due time (and, if
    asked, the highest level: three date conversions a clock, so only when a filter needs it).
    Grouped from the clock index alone, before any delegation is read: join it with
    ``held_now`` to keep the clocks that run now (grouping after the join cost five times as
    much on SQLite)."""
    level = func.max(level_of(dialect, now)) if with_level else literal(LEVEL_NONE)
    return (
        select(
            _K.delegation_id.label("delegation_id"),
            _K.court.label("court"),
            func.min(_K.due_at).label("next_due"),
            level.label("level"),
        )
        .where(_K.state.in_(_RUNNING_STATES), _K.met_at.is_(None))
        .group_by(_K.delegation_id, _K.court)
        .subquery("clock_summary")
    )


def held_now(summary: Any) -> ColumnElement[bool]:
    """A clock summary's row runs now: its delegation is open and held by the clock's court."""
    return and_(summary.c.delegation_id == _D.id, summary.c.court == _D.entrusted_court, is_open())


def _paused() -> ColumnElement[bool]:
    return (
        select(_K.delegation_id)
        .where(_K.delegation_id == _D.id, _K.state == "PAUSED", _K.met_at.is_(None))
        .exists()
    )


def of_region_due(
    session: Session, where: RegionFilter, now: datetime, offset: int, limit: int
) -> tuple[list[DelegationRow], int, bool]:
    """A page of the region's delegations matching ``where``, in ``where.order``; how many match
    (up to COUNT_CAP) and whether more than that do. The clocks' summary (next due time, level)
    is joined only when the order or a filter needs it: newest first costs the page."""
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
    joined: Any = _D_TABLE
    order: list[Any] = [_D.created_at.desc(), _D.id.desc()]
    if where.order == "due" or where.sla_levels or where.sla_states:
        summary = clock_summary(session.connection().dialect.name, now, bool(where.sla_levels))
        joined = _D_TABLE.outerjoin(summary, held_now(summary))
        conditions += _sla_conditions(where, summary, now)
        if where.order == "due":
            order = [case((summary.c.next_due.is_(None), 1), else_=0), summary.c.next_due, *order]
    count = select(_D.id).select_from(joined).where(*conditions).limit(COUNT_CAP + 1).subquery()
    total = int(session.connection().execute(select(func.count()).select_from(count)).scalar_one())
    query = (
        select(DelegationRow)
        .select_from(joined)
        .where(*conditions)
        .order_by(*order)
        .offset(offset)
        .limit(limit)
    )
    rows = list(session.execute(query).scalars().all())
    return rows, min(total, COUNT_CAP), total > COUNT_CAP


def _sla_conditions(where: RegionFilter, summary: Any, now: datetime) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if where.sla_levels:
        out.append(summary.c.level.in_(list(where.sla_levels)))
    if where.sla_states:
        states = []
        late = summary.c.next_due <= to_stored(now)
        paused = and_(is_open(), _paused())
        if "BREACHED" in where.sla_states:
            states.append(late)
        if "RUNNING" in where.sla_states:
            states.append(and_(summary.c.next_due.is_not(None), ~late))
        if "PAUSED" in where.sla_states:
            states.append(paused)
        if "NONE" in where.sla_states:
            states.append(and_(summary.c.next_due.is_(None), ~paused))
        out.append(or_(*states) if states else literal(False))
    return out


@dataclass(frozen=True)
class RunningClock:
    """What the queue shows of one running clock."""

    goal: str
    started_at: datetime
    due_at: datetime
    original_due_at: datetime
    period: str

    def level(self, now: datetime) -> int:
        """As ``level_of``: 100 once due, else 75 or 50 by the share used, pauses left out."""
        if now >= self.due_at:
            return LEVEL_BREACHED
        span = (self.original_due_at - self.started_at).total_seconds()
        if span <= 0:
            return LEVEL_BREACHED
        used = (now - self.started_at - (self.due_at - self.original_due_at)).total_seconds()
        fraction = used / span
        return (
            LEVEL_THREE_QUARTERS
            if fraction >= 0.75
            else LEVEL_HALF
            if fraction >= 0.5
            else LEVEL_NONE
        )


def running_clocks_of(
    session: Session, rows: Sequence[DelegationRow]
) -> dict[str, list[RunningClock]]:
    """delegation -> its running clocks, earliest due first: one query a page.

    The clocks are read by their primary key alone (a page's delegations hold a few clocks
    each) and what makes one running (unmet, not paused, open, held by the clock's court) is
    checked here: with any of it in SQL, both planners preferred the board index and walked
    every running clock of the region (a page took 218 ms at 10,000 open, 2,040 ms at 100,000;
    with the delegation's side alone moved out, still 187 and 1,464 ms)."""
    holder = {r.id: r.entrusted_court for r in rows if r.status in _OPEN}
    if not holder:
        return {}
    query = select(
        _K.delegation_id,
        _K.court,
        _K.state,
        _K.met_at,
        _K.goal,
        _K.started_at,
        _K.due_at,
        _K.original_due_at,
        _K.period,
    ).where(_K.delegation_id.in_(list(holder)))
    out: dict[str, list[RunningClock]] = {}
    for delegation_id, court, state, met_at, goal, started, due, first, period in _rows(
        session, query
    ):
        if court != holder[delegation_id] or state not in _RUNNING_STATES or met_at is not None:
            continue
        clock = RunningClock(goal, to_utc(started), to_utc(due), to_utc(first), period)
        out.setdefault(delegation_id, []).append(clock)
    for clocks in out.values():
        clocks.sort(key=lambda c: c.due_at)
    return out
