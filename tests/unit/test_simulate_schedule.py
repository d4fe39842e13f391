"""The simulator's step scheduler: draws derived from keys, officers' slots on working days, the
agenda's order and where virtual time goes next (pure code, no processes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from jiaodong.devtools import schedule as sch
from jiaodong.files.calendar import load_calendar

SLOTS = (time(9), time(11), time(14), time(16))
CAL = load_calendar()


def test_draws_depend_on_their_keys_only() -> None:
    first = [sch.rng(1, "plan", "2026-03-09/qingdao/0").random() for _ in range(3)]
    # However many other draws happen in between, in whatever order.
    sch.rng(1, "plan", "2026-03-09/qingdao/1").random()
    sch.rng(2, "plan", "2026-03-09/qingdao/0").random()
    again = [sch.rng(1, "plan", "2026-03-09/qingdao/0").random() for _ in range(3)]
    assert first == again
    assert sch.rng(1, "a").random() != sch.rng(1, "b").random()
    # Stable on every machine: SHA-256 of the key, not Python's salted hash.
    assert sch.rng(1, "x").randint(0, 10**9) == sch.rng(1, "x").randint(0, 10**9)


def test_poisson_mean_is_about_right_and_zero_for_nothing() -> None:
    draws = [sch.poisson(sch.rng(7, "v", i), 4.0) for i in range(4000)]
    assert 3.8 < sum(draws) / len(draws) < 4.2
    assert sch.poisson(sch.rng(7, "v"), 0.0) == 0


def test_weighted_ignores_dict_order_and_zero_weights() -> None:
    a = sch.weighted(sch.rng(3, "w"), {"x": 1.0, "y": 2.0, "z": 0.0})
    b = sch.weighted(sch.rng(3, "w"), {"z": 0.0, "y": 2.0, "x": 1.0})
    assert a == b != "z"


def at_local(day: date, hour: int, minute: int = 0) -> datetime:
    return sch.local(day, time(hour, minute))


def test_same_day_action_takes_the_next_slot_else_the_next_working_day() -> None:
    monday = date(2026, 3, 9)
    r = sch.rng(1, "t")
    assert sch.officer_time(CAL, at_local(monday, 9), 0, SLOTS, r) == at_local(monday, 11)
    assert sch.officer_time(CAL, at_local(monday, 10, 30), 0, SLOTS, r) == at_local(monday, 11)
    # After the last slot: the first slot of the next working day.
    assert sch.officer_time(CAL, at_local(monday, 16), 0, SLOTS, r) == at_local(
        date(2026, 3, 10), 9
    )
    # Friday evening: Monday.
    friday = date(2026, 3, 13)
    assert sch.officer_time(CAL, at_local(friday, 17), 0, SLOTS, r) == at_local(
        date(2026, 3, 16), 9
    )


def test_working_days_skip_weekends_and_official_holidays() -> None:
    # 2026-09-30 (Wednesday) + 1 working day: the National Day holiday runs 1-7 October 2026
    # (chinesecalendar); the next working day is after it.
    day = sch.add_working_days(CAL, date(2026, 9, 30), 1)
    assert day > date(2026, 10, 7) or CAL.is_working_day(day)
    for d in (date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 5)):
        assert not CAL.is_working_day(d)
    at = sch.officer_time(CAL, at_local(date(2026, 9, 30), 14), 1, SLOTS, sch.rng(1, "h"))
    assert sch.local_day(at) == day
    assert at.astimezone(sch.SHANGHAI).time() in SLOTS
    # Two working days from a Thursday: Monday.
    assert sch.add_working_days(CAL, date(2026, 3, 12), 2) == date(2026, 3, 16)


def test_officer_time_is_always_later_and_on_a_working_day_slot() -> None:
    base = at_local(date(2026, 1, 1), 0)
    for n in range(200):
        r = sch.rng(5, "o", n)
        wd = r.randint(0, 12)
        at = sch.officer_time(CAL, base, wd, SLOTS, r)
        assert at > base
        assert CAL.is_working_day(sch.local_day(at))
        assert at.astimezone(sch.SHANGHAI).time() in SLOTS
        base = at


def test_first_slot_from_an_outage_end() -> None:
    ends = at_local(date(2026, 3, 13), 8)
    assert sch.first_slot_from(CAL, ends, SLOTS) == at_local(date(2026, 3, 13), 9)
    assert sch.first_slot_from(CAL, at_local(date(2026, 3, 13), 9), SLOTS) == at_local(
        date(2026, 3, 13), 9
    )
    saturday = at_local(date(2026, 3, 14), 8)
    assert sch.first_slot_from(CAL, saturday, SLOTS) == at_local(date(2026, 3, 16), 9)


def test_scaled_delay_multiplies_the_slow_court() -> None:
    assert sch.scaled(sch.rng(1, "d"), 2, 2, 3.0) == 6
    assert sch.scaled(sch.rng(1, "d"), 0, 0, 3.0) == 0


def test_agenda_orders_by_instant_phase_serial_whatever_the_insertion_order() -> None:
    t0 = datetime(2026, 3, 9, 1, tzinfo=UTC)
    actions = [
        sch.Action(t0, sch.Phase.REQUESTING, 1, "urge"),
        sch.Action(t0, sch.Phase.ENTRUSTED, 2, "accept"),
        sch.Action(t0 + timedelta(hours=2), sch.Phase.ENTRUSTED, 0, "create"),
        sch.Action(t0, sch.Phase.ENTRUSTED, 1, "acknowledge"),
        sch.Action(t0, sch.Phase.OUTAGE, -1, "stop"),
    ]
    orders = []
    for shift in range(len(actions)):
        agenda = sch.Agenda()
        for a in actions[shift:] + actions[:shift]:
            agenda.add(a)
        assert agenda.next_at() == t0
        orders.append(agenda.pop_due(t0))
        assert len(agenda) == 1
    assert all(o == orders[0] for o in orders)
    assert [a.kind for a in orders[0]] == ["stop", "acknowledge", "accept", "urge"]


def test_next_instant_is_the_earlier_of_action_and_clock_never_backwards() -> None:
    now = datetime(2026, 3, 9, 1, tzinfo=UTC)
    later, latest = now + timedelta(hours=1), now + timedelta(hours=5)
    assert sch.next_instant(later, latest, now) == later
    assert sch.next_instant(latest, later, now) == later
    assert sch.next_instant(None, later, now) == later
    assert sch.next_instant(later, None, now) == later
    assert sch.next_instant(None, None, now) is None
    assert sch.next_instant(now - timedelta(hours=1), None, now) == now


def test_working_days_of_a_period() -> None:
    days = list(sch.working_days(CAL, date(2026, 3, 9), 14))
    assert len(days) == 10
    assert all(d.weekday() < 5 for d in days)
