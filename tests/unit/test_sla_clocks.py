"""SLA clocks folded from a delegation's history, on the real policy and the official calendar.

Pure and on virtual time only: every instant is a fixed, timezone-aware datetime; the wall clock
is never read. Expected due instants are worked out by hand from the calendar facts checked in
``test_the_calendar_facts_used_below`` (never by calling ``deadline()``).

Facts used: 2025 National Day Oct 1-8 (Oct 6 is named Mid-autumn Festival), make-up workdays
Sun Sep 28 and Sat Oct 11; 2026 Spring Festival Feb 15-23, make-up workdays Sat Feb 14 and Feb 28.
A due instant is 24:00 Asia/Shanghai at the end of the last day, i.e. 16:00 UTC that date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiaodong.domain import lifecycle
from jiaodong.domain.calendar import SHANGHAI, DayKind, days_left, resume
from jiaodong.domain.errors import IllegalTransition, NotAllowed
from jiaodong.domain.lifecycle import Event, EventKind, ReturnReason, Side
from jiaodong.domain.periods import Period, Unit
from jiaodong.domain.sla import (
    Clock,
    ClockState,
    ClockView,
    claimed,
    current_clocks,
    explain,
    fired,
    fold,
    next_instant,
    owed,
    remaining_text,
    view,
)
from jiaodong.domain.sla_policy import Goal, GoalPolicy
from jiaodong.files.calendar import official_calendar
from jiaodong.files.policy import load_policy

CAL = official_calendar()
POLICY = load_policy()
GOALS = POLICY.goals_for("SEIZURE", "REAL_ESTATE", "NORMAL")

DELEGATION = "D-2025-000042"
SHINAN = "370202"  # Qingdao, the requesting court
ZHIFU = "370602"  # Yantai, the first entrusted court
FUSHAN = "370611"  # Yantai, where a reroute sends it

K = EventKind
REQ, ENT, COORD = Side.REQUESTING, Side.ENTRUSTED, Side.COORDINATOR
SIDE: dict[EventKind, Side] = {
    K.CREATED: REQ,
    K.ROUTED: COORD,
    K.ROUTING_FAILED: COORD,
    K.DELIVERED: ENT,
    K.ACKNOWLEDGED: ENT,
    K.ACCEPTED: ENT,
    K.RETURNED: ENT,
    K.SUPPLEMENTED: REQ,
    K.PROGRESS_REPORTED: ENT,
    K.COMPLETED: ENT,
    K.CONFIRMED: REQ,
    K.CANCELLED: REQ,
    K.URGED: REQ,
    K.ESCALATED: COORD,
    K.REROUTED: COORD,
    K.SLA_WARNING: COORD,
    K.SLA_BREACHED: COORD,
    K.WITHDRAWN: COORD,
}


def sh(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    """An Asia/Shanghai wall-clock time (aware)."""
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def end_of(y: int, m: int, d: int) -> datetime:
    """24:00 Asia/Shanghai at the end of that day: 16:00 UTC the same date."""
    return datetime(y, m, d, 16, 0, tzinfo=UTC)


class Story:
    """A delegation's history, sealed event by event and checked against the lifecycle."""

    def __init__(self, at: datetime) -> None:
        self.events: list[Event] = []
        self.court = ""
        self.state: lifecycle.DelegationState | None = None
        self.add(K.CREATED, at)

    def add(
        self,
        kind: EventKind,
        at: datetime,
        *,
        side: Side | None = None,
        court_id: str = "",
        return_reason: str = "",
        request_id: str = "",
    ) -> Story:
        side = side or SIDE[kind]
        if kind in (K.ROUTED, K.REROUTED):
            self.court = court_id
        actor = {REQ: SHINAN, ENT: self.court, COORD: "coordinator"}[side]
        seq = len(self.events) + 1
        prev = self.events[-1].hash if self.events else ""
        event = Event(
            f"{DELEGATION}-e{seq}",
            seq,
            kind,
            side,
            actor,
            at,
            court_id=court_id,
            return_reason=return_reason,
            request_id=request_id,
        ).sealed(prev)
        if self.state is None:
            self.state = lifecycle.start(event, SHINAN, DELEGATION)
        else:
            self.state = lifecycle.apply(self.state, event)
        self.events.append(event)
        return self

    def clocks(self, goals: dict[Goal, GoalPolicy] | None = None) -> list[Clock]:
        return fold(self.events, GOALS if goals is None else goals, CAL)


def routed(at: datetime, court: str = ZHIFU) -> Story:
    """Created and routed an hour before ``at``, delivered at ``at``."""
    return (
        Story(at - timedelta(hours=2))
        .add(K.ROUTED, at - timedelta(hours=1), court_id=court)
        .add(K.DELIVERED, at)
    )


def the(clocks: list[Clock], goal: Goal, instance: int | None = None) -> Clock:
    """The clock of ``goal`` (the latest instance unless one is named)."""
    found = [c for c in clocks if c.goal is goal and (instance is None or c.instance == instance)]
    assert found, f"no {goal} clock (instance {instance})"
    return found[-1]


def instances(clocks: list[Clock], goal: Goal) -> list[int]:
    return [c.instance for c in clocks if c.goal is goal]


# Friday 2025-09-26 10:00 Shanghai, just before National Day.
SEP26 = sh(2025, 9, 26)
ACK_DUE = end_of(2025, 9, 30)  # working days Sep 28 (make-up), Sep 29, Sep 30
START_DUE = end_of(2025, 10, 11)  # Sep 26 + 15 = Oct 11, the make-up workday: not moved
# Warnings of the start clock: 50% and 75% of (Oct 12 00:00 - Sep 26 10:00) = 15d 14h = 374 h.
START_W1 = sh(2025, 10, 4, 5, 0)  # + 187 h = 7d 19h
START_W2 = sh(2025, 10, 8, 2, 30)  # + 280.5 h = 11d 16h 30m

# The Spring Festival pause: delivered Mon 2026-01-19, accepted Tue Jan 20, returned Thu Feb 5,
# supplemented Mon Mar 2.
DELIVERED_2026 = sh(2026, 1, 19, 10)
ACCEPTED_2026 = sh(2026, 1, 20)
RETURNED_2026 = sh(2026, 2, 5)
SUPPLEMENTED_2026 = sh(2026, 3, 2)
# progress/complete (30 days from delivery): Jan 19 + 30 = Feb 18, a Spring Festival holiday
# -> Tue Feb 24.
COMPLETE_DUE_2026 = end_of(2026, 2, 24)
# Days left at the return (strictly after Feb 5 up to and including Feb 24): 19.
LEFT_AT_RETURN = 19
# supplement (30 days): Feb 5 + 30 = Sat Mar 7 -> Mon Mar 9.
SUPPLEMENT_DUE_2026 = end_of(2026, 3, 9)
# resumed Mar 2 with 19 days: Mar 21 is a Saturday -> Mon Mar 23.
RESUMED_DUE_2026 = end_of(2026, 3, 23)


def spring_festival_story(*, supplemented: bool = True) -> Story:
    story = (
        Story(sh(2026, 1, 19, 8))
        .add(K.ROUTED, sh(2026, 1, 19, 9), court_id=ZHIFU)
        .add(K.DELIVERED, DELIVERED_2026)
        .add(K.ACKNOWLEDGED, sh(2026, 1, 19, 15))
        .add(K.ACCEPTED, ACCEPTED_2026)
        .add(K.RETURNED, RETURNED_2026, return_reason=ReturnReason.MATERIALS_INCOMPLETE.value)
    )
    if supplemented:
        story.add(K.SUPPLEMENTED, SUPPLEMENTED_2026)
    return story


# ---------------------------------------------------------------- the data the cases rest on


def test_the_calendar_facts_used_below() -> None:
    info = CAL.info
    assert info(date(2025, 9, 27)).kind is DayKind.WEEKEND
    assert info(date(2025, 9, 28)).kind is DayKind.MAKEUP_WORKDAY
    for day in range(1, 9):
        assert info(date(2025, 10, day)).kind is DayKind.HOLIDAY
    assert info(date(2025, 10, 1)).name == "National Day"
    assert info(date(2025, 10, 11)).kind is DayKind.MAKEUP_WORKDAY
    assert info(date(2025, 10, 12)).kind is DayKind.WEEKEND
    assert info(date(2026, 2, 14)).kind is DayKind.MAKEUP_WORKDAY
    for day in range(15, 24):
        assert info(date(2026, 2, day)).kind is DayKind.HOLIDAY
        assert info(date(2026, 2, day)).name == "Spring Festival"
    assert info(date(2026, 2, 28)).kind is DayKind.MAKEUP_WORKDAY
    assert info(date(2026, 3, 7)).kind is DayKind.WEEKEND
    assert info(date(2026, 3, 21)).kind is DayKind.WEEKEND
    assert info(date(2026, 3, 22)).kind is DayKind.WEEKEND


def test_the_policy_for_a_normal_real_estate_seizure() -> None:
    assert GOALS[Goal.ACKNOWLEDGE].period == Period(3, Unit.WORKING_DAYS)
    assert GOALS[Goal.START].period == Period(15, Unit.DAYS)
    assert GOALS[Goal.PROGRESS].period == Period(30, Unit.DAYS)
    assert GOALS[Goal.COMPLETE].period == Period(30, Unit.DAYS)
    assert GOALS[Goal.INACTION].period == Period(15, Unit.DAYS)
    assert GOALS[Goal.SUPPLEMENT].period == Period(30, Unit.DAYS)
    assert all(p.warn_at == (0.5, 0.75) for p in GOALS.values())


# ---------------------------------------------------------------- due instants around National Day


def test_delivery_starts_every_clock_but_supplement() -> None:
    """The law counts from receipt of the letter: progress and complete start at delivery too."""
    clocks = routed(SEP26).clocks()
    assert [(c.goal, c.instance, c.court) for c in clocks] == [
        (Goal.ACKNOWLEDGE, 1, ZHIFU),
        (Goal.START, 1, ZHIFU),
        (Goal.PROGRESS, 1, ZHIFU),
        (Goal.COMPLETE, 1, ZHIFU),
        (Goal.INACTION, 1, ZHIFU),
    ]
    assert all(c.started_at == SEP26 for c in clocks)
    assert all(c.state(SEP26) is ClockState.RUNNING for c in clocks)


def test_acknowledge_counts_the_sep_28_makeup_workday() -> None:
    ack = the(routed(SEP26).clocks(), Goal.ACKNOWLEDGE)
    assert ack.due == ACK_DUE == sh(2025, 10, 1, 0, 0)
    assert ack.original_due == ACK_DUE
    counted = [(s.day, s.counted) for s in ack.first.steps if s.counted]
    assert counted == [(date(2025, 9, 28), 1), (date(2025, 9, 29), 2), (date(2025, 9, 30), 3)]


def test_acknowledge_runs_across_national_day() -> None:
    # Delivered Mon Sep 29: Sep 30, then nothing until Thu Oct 9 and Fri Oct 10.
    ack = the(routed(sh(2025, 9, 29)).clocks(), Goal.ACKNOWLEDGE)
    assert ack.due == end_of(2025, 10, 10)


def test_start_and_inaction_end_on_the_oct_11_makeup_workday() -> None:
    """From Sep 26 the 15th day is Sat Oct 11, a make-up workday: a working day, not moved."""
    clocks = routed(SEP26).clocks()
    for goal in (Goal.START, Goal.INACTION):
        clock = the(clocks, goal)
        assert clock.due == START_DUE
        assert clock.first.moved_from is None
        assert clock.first.last_day == date(2025, 10, 11)


def test_start_and_inaction_ending_in_national_day_move_to_the_first_working_day() -> None:
    """From Fri Sep 19 the 15th day is Oct 4, a holiday: the period ends on Thu Oct 9."""
    clocks = routed(sh(2025, 9, 19)).clocks()
    for goal in (Goal.START, Goal.INACTION):
        clock = the(clocks, goal)
        assert clock.due == end_of(2025, 10, 9)
        assert clock.first.moved_from == date(2025, 10, 4)


def test_progress_and_complete_count_from_delivery_not_from_acceptance() -> None:
    """RULES.md: the 30 days run from receipt of the letter. Delivered Fri Sep 26, accepted
    Oct 9: Sep 26 + 30 = Sun Oct 26 -> Mon Oct 27 (from acceptance it would be Nov 10)."""
    story = routed(SEP26).add(K.ACKNOWLEDGED, sh(2025, 9, 29)).add(K.ACCEPTED, sh(2025, 10, 9))
    clocks = story.clocks()
    for goal in (Goal.PROGRESS, Goal.COMPLETE):
        assert instances(clocks, goal) == [1]
        clock = the(clocks, goal)
        assert clock.started_at == SEP26
        assert clock.due == end_of(2025, 10, 27)
        assert clock.first.moved_from == date(2025, 10, 26)
        assert clock.open


def test_start_runs_from_delivery_through_acknowledgements_and_urges_and_escalates() -> None:
    """The 15-day "not started" limit is not restarted by an acknowledgement or an urge; when it
    runs out the requesting court may have the superior court order action (督辦): escalate."""
    story = (
        routed(SEP26)
        .add(K.URGED, sh(2025, 9, 28))
        .add(K.ACKNOWLEDGED, sh(2025, 9, 29))
        .add(K.URGED, sh(2025, 10, 9), side=COORD, request_id="sla-inaction-1-urge")
        .add(K.ESCALATED, sh(2025, 10, 10), request_id="clerk-escalate-1")
    )
    clocks = story.clocks()
    assert instances(clocks, Goal.START) == [1]
    start = the(clocks, Goal.START)
    assert (start.started_at, start.due, start.open) == (SEP26, START_DUE, True)
    assert the(clocks, Goal.INACTION).started_at == sh(2025, 9, 29)  # the reminder restarted
    assert start.policy.on_breach.value == "escalate"
    actions = owed(view(start), START_DUE, 2, False, CAL)
    assert [(a.kind, a.request_id) for a in actions] == [
        (K.SLA_BREACHED, "sla-start-1-breach"),
        (K.ESCALATED, "sla-start-1-escalate"),
    ]


# ---------------------------------------------------------------- met in time, met late


def test_acknowledged_before_the_due_is_met() -> None:
    at = sh(2025, 9, 30, 23, 59)
    ack = the(routed(SEP26).add(K.ACKNOWLEDGED, at).clocks(), Goal.ACKNOWLEDGE)
    assert ack.met_at == at
    assert ack.state(sh(2025, 12, 1)) is ClockState.MET
    assert not ack.open


def test_acknowledged_after_the_due_is_breached_with_met_at() -> None:
    at = sh(2025, 10, 9, 9)
    ack = the(routed(SEP26).add(K.ACKNOWLEDGED, at).clocks(), Goal.ACKNOWLEDGE)
    assert ack.met_at == at
    assert ack.state(sh(2025, 12, 1)) is ClockState.BREACHED
    assert not ack.open


def test_acknowledged_exactly_at_the_due_instant_is_late() -> None:
    """``due`` is the exclusive end (Deadline's docstring), and a running clock is BREACHED and
    owes the breach at ``now == due``; meeting it at that very instant is late too."""
    story = routed(SEP26)
    running = the(story.clocks(), Goal.ACKNOWLEDGE)
    assert running.state(ACK_DUE) is ClockState.BREACHED
    breach, _urge = owed(view(running), ACK_DUE, 0, False, CAL)
    assert breach.kind is K.SLA_BREACHED
    ack = the(story.add(K.ACKNOWLEDGED, ACK_DUE).clocks(), Goal.ACKNOWLEDGE)
    assert ack.state(ACK_DUE) is ClockState.BREACHED


def test_state_of_a_running_clock_follows_now() -> None:
    start = the(routed(SEP26).clocks(), Goal.START)
    assert start.state(START_DUE - timedelta(microseconds=1)) is ClockState.RUNNING
    assert start.state(START_DUE) is ClockState.BREACHED


# ---------------------------------------------------------------- returns, pauses, supplements


def test_a_return_for_missing_materials_pauses_and_starts_a_supplement_clock() -> None:
    clocks = spring_festival_story(supplemented=False).clocks()
    for goal in (Goal.PROGRESS, Goal.COMPLETE):
        clock = the(clocks, goal)
        assert clock.original_due == COMPLETE_DUE_2026
        assert clock.paused_at == RETURNED_2026
        assert clock.left == LEFT_AT_RETURN
        assert clock.due == COMPLETE_DUE_2026  # frozen while paused
        assert clock.state(sh(2026, 4, 1)) is ClockState.PAUSED  # even long after the due
        assert not view(clock).running
    # The return is a step of the entrusted court: it meets start and the running inaction
    # clock; no inaction clock runs while the requesting court has the file.
    assert the(clocks, Goal.START).met_at == ACCEPTED_2026  # met by the acceptance already
    inaction = the(clocks, Goal.INACTION)
    assert inaction.met_at == RETURNED_2026
    assert not any(c.open for c in clocks if c.goal is Goal.INACTION)
    supplement = the(clocks, Goal.SUPPLEMENT)
    assert (supplement.instance, supplement.started_at) == (1, RETURNED_2026)
    assert supplement.due == SUPPLEMENT_DUE_2026
    assert supplement.first.moved_from == date(2026, 3, 7)
    assert supplement.state(RETURNED_2026) is ClockState.RUNNING


def test_supplemented_after_spring_festival_resumes_with_the_days_left() -> None:
    clocks = spring_festival_story().clocks()
    for goal in (Goal.PROGRESS, Goal.COMPLETE):
        clock = the(clocks, goal)
        assert clock.instance == 1
        assert clock.paused_at is None
        assert clock.original_due == COMPLETE_DUE_2026
        assert clock.due == RESUMED_DUE_2026
        assert clock.due > clock.original_due
        assert clock.pauses == [(RETURNED_2026, SUPPLEMENTED_2026, LEFT_AT_RETURN)]
        assert clock.resumed == [clock.current]
        assert clock.state(SUPPLEMENTED_2026) is ClockState.RUNNING
        assert view(clock).running
        assert days_left(CAL, SUPPLEMENTED_2026, clock.due, Unit.DAYS) >= LEFT_AT_RETURN
    supplement = the(clocks, Goal.SUPPLEMENT)
    assert supplement.met_at == SUPPLEMENTED_2026
    assert supplement.state(SUPPLEMENTED_2026) is ClockState.MET
    # Back with the entrusted court: a new start clock, and inaction runs again.
    assert instances(clocks, Goal.START) == [1, 2]
    start = the(clocks, Goal.START, 2)
    assert start.started_at == SUPPLEMENTED_2026
    assert start.due == end_of(2026, 3, 17)  # Mar 2 + 15 = Tue Mar 17
    inaction = the(clocks, Goal.INACTION)
    assert inaction.open and inaction.started_at == SUPPLEMENTED_2026
    assert inaction.due == end_of(2026, 3, 17)


def test_accepting_again_after_a_supplement_keeps_the_resumed_clocks() -> None:
    story = spring_festival_story().add(K.ACCEPTED, sh(2026, 3, 3))
    clocks = story.clocks()
    assert the(clocks, Goal.START, 2).met_at == sh(2026, 3, 3)
    assert instances(clocks, Goal.COMPLETE) == [1]
    assert instances(clocks, Goal.PROGRESS) == [1]
    assert the(clocks, Goal.COMPLETE).due == RESUMED_DUE_2026


@pytest.mark.parametrize(
    ("reason", "supplement"),
    [
        (ReturnReason.MATERIALS_INCOMPLETE, True),
        (ReturnReason.REQUEST_UNCLEAR, True),
        (ReturnReason.NOT_OUR_JURISDICTION, False),
        (ReturnReason.OTHER, False),
    ],
)
def test_only_a_return_waiting_for_the_requesting_court_starts_a_supplement_clock(
    reason: ReturnReason, supplement: bool
) -> None:
    at = sh(2025, 9, 29)
    story = routed(SEP26).add(K.ACKNOWLEDGED, sh(2025, 9, 26, 15))
    clocks = story.add(K.RETURNED, at, return_reason=reason.value).clocks()
    assert (Goal.SUPPLEMENT in {c.goal for c in clocks}) is supplement
    assert the(clocks, Goal.START).met_at == at


def test_supplemented_while_handling_changes_no_clock_but_meets_none() -> None:
    story = routed(SEP26).add(K.ACKNOWLEDGED, sh(2025, 9, 26, 15)).add(K.ACCEPTED, sh(2025, 9, 29))
    before = story.clocks()
    after = story.add(K.SUPPLEMENTED, sh(2025, 9, 30)).clocks()
    assert after == before


# ---------------------------------------------------------------- reroute, and the end


def test_reroute_ends_the_old_courts_clocks_and_the_next_delivery_starts_instance_2() -> None:
    moved, redelivered = sh(2025, 9, 29), sh(2025, 9, 29, 11)
    story = routed(SEP26).add(K.REROUTED, moved, court_id=FUSHAN)
    clocks = story.clocks()
    assert len(clocks) == 5
    for clock in clocks:
        assert clock.court == ZHIFU
        assert (clock.ended_at, clock.end_reason) == (moved, "moved to another court")
        assert not clock.open
        assert clock.state(moved) is ClockState.CANCELLED  # ended before any due

    clocks = story.add(K.DELIVERED, redelivered).clocks()
    fresh = [c for c in clocks if c.instance == 2]
    assert [(c.goal, c.court, c.started_at) for c in fresh] == [
        (Goal.ACKNOWLEDGE, FUSHAN, redelivered),
        (Goal.START, FUSHAN, redelivered),
        (Goal.PROGRESS, FUSHAN, redelivered),
        (Goal.COMPLETE, FUSHAN, redelivered),
        (Goal.INACTION, FUSHAN, redelivered),
    ]
    assert the(clocks, Goal.ACKNOWLEDGE, 2).due == end_of(2025, 10, 10)  # Sep 30, Oct 9, Oct 10
    assert the(clocks, Goal.START, 2).due == end_of(2025, 10, 14)  # Sep 29 + 15
    assert [c.instance for c in current_clocks(clocks)] == [2, 2, 2, 2, 2]


def test_a_clock_that_ran_out_before_the_reroute_stays_breached() -> None:
    moved = sh(2025, 10, 9)  # after the acknowledge due (Sep 30 24:00)
    clocks = routed(SEP26).add(K.REROUTED, moved, court_id=FUSHAN).clocks()
    assert the(clocks, Goal.ACKNOWLEDGE).state(moved) is ClockState.BREACHED
    assert the(clocks, Goal.START).state(moved) is ClockState.CANCELLED


def test_confirmed_leaves_no_open_clock() -> None:
    story = (
        routed(SEP26)
        .add(K.ACKNOWLEDGED, sh(2025, 9, 26, 15))
        .add(K.ACCEPTED, sh(2025, 9, 29))
        .add(K.COMPLETED, sh(2025, 10, 10))
        .add(K.CONFIRMED, sh(2025, 10, 21))
    )
    clocks = story.clocks()
    assert not any(c.open for c in clocks)
    assert all(c.ended_at is None for c in clocks)  # all met before the confirmation
    assert all(c.state(sh(2026, 1, 1)) is ClockState.MET for c in clocks)


@pytest.mark.parametrize("stage", ["delivered", "accepted", "returned"])
def test_cancelled_ends_every_open_clock(stage: str) -> None:
    story = routed(SEP26)
    if stage != "delivered":
        story.add(K.ACKNOWLEDGED, sh(2025, 9, 26, 15)).add(K.ACCEPTED, sh(2025, 9, 29))
    if stage == "returned":
        story.add(K.RETURNED, sh(2025, 9, 30), return_reason="MATERIALS_INCOMPLETE")
    open_before = [(c.goal, c.instance) for c in story.clocks() if c.open]
    assert open_before
    at = sh(2025, 10, 9)
    clocks = story.add(K.CANCELLED, at).clocks()
    assert not any(c.open for c in clocks)
    for clock in clocks:
        if (clock.goal, clock.instance) in open_before:
            assert (clock.ended_at, clock.end_reason) == (at, "closed")
            assert clock.paused_at is None
            assert clock.met_at is None
        else:
            assert clock.ended_at is None


def test_withdrawn_after_the_supplement_ran_out_ends_the_open_clocks() -> None:
    at = sh(2026, 3, 10)
    story = spring_festival_story(supplemented=False)
    story.add(K.WITHDRAWN, at, request_id="sla-supplement-1-withdraw")
    clocks = story.clocks()
    assert not any(c.open for c in clocks)
    supplement = the(clocks, Goal.SUPPLEMENT)
    assert (supplement.ended_at, supplement.end_reason) == (at, "closed")
    assert supplement.state(at) is ClockState.BREACHED  # it ran out on Mar 9
    for goal in (Goal.PROGRESS, Goal.COMPLETE):
        clock = the(clocks, goal)
        assert (clock.ended_at, clock.end_reason) == (at, "closed")
        assert clock.paused_at is None
        assert clock.pauses == [(RETURNED_2026, at, LEFT_AT_RETURN)]


def test_a_clock_ended_while_paused_is_cancelled_not_breached() -> None:
    """Paused clocks do not run: complete was paused with 19 days left, so a withdrawal after
    its (frozen) due must not make it look breached."""
    at = sh(2026, 3, 10)
    story = spring_festival_story(supplemented=False)
    clocks = story.add(K.WITHDRAWN, at, request_id="sla-supplement-1-withdraw").clocks()
    for goal in (Goal.PROGRESS, Goal.COMPLETE):
        assert the(clocks, goal).state(at) is ClockState.CANCELLED


# ---------------------------------------------------------------- inaction restarts


def test_inaction_restarts_at_each_entrusted_step_but_not_at_urges_or_sla_events() -> None:
    steps = {
        1: (SEP26, end_of(2025, 10, 11)),  # delivered: Sep 26 + 15 = Oct 11 (make-up workday)
        2: (sh(2025, 9, 29), end_of(2025, 10, 14)),  # acknowledged: Sep 29 + 15
        3: (sh(2025, 10, 9), end_of(2025, 10, 24)),  # accepted: Oct 9 + 15
        4: (sh(2025, 10, 20), end_of(2025, 11, 4)),  # progress reported: Oct 20 + 15
    }
    story = (
        routed(SEP26)
        .add(K.URGED, sh(2025, 9, 28))
        .add(K.ACKNOWLEDGED, steps[2][0])
        .add(K.SLA_WARNING, sh(2025, 9, 30), request_id="sla-acknowledge-1-w1")
        .add(K.ACCEPTED, steps[3][0])
        .add(K.URGED, sh(2025, 10, 10), side=COORD, request_id="sla-start-9-urge")
        .add(K.ESCALATED, sh(2025, 10, 11), request_id="sla-inaction-9-escalate")
        .add(K.SLA_BREACHED, sh(2025, 10, 12), request_id="sla-start-9-breach")
        .add(K.PROGRESS_REPORTED, steps[4][0])
        .add(K.URGED, sh(2025, 10, 25))
        .add(K.COMPLETED, sh(2025, 10, 30))
    )
    clocks = story.clocks()
    inaction = [c for c in clocks if c.goal is Goal.INACTION]
    assert [c.instance for c in inaction] == [1, 2, 3, 4]
    met = [steps[2][0], steps[3][0], steps[4][0], sh(2025, 10, 30)]
    for clock, end in zip(inaction, met, strict=True):
        assert (clock.started_at, clock.due) == steps[clock.instance]
        assert clock.met_at == end
    assert not any(c.open for c in clocks)


# ---------------------------------------------------------------- what a clock owes


def test_the_start_clock_warns_at_half_and_three_quarters() -> None:
    clock = the(routed(SEP26).clocks(), Goal.START)
    assert view(clock).warn_times() == [(1, START_W1), (2, START_W2)]


def test_owes_nothing_before_the_first_warning() -> None:
    v = view(the(routed(SEP26).clocks(), Goal.START))
    assert owed(v, SEP26, 0, False, CAL) == []
    assert owed(v, START_W1 - timedelta(minutes=1), 0, False, CAL) == []


def test_owes_the_first_warning_after_half_the_time() -> None:
    v = view(the(routed(SEP26).clocks(), Goal.START))
    for now in (START_W1, sh(2025, 10, 5)):
        [action] = owed(v, now, 0, False, CAL)
        assert (action.kind, action.request_id, action.level) == (
            K.SLA_WARNING,
            "sla-start-1-w1",
            1,
        )
        assert action.goal is Goal.START
    [action] = owed(v, sh(2025, 10, 5), 0, False, CAL)
    assert "50% of 15 days used" in action.text
    assert "due 2025-10-12 00:00" in action.text
    assert "6 days left after today" in action.text  # Oct 6 .. Oct 11
    assert owed(v, sh(2025, 10, 5), 1, False, CAL) == []  # w1 claimed


def test_owes_the_second_warning_after_three_quarters() -> None:
    v = view(the(routed(SEP26).clocks(), Goal.START))
    now = sh(2025, 10, 9)
    [action] = owed(v, now, 1, False, CAL)
    assert (action.kind, action.request_id, action.level) == (K.SLA_WARNING, "sla-start-1-w2", 2)
    assert "75% of 15 days used" in action.text
    # After downtime with nothing claimed: only the latest warning, not both.
    assert [a.request_id for a in owed(v, now, 0, False, CAL)] == ["sla-start-1-w2"]
    assert owed(v, now, 2, False, CAL) == []


@pytest.mark.parametrize(
    ("goal", "kind", "word"),
    [
        (Goal.ACKNOWLEDGE, K.URGED, "urge"),
        (Goal.START, K.ESCALATED, "escalate"),  # the law: not started in 15 days -> 督辦
        (Goal.INACTION, K.URGED, "urge"),  # a platform reminder
    ],
)
def test_after_the_due_the_breach_and_the_policy_action(
    goal: Goal, kind: EventKind, word: str
) -> None:
    clock = the(routed(SEP26).clocks(), goal)
    actions = owed(view(clock), clock.due, 2, False, CAL)
    assert [(a.kind, a.request_id, a.level) for a in actions] == [
        (K.SLA_BREACHED, f"sla-{goal.value}-1-breach", 0),
        (kind, f"sla-{goal.value}-1-{word}", 0),
    ]
    assert all(a.goal is goal for a in actions)
    assert "ran out at" in actions[0].text
    assert f"automatic {word}" in actions[1].text


def test_a_supplement_that_runs_out_owes_the_withdrawal() -> None:
    supplement = the(spring_festival_story(supplemented=False).clocks(), Goal.SUPPLEMENT)
    actions = owed(view(supplement), sh(2026, 3, 10), 2, False, CAL)
    assert [(a.kind, a.request_id) for a in actions] == [
        (K.SLA_BREACHED, "sla-supplement-1-breach"),
        (K.WITHDRAWN, "sla-supplement-1-withdraw"),
    ]


def test_after_a_long_outage_only_the_breach_and_its_action() -> None:
    v = view(the(routed(SEP26).clocks(), Goal.START))
    actions = owed(v, sh(2025, 12, 24), 0, False, CAL)
    assert [(a.kind, a.request_id) for a in actions] == [
        (K.SLA_BREACHED, "sla-start-1-breach"),
        (K.ESCALATED, "sla-start-1-escalate"),
    ]
    assert not any(a.kind is K.SLA_WARNING for a in actions)


def test_once_the_breach_is_claimed_nothing_is_owed_again() -> None:
    v = view(the(routed(SEP26).clocks(), Goal.START))
    for warned in (0, 1, 2):
        assert owed(v, sh(2025, 12, 24), warned, True, CAL) == []


def test_paused_met_and_ended_clocks_owe_nothing() -> None:
    paused = the(spring_festival_story(supplemented=False).clocks(), Goal.COMPLETE)
    met = the(routed(SEP26).add(K.ACKNOWLEDGED, sh(2025, 10, 9)).clocks(), Goal.ACKNOWLEDGE)
    ended = the(routed(SEP26).add(K.CANCELLED, sh(2025, 9, 29)).clocks(), Goal.START)
    late = sh(2026, 6, 1)
    for clock in (paused, met, ended):
        assert owed(view(clock), late, 0, False, CAL) == []
        assert next_instant(view(clock), 0, False) is None


def test_next_instant_walks_the_warnings_then_the_due_then_none() -> None:
    v = view(the(routed(SEP26).clocks(), Goal.START))
    assert next_instant(v, 0, False) == START_W1
    assert next_instant(v, 1, False) == START_W2
    assert next_instant(v, 2, False) == START_DUE
    assert next_instant(v, 2, True) is None


def test_after_a_long_outage_next_instant_is_none_once_the_breach_is_claimed() -> None:
    """Down past the due: the sweep claims the breach with no warning claimed (owed() gives no
    stale warnings). The clock owes nothing more, so it must not come due again; a past warning
    instant here makes every later sweep pick the row up and find nothing to do."""
    v = view(the(routed(SEP26).clocks(), Goal.START))
    now = sh(2025, 12, 24)
    actions = owed(v, now, 0, False, CAL)
    warned = max([0, *(a.level for a in actions)])
    breached = any(a.level == 0 for a in actions)
    assert (warned, breached) == (0, True)
    assert owed(v, now, warned, breached, CAL) == []
    assert next_instant(v, warned, breached) is None


def test_a_resumed_clock_shifts_its_warnings_by_the_pause() -> None:
    complete = the(spring_festival_story().clocks(), Goal.COMPLETE)
    v = view(complete)
    shift = RESUMED_DUE_2026 - COMPLETE_DUE_2026
    span = COMPLETE_DUE_2026 - DELIVERED_2026
    assert v.warn_times() == [
        (1, DELIVERED_2026 + span * 0.5 + shift),
        (2, DELIVERED_2026 + span * 0.75 + shift),
    ]
    assert next_instant(v, 2, False) == RESUMED_DUE_2026


# ---------------------------------------------------------------- what the history says has fired


def sla_story() -> Story:
    return (
        routed(SEP26)
        .add(K.SLA_WARNING, START_W1, request_id="sla-start-1-w1")
        .add(K.SLA_WARNING, START_W2, request_id="sla-start-1-w2")
        .add(K.URGED, sh(2025, 10, 9), request_id="clerk-urge-7")
        .add(K.SLA_BREACHED, START_DUE, request_id="sla-start-1-breach")
        .add(K.ESCALATED, START_DUE, request_id="sla-start-1-escalate")
    )


def test_fired_reads_the_sla_request_ids_of_the_history() -> None:
    assert fired(sla_story().events) == {
        "sla-start-1-w1",
        "sla-start-1-w2",
        "sla-start-1-breach",
        "sla-start-1-escalate",
    }
    assert fired(routed(SEP26).events) == set()


def test_claimed_reads_levels_and_breach_per_clock() -> None:
    story = sla_story()
    clocks = story.clocks()
    done = fired(story.events)
    assert claimed(view(the(clocks, Goal.START)), done) == (2, True)
    assert claimed(view(the(clocks, Goal.ACKNOWLEDGE)), done) == (0, False)
    assert claimed(view(the(clocks, Goal.INACTION)), done) == (0, False)
    # Only the second warning fired (after downtime): level 2 all the same.
    assert claimed(view(the(clocks, Goal.START)), {"sla-start-1-w2"}) == (2, False)
    # Another instance's ids are not this clock's.
    assert claimed(view(the(clocks, Goal.START)), {"sla-start-2-w1"}) == (0, False)


def test_sla_events_in_the_history_change_no_clock() -> None:
    assert sla_story().clocks() == routed(SEP26).clocks()


# ---------------------------------------------------------------- explain


def test_explain_names_the_holidays_and_the_moved_end() -> None:
    story = routed(sh(2025, 9, 19))
    text = "\n".join(explain(story.clocks(), sh(2025, 9, 30), CAL))
    assert "start #1 (court 370602): 15 days, running; on breach: escalate" in text
    assert "holiday (National Day)" in text
    assert "2025-10-04 is a holiday (National Day): the period ends on the next working day" in text
    assert "due by 2025-10-09 24:00 Asia/Shanghai" in text
    assert "Civil Procedure Law art. 229" in text


def test_explain_names_the_makeup_workday_and_a_late_acknowledgement() -> None:
    story = routed(SEP26).add(K.ACKNOWLEDGED, sh(2025, 10, 9, 9))
    text = "\n".join(explain(story.clocks(), sh(2025, 10, 9, 12), CAL))
    assert "make-up workday (National Day)" in text
    assert "met 2025-10-09 09:00 (late)" in text


def test_explain_shows_a_running_pause() -> None:
    clocks = spring_festival_story(supplemented=False).clocks()
    lines = explain(clocks, sh(2026, 2, 20), CAL)
    assert "  paused since 2026-02-05 10:00 (waiting for the requesting court)" in lines
    assert "complete #1 (court 370602): 30 days, paused; on breach: urge" in lines


def test_explain_shows_the_pause_over_spring_festival_and_the_resumed_count() -> None:
    clocks = spring_festival_story().clocks()
    lines = explain([the(clocks, Goal.COMPLETE)], sh(2026, 3, 3), CAL)
    text = "\n".join(lines)
    assert (
        "  paused 2026-02-05 10:00 – 2026-03-02 10:00 (waiting for the requesting court); "
        "19 days left"
    ) in lines
    assert "resumed after a pause with 19 days left of 30 days" in text
    assert "holiday (Spring Festival)" in text  # the original count ran into the festival
    assert "due by 2026-03-23 24:00 Asia/Shanghai" in text


def test_one_unit_left_is_said_in_the_singular() -> None:
    """Acknowledge from Fri Sep 26 is due at the end of Tue Sep 30: on Mon Sep 29, one working
    day is left after today."""
    ack = the(routed(SEP26).clocks(), Goal.ACKNOWLEDGE)
    assert remaining_text(ack, sh(2025, 9, 29), CAL) == "1 working day left after today"
    assert remaining_text(view(ack), sh(2025, 9, 28), CAL) == "2 working days left after today"
    start = the(routed(SEP26).clocks(), Goal.START)
    assert remaining_text(start, sh(2025, 10, 10), CAL) == "1 day left after today"


def test_a_pause_with_one_day_left_is_explained_in_the_singular() -> None:
    """Accepted Jan 20 (due Feb 24 after the festival), returned Feb 23: one day is left."""
    story = (
        Story(sh(2026, 1, 19, 8))
        .add(K.ROUTED, sh(2026, 1, 19, 9), court_id=ZHIFU)
        .add(K.DELIVERED, sh(2026, 1, 19, 10))
        .add(K.ACKNOWLEDGED, sh(2026, 1, 19, 15))
        .add(K.ACCEPTED, ACCEPTED_2026)
        .add(K.RETURNED, sh(2026, 2, 23), return_reason=ReturnReason.MATERIALS_INCOMPLETE.value)
        .add(K.SUPPLEMENTED, SUPPLEMENTED_2026)
    )
    complete = the(story.clocks(), Goal.COMPLETE)
    assert complete.pauses == [(sh(2026, 2, 23), SUPPLEMENTED_2026, 1)]
    text = "\n".join(explain([complete], sh(2026, 3, 2, 12), CAL))
    assert "; 1 day left\n" in text
    assert "resumed after a pause with 1 day left of 30 days" in text
    assert "day(s)" not in text


# ---------------------------------------------------------------- properties

# 2025-01-01 .. 2026-10-31 in minutes: every computation stays on covered, real calendar data.
BASE = sh(2025, 1, 1, 0)
MINUTES = st.integers(0, (sh(2026, 10, 31, 0) - BASE) // timedelta(minutes=1))
GAP = st.integers(0, 25 * 24 * 60).map(lambda m: timedelta(minutes=m))
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Steps a random walk may try, with what they need.
WALK: list[tuple[EventKind, Side, dict[str, str]]] = [
    (K.DELIVERED, ENT, {}),
    (K.ACKNOWLEDGED, ENT, {}),
    (K.ACCEPTED, ENT, {}),
    (K.RETURNED, ENT, {"return_reason": "MATERIALS_INCOMPLETE"}),
    (K.RETURNED, ENT, {"return_reason": "REQUEST_UNCLEAR"}),
    (K.RETURNED, ENT, {"return_reason": "NOT_OUR_JURISDICTION"}),
    (K.SUPPLEMENTED, REQ, {}),
    (K.PROGRESS_REPORTED, ENT, {}),
    (K.COMPLETED, ENT, {}),
    (K.CONFIRMED, REQ, {}),
    (K.CANCELLED, REQ, {}),
    (K.URGED, REQ, {}),
    (K.ESCALATED, COORD, {}),
    (K.REROUTED, COORD, {"court_id": FUSHAN}),
    (K.SLA_WARNING, COORD, {"request_id": "sla-start-1-w1"}),
    (K.WITHDRAWN, COORD, {}),
]


@st.composite
def stories(draw: st.DrawFn) -> Story:
    """A random legal history: routed, then up to 14 allowed steps at random gaps."""
    at = BASE + timedelta(minutes=draw(MINUTES))
    story = Story(at).add(K.ROUTED, at + draw(GAP), court_id=ZHIFU)
    at = story.events[-1].at
    for _ in range(draw(st.integers(0, 14))):
        state = story.state
        assert state is not None
        if state.status.closed:
            break
        allowed = []
        for kind, side, extra in WALK:
            try:
                lifecycle.check_allowed(state, kind, side)
            except (IllegalTransition, NotAllowed):
                continue
            allowed.append((kind, side, extra))
        if not allowed:
            break
        kind, side, extra = draw(st.sampled_from(allowed))
        at = at + draw(GAP)
        story.add(kind, at, side=side, **extra)
    return story


@PROPERTY
@given(stories())
def test_every_clock_is_due_after_it_started(story: Story) -> None:
    for clock in story.clocks():
        assert clock.original_due >= clock.started_at
        assert clock.due >= clock.started_at
        assert clock.due >= clock.original_due  # pauses only push a due later


@PROPERTY
@given(stories())
def test_recompute_is_idempotent(story: Story) -> None:
    first = story.clocks()
    again = fold(list(story.events), GOALS, CAL)
    assert again == first
    assert [(c.goal, c.instance, c.due) for c in fold(iter(story.events), GOALS, CAL)] == [
        (c.goal, c.instance, c.due) for c in first
    ]
    assert [view(c) for c in current_clocks(again)] == [view(c) for c in current_clocks(first)]


@PROPERTY
@given(
    accepted=MINUTES,
    into=st.floats(0, 1, exclude_max=True),
    paused=st.integers(0, 90 * 24 * 60),
)
def test_a_pause_never_shortens_a_clock(accepted: int, into: float, paused: int) -> None:
    """Paused at any instant within the complete/progress clocks, resumed any time later."""
    at = BASE + timedelta(minutes=accepted)
    story = (
        routed(at - timedelta(hours=1))
        .add(K.ACKNOWLEDGED, at - timedelta(minutes=30))
        .add(K.ACCEPTED, at)
    )
    complete = the(story.clocks(), Goal.COMPLETE)
    returned = min(at + (complete.due - at) * into, complete.due - timedelta(microseconds=1))
    assert at <= returned < complete.due
    story.add(K.RETURNED, returned, return_reason="MATERIALS_INCOMPLETE")
    back = returned + timedelta(minutes=paused)
    story.add(K.SUPPLEMENTED, back)
    for goal in (Goal.PROGRESS, Goal.COMPLETE):
        clock = the(story.clocks(), goal)
        [(since, until, left)] = clock.pauses
        assert (since, until) == (returned, back)
        assert clock.original_due == complete.original_due
        assert clock.due >= clock.original_due
        assert isinstance(left, int)
        assert days_left(CAL, back, clock.due, clock.policy.period.unit) >= left


@PROPERTY
@given(
    start=MINUTES,
    length=st.integers(1, 40),
    unit=st.sampled_from(list(Unit)),
    into=st.floats(0, 1, exclude_max=True),
    paused=st.integers(0, 90 * 24 * 60),
)
def test_a_pause_never_shortens_any_period(
    start: int, length: int, unit: Unit, into: float, paused: int
) -> None:
    """The same on the calendar functions the fold uses, for every unit."""
    goals = dict(GOALS)
    policy = goals[Goal.COMPLETE]
    goals[Goal.COMPLETE] = GoalPolicy(
        Goal.COMPLETE, Period(length, unit), policy.warn_at, policy.on_breach, policy.source
    )
    at = BASE + timedelta(minutes=start)
    story = routed(at - timedelta(hours=1)).add(K.ACKNOWLEDGED, at - timedelta(minutes=30))
    story.add(K.ACCEPTED, at)
    original = the(story.clocks(goals), Goal.COMPLETE)
    pause_at = min(at + (original.due - at) * into, original.due - timedelta(microseconds=1))
    left = days_left(CAL, pause_at, original.due, unit)
    back = pause_at + timedelta(minutes=paused)
    resumed = resume(CAL, back, left, Period(length, unit))
    assert resumed.due >= original.due
    assert days_left(CAL, back, resumed.due, unit) >= left
    # And through the fold.
    story.add(K.RETURNED, pause_at, return_reason="REQUEST_UNCLEAR").add(K.SUPPLEMENTED, back)
    folded = the(story.clocks(goals), Goal.COMPLETE)
    assert folded.due == resumed.due
    assert folded.original_due == original.due


def sweep(
    clock_view: ClockView, lateness: list[timedelta]
) -> list[tuple[datetime, list[str], datetime | None]]:
    """The coordinator's sweep on virtual time: wake at next_instant (plus some lateness; time
    never goes back), claim what is owed, compute the next instant. Returns (now, request ids,
    next) per wake."""
    warned, breached = 0, False
    wakes: list[tuple[datetime, list[str], datetime | None]] = []
    nxt = next_instant(clock_view, warned, breached)
    now = clock_view.started_at
    for late in lateness:
        if nxt is None:
            break
        now = max(now, nxt) + late
        actions = owed(clock_view, now, warned, breached, CAL)
        warned = max([warned, *(a.level for a in actions)])
        breached = breached or any(a.level == 0 for a in actions)
        nxt = next_instant(clock_view, warned, breached)
        wakes.append((now, [a.request_id for a in actions], nxt))
    return wakes


LATENESS = st.lists(
    st.one_of(
        st.just(timedelta(0)),
        st.integers(0, 60).map(lambda m: timedelta(minutes=m)),
        st.integers(0, 60).map(lambda d: timedelta(days=d)),  # an outage
    ),
    min_size=1,
    max_size=8,
)


@PROPERTY
@given(
    delivered=MINUTES,
    goal=st.sampled_from([Goal.ACKNOWLEDGE, Goal.START, Goal.INACTION]),
    lateness=LATENESS,
)
def test_next_instant_is_never_earlier_than_the_last_claimed_warning(
    delivered: int, goal: Goal, lateness: list[timedelta]
) -> None:
    v = view(the(routed(BASE + timedelta(minutes=delivered)).clocks(), goal))
    times = dict(v.warn_times())
    warned = 0
    for _now, ids, nxt in sweep(v, lateness):
        for request_id in ids:
            if request_id.startswith(f"{v.key}-w"):
                level = int(request_id.rsplit("w", 1)[1])
                assert level > warned  # warnings only move up
                warned = level
        if nxt is not None and warned:
            assert nxt >= times[warned]


@PROPERTY
@given(
    delivered=MINUTES,
    goal=st.sampled_from([Goal.ACKNOWLEDGE, Goal.START, Goal.INACTION]),
    lateness=LATENESS,
)
def test_every_wake_at_next_instant_owes_something(
    delivered: int, goal: Goal, lateness: list[timedelta]
) -> None:
    """A clock that comes due owes an action; nothing fires twice."""
    v = view(the(routed(BASE + timedelta(minutes=delivered)).clocks(), goal))
    seen: set[str] = set()
    for now, ids, _nxt in sweep(v, lateness):
        assert ids, f"woke at {now} for nothing"
        assert not seen & set(ids)
        seen |= set(ids)
