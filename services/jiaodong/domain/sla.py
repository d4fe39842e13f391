"""SLA clocks: which time limit runs for a delegation, when it falls due, and what is owed now.

Clocks are a pure function of the delegation's history, its SLA policy and the working-day
calendar, so every side computes the same ones. The coordinator also stores each current clock
with its next instant of interest, to find due work with an indexed query (coordinator/sla.py).

What each goal measures (per routing to a court; a reroute starts new clocks for the new court).
Delivery is the entrusted court's receipt of the letter of delegation, from which the law counts
(RULES.md, "Time limits"):

| goal        | starts at                     | met by                   | paused while |
|-------------|-------------------------------|--------------------------|--------------|
| acknowledge | delivery                      | acknowledgement          | —            |
| start       | delivery; again at supplement | acceptance or return     | —            |
| progress    | delivery                      | progress report, result  | returned     |
| complete    | delivery                      | result                   | returned     |
| inaction    | delivery; restarts at every step of the entrusted court | result | (a return
|             | is a step: none runs while returned; a new one starts at the supplement)   |
| supplement  | a return for missing materials or an unclear request | supplement | —  |

``start`` is the law's "not started within 15 days of receipt" limit: acknowledgements, urges and
other steps do not restart it. ``inaction`` is a platform reminder, not a legal limit.

A pause keeps the days that were left, counted to the due day after the holiday rule moved it,
so a pause never shortens a limit (it may lengthen it by the days of that move).

Actions owed by a clock are keyed by deterministic request ids (``sla-<goal>-<n>-w<level>``,
``...-breach``, ``...-<action>``) that travel into the history, so the history itself says what
has fired; nothing fires twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from jiaodong.domain.calendar import Deadline, WorkCalendar, days_left, deadline, describe, resume
from jiaodong.domain.lifecycle import Event, EventKind
from jiaodong.domain.periods import Period, Unit, amount
from jiaodong.domain.sla_policy import BreachAction, Goal, GoalPolicy


class ClockState(StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    MET = "MET"
    BREACHED = "BREACHED"
    CANCELLED = "CANCELLED"


_ACTION_KIND = {
    BreachAction.URGE: EventKind.URGED,
    BreachAction.ESCALATE: EventKind.ESCALATED,
    BreachAction.WITHDRAW: EventKind.WITHDRAWN,
}
_WAIT_REASONS = ("MATERIALS_INCOMPLETE", "REQUEST_UNCLEAR")
_PAUSABLE = (Goal.PROGRESS, Goal.COMPLETE, Goal.INACTION)
# The law counts from receipt of the letter (delivery), not from acceptance.
_FROM_DELIVERY = (
    Goal.ACKNOWLEDGE,
    Goal.START,
    Goal.PROGRESS,
    Goal.COMPLETE,
    Goal.INACTION,
    Goal.PLAN,  # on-site assistance: only its goals are in its mapping (SlaPolicy.goals_for)
)


@dataclass
class Clock:
    """One running of one goal against one court."""

    goal: Goal
    instance: int
    court: str
    policy: GoalPolicy
    started_at: datetime
    first: Deadline
    current: Deadline
    paused_at: datetime | None = None
    left: int | timedelta | None = None
    pauses: list[tuple[datetime, datetime | None, int | timedelta]] = field(default_factory=list)
    resumed: list[Deadline] = field(default_factory=list)
    met_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str = ""

    @property
    def key(self) -> str:
        return f"sla-{self.goal.value}-{self.instance}"

    @property
    def due(self) -> datetime:
        return self.current.due

    @property
    def original_due(self) -> datetime:
        return self.first.due

    @property
    def open(self) -> bool:
        return self.met_at is None and self.ended_at is None

    def state(self, now: datetime) -> ClockState:
        # ``due`` is an exclusive end: met at that very instant is late.
        if self.met_at is not None:
            return ClockState.MET if self.met_at < self.due else ClockState.BREACHED
        if self.ended_at is not None:
            stopped = self.ended_at
            if self.pauses and self.pauses[-1][1] == self.ended_at:
                stopped = self.pauses[-1][0]  # ended while paused: it was not running
            return ClockState.BREACHED if stopped >= self.due else ClockState.CANCELLED
        if self.paused_at is not None:
            return ClockState.PAUSED
        return ClockState.BREACHED if now >= self.due else ClockState.RUNNING


@dataclass(frozen=True)
class Action:
    """Something a clock owes now: an event to ask the delegation's writer for."""

    kind: EventKind
    request_id: str
    text: str
    goal: Goal
    level: int  # warning level, or 0 for the breach and its action


def _start(
    goal: Goal,
    goals: Mapping[Goal, GoalPolicy],
    cal: WorkCalendar,
    at: datetime,
    court: str,
    counts: dict[Goal, int],
) -> Clock | None:
    policy = goals.get(goal)
    if policy is None:
        return None
    counts[goal] = counts.get(goal, 0) + 1
    first = deadline(cal, at, policy.period)
    return Clock(goal, counts[goal], court, policy, at, first, first)


def fold(
    history: Iterable[Event], goals: Mapping[Goal, GoalPolicy], cal: WorkCalendar
) -> list[Clock]:
    """Every clock the history gives, oldest first (several instances of a goal may exist)."""
    clocks: list[Clock] = []
    current: dict[Goal, Clock] = {}
    counts: dict[Goal, int] = {}
    court = ""
    returned = False

    def begin(goal: Goal, at: datetime) -> None:
        clock = _start(goal, goals, cal, at, court, counts)
        if clock is not None:
            clocks.append(clock)
            current[goal] = clock

    def meet(goal: Goal, at: datetime) -> None:
        clock = current.get(goal)
        if clock is not None and clock.open:
            clock.met_at = at

    def end_all(at: datetime, reason: str) -> None:
        for clock in current.values():
            if clock.open:
                clock.ended_at, clock.end_reason = at, reason
                if clock.paused_at is not None:
                    clock.pauses.append((clock.paused_at, at, clock.left or 0))
                    clock.paused_at = None

    def restart_inaction(at: datetime) -> None:
        meet(Goal.INACTION, at)
        begin(Goal.INACTION, at)

    for event in history:
        at, kind = event.at, event.kind
        if kind in (EventKind.ROUTED, EventKind.REROUTED):
            end_all(at, "moved to another court" if court else "")
            court = event.court_id
            returned = False
        elif kind is EventKind.DELIVERED:
            for goal in _FROM_DELIVERY:
                begin(goal, at)
        elif kind is EventKind.ACKNOWLEDGED:
            meet(Goal.ACKNOWLEDGE, at)
            restart_inaction(at)
        elif kind is EventKind.ACCEPTED:
            meet(Goal.START, at)
            restart_inaction(at)
        elif kind is EventKind.RETURNED:
            returned = True
            meet(Goal.START, at)
            meet(Goal.INACTION, at)
            for goal in _PAUSABLE:
                clock = current.get(goal)
                if clock is not None and clock.open and clock.paused_at is None:
                    clock.paused_at = at
                    clock.left = days_left(cal, at, clock.due, clock.policy.period.unit)
            if event.return_reason in _WAIT_REASONS:
                begin(Goal.SUPPLEMENT, at)
        elif kind is EventKind.SUPPLEMENTED:
            meet(Goal.SUPPLEMENT, at)
            if not returned:
                continue  # materials added while handling: no clock changes
            returned = False
            for goal in _PAUSABLE:
                clock = current.get(goal)
                if clock is not None and clock.open and clock.paused_at is not None:
                    assert clock.left is not None
                    clock.pauses.append((clock.paused_at, at, clock.left))
                    clock.current = resume(cal, at, clock.left, clock.policy.period)
                    clock.resumed.append(clock.current)
                    clock.paused_at = None
            # Back with the entrusted court, which must accept (or return) it again.
            begin(Goal.START, at)
            if Goal.INACTION in current and not current[Goal.INACTION].open:
                begin(Goal.INACTION, at)
        elif kind is EventKind.PROGRESS_REPORTED:
            meet(Goal.PROGRESS, at)
            restart_inaction(at)
        elif kind is EventKind.COMPLETED:
            meet(Goal.PROGRESS, at)
            meet(Goal.COMPLETE, at)
            meet(Goal.INACTION, at)
        elif kind is EventKind.PLAN_PROPOSED:
            meet(Goal.PLAN, at)
        elif kind is EventKind.MOVE_ASKED:
            begin(Goal.PLAN, at)  # a new plan is due for the day asked
        elif kind in (
            EventKind.CONFIRMED,
            EventKind.CANCELLED,
            EventKind.WITHDRAWN,
            EventKind.ROUTING_FAILED,
            EventKind.REFUSED,
        ):
            end_all(at, "closed")
        elif kind is EventKind.OUTCOME_RECORDED:
            end_all(at, "operation carried out")
    return clocks


def current_clocks(clocks: list[Clock]) -> list[Clock]:
    """The latest instance of each goal, in goal order."""
    latest: dict[Goal, Clock] = {}
    for clock in clocks:
        latest[clock.goal] = clock
    return [latest[g] for g in Goal if g in latest]


def fired(history: Iterable[Event]) -> set[str]:
    """The SLA request ids already in the history."""
    return {e.request_id for e in history if e.request_id.startswith("sla-")}


@dataclass(frozen=True)
class ClockView:
    """What the sweep needs of a clock; built from a folded Clock or from a stored row."""

    goal: Goal
    instance: int
    court: str
    period: Period
    on_breach: BreachAction
    warn_at: tuple[float, ...]
    source: str
    started_at: datetime
    due: datetime
    original_due: datetime
    running: bool  # open and not paused

    @property
    def key(self) -> str:
        return f"sla-{self.goal.value}-{self.instance}"

    def request_id(self, what: str) -> str:
        return f"{self.key}-{what}"

    def warn_times(self) -> list[tuple[int, datetime]]:
        """(level, instant) of each warning threshold, shifted by the time spent paused."""
        shift = self.due - self.original_due
        span = self.original_due - self.started_at
        return [
            (level, self.started_at + span * fraction + shift)
            for level, fraction in enumerate(self.warn_at, start=1)
        ]


def view(clock: Clock) -> ClockView:
    p = clock.policy
    return ClockView(
        clock.goal,
        clock.instance,
        clock.court,
        p.period,
        p.on_breach,
        p.warn_at,
        p.source,
        clock.started_at,
        clock.due,
        clock.original_due,
        clock.open and clock.paused_at is None,
    )


def claimed(clock: ClockView, done: set[str]) -> tuple[int, bool]:
    """(highest warning level, breach recorded) according to the history's request ids."""
    levels = [lvl for lvl, _ in clock.warn_times() if clock.request_id(f"w{lvl}") in done]
    return max(levels, default=0), clock.request_id("breach") in done


def owed(
    clock: ClockView, now: datetime, warned: int, breached: bool, cal: WorkCalendar
) -> list[Action]:
    """What a running clock owes at ``now`` beyond what fired (after downtime: the latest only)."""
    if not clock.running:
        return []
    due_text = local(clock.due)
    if now >= clock.due:
        if breached:
            return []
        text = (
            f"{clock.goal.value}: the limit of {clock.period} ran out at {due_text} "
            f"(court {clock.court}; {clock.source})"
        )
        actions = [Action(EventKind.SLA_BREACHED, clock.request_id("breach"), text, clock.goal, 0)]
        kind = _ACTION_KIND.get(clock.on_breach)
        if kind is not None:
            word = clock.on_breach.value
            actions.append(
                Action(
                    kind,
                    clock.request_id(word),
                    f"automatic {word}: {clock.goal.value} limit missed ({due_text})",
                    clock.goal,
                    0,
                )
            )
        return actions
    passed = [(lvl, t) for lvl, t in clock.warn_times() if t <= now and lvl > warned]
    if not passed:
        return []
    lvl, _ = passed[-1]
    text = (
        f"{clock.goal.value}: {clock.warn_at[lvl - 1]:.0%} of {clock.period} used; "
        f"due {due_text}; {remaining_text(clock, now, cal)}"
    )
    return [Action(EventKind.SLA_WARNING, clock.request_id(f"w{lvl}"), text, clock.goal, lvl)]


def next_instant(clock: ClockView, warned: int, breached: bool) -> datetime | None:
    """When a clock next owes something, or None (met, ended, paused, or all fired)."""
    if not clock.running or breached:
        return None  # after the breach, warnings are moot
    pending = [t for lvl, t in clock.warn_times() if lvl > warned and t < clock.due]
    pending.append(clock.due)
    return min(pending)


def remaining_text(clock: Clock | ClockView, now: datetime, cal: WorkCalendar) -> str:
    unit = (clock.policy.period if isinstance(clock, Clock) else clock.period).unit
    if now >= clock.due:
        late = now - clock.due
        return f"overdue by {_span(late)}"
    if unit is Unit.HOURS:
        return f"{_span(clock.due - now)} left"
    left = days_left(cal, now, clock.due, unit)
    assert isinstance(left, int)
    if left == 0:
        return f"due today ({_span(clock.due - now)} left)"
    return f"{amount(left, unit)} left after today"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def local(at: datetime) -> str:
    from jiaodong.domain.calendar import SHANGHAI

    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def explain(clocks: list[Clock], now: datetime, cal: WorkCalendar) -> list[str]:
    """Readable lines: for each clock how its due time was computed, day by day."""
    lines: list[str] = []
    for clock in clocks:
        state = clock.state(now).value.lower()
        lines.append(
            f"{clock.goal.value} #{clock.instance} (court {clock.court}): {clock.policy.period}, "
            f"{state}; on breach: {clock.policy.on_breach.value}"
        )
        lines.append(f"  source: {clock.policy.source}")
        lines.extend("  " + line for line in describe(clock.first))
        for (since, until, left), after in zip(clock.pauses, [*clock.resumed, None], strict=False):
            if isinstance(left, timedelta):
                left_text = _span(left)
            else:
                left_text = amount(left, clock.policy.period.unit)
            if until is None:
                lines.append(f"  paused {local(since)}: {left_text} left")
                continue
            lines.append(
                f"  paused {local(since)} – {local(until)} (waiting for the requesting court); "
                f"{left_text} left"
            )
            if after is not None:
                lines.extend("    " + line for line in describe(after))
        if clock.paused_at is not None:
            lines.append(
                f"  paused since {local(clock.paused_at)} (waiting for the requesting court)"
            )
        if clock.met_at is not None:
            verdict = "in time" if clock.met_at < clock.due else "late"
            lines.append(f"  met {local(clock.met_at)} ({verdict})")
        elif clock.ended_at is not None:
            lines.append(f"  ended {local(clock.ended_at)}: {clock.end_reason}")
        else:
            lines.append(f"  now {local(now)}: {remaining_text(clock, now, cal)}")
    return lines
