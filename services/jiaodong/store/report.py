"""The SLA reports' facts (``report_fact``) and the aggregations a report is made of (SQLAlchemy
Core, SQLite and PostgreSQL alike).

A report is seven grouped queries over the facts of the period in scope, whatever their number:
the sums per group, two day histograms (acknowledge and complete), the weekly series, the weeks
each court was listed late, and the aging of open delegations. Rates, medians and ranks are then
computed from those few hundred groups in Python (domain/report.py). Definitions: docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, literal, or_, select, union_all
from sqlmodel import Session

from jiaodong.domain.calendar import local_day
from jiaodong.domain.report import (
    AGING_DAYS,
    DELIVERY_DELAYED_MINUTES,
    GOALS,
    RETURN_REASONS,
    Cell,
    Fact,
    HistogramRow,
    Outcome,
    Period,
    State,
    Sums,
    week_of,
)
from jiaodong.store.tables import DelegationRow, ReportFactRow
from jiaodong.wire import to_stored, to_utc

_F = ReportFactRow.__table__.c  # type: ignore[attr-defined]
_FACTS = ReportFactRow.__table__  # type: ignore[attr-defined]
_D = DelegationRow.__table__.c  # type: ignore[attr-defined]
_RETURN_COLUMNS = dict(
    zip(
        RETURN_REASONS,
        ("returns_jurisdiction", "returns_materials", "returns_unclear", "returns_other"),
        strict=True,
    )
)
_STATE_COLUMNS = {
    "completed": State.COMPLETED,
    "open": State.OPEN,
    "cancelled": State.CANCELLED,
    "withdrawn": State.WITHDRAWN,
}


# -- writing -----------------------------------------------------------------------------------


def fact_values(row: DelegationRow, asset_kind: str, fact: Fact) -> dict[str, Any]:
    """The ``report_fact`` row of a delegation."""
    values: dict[str, Any] = {
        "delegation_id": row.id,
        "requesting_court": row.requesting_court,
        "requesting_city": row.requesting_city,
        "entrusted_court": row.entrusted_court,
        "entrusted_city": row.entrusted_city,
        "task_type": row.task_type,
        "asset_kind": asset_kind,
        "priority": row.priority,
        "state": int(fact.state),
        "sent_day": fact.sent_day,
        "sent_week": week_of(fact.sent_day),
        "closed_day": fact.closed_day,
        "acknowledge_days": fact.acknowledge_days,
        "complete_days": fact.complete_days,
        "urges": fact.urges,
        "escalations": fact.escalations,
        "delivery_minutes": fact.delivery_minutes,
        "met_count": sum(g.outcome is Outcome.MET for g in fact.goals.values()),
        "late_count": sum(g.outcome is Outcome.LATE for g in fact.goals.values()),
    }
    for reason, column in _RETURN_COLUMNS.items():
        values[column] = fact.returns.get(reason, 0)
    for goal, g in fact.goals.items():
        values[f"{goal.value}_outcome"] = int(g.outcome)
        values[f"{goal.value}_due"] = to_stored(g.due) if g.due else None
        values[f"{goal.value}_due_week"] = week_of(g.due_day) if g.due_day else None
    return values


def save_fact(session: Session, values: dict[str, Any]) -> None:
    """Insert one delegation's fact, or update the columns that changed (each column is in
    several of the report's indexes: an unchanged one is not rewritten)."""
    conn = session.connection()
    old = conn.execute(select(_FACTS).where(_F.delegation_id == values["delegation_id"])).first()
    if old is None:
        conn.execute(insert(_FACTS), [values])
        return
    stored = old._mapping
    changed = {k: v for k, v in values.items() if not _same(stored[k], v)}
    if changed:
        conn.execute(
            _FACTS.update().where(_F.delegation_id == values["delegation_id"]).values(**changed)
        )


def _same(stored: Any, value: Any) -> bool:
    if isinstance(value, datetime) and isinstance(stored, datetime):
        return bool(to_utc(stored) == value)
    return bool(stored == value)


def insert_facts(session: Session, rows: Sequence[dict[str, Any]], chunk: int = 5000) -> None:
    """Bulk-insert new facts (the report benchmark's load): executemany in chunks, in the
    table's key order (SQLite stores the table in that order: appending is cheaper than
    inserting all over it)."""
    conn = session.connection()
    ordered = sorted(rows, key=lambda r: tuple(r[k] for k in (*_GROUPING, "delegation_id")))
    if conn.dialect.name == "postgresql" and ordered:
        _copy(conn, ordered)
        return
    for start in range(0, len(ordered), chunk):
        conn.execute(insert(_FACTS), ordered[start : start + chunk])


def _copy(conn: Any, rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL's own bulk path: COPY, a tenth of the time of batched INSERTs."""
    names = [c.name for c in _FACTS.columns]
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY report_fact ({', '.join(names)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row([_copied(r.get(n)) for n in names])


def _copied(value: Any) -> Any:
    return to_stored(value) if isinstance(value, datetime) else value


def without_fact(session: Session, limit: int) -> list[str]:
    """Up to ``limit`` delegations that have no fact yet (stored before facts existed)."""
    query = (
        select(_D.id)
        .where(~select(_F.delegation_id).where(_F.delegation_id == _D.id).exists())
        .order_by(_D.id)
        .limit(limit)
    )
    return list(session.connection().execute(query).scalars())


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a report covers: the period, the previous period of the same length, the instant the
    figures describe, and a city (its rows as requesting or entrusted city) or the region."""

    period: Period
    as_of: datetime
    city: str | None = None

    def sent(
        self, first: int, last: int, session: Session | None = None
    ) -> list[ColumnElement[bool]]:
        """Sent from ``first`` to ``last`` (day ordinals). With ``session``, for a query that
        reads every row in its grouping's order anyway: on SQLite the sent day is hidden from
        the planner (``+ 0``), which otherwise picks an index on it and sorts all it finds
        (docs/benchmarks.md, "SLA report"); PostgreSQL keeps it, as hiding it there spoils the
        row estimate and turns a hash aggregate into a sort on disk."""
        hide = session is not None and session.connection().dialect.name == "sqlite"
        day = _F.sent_day + 0 if hide else _F.sent_day
        return [day >= first, day <= last, *self.in_city()]

    def in_city(self) -> list[ColumnElement[bool]]:
        if not self.city:
            return []
        return [or_(_F.requesting_city == self.city, _F.entrusted_city == self.city)]

    @property
    def current(self) -> tuple[int, int]:
        return self.period.first.toordinal(), self.period.last.toordinal()

    @property
    def previous(self) -> tuple[int, int]:
        before = self.period.previous()
        return before.first.toordinal(), before.last.toordinal()


def for_reports(session: Session) -> None:
    """Settings of a report's read transaction. PostgreSQL: no JIT (compiling the aggregates
    took 0.4 s of each 2.3 s query at 1M facts, more than it saved) and memory for the hash
    aggregates and sorts (so a low row estimate does not send them to disk)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")


def _fixed(value: int) -> Any:
    """A constant written into the SQL text: the partial indexes' conditions must be seen."""
    return literal(value, literal_execute=True)


_OPEN = _F.state == _fixed(int(State.OPEN))
_RUNNING = _fixed(int(Outcome.RUNNING))


def _running_late(goal: str, as_of: datetime) -> ColumnElement[bool]:
    """A running limit whose due time has passed by ``as_of``."""
    due = _F[f"{goal}_due"]
    return and_(_F[f"{goal}_outcome"] == _RUNNING, due.is_not(None), due <= to_stored(as_of))


def _count(condition: ColumnElement[Any], name: str) -> Any:
    # An aggregate FILTER, not SUM(CASE ...): on SQLite it costs less than half as much per row
    # (docs/benchmarks.md, "SLA report"); both databases have it (SQLite 3.30, PostgreSQL 9.4).
    return func.count().filter(condition).label(name)


# First delivered late (docs/reports.md, 逾时送达).
_DELAYED = _F.delivery_minutes > DELIVERY_DELAYED_MINUTES


def _sum_columns(when: ColumnElement[bool], tag: str) -> list[Any]:
    """The sums of a group's rows for which ``when`` holds, labelled ``NAME_tag``."""
    cols: list[Any] = [_count(when, f"sent_{tag}")]
    cols += [
        _count(and_(when, _F.state == int(state)), f"{name}_{tag}")
        for name, state in _STATE_COLUMNS.items()
    ]
    for goal in GOALS:
        outcome = _F[f"{goal.value}_outcome"]
        cols.append(_count(and_(when, outcome == int(Outcome.MET)), f"met_{goal.value}_{tag}"))
        # Running limits now past due are counted from the open delegations (``overdue``).
        cols.append(_count(and_(when, outcome == int(Outcome.LATE)), f"late_{goal.value}_{tag}"))
    cols += [
        func.sum(_F[c]).filter(when).label(f"{c}_{tag}")
        for c in (*_RETURN_COLUMNS.values(), "urges", "escalations")
    ]
    minutes = _F.delivery_minutes
    cols += [
        _count(and_(when, minutes.is_not(None)), f"delivered_{tag}"),
        _count(and_(when, _DELAYED), f"delivery_delayed_{tag}"),
        func.max(minutes).filter(when).label(f"delivery_longest_{tag}"),
    ]
    return cols


def _sums(r: Any, tag: str) -> Sums:
    m = r._mapping

    def n(name: str) -> int:
        return int(m[f"{name}_{tag}"] or 0)

    return Sums(
        sent=n("sent"),
        completed=n("completed"),
        open=n("open"),
        cancelled=n("cancelled"),
        withdrawn=n("withdrawn"),
        met={g.value: n(f"met_{g.value}") for g in GOALS},
        late={g.value: n(f"late_{g.value}") for g in GOALS},
        returns={r: n(c) for r, c in _RETURN_COLUMNS.items()},
        urges=n("urges"),
        escalations=n("escalations"),
        delivered=n("delivered"),
        delivery_delayed=n("delivery_delayed"),
        delivery_longest=m[f"delivery_longest_{tag}"],
    )


_GROUPING = ("requesting_city", "entrusted_court", "task_type", "asset_kind")


def cube(session: Session, scope: Scope) -> list[Cell]:
    """The sums of the period and of the previous one by requesting city, entrusted court, task
    type and asset kind, in one pass over the rows in the table's own order (no sort); every
    other grouping of the report rolls these cells up."""
    keys = [_F[k] for k in _GROUPING]
    first = scope.current[0]
    now, before = _F.sent_day >= first, _F.sent_day < first
    query = (
        select(*keys, func.max(_F.entrusted_city).label("entrusted_city"))
        .add_columns(*_sum_columns(now, "now"))
        .add_columns(*_sum_columns(before, "before"))
        .where(*scope.sent(scope.previous[0], scope.current[1], session))
        .group_by(*keys)
    )
    return [
        _cell(current, r, sums)
        for r in session.connection().execute(query)
        for current, tag in ((True, "now"), (False, "before"))
        if (sums := _sums(r, tag)).sent
    ]


def _cell(current: bool, r: Any, sums: Sums) -> Cell:
    return Cell(
        current, r.requesting_city, r.entrusted_city, r.entrusted_court, r.task_type,
        r.asset_kind, sums,
    )  # fmt: skip


def overdue(session: Session, scope: Scope) -> list[Cell]:
    """The running limits now past due, as cells of late counts only (added to ``cube``'s):
    read from the open delegations' partial index, so it costs what is open, not what is
    stored."""
    keys = [_F[k] for k in _GROUPING]
    current = case((_F.sent_day >= scope.current[0], 1), else_=0).label("current")
    late = [_count(_running_late(g.value, scope.as_of), g.value) for g in GOALS]
    query = (
        select(current, *keys, func.max(_F.entrusted_city).label("entrusted_city"), *late)
        .where(_OPEN, *scope.sent(scope.previous[0], scope.current[1]))
        .group_by(current, *keys)
    )
    out = []
    for r in session.connection().execute(query):
        counts = {g.value: int(r._mapping[g.value] or 0) for g in GOALS}
        if any(counts.values()):
            out.append(_cell(bool(r.current), r, Sums(late=counts)))
    return out


def day_histograms(session: Session, scope: Scope, column: str) -> list[HistogramRow]:
    """(current, requesting city, entrusted court, task type, asset kind, days, delegations) for
    ``column`` (``acknowledge_days`` or ``complete_days``) where it is known: read from the
    index that holds exactly these columns in this order."""
    days = _F[column]
    keys = [_F[k] for k in _GROUPING]
    (first, last), (before, _) = scope.current, scope.previous
    in_period = and_(_F.sent_day >= first, _F.sent_day <= last)
    query = (
        select(
            *keys,
            days,
            _count(in_period, "now"),
            _count(_F.sent_day < first, "before"),
        )
        .where(*scope.sent(before, last, session), days.is_not(None))
        .group_by(*keys, days)
        .with_hint(_FACTS, f"INDEXED BY ix_report_fact_{column.removesuffix('_days')}", "sqlite")
    )
    out: list[HistogramRow] = []
    for r in session.connection().execute(query):
        for current, n in ((True, r.now), (False, r.before)):
            if n:
                out.append((current, r[0], r[1], r[2], r[3], int(r[4]), int(n)))
    return out


def weekly(session: Session, scope: Scope) -> dict[int, tuple[int, int, int, int, int]]:
    """Monday ordinal -> (sent, completed, limits met, limits late, first delivered late) of the
    delegations sent that week (both periods): the week index's counts, plus running limits now
    past due (open delegations only, from their partial index)."""
    before, last = scope.previous[0], scope.current[1]
    query = (
        select(
            _F.sent_week,
            func.count(),
            _count(_F.state == int(State.COMPLETED), "completed"),
            func.sum(_F.met_count),
            func.sum(_F.late_count),
            _count(_DELAYED, "delayed"),
        )
        .where(*scope.sent(before, last))
        .group_by(_F.sent_week)
    )
    out = {int(w): [int(n), int(c or 0), int(m or 0), int(late or 0), int(d or 0)]
           for w, n, c, m, late, d in session.connection().execute(query)}  # fmt: skip
    running = [_count(_running_late(g.value, scope.as_of), g.value) for g in GOALS]
    overdue = (
        select(_F.sent_week, *running)
        .where(_OPEN, *scope.sent(before, last))
        .group_by(_F.sent_week)
    )
    for r in session.connection().execute(overdue):
        out[int(r[0])][3] += sum(int(v or 0) for v in r[1:])
    return {w: (v[0], v[1], v[2], v[3], v[4]) for w, v in out.items()}


def late_weeks(session: Session, scope: Scope) -> dict[str, dict[int, int]]:
    """Entrusted court -> Monday -> how many time limits of its delegations (in scope, sent at
    any time) ran out unmet in that week of the period: each limit's late ones from its partial
    index, and the running ones now past due from the open delegations' index."""
    first = week_of(scope.period.first.toordinal())
    last = scope.period.last.toordinal()
    parts = []
    for goal in GOALS:
        week = _F[f"{goal.value}_due_week"]
        for late in (
            _F[f"{goal.value}_outcome"] == _fixed(int(Outcome.LATE)),
            and_(_OPEN, _running_late(goal.value, scope.as_of)),
        ):
            parts.append(
                select(_F.entrusted_court.label("court"), week.label("week"), func.count())
                .where(late, week >= first, week <= last, *scope.in_city())
                .group_by(_F.entrusted_court, week)
            )
    out: dict[str, dict[int, int]] = {}
    for court, week, n in session.connection().execute(union_all(*parts)):
        if court:
            weeks = out.setdefault(court, {})
            weeks[int(week)] = weeks.get(int(week), 0) + int(n)
    return out


def aging(session: Session, scope: Scope) -> list[tuple[str, str, list[int]]]:
    """(requesting city, entrusted city, [open, over 5, over 10, over 15, over 30 days]) of the
    delegations open at the report's instant that were sent on or before its last day."""
    as_of_day = local_day(scope.as_of).toordinal()
    buckets = [func.count()] + [
        _count(_F.sent_day < literal(as_of_day - days), f"over_{days}") for days in AGING_DAYS
    ]
    query = (
        select(_F.requesting_city, _F.entrusted_city, *buckets)
        .where(_OPEN, _F.sent_day <= scope.period.last.toordinal(), *scope.in_city())
        .group_by(_F.requesting_city, _F.entrusted_city)
    )
    return [(r[0], r[1], [int(v or 0) for v in r[2:]]) for r in session.connection().execute(query)]
