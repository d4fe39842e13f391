"""The board's figures, read straight from the coordinator's database.

Interim: the board aggregates of the operator API (issue 12, point 1) are being written as
``jiaodong.app.coordinator.board``; until they land, the web board reads these few queries. Each
is one grouped query over indexed columns, so the board's first paint stays flat with 10,000 open
delegations (bench/board_paint.py). Everything here is masked by construction: ids, courts,
statuses, task types and times, never a debtor's data.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, col, select

from jiaodong.domain.calendar import WorkCalendar, days_left, deadline
from jiaodong.domain.lifecycle import CLOSED
from jiaodong.domain.periods import Period, Unit
from jiaodong.domain.registry import Registry
from jiaodong.store.mapper import content_of
from jiaodong.store.tables import DeadLetterRow, DelegationRow, InboxRow, SlaClockRow
from jiaodong.wire import to_stored, to_utc

OPEN_CLOCK_STATES = ("RUNNING", "BREACHED")
AGES = (5, 10, 15, 30)
DUE_SOON_WORKING_DAYS = 3
_CLOSED = [str(s) for s in CLOSED]


@dataclass
class CityFigures:
    city: str
    open_in: int = 0
    open_out: int = 0
    due_soon: int = 0
    breached: int = 0
    met: int = 0
    late: int = 0

    @property
    def on_time_rate(self) -> float | None:
        done = self.met + self.late
        return None if not done else self.met / done


@dataclass
class PairFigures:
    open: int = 0
    breached: int = 0

    @property
    def breach_rate(self) -> float:
        return 0.0 if not self.open else self.breached / self.open


@dataclass(frozen=True)
class AtRisk:
    """One open time limit, nearest its end first."""

    delegation_id: str
    case_number: str
    requesting_court: str
    entrusted_court: str
    task_type: str
    status: str
    goal: str
    started_at: datetime
    due_at: datetime
    elapsed: float  # share of the limit used up (1.0 and above: breached)
    working_days_left: int  # after today; negative: working days overdue


@dataclass
class BoardFigures:
    now: datetime
    cities: dict[str, CityFigures]
    pairs: dict[tuple[str, str], PairFigures]
    at_risk: list[AtRisk]
    at_risk_total: int
    ages: dict[int, int]
    node_seen: dict[str, datetime | None]
    parked: int
    window_days: int
    open_total: int = 0
    notices: list[str] = field(default_factory=list)


def _touching(city: str) -> object:
    return or_(
        col(DelegationRow.requesting_city) == city, col(DelegationRow.entrusted_city) == city
    )


def read_board(
    session: Session,
    registry: Registry,
    calendar: WorkCalendar,
    now: datetime,
    *,
    city: str = "",
    window_days: int = 30,
    offset: int = 0,
    size: int = 25,
) -> BoardFigures:
    """The board as ``city``'s command centre sees it ("" : the region)."""
    cities = {c: CityFigures(c) for c in registry.cities}
    pairs: dict[tuple[str, str], PairFigures] = defaultdict(PairFigures)
    is_open = col(DelegationRow.status).not_in(_CLOSED)
    scope = [_touching(city)] if city else []
    stored_now = to_stored(now)

    # Open delegations per city pair (the matrix, and each city's open in / out).
    rows = session.exec(
        select(DelegationRow.requesting_city, DelegationRow.entrusted_city, func.count())
        .where(is_open, *scope)  # type: ignore[arg-type]
        .group_by(DelegationRow.requesting_city, DelegationRow.entrusted_city)
    ).all()
    open_total = 0
    for from_city, to_city, n in rows:
        open_total += n
        if from_city in cities:
            cities[from_city].open_out += n
        if to_city in cities:
            cities[to_city].open_in += n
        if to_city:
            pairs[(from_city, to_city)].open += n

    # Open clocks: due soon and breached, per pair and per city (each delegation once).
    soon = deadline(calendar, now, Period(DUE_SOON_WORKING_DAYS, Unit.WORKING_DAYS)).due
    open_clock = and_(
        col(SlaClockRow.state).in_(OPEN_CLOCK_STATES), col(SlaClockRow.met_at).is_(None)
    )
    breached = func.max(case((col(SlaClockRow.due_at) <= stored_now, 1), else_=0))
    due_soon = func.max(
        case(
            (
                and_(col(SlaClockRow.due_at) > stored_now, col(SlaClockRow.due_at) <= soon),
                1,
            ),
            else_=0,
        )
    )
    per_delegation = (
        select(
            DelegationRow.requesting_city.label("f"),  # type: ignore[attr-defined]
            DelegationRow.entrusted_city.label("t"),  # type: ignore[attr-defined]
            breached.label("b"),
            due_soon.label("s"),
        )
        .join(SlaClockRow, col(SlaClockRow.delegation_id) == col(DelegationRow.id))
        .where(is_open, open_clock, *scope)  # type: ignore[arg-type]
        .group_by(
            col(DelegationRow.id), DelegationRow.requesting_city, DelegationRow.entrusted_city
        )
        .subquery()
    )
    for from_city, to_city, b, s in session.exec(
        select(
            per_delegation.c.f,
            per_delegation.c.t,
            func.sum(per_delegation.c.b),
            func.sum(per_delegation.c.s),
        ).group_by(per_delegation.c.f, per_delegation.c.t)
    ).all():
        b, s = int(b or 0), int(s or 0)
        pairs[(from_city, to_city)].breached += b
        for c in {from_city, to_city}:
            if c in cities:
                cities[c].breached += b
                cities[c].due_soon += s

    # On-time rate: limits met in the window, in time or late, per entrusted city.
    since = to_stored(now - timedelta(days=window_days))
    for to_city, in_time, n in session.exec(
        select(
            DelegationRow.entrusted_city,
            func.sum(case((col(SlaClockRow.met_at) < col(SlaClockRow.due_at), 1), else_=0)),
            func.count(),
        )
        .join(SlaClockRow, col(SlaClockRow.delegation_id) == col(DelegationRow.id))
        .where(col(SlaClockRow.met_at) >= since, *scope)  # type: ignore[arg-type]
        .group_by(DelegationRow.entrusted_city)
    ).all():
        if to_city in cities:
            cities[to_city].met += int(in_time or 0)
            cities[to_city].late += int(n) - int(in_time or 0)

    # The at-risk queue: open delegations by their nearest open limit, nearest first, one page.
    nearest = (
        select(
            col(SlaClockRow.delegation_id).label("d"),
            func.min(col(SlaClockRow.due_at)).label("due"),
        )
        .join(DelegationRow, col(SlaClockRow.delegation_id) == col(DelegationRow.id))
        .where(is_open, open_clock, *scope)  # type: ignore[arg-type]
        .group_by(col(SlaClockRow.delegation_id))
        .subquery()
    )
    total = int(session.exec(select(func.count()).select_from(nearest)).one())
    page = session.exec(
        select(DelegationRow, SlaClockRow)
        .join(nearest, nearest.c.d == col(DelegationRow.id))
        .join(
            SlaClockRow,
            and_(
                col(SlaClockRow.delegation_id) == nearest.c.d,
                col(SlaClockRow.due_at) == nearest.c.due,
                open_clock,
            ),
        )
        .order_by(nearest.c.due, nearest.c.d)
        .offset(offset)
        .limit(size)
    ).all()
    listed: set[str] = set()  # two limits ending at the same instant: the delegation once
    at_risk = []
    for d, c in page:
        if d.id not in listed:
            listed.add(d.id)
            at_risk.append(_at_risk(d, c, now, calendar))

    # Aging: open delegations by days since they were created.
    ages = {}
    for days in AGES:
        ages[days] = int(
            session.exec(
                select(func.count())
                .select_from(DelegationRow)
                .where(
                    is_open,
                    col(DelegationRow.created_at) < to_stored(now - timedelta(days=days)),
                    *scope,  # type: ignore[arg-type]
                )
            ).one()
        )

    # Node health: the last message the coordinator took from each city's courts.
    node_seen: dict[str, datetime | None] = {c: None for c in registry.cities}
    court_of = func.substr(col(InboxRow.subject), 13, 6)
    for court, last in session.exec(
        select(court_of, func.max(col(InboxRow.received_at)))
        .where(col(InboxRow.subject).like("jd.v1.coord.%"))
        .group_by(court_of)
    ).all():
        known = registry.courts.get(court)
        if known is None or last is None:
            continue
        seen = node_seen.get(known.city)
        last = to_utc(last)
        if seen is None or last > seen:
            node_seen[known.city] = last

    parked = int(session.exec(select(func.count()).select_from(DeadLetterRow)).one())
    return BoardFigures(
        now=now,
        cities=cities,
        pairs=dict(pairs),
        at_risk=at_risk,
        at_risk_total=total,
        ages=ages,
        node_seen=node_seen,
        parked=parked,
        window_days=window_days,
        open_total=open_total,
    )


def _at_risk(
    row: DelegationRow, clock: SlaClockRow, now: datetime, calendar: WorkCalendar
) -> AtRisk:
    started, due = to_utc(clock.started_at), to_utc(clock.due_at)
    span = (due - started).total_seconds()
    elapsed = 1.0 if span <= 0 else (now - started).total_seconds() / span
    if now < due:
        left = days_left(calendar, now, due, Unit.WORKING_DAYS)
        working = left if isinstance(left, int) else 0
    else:
        over = days_left(calendar, due, now, Unit.WORKING_DAYS)
        working = -(over if isinstance(over, int) else 0)
    return AtRisk(
        delegation_id=row.id,
        case_number=content_of(row).case_number,
        requesting_court=row.requesting_court,
        entrusted_court=row.entrusted_court,
        task_type=row.task_type,
        status=row.status,
        goal=clock.goal,
        started_at=started,
        due_at=due,
        elapsed=elapsed,
        working_days_left=working,
    )
