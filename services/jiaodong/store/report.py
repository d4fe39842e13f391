"""The SLA reports' facts (``report_fact``) and the aggregations a report is made of (SQLAlchemy
Core, SQLite and PostgreSQL alike).

A report is seven grouped queries over the facts of the period in scope, whatever their number:
the sums per group, two day histograms (acknowledge and complete), the weekly series, the weeks
each court was listed late, and the aging of open delegations. Rates, medians and ranks are then
computed from those few hundred groups in Python (domain/report.py). Definitions: docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, literal, or_, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from jiaodong.domain.calendar import local_day
from jiaodong.domain.report import (
    AGING_DAYS,
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
from jiaodong.wire import to_stored

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
    }
    for reason, column in _RETURN_COLUMNS.items():
        values[column] = fact.returns.get(reason, 0)
    for goal, g in fact.goals.items():
        values[f"{goal.value}_outcome"] = int(g.outcome)
        values[f"{goal.value}_due"] = to_stored(g.due) if g.due else None
        values[f"{goal.value}_due_week"] = week_of(g.due_day) if g.due_day else None
    return values


def save_fact(session: Session, values: dict[str, Any]) -> None:
    """Insert or replace one delegation's fact: one upsert."""
    conn = session.connection()
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(_FACTS).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["delegation_id"],
        set_={k: stmt.excluded[k] for k in values if k != "delegation_id"},
    )
    conn.execute(stmt)


def insert_facts(session: Session, rows: Sequence[dict[str, Any]], chunk: int = 5000) -> None:
    """Bulk-insert new facts (the backfill and the report benchmark): executemany in chunks."""
    conn = session.connection()
    for start in range(0, len(rows), chunk):
        conn.execute(insert(_FACTS), list(rows[start : start + chunk]))


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

    def where(self, first: int, last: int) -> list[ColumnElement[bool]]:
        out = [_F.sent_day >= first, _F.sent_day <= last]
        if self.city:
            out.append(or_(_F.requesting_city == self.city, _F.entrusted_city == self.city))
        return out


def _late(goal: str, as_of: datetime) -> ColumnElement[Any]:
    """1 when the goal's limit ran out unmet (or was met late) by ``as_of``."""
    outcome, due = _F[f"{goal}_outcome"], _F[f"{goal}_due"]
    return or_(
        outcome == int(Outcome.LATE),
        and_(outcome == int(Outcome.RUNNING), due.is_not(None), due <= to_stored(as_of)),
    )


def _count(condition: ColumnElement[Any], name: str) -> Any:
    return func.sum(case((condition, 1), else_=0)).label(name)


def _sum_columns(as_of: datetime) -> list[Any]:
    cols: list[Any] = [func.count().label("sent")]
    cols += [_count(_F.state == int(state), name) for name, state in _STATE_COLUMNS.items()]
    for goal in GOALS:
        cols.append(_count(_F[f"{goal.value}_outcome"] == int(Outcome.MET), f"met_{goal.value}"))
        cols.append(_count(_late(goal.value, as_of), f"late_{goal.value}"))
    cols += [func.sum(_F[c]).label(c) for c in (*_RETURN_COLUMNS.values(), "urges", "escalations")]
    return cols


def _sums(r: Any) -> Sums:
    m = r._mapping
    return Sums(
        sent=int(m["sent"]),
        completed=int(m["completed"] or 0),
        open=int(m["open"] or 0),
        cancelled=int(m["cancelled"] or 0),
        withdrawn=int(m["withdrawn"] or 0),
        met={g.value: int(m[f"met_{g.value}"] or 0) for g in GOALS},
        late={g.value: int(m[f"late_{g.value}"] or 0) for g in GOALS},
        returns={r: int(m[c] or 0) for r, c in _RETURN_COLUMNS.items()},
        urges=int(m["urges"] or 0),
        escalations=int(m["escalations"] or 0),
    )


_CUBE_KEYS = ("requesting_city", "entrusted_city", "entrusted_court", "task_type", "asset_kind")


def _current(scope: Scope) -> Any:
    """1 for the period, 0 for the previous one."""
    return case((_F.sent_day >= scope.period.first.toordinal(), 1), else_=0).label("current")


def _both(scope: Scope) -> list[ColumnElement[bool]]:
    return scope.where(scope.period.previous().first.toordinal(), scope.period.last.toordinal())


def cube(session: Session, scope: Scope) -> list[Cell]:
    """The sums of both periods by requesting city, entrusted court, task type and asset kind:
    every other grouping of the report is a roll-up of these cells."""
    keys = [_F[k] for k in _CUBE_KEYS]
    current = _current(scope)
    query = (
        select(current, *keys, *_sum_columns(scope.as_of))
        .where(*_both(scope))
        .group_by(current, *keys)
    )
    rows = session.connection().execute(query).all()
    return [
        Cell(
            bool(r.current),
            r.requesting_city,
            r.entrusted_city,
            r.entrusted_court,
            r.task_type,
            r.asset_kind,
            _sums(r),
        )
        for r in rows
    ]


def day_histograms(session: Session, scope: Scope, column: str) -> list[HistogramRow]:
    """(current, requesting city, entrusted court, task type, asset kind, days, delegations) for
    ``column`` (``acknowledge_days`` or ``complete_days``) where it is known."""
    days = _F[column]
    keys = [_F[k] for k in _CUBE_KEYS if k != "entrusted_city"]
    current = _current(scope)
    query = (
        select(current, *keys, days, func.count())
        .where(*_both(scope), days.is_not(None))
        .group_by(current, *keys, days)
    )
    return [
        (bool(r[0]), r[1], r[2], r[3], r[4], int(r[5]), int(r[6]))
        for r in session.connection().execute(query)
    ]


def weekly(session: Session, scope: Scope) -> dict[int, Sums]:
    """Monday ordinal -> the sums of the delegations sent that week (both periods)."""
    query = (
        select(_F.sent_week, *_sum_columns(scope.as_of)).where(*_both(scope)).group_by(_F.sent_week)
    )
    return {int(r.sent_week): _sums(r) for r in session.connection().execute(query)}


def late_weeks(session: Session, scope: Scope) -> dict[str, set[int]]:
    """Entrusted court -> the Mondays of the weeks of the period in which a time limit of one of
    its delegations (in scope, sent at any time) ran out unmet."""
    first = week_of(scope.period.first.toordinal())
    last = scope.period.last.toordinal()
    parts = []
    for goal in GOALS:
        week = _F[f"{goal.value}_due_week"]
        where = [_late(goal.value, scope.as_of), week >= first, week <= last]
        if scope.city:
            where.append(or_(_F.requesting_city == scope.city, _F.entrusted_city == scope.city))
        parts.append(
            select(_F.entrusted_court.label("court"), week.label("week"))
            .where(*where)
            .group_by(_F.entrusted_court, week)
        )
    out: dict[str, set[int]] = {}
    for court, week in session.connection().execute(union_all(*parts)):
        if court:
            out.setdefault(court, set()).add(int(week))
    return out


def aging(session: Session, scope: Scope) -> list[tuple[str, str, list[int]]]:
    """(requesting city, entrusted city, [open, over 5, over 10, over 15, over 30 days]) of the
    delegations open at the report's end that were sent on or before its last day."""
    as_of_day = _as_of_day(scope)
    where: list[ColumnElement[bool]] = [
        _F.state == int(State.OPEN),
        _F.sent_day <= scope.period.last.toordinal(),
    ]
    if scope.city:
        where.append(or_(_F.requesting_city == scope.city, _F.entrusted_city == scope.city))
    buckets = [func.count()] + [
        func.sum(case((_F.sent_day < literal(as_of_day - days), 1), else_=0)) for days in AGING_DAYS
    ]
    query = (
        select(_F.requesting_city, _F.entrusted_city, *buckets)
        .where(*where)
        .group_by(_F.requesting_city, _F.entrusted_city)
    )
    return [(r[0], r[1], [int(v or 0) for v in r[2:]]) for r in session.connection().execute(query)]


def _as_of_day(scope: Scope) -> int:
    return local_day(scope.as_of).toordinal()


def fact_count(session: Session, ids: Iterable[str] | None = None) -> int:
    query = select(func.count()).select_from(_FACTS)
    if ids is not None:
        query = query.where(_F.delegation_id.in_(list(ids)))
    return int(session.connection().execute(query).scalar_one())
