"""The report's pure parts: a delegation's fact from its history and clocks, working days, the
nearest-rank quantiles, the ranking and the courts late three weeks running (docs/reports.md).

Calendar facts (checked in test_sla_clocks): 2025 National Day Oct 1-8, make-up working days
Sun Sep 28 and Sat Oct 11."""

from __future__ import annotations

from datetime import date

from jiaodong.domain.lifecycle import EventKind as K
from jiaodong.domain.report import (
    Outcome,
    Period,
    State,
    Sums,
    day_figures,
    fact_of,
    late_runs,
    listed,
    mondays,
    quantile,
    ranking,
    row,
    week_of,
    working_days_between,
)
from jiaodong.domain.sla_policy import Goal
from tests.unit.test_sla_clocks import CAL, routed, sh


def test_working_days_skip_the_starting_day_and_national_day_and_count_makeup_days() -> None:
    assert working_days_between(CAL, sh(2025, 9, 26), sh(2025, 9, 26, 17)) == 0
    # Sat 27 no, Sun 28 make-up yes, Mon 29, Tue 30.
    assert working_days_between(CAL, sh(2025, 9, 26), sh(2025, 9, 30)) == 3
    # ... then Oct 1-8 holiday, Thu 9, Fri 10.
    assert working_days_between(CAL, sh(2025, 9, 26), sh(2025, 10, 10)) == 5


def test_a_delegation_acknowledged_in_time_and_completed_after_national_day() -> None:
    story = routed(sh(2025, 9, 26))
    story.add(K.ACKNOWLEDGED, sh(2025, 9, 30)).add(K.ACCEPTED, sh(2025, 9, 30, 11))
    story.add(K.URGED, sh(2025, 10, 9)).add(K.COMPLETED, sh(2025, 10, 10))
    fact = fact_of(sh(2025, 9, 26, 9), story.events, story.clocks(), CAL, sh(2025, 10, 20))
    assert fact.state is State.COMPLETED
    assert (fact.acknowledge_days, fact.complete_days) == (3, 5)
    assert fact.goals[Goal.ACKNOWLEDGE].outcome is Outcome.MET
    assert fact.goals[Goal.START].outcome is Outcome.MET
    assert fact.goals[Goal.COMPLETE].outcome is Outcome.MET
    assert fact.goals[Goal.SUPPLEMENT].outcome is Outcome.NONE
    assert fact.urges == 1 and fact.escalations == 0
    assert fact.sent_day == date(2025, 9, 26).toordinal()
    assert fact.closed_day == date(2025, 10, 10).toordinal()


def test_the_delivery_figure_is_minutes_from_sending_to_the_first_delivery() -> None:
    """A reroute's second delivery is the platform working, not a delay: the first one counts."""
    delivered_at = sh(2025, 9, 26)
    story = routed(delivered_at)  # sent two hours before
    fact = fact_of(story.events[0].at, story.events, story.clocks(), CAL, sh(2025, 9, 27))
    assert fact.delivery_minutes == 120
    story.add(K.REROUTED, sh(2025, 9, 29), court_id="370602").add(K.DELIVERED, sh(2025, 9, 30))
    again = fact_of(story.events[0].at, story.events, story.clocks(), CAL, sh(2025, 10, 1))
    assert again.delivery_minutes == 120
    sent = routed(delivered_at).events[:2]  # created and routed, the node is down
    waiting = fact_of(sent[0].at, sent, [], CAL, sh(2025, 9, 27))
    assert waiting.delivery_minutes is None


def test_delivery_sums_add_counts_and_keep_the_longest() -> None:
    total = Sums(delivered=3, delivery_delayed=1, delivery_longest=2880)
    total.add(Sums(delivered=2, delivery_delayed=0, delivery_longest=1))
    total.add(Sums())  # a group with nothing delivered
    assert (total.delivered, total.delivery_delayed, total.delivery_longest) == (5, 1, 2880)
    assert row(total)["delivery"] == {"delivered": 5, "delayed": 1, "longest_hours": 48.0}
    assert row(Sums())["delivery"] == {"delivered": 0, "delayed": 0, "longest_hours": None}


def test_a_running_limit_is_late_once_it_has_run_out_and_a_return_is_counted() -> None:
    story = routed(sh(2025, 9, 26))
    at_delivery = fact_of(sh(2025, 9, 26, 9), story.events, story.clocks(), CAL, sh(2025, 9, 26))
    acknowledge = at_delivery.goals[Goal.ACKNOWLEDGE]
    assert acknowledge.outcome is Outcome.RUNNING and acknowledge.due is not None
    # The last day inside the 3 working days is Tue Sep 30: its week begins Mon Sep 29.
    assert acknowledge.due_day == date(2025, 9, 30).toordinal()

    story.add(K.ACKNOWLEDGED, sh(2025, 10, 9))  # after the limit ran out: late
    story.add(K.RETURNED, sh(2025, 10, 9, 11), return_reason="MATERIALS_INCOMPLETE")
    later = fact_of(sh(2025, 9, 26, 9), story.events, story.clocks(), CAL, sh(2025, 10, 9, 12))
    assert later.goals[Goal.ACKNOWLEDGE].outcome is Outcome.LATE
    assert later.goals[Goal.SUPPLEMENT].outcome is Outcome.RUNNING
    assert later.returns["MATERIALS_INCOMPLETE"] == 1
    assert later.state is State.OPEN and later.acknowledge_days == 4


def test_a_cancelled_delegation_is_closed_and_its_running_limits_count_neither_way() -> None:
    story = routed(sh(2025, 9, 26)).add(K.CANCELLED, sh(2025, 9, 29))
    fact = fact_of(sh(2025, 9, 26, 9), story.events, story.clocks(), CAL, sh(2025, 12, 1))
    assert fact.state is State.CANCELLED
    assert fact.goals[Goal.COMPLETE].outcome is Outcome.CANCELLED


def test_nearest_rank_quantiles() -> None:
    assert quantile({1: 1, 2: 1, 4: 1, 5: 1, 6: 1}, 0.5) == 4.0
    assert quantile({1: 1, 2: 1, 4: 1, 5: 1, 6: 1}, 0.9) == 6.0
    assert quantile({1: 1, 2: 1}, 0.5) == 1.0
    assert quantile({3: 10}, 0.9) == 3.0
    # 10 values 0..9: the 5th and the 9th.
    assert quantile(dict.fromkeys(range(10), 1), 0.5) == 4.0
    assert quantile(dict.fromkeys(range(10), 1), 0.9) == 8.0
    assert quantile({}, 0.5) is None
    assert day_figures({1: 2, 4: 1}) == {"n": 3, "mean": 2.0, "median": 1.0, "p90": 4.0}


def test_ranking_orders_by_rate_and_names_only_courts_with_enough_decided() -> None:
    def sums(met: int, late: int) -> Sums:
        return Sums(met={"acknowledge": met}, late={"acknowledge": late})

    order, best, worst = ranking(
        {"A": sums(9, 1), "B": sums(5, 5), "C": sums(1, 0), "D": sums(10, 0)}
    )
    assert order == ["D", "C", "A", "B"]  # C has a perfect rate but one limit decided
    assert best == ["D", "A", "B"]
    assert worst == ["B", "A", "D"]


def test_courts_late_three_weeks_running() -> None:
    m = [week_of(date(2026, 3, 2).toordinal()) + 7 * i for i in range(6)]
    runs = late_runs({"A": [m[0], m[1], m[3], m[4], m[5]], "B": [m[0], m[2], m[4]], "C": m[:3]})
    assert runs == {"A": m[3:6], "C": m[:3]}


def test_weeks_begin_on_monday() -> None:
    assert date.fromordinal(week_of(date(2026, 3, 8).toordinal())) == date(2026, 3, 2)
    assert date.fromordinal(week_of(date(2026, 3, 9).toordinal())) == date(2026, 3, 9)
    period = Period(date(2026, 3, 4), date(2026, 3, 16))
    assert [date.fromordinal(d).isoformat() for d in mondays(period)] == [
        "2026-03-02",
        "2026-03-09",
        "2026-03-16",
    ]
    assert period.previous() == Period(date(2026, 2, 19), date(2026, 3, 3))


def test_each_week_lists_the_five_courts_with_most_limits_run_out() -> None:
    w1, w2 = (week_of(date(2026, 3, d).toordinal()) for d in (2, 9))
    late = {c: {w1: n} for c, n in zip("ABCDEF", (3, 1, 2, 2, 5, 1), strict=True)}
    late["B"][w2] = 1
    late["G"] = {w2: 0}
    # Week 1: E 5, A 3, C 2, D 2, then B and F with 1 each: B by its id. Week 2: B alone.
    assert listed(late, {}) == {"E": [w1], "A": [w1], "C": [w1], "D": [w1], "B": [w1, w2]}
    # E decides 10 limits in an average week, F one: F's one is worse than E's five.
    assert "F" in listed(late, {"E": 10.0, "F": 1.0})
    assert w1 not in listed(late, {"E": 10.0, "F": 1.0}).get("E", [])
