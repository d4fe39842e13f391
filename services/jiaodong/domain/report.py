"""Inter-city SLA reports: what one delegation contributes (its *fact*), and the figures drawn from
sums of facts. Every figure is defined once in docs/reports.md.

The coordinator keeps one fact per delegation beside its clocks, recomputed from the history and
the clocks on every change (``fact_of``). A report is then a few SQL aggregations over the facts
(store/report.py), never a fold of every history; this module turns the sums those queries return
into the figures people read (rates, mean, median and 90th percentile from day histograms, the
court ranking, the courts late three weeks running, the weekly trend).

Pure: no I/O, standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import IntEnum
from typing import Any

from jiaodong.domain.calendar import WorkCalendar, local_day
from jiaodong.domain.labels import ASSET, REGION_NAME, RETURN_REASON, SLA_GOAL, TASK, label
from jiaodong.domain.lifecycle import Event, EventKind
from jiaodong.domain.registry import Registry
from jiaodong.domain.sla import Clock, ClockState
from jiaodong.domain.sla_policy import Goal

SCHEMA = "jiaodong.sla-report"
SCHEMA_VERSION = 1
# The time limits a report rates (inaction is a platform reminder, not a legal limit).
GOALS: tuple[Goal, ...] = (
    Goal.ACKNOWLEDGE,
    Goal.START,
    Goal.PROGRESS,
    Goal.COMPLETE,
    Goal.SUPPLEMENT,
)
RETURN_REASONS = ("NOT_OUR_JURISDICTION", "MATERIALS_INCOMPLETE", "REQUEST_UNCLEAR", "OTHER")
AGING_DAYS = (5, 10, 15, 30)
# A court is ranked best or worst only with this many time limits decided in the period.
RANK_MIN_DECIDED = 5
RANK_SIZE = 5
LATE_RUN_WEEKS = 3
# The courts listed each week: the worst few by time limits run out unmet that week.
LIST_SIZE = 5
MAX_PERIOD_DAYS = 3660
# A delegation reached the entrusted court's node late when its first delivery came more than
# this many minutes after it was sent: the platform delivers in seconds, so a later delivery means
# a node or a link was down (the receiving city's outage shows here, not in its time limits, which
# count from delivery).
DELIVERY_DELAYED_MINUTES = 60


class Outcome(IntEnum):
    """Where one time limit of one delegation stands (stored as a small integer)."""

    NONE = 0  # never started (no such clock: not delivered, no return for materials)
    RUNNING = 1  # running or paused; late once its due time has passed (see ``due``)
    MET = 2  # met before it ran out (on time)
    LATE = 3  # met after it ran out, or ran out (breached)
    CANCELLED = 4  # ended without running out (closed, moved to another court)


class State(IntEnum):
    """Where the delegation stands, for the report."""

    OPEN = 0
    COMPLETED = 1  # the entrusted court gave its result (办结), confirmed or not
    CANCELLED = 2  # cancelled by the requesting court before a result
    WITHDRAWN = 3  # treated as withdrawn: materials not supplied in time
    FAILED = 4  # no court could be found


@dataclass(frozen=True)
class GoalFact:
    outcome: Outcome = Outcome.NONE
    due: datetime | None = None  # the running instance's due instant (None when paused or none)
    due_day: int | None = None  # ordinal of the local day a late or running limit ran out


@dataclass(frozen=True)
class Fact:
    """What one delegation contributes to reports; a pure function of its history and clocks."""

    state: State
    sent_day: int  # date.toordinal() of the local (Asia/Shanghai) day it was created
    closed_day: int | None
    acknowledge_days: int | None  # working days from (the last) delivery to acknowledgement
    complete_days: int | None  # working days from (the last) delivery to the result
    goals: Mapping[Goal, GoalFact]
    returns: Mapping[str, int]
    urges: int
    escalations: int
    # Whole minutes (calendar time) from sending to the first delivery; None until delivered.
    delivery_minutes: int | None = None


def week_of(day: int) -> int:
    """The ordinal of the Monday of the week of the day with ordinal ``day``."""
    return day - (day - 1) % 7


def working_days_between(cal: WorkCalendar, start: datetime, end: datetime) -> int:
    """Working days after the local day of ``start`` up to and including that of ``end`` (the
    way the time limits count: the starting day is not counted)."""
    first, last = local_day(start), local_day(end)
    count, day = 0, first + timedelta(days=1)
    while day <= last:
        count += cal.is_working_day(day)
        day += timedelta(days=1)
    return count


def _goal_fact(instances: Sequence[Clock], now: datetime) -> GoalFact:
    """One goal's outcome over its instances: late if any instance was late (the state the SLA
    engine gives it, ``Clock.state``); otherwise where the latest one stands."""
    for clock in instances:
        if clock.state(now) is ClockState.BREACHED:
            return GoalFact(Outcome.LATE, None, _last_day(clock.due))
    last = instances[-1]
    state = last.state(now)
    if state is ClockState.MET:
        return GoalFact(Outcome.MET, None, _last_day(last.due))
    if state is ClockState.CANCELLED:
        return GoalFact(Outcome.CANCELLED)
    if state is ClockState.PAUSED:
        return GoalFact(Outcome.RUNNING)
    return GoalFact(Outcome.RUNNING, last.due, _last_day(last.due))


def _last_day(due: datetime) -> int:
    """The last local day inside a limit whose exclusive end is ``due``."""
    return local_day(due - timedelta(microseconds=1)).toordinal()


def fact_of(
    created_at: datetime,
    history: Iterable[Event],
    clocks: Sequence[Clock],
    cal: WorkCalendar,
    now: datetime,
) -> Fact:
    """The fact of one delegation: ``clocks`` is every instance ``sla.fold`` gives."""
    state, closed_at = State.OPEN, None
    delivered_at: datetime | None = None
    delivery_minutes: int | None = None
    ack_days = complete_days = None
    returns = dict.fromkeys(RETURN_REASONS, 0)
    urges = escalations = 0
    for event in history:
        kind = event.kind
        if kind is EventKind.DELIVERED:
            delivered_at = event.at
            if delivery_minutes is None:
                delivery_minutes = max(0, int((event.at - created_at).total_seconds() // 60))
        elif kind is EventKind.ACKNOWLEDGED and delivered_at is not None:
            ack_days = working_days_between(cal, delivered_at, event.at)
        elif kind is EventKind.COMPLETED or (
            kind is EventKind.OUTCOME_RECORDED and state is State.OPEN
        ):  # on-site assistance: the first court's record of the operation completes it
            state, closed_at = State.COMPLETED, event.at
            if delivered_at is not None:
                complete_days = working_days_between(cal, delivered_at, event.at)
        elif kind is EventKind.RETURNED:
            reason = event.return_reason if event.return_reason in returns else "OTHER"
            returns[reason] += 1
        elif kind is EventKind.URGED:
            urges += 1
        elif kind is EventKind.ESCALATED:
            escalations += 1
        elif kind in _CLOSING and state is State.OPEN:
            state, closed_at = _CLOSING[kind], event.at
    by_goal: dict[Goal, list[Clock]] = {}
    for clock in clocks:
        by_goal.setdefault(clock.goal, []).append(clock)
    return Fact(
        state=state,
        sent_day=local_day(created_at).toordinal(),
        closed_day=local_day(closed_at).toordinal() if closed_at else None,
        acknowledge_days=ack_days,
        complete_days=complete_days,
        goals={g: _goal_fact(by_goal[g], now) if g in by_goal else GoalFact() for g in GOALS},
        returns=returns,
        urges=urges,
        escalations=escalations,
        delivery_minutes=delivery_minutes,
    )


_CLOSING = {
    EventKind.CANCELLED: State.CANCELLED,
    EventKind.WITHDRAWN: State.WITHDRAWN,
    EventKind.ROUTING_FAILED: State.FAILED,
    EventKind.REFUSED: State.CANCELLED,  # on-site assistance the local court refused
}


# -- figures from sums -----------------------------------------------------------------------


@dataclass
class Sums:
    """The additive figures of one group of delegations (what the SQL returns per group)."""

    sent: int = 0
    completed: int = 0
    open: int = 0
    cancelled: int = 0
    withdrawn: int = 0
    met: dict[str, int] = field(default_factory=dict)
    late: dict[str, int] = field(default_factory=dict)
    returns: dict[str, int] = field(default_factory=dict)
    urges: int = 0
    escalations: int = 0
    acknowledge_days: dict[int, int] = field(default_factory=dict)  # days -> delegations
    complete_days: dict[int, int] = field(default_factory=dict)
    delivered: int = 0
    delivery_delayed: int = 0  # first delivered over DELIVERY_DELAYED_MINUTES after sending
    delivery_longest: int | None = None  # minutes, of the slowest first delivery

    def add(self, other: Sums) -> None:
        for name in ("sent", "completed", "open", "cancelled", "withdrawn", "urges"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.escalations += other.escalations
        self.delivered += other.delivered
        self.delivery_delayed += other.delivery_delayed
        if other.delivery_longest is not None:
            self.delivery_longest = max(self.delivery_longest or 0, other.delivery_longest)
        for mine, theirs in (
            (self.met, other.met),
            (self.late, other.late),
            (self.returns, other.returns),
        ):
            _merge(mine, theirs)
        _merge(self.acknowledge_days, other.acknowledge_days)
        _merge(self.complete_days, other.complete_days)


def _merge(mine: dict[Any, int], theirs: Mapping[Any, int]) -> None:
    for key, value in theirs.items():
        mine[key] = mine.get(key, 0) + value


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile of the values a histogram counts, by the nearest-rank method: the
    smallest value with at least ``q`` of all counts at or below it (so it is always a value that
    occurred; the median of 1, 2, 3, 4 is 2)."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, -(-round(q * total * 1_000_000) // 1_000_000))  # ceil(q * total), no float drift
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    raise AssertionError("unreachable: rank <= total")


def day_figures(histogram: Mapping[int, int]) -> dict[str, float | int | None]:
    n = sum(histogram.values())
    mean = round(sum(v * c for v, c in histogram.items()) / n, 1) if n else None
    return {
        "n": n,
        "mean": mean,
        "median": quantile(histogram, 0.5),
        "p90": quantile(histogram, 0.9),
    }


def row(s: Sums) -> dict[str, object]:
    """The figures of one group (report schema ROW)."""
    on_time = {
        g.value: {
            "met": s.met.get(g.value, 0),
            "late": s.late.get(g.value, 0),
            "rate": rate(s.met.get(g.value, 0), s.met.get(g.value, 0) + s.late.get(g.value, 0)),
        }
        for g in GOALS
    }
    met, late = sum(s.met.values()), sum(s.late.values())
    return {
        "sent": s.sent,
        "completed": s.completed,
        "open": s.open,
        "cancelled": s.cancelled,
        "withdrawn": s.withdrawn,
        "completion_rate": rate(s.completed, s.sent),
        "on_time": on_time,
        "on_time_rate": rate(met, met + late),
        "breaches": late,
        "acknowledge_days": day_figures(s.acknowledge_days),
        "complete_days": day_figures(s.complete_days),
        "returns": {r: s.returns.get(r, 0) for r in RETURN_REASONS},
        "urges": s.urges,
        "escalations": s.escalations,
        "delivery": {
            "delivered": s.delivered,
            "delayed": s.delivery_delayed,
            "longest_hours": None
            if s.delivery_longest is None
            else round(s.delivery_longest / 60, 1),
        },
    }


@dataclass(frozen=True)
class Period:
    """Local dates, both inclusive."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def as_dict(self) -> dict[str, object]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "days": self.days}


def check_period(first: date, last: date) -> list[str]:
    """What is wrong with a report period (empty when it is fine)."""
    if last < first:
        return [f"结束日期 {last} 早于开始日期 {first}"]
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        return [f"报表期间最长 {MAX_PERIOD_DAYS} 天"]
    return []


def ranking(courts: Mapping[str, Sums]) -> tuple[list[str], list[str], list[str]]:
    """Entrusted courts ordered best first (on-time rate, then more decided, then id), and the
    best and worst few among those with at least ``RANK_MIN_DECIDED`` limits decided."""

    def decided(c: str) -> int:
        return sum(courts[c].met.values()) + sum(courts[c].late.values())

    def key(c: str) -> tuple[float, int, str]:
        r = rate(sum(courts[c].met.values()), decided(c))
        return (-(r if r is not None else -1.0), -decided(c), c)

    order = sorted(courts, key=key)
    ranked = [c for c in order if decided(c) >= RANK_MIN_DECIDED]
    worst = sorted(ranked, key=lambda c: (-key(c)[0], -decided(c), c))
    return order, ranked[:RANK_SIZE], worst[:RANK_SIZE]


def listed(
    late_weeks: Mapping[str, Mapping[int, int]], weekly_decided: Mapping[str, float]
) -> dict[str, list[int]]:
    """Court -> the Mondays of the weeks it was listed (通报): in each week, the ``LIST_SIZE``
    courts with the most time limits run out unmet that week for their size, as a weekly ranking
    names the worst: the count divided by the limits the court decides in an average week of the
    period (``weekly_decided``; at least one), so a busy court is not listed for its volume
    alone. At least one limit run out; ties: the court id."""
    by_week: dict[int, list[tuple[float, str]]] = {}
    for court, weeks in late_weeks.items():
        size = max(1.0, weekly_decided.get(court, 0.0))
        for monday, late in weeks.items():
            if late > 0:
                by_week.setdefault(monday, []).append((-late / size, court))
    out: dict[str, list[int]] = {}
    for monday, courts in sorted(by_week.items()):
        for _, court in sorted(courts)[:LIST_SIZE]:
            out.setdefault(court, []).append(monday)
    return out


def late_runs(
    late_weeks: Mapping[str, Iterable[int]], weeks: int = LATE_RUN_WEEKS
) -> dict[str, list[int]]:
    """Courts listed at least ``weeks`` weeks running -> the Mondays (ordinals) of their longest
    run (the first such run when two are as long); ``late_weeks``: the weeks each was listed."""
    out: dict[str, list[int]] = {}
    for court, listed in late_weeks.items():
        best: list[int] = []
        run: list[int] = []
        for monday in sorted(set(listed)):
            run = [*run, monday] if run and monday - run[-1] == 7 else [monday]
            if len(run) > len(best):
                best = list(run)
        if len(best) >= weeks:
            out[court] = best
    return dict(sorted(out.items()))


def mondays(period: Period) -> list[int]:
    """The Mondays (ordinals) of the weeks that overlap the period, in order."""
    first = week_of(period.first.toordinal())
    return list(range(first, period.last.toordinal() + 1, 7))


def day_text(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


# -- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """The sums of one (period, requesting city, entrusted city and court, task, asset kind)."""

    current: bool
    requesting_city: str
    entrusted_city: str
    entrusted_court: str
    task_type: str
    asset_kind: str
    sums: Sums


# (current, requesting city, entrusted court, task type, asset kind, days, delegations)
HistogramRow = tuple[bool, str, str, str, str, int, int]
AgingRow = tuple[str, str, list[int]]


@dataclass(frozen=True)
class Inputs:
    """What the database's aggregations return for one report."""

    period: Period
    as_of: datetime
    city: str | None
    cells: Sequence[Cell]
    acknowledge_days: Sequence[HistogramRow]
    complete_days: Sequence[HistogramRow]
    # Monday -> sent, completed, met, late, first delivered late
    weekly: Mapping[int, tuple[int, int, int, int, int]]
    late_weeks: Mapping[str, Mapping[int, int]]  # court -> Monday -> limits run out unmet
    aging: Sequence[AgingRow]


def _roll_up(
    cells: Iterable[Cell],
    key: Callable[[Cell], tuple[str, ...]],
    histograms: Sequence[tuple[str, Sequence[HistogramRow]]],
    hist_key: Callable[[HistogramRow], tuple[str, ...] | None],
) -> dict[tuple[str, ...], Sums]:
    out: dict[tuple[str, ...], Sums] = {}
    for cell in cells:
        out.setdefault(key(cell), Sums()).add(cell.sums)
    for name, rows in histograms:
        for hrow in rows:
            k = hist_key(hrow)
            if k is not None and k in out:
                hist = getattr(out[k], name)
                hist[hrow[5]] = hist.get(hrow[5], 0) + hrow[6]
    return out


def build(inputs: Inputs, registry: Registry) -> dict[str, object]:
    """The report (schema in docs/reports.md) from the aggregations' results."""
    names = _Names(registry)
    city_of = {c.court_id: c.city for c in registry.courts.values()}
    hists = (("acknowledge_days", inputs.acknowledge_days), ("complete_days", inputs.complete_days))

    def by(
        cell_key: Callable[[Cell], tuple[str, ...]],
        hist_key: Callable[[HistogramRow], tuple[str, ...]],
        current: bool = True,
    ) -> dict[tuple[str, ...], Sums]:
        return _roll_up(
            (c for c in inputs.cells if c.current is current),
            cell_key,
            hists,
            lambda h: hist_key(h) if h[0] is current else None,
        )

    totals = by(lambda c: (), lambda h: ())
    previous = by(lambda c: (), lambda h: (), current=False)
    pairs = by(
        lambda c: (c.requesting_city, c.entrusted_city),
        lambda h: (h[1], city_of.get(h[2], "")),
    )
    pairs_before = by(
        lambda c: (c.requesting_city, c.entrusted_city),
        lambda h: (h[1], city_of.get(h[2], "")),
        current=False,
    )
    tasks = by(lambda c: (c.task_type,), lambda h: (h[3],))
    assets = by(lambda c: (c.asset_kind,), lambda h: (h[4],))
    courts = {
        k[0]: v for k, v in by(lambda c: (c.entrusted_court,), lambda h: (h[2],)).items() if k[0]
    }
    order, best, worst = ranking(courts)
    weeks = max(1, len(mondays(inputs.period)))
    decided = {c: (sum(s.met.values()) + sum(s.late.values())) / weeks for c, s in courts.items()}
    late = late_runs(listed(inputs.late_weeks, decided))
    aging_totals = [0] * (len(AGING_DAYS) + 1)
    for _, _, counts in inputs.aging:
        aging_totals = [a + b for a, b in zip(aging_totals, counts, strict=True)]
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "as_of": inputs.as_of.isoformat(),
        "period": inputs.period.as_dict(),
        "previous": inputs.period.previous().as_dict(),
        "scope": {"city": inputs.city, "city_name": names.city(inputs.city)},
        "goals": [{"goal": g.value, "name": label(SLA_GOAL, g.value)} for g in GOALS],
        "return_reasons": [{"reason": r, "name": label(RETURN_REASON, r)} for r in RETURN_REASONS],
        "totals": row(totals.get((), Sums())),
        "previous_totals": row(previous.get((), Sums())),
        "pairs": [
            {
                **names.pair(req, ent),
                **row(pairs.get((req, ent), Sums())),
                "previous": row(pairs_before.get((req, ent), Sums())),
            }
            for req, ent in sorted(set(pairs) | set(pairs_before), key=names.pair_order)
        ],
        "task_types": [
            {"task_type": k[0], "task_type_name": label(TASK, k[0]), **row(v)}
            for k, v in sorted(tasks.items(), key=lambda kv: _TASK_ORDER.get(kv[0][0], 99))
        ],
        "asset_kinds": [
            {"asset_kind": k[0], "asset_kind_name": label(ASSET, k[0]), **row(v)}
            for k, v in sorted(assets.items(), key=lambda kv: _ASSET_ORDER.get(kv[0][0], 99))
        ],
        "courts": [
            {"rank": i, **names.court(c), **row(courts[c])} for i, c in enumerate(order, start=1)
        ],
        "ranking": {
            "best": best,
            "worst": worst,
            "late_three_weeks": [
                {**names.court(c), "weeks": [day_text(w) for w in weeks]}
                for c, weeks in late.items()
            ],
        },
        "aging": [
            {**names.pair(req, ent), **dict(zip(_AGING_KEYS, counts, strict=True))}
            for req, ent, counts in sorted(inputs.aging, key=lambda a: names.pair_order(a[:2]))
        ],
        "aging_totals": dict(zip(_AGING_KEYS, aging_totals, strict=True)),
        "weekly": _weekly(inputs),
    }


def _weekly(inputs: Inputs) -> list[dict[str, object]]:
    back = inputs.period.days
    out = []
    for monday in mondays(inputs.period):
        before = week_of(monday - back)
        out.append({**_week(monday, inputs.weekly), "previous": _week(before, inputs.weekly)})
    return out


def _week(monday: int, weekly: Mapping[int, tuple[int, int, int, int, int]]) -> dict[str, object]:
    sent, completed, met, late, delayed = weekly.get(monday, (0, 0, 0, 0, 0))
    return {
        "week": day_text(monday),
        "sent": sent,
        "completed": completed,
        "on_time_rate": rate(met, met + late),
        "breaches": late,
        "delayed_deliveries": delayed,
    }


_AGING_KEYS = ("open", *(f"over_{d}" for d in AGING_DAYS))
_TASK_ORDER = {name: i for i, name in enumerate(TASK)}
_ASSET_ORDER = {name: i for i, name in enumerate(ASSET)}


class _Names:
    """Ids with their Chinese names, as the report carries them; unknown ids keep the id."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.city_order = {c: i for i, c in enumerate(registry.cities)}

    def city(self, city: str | None) -> str:
        if not city:
            return REGION_NAME[0] if city is None else "未分派"
        return self.registry.cities[city].name_zh if city in self.registry.cities else city

    def court(self, court_id: str) -> dict[str, str]:
        court = self.registry.courts.get(court_id)
        city = court.city if court else ""
        return {
            "court": court_id,
            "court_name": court.name_zh if court else court_id,
            "city": city,
            "city_name": self.city(city),
        }

    def pair(self, req: str, ent: str) -> dict[str, str]:
        return {
            "requesting_city": req,
            "requesting_city_name": self.city(req),
            "entrusted_city": ent,
            "entrusted_city_name": self.city(ent),
        }

    def pair_order(self, pair: Sequence[str]) -> tuple[int, int, str, str]:
        req, ent = pair[0], pair[1]
        return (self.city_order.get(req, 99), self.city_order.get(ent, 99), req, ent)
