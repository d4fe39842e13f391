"""Seizures and freezes in force (issue 14): the terms a step records, the law's longest terms,
and the watch on their expiry on the official working-day calendar (domain/controls.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from jiaodong.domain import controls
from jiaodong.domain.calendar import start_of_day
from jiaodong.domain.controls import RenewalPolicy, WatchState
from jiaodong.domain.errors import InvalidInput, RegistryError
from jiaodong.domain.lifecycle import ControlTerm, Event, EventKind, Side
from jiaodong.domain.sla_policy import parse_policy
from jiaodong.files.calendar import official_calendar
from jiaodong.wire import control_pb, controls_from_pb, event_from_pb, event_pb

CAL = official_calendar()
POLICY = RenewalPolicy()

# A freeze of deposits for the law's longest term, one year: 6 Nov 2025 to 5 Nov 2026.
FREEZE = ControlTerm("DEPOSIT", "烟银冻字2025第0001号", date(2025, 11, 6), date(2026, 11, 5))


def test_a_freezes_warning_lands_on_the_working_day_calendar_around_national_day() -> None:
    w = controls.watch(FREEZE, POLICY, CAL)
    # A month before the end is Monday 5 October 2026, inside the National Day holiday (1-7
    # October): the renewal limit moves back to the last working day before it, Wednesday 30
    # September, never later than the rule.
    assert controls.months_before(FREEZE.ends_on, 1) == date(2026, 10, 5)
    assert not CAL.is_working_day(date(2026, 10, 5))
    assert w.renew_by == date(2026, 9, 30)
    # Ten working days before it, counted back over the Mid-autumn holiday (25-27 September)
    # and across Sunday 20 September, a make-up working day: 29, 28, 24, 23, 22, 21, 20 (Sun),
    # 18, 17, 16.
    assert CAL.is_working_day(date(2026, 9, 20)) and not CAL.is_working_day(date(2026, 9, 25))
    assert w.warn_on == date(2026, 9, 16)
    working = [
        date(2026, 9, 16) + timedelta(days=i)
        for i in range((w.renew_by - w.warn_on).days)
        if CAL.is_working_day(date(2026, 9, 16) + timedelta(days=i))
    ]
    assert len(working) == POLICY.warn_working_days


@pytest.mark.parametrize(
    ("today", "state"),
    [
        (date(2026, 9, 15), WatchState.STANDING),
        (date(2026, 9, 16), WatchState.RENEW_SOON),
        (date(2026, 9, 30), WatchState.RENEW_SOON),
        (date(2026, 10, 1), WatchState.RENEW_OVERDUE),
        (date(2026, 11, 5), WatchState.RENEW_OVERDUE),
        (date(2026, 11, 6), WatchState.LAPSED),
    ],
)
def test_the_states_of_a_watch_day_by_day(today: date, state: WatchState) -> None:
    w = controls.watch(FREEZE, POLICY, CAL)
    assert w.state(today) is state
    assert w.state(today, renewed=True) is WatchState.RENEWED


def test_next_change_walks_the_states_and_stops_after_the_end() -> None:
    w = controls.watch(FREEZE, POLICY, CAL)
    seen = []
    day: date | None = date(2025, 11, 6)
    while day is not None:
        seen.append((day, w.state(day)))
        day = w.next_change(day)
    assert seen == [
        (date(2025, 11, 6), WatchState.STANDING),
        (date(2026, 9, 16), WatchState.RENEW_SOON),
        (date(2026, 10, 1), WatchState.RENEW_OVERDUE),
        (date(2026, 11, 6), WatchState.LAPSED),
    ]
    # The instant a state changes is the start of that day in Beijing.
    assert start_of_day(date(2026, 9, 16)).astimezone(UTC) == datetime(
        2026, 9, 15, 16, 0, tzinfo=UTC
    )


def test_policy_numbers_move_the_dates() -> None:
    two_months = controls.watch(FREEZE, RenewalPolicy(renew_before_months=2), CAL)
    assert two_months.renew_by == date(2026, 9, 4)  # Saturday 5 September -> Friday 4th
    no_warning = controls.watch(FREEZE, RenewalPolicy(warn_working_days=0), CAL)
    assert no_warning.warn_on == no_warning.renew_by


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 3, 31), 1, date(2027, 2, 28)),
        (date(2028, 3, 31), 1, date(2028, 2, 29)),
        (date(2027, 1, 15), 1, date(2026, 12, 15)),
        (date(2027, 12, 31), 11, date(2027, 1, 31)),
        (date(2027, 5, 31), 3, date(2027, 2, 28)),
    ],
)
def test_months_before(day: date, months: int, expected: date) -> None:
    assert controls.months_before(day, months) == expected


def test_the_laws_longest_terms() -> None:
    def longest(asset: str, start: date) -> date:
        return controls.longest_end(ControlTerm(asset, "x", start, start))

    assert longest("DEPOSIT", date(2026, 3, 2)) == date(2027, 3, 1)
    assert longest("VEHICLE", date(2026, 3, 2)) == date(2028, 3, 1)
    assert longest("REAL_ESTATE", date(2026, 3, 2)) == date(2029, 3, 1)
    assert longest("EQUITY", date(2024, 2, 29)) == date(2027, 2, 28)


def violations(terms: tuple[ControlTerm, ...], kind: EventKind = EventKind.COMPLETED) -> list[str]:
    return [f"{v.field}: {v.description}" for v in controls.term_violations(terms, kind)]


def test_terms_are_checked_against_the_law_and_the_step() -> None:
    assert violations((FREEZE,)) == []
    assert violations((FREEZE,), EventKind.PROGRESS_REPORTED) == []
    assert violations((FREEZE,), EventKind.ACCEPTED) == [
        "controls: only a progress report or a result may record controls"
    ]
    too_long = replace(FREEZE, ends_on=date(2026, 11, 6))
    (message,) = violations((too_long,))
    assert message.startswith("controls[0].ends_on: a control of deposit stands at most 1 year")
    assert "until 2026-11-05" in message and "art. 487" in message
    backwards = replace(FREEZE, ends_on=date(2025, 11, 5))
    assert violations((backwards,)) == [
        "controls[0].ends_on: a control cannot end before it starts"
    ]
    assert violations((replace(FREEZE, reference=" "),))[0].startswith("controls[0].reference")
    assert violations((replace(FREEZE, reference="a\nb"),))[0].startswith("controls[0].reference")
    assert violations((replace(FREEZE, asset="UNSPECIFIED"),))[0].startswith(
        "controls[0].asset_kind: must be one of"
    )
    with pytest.raises(InvalidInput):
        controls.check_terms((too_long,), EventKind.COMPLETED)


def event(terms: tuple[ControlTerm, ...] = ()) -> Event:
    return Event(
        "e1",
        5,
        EventKind.COMPLETED,
        Side.ENTRUSTED,
        "370602",
        datetime(2025, 11, 6, 2, tzinfo=UTC),
        text="冻结完毕",
        result="DONE",
        controls=terms,
    ).sealed("a" * 64)


def test_an_event_without_controls_hashes_as_before_and_one_with_them_seals_them() -> None:
    import hashlib
    import json

    plain = event()
    body = {
        "event_id": "e1",
        "seq": 5,
        "kind": "COMPLETED",
        "side": "ENTRUSTED",
        "actor_court": "370602",
        "at": "2025-11-06T02:00:00.000000+00:00",
        "text": "冻结完毕",
        "court_id": "",
        "return_reason": "",
        "result": "DONE",
        "documents": [],
        "request_id": "",
        "prev_hash": "a" * 64,
    }
    raw = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert plain.hash == hashlib.sha256(raw.encode()).hexdigest()  # histories before 0014
    frozen = event((FREEZE,))
    assert frozen.hash != plain.hash
    # Moving the end date afterwards breaks the seal.
    moved = replace(frozen, controls=(replace(FREEZE, ends_on=date(2026, 12, 5)),))
    assert moved.content_hash() != frozen.hash


def test_the_wire_carries_terms_both_ways_and_refuses_bad_dates() -> None:
    frozen = event((FREEZE,))
    assert event_from_pb(event_pb(frozen)) == frozen
    bad = control_pb(FREEZE)
    bad.ends_on = "2026-13-01"
    with pytest.raises(InvalidInput) as err:
        controls_from_pb([bad])
    assert err.value.violations[0].field == "controls[0].ends_on"
    missing = control_pb(FREEZE)
    missing.asset_kind = 0
    with pytest.raises(InvalidInput) as err:
        controls_from_pb([missing])
    assert err.value.violations[0].field == "controls[0].asset_kind"


def test_placed_lists_every_term_with_its_event() -> None:
    history = [event((FREEZE, replace(FREEZE, reference="烟银冻字2025第0002号")))]
    placed = controls.placed(history)
    assert [(p.seq, p.index, p.court, p.term.reference[-5:]) for p in placed] == [
        (5, 0, "370602", "0001号"),
        (5, 1, "370602", "0002号"),
    ]


CATCH_ALL = """
[[rule]]
task = "*"
asset = "*"
priority = "{p}"
acknowledge = {{ length = 3, unit = "working_days", on_breach = "urge", source = "s" }}
start = {{ length = 15, unit = "days", on_breach = "escalate", source = "s" }}
progress = {{ length = 30, unit = "days", on_breach = "urge", source = "s" }}
complete = {{ length = 30, unit = "days", on_breach = "urge", source = "s" }}
inaction = {{ length = 15, unit = "days", on_breach = "urge", source = "s" }}
supplement = {{ length = 30, unit = "days", on_breach = "withdraw", source = "s" }}
"""
RULES = CATCH_ALL.format(p="normal") + CATCH_ALL.format(p="urgent")


def test_the_renewal_table_of_the_policy_file() -> None:
    assert parse_policy(RULES, "sla.toml").renewal == RenewalPolicy()
    text = RULES + '\n[renewal]\nrenew_before_months = 2\nwarn_working_days = 5\nsource = "x"\n'
    policy = parse_policy(text, "sla.toml").renewal
    assert (policy.renew_before_months, policy.warn_working_days, policy.source) == (2, 5, "x")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("renew_before_months = 0", "renew_before_months must be a whole number from 1 to 11"),
        ("warn_working_days = -1", "warn_working_days must be a whole number from 0 to 60"),
        ('warn_working_days = "10"', "warn_working_days must be a whole number from 0 to 60"),
        ("months = 1", "unknown key 'months'"),
        ('source = ""', "source must say where the number comes from"),
    ],
)
def test_a_mistake_in_the_renewal_table_names_its_line(body: str, message: str) -> None:
    text = RULES + "\n[renewal]\n" + body + "\n"
    line = text.count("\n")  # the key is on the last line
    with pytest.raises(RegistryError) as err:
        parse_policy(text, "sla.toml")
    assert f"sla.toml:{line}:" in str(err.value) and message in str(err.value)


def term(asset: str, number: str) -> ControlTerm:
    return ControlTerm(asset, number, date(2026, 1, 5), date(2027, 1, 4))


def test_a_renewal_renews_the_controls_it_names_and_no_others() -> None:
    flats = [(k, "REAL_ESTATE", f"N-{k}") for k in (1, 2, 3)]
    # The registry renewed one of three flats under its own number: that one only.
    assert controls.renewed_keys(flats, [term("REAL_ESTATE", "N-2")]) == [2]
    # An officer's renewal records new numbers: one renewed per new term, in order.
    assert controls.renewed_keys(flats, [term("REAL_ESTATE", "R-1")]) == [1]
    assert controls.renewed_keys(
        flats, [term("REAL_ESTATE", "N-3"), term("REAL_ESTATE", "R-9")]
    ) == [3, 1]
    # Another asset kind renews nothing here.
    assert controls.renewed_keys(flats, [term("DEPOSIT", "N-1")]) == []


def test_only_checked_terms_of_progress_reports_and_results_are_watched() -> None:
    good = event((FREEZE,))
    too_long = event((replace(FREEZE, ends_on=date(2027, 1, 1)),))
    accepted = replace(event(), kind=EventKind.ACCEPTED, controls=(FREEZE,))
    assert [p.seq for p in controls.placed([good, too_long, accepted])] == [5]
    comma = replace(FREEZE, reference="A-1,A-2")  # renewals list numbers comma-separated
    assert violations((comma,))[0].startswith("controls[0].reference")
