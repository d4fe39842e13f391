"""The working-day calendar and the law's period counting, on the real official data.

Virtual time only: every instant is written out; the wall clock is never read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiaodong.domain.calendar import (
    SHANGHAI,
    DayKind,
    Deadline,
    WorkCalendar,
    days_left,
    deadline,
    describe,
    local_day,
    parse_overrides,
    resume,
)
from jiaodong.domain.errors import RegistryError
from jiaodong.domain.periods import Period, Unit, amount
from jiaodong.files.calendar import load_calendar, official_calendar

CAL = official_calendar()
REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "courts" / "holidays" / "example.toml.sample"


def local(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    """An Asia/Shanghai wall-clock time as a UTC instant."""
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


def end_of(day: date) -> datetime:
    """24:00 Asia/Shanghai at the end of ``day``, in UTC (16:00 UTC the same date)."""
    return datetime(day.year, day.month, day.day, 16, 0, tzinfo=UTC)


def days(n: int) -> Period:
    return Period(n, Unit.DAYS)


def working(n: int) -> Period:
    return Period(n, Unit.WORKING_DAYS)


# ---------------------------------------------------------------- the package's data


def test_the_package_data_used_below() -> None:
    """The facts the cases rest on, checked against the package so a data change shows here."""
    for n in range(1, 9):
        assert CAL.info(date(2025, 10, n)).kind is DayKind.HOLIDAY
    assert CAL.info(date(2025, 10, 9)).kind is DayKind.WORKING
    assert CAL.info(date(2025, 9, 28)).kind is DayKind.MAKEUP_WORKDAY
    assert CAL.info(date(2025, 10, 11)).kind is DayKind.MAKEUP_WORKDAY
    for n in range(15, 24):
        assert CAL.info(date(2026, 2, n)).kind is DayKind.HOLIDAY
        assert CAL.info(date(2026, 2, n)).name == "Spring Festival"
    assert CAL.info(date(2026, 2, 14)).kind is DayKind.MAKEUP_WORKDAY
    assert CAL.info(date(2026, 2, 28)).kind is DayKind.MAKEUP_WORKDAY
    assert CAL.info(date(2026, 10, 1)).name == "National Day"
    assert CAL.is_working_day(date(2026, 10, 8))
    assert min(CAL.covered_years) == 2004 and max(CAL.covered_years) == 2026


def test_day_info() -> None:
    saturday = CAL.info(date(2026, 2, 14))
    assert (saturday.kind, saturday.name, saturday.official) == (
        DayKind.MAKEUP_WORKDAY,
        "Spring Festival",
        True,
    )
    assert CAL.is_working_day(date(2026, 2, 14))
    assert not CAL.is_working_day(date(2026, 2, 16))  # a Monday inside Spring Festival
    assert CAL.info(date(2026, 3, 7)).kind is DayKind.WEEKEND
    assert CAL.info(date(2026, 3, 9)).kind is DayKind.WORKING
    assert CAL.info(date(2027, 3, 9)).official is False
    assert CAL.uncovered_years(date(2025, 6, 1), date(2028, 1, 1)) == [2027, 2028]


def test_an_empty_calendar_knows_only_weekends() -> None:
    bare = WorkCalendar(holidays={}, makeup_workdays={}, covered_years=frozenset())
    assert bare.is_working_day(date(2025, 10, 1))  # National Day, unknown here
    assert not bare.is_working_day(date(2025, 10, 4))
    assert bare.uncovered_years(date(2025, 1, 1), date(2025, 12, 31)) == [2025]
    d = deadline(bare, local(2025, 9, 30), Period(3, Unit.WORKING_DAYS))
    assert d.last_day == date(2025, 10, 3)
    assert d.notes == ("2025 is not covered by the official calendar; weekends only",)


def test_default_load_reads_no_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JD_COURTS_DIR", str(tmp_path))
    (tmp_path / "holidays").mkdir()
    (tmp_path / "holidays" / "x.toml.sample").write_text(SAMPLE.read_text())
    assert 2027 not in load_calendar().covered_years


# ---------------------------------------------------------------- calendar days


def test_15_days_across_national_day_2025() -> None:
    """Day 15 after 2025-09-20 is Sunday 2025-10-05, inside the holiday (Oct 1-8): the period
    ends on the first working day after it, Thursday 2025-10-09."""
    d = deadline(CAL, local(2025, 9, 20), days(15))
    assert d.moved_from == date(2025, 10, 5)
    assert d.last_day == date(2025, 10, 9)
    assert d.due == datetime(2025, 10, 9, 16, 0, tzinfo=UTC)
    assert [s.counted for s in d.steps] == [*range(1, 16), 0, 0, 0, 0]
    assert d.steps[0].day == date(2025, 9, 21)  # the starting day is not counted
    assert d.steps[7].kind is DayKind.MAKEUP_WORKDAY  # Sep 28 counts like every calendar day
    assert d.notes == ()


def test_ending_on_a_holiday_moves_to_the_next_working_day() -> None:
    """7 days from Thursday 2026-09-24 ends on 2026-10-01 (National Day, Oct 1-7): moves to
    Thursday 2026-10-08."""
    d = deadline(CAL, local(2026, 9, 24), days(7))
    assert (d.moved_from, d.last_day) == (date(2026, 10, 1), date(2026, 10, 8))
    assert d.due == end_of(date(2026, 10, 8))


def test_ending_on_a_weekend_moves_to_monday() -> None:
    d = deadline(CAL, local(2026, 3, 2), days(5))  # Mon + 5 = Sat 2026-03-07
    assert (d.moved_from, d.last_day) == (date(2026, 3, 7), date(2026, 3, 9))


def test_ending_on_a_makeup_saturday_does_not_move() -> None:
    d = deadline(CAL, local(2026, 2, 23), days(5))  # ends Sat 2026-02-28, a make-up workday
    assert (d.moved_from, d.last_day) == (None, date(2026, 2, 28))


def test_ending_on_a_working_day_does_not_move() -> None:
    d = deadline(CAL, local(2026, 3, 2), days(4))
    assert (d.moved_from, d.last_day) == (None, date(2026, 3, 6))


# ---------------------------------------------------------------- working days


def test_working_days_across_spring_festival_2026() -> None:
    """From Thursday 2026-02-12: Fri 13 (1), make-up Sat 14 (2), Feb 15-23 holidays,
    Tue 24 (3), Wed 25 (4), Thu 26 (5)."""
    d = deadline(CAL, local(2026, 2, 12), working(5))
    assert d.last_day == date(2026, 2, 26)
    assert d.moved_from is None
    counted = {s.day: s.counted for s in d.steps}
    assert counted[date(2026, 2, 13)] == 1
    assert counted[date(2026, 2, 14)] == 2
    assert all(counted[date(2026, 2, n)] == 0 for n in range(15, 24))
    assert counted[date(2026, 2, 26)] == 5
    assert len(d.steps) == 14


def test_a_makeup_saturday_counts_as_a_working_day() -> None:
    d = deadline(CAL, local(2026, 2, 26), working(2))  # Fri 27 (1), make-up Sat 28 (2)
    assert d.last_day == date(2026, 2, 28)
    assert d.steps[-1].kind is DayKind.MAKEUP_WORKDAY and d.steps[-1].counted == 2
    plain = deadline(CAL, local(2026, 3, 5), working(2))  # Fri 6 (1), Sat, Sun, Mon 9 (2)
    assert plain.last_day == date(2026, 3, 9)


# ---------------------------------------------------------------- hours, zero, local day


def test_hours_ignore_holidays() -> None:
    start = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    d = deadline(CAL, start, Period(48, Unit.HOURS))
    assert d.due == datetime(2026, 10, 3, 2, 0, tzinfo=UTC)
    assert (d.last_day, d.steps, d.moved_from, d.notes) == (None, (), None, ())


@pytest.mark.parametrize("unit", [Unit.DAYS, Unit.WORKING_DAYS])
def test_length_zero_is_the_end_of_the_starting_day(unit: Unit) -> None:
    d = deadline(CAL, local(2026, 3, 3, 9), Period(0, unit))
    assert (d.last_day, d.due, d.steps) == (date(2026, 3, 3), end_of(date(2026, 3, 3)), ())
    holiday = deadline(CAL, local(2026, 10, 2), Period(0, unit))
    assert holiday.last_day == date(2026, 10, 2)  # nothing is counted, so nothing moves


def test_late_evening_belongs_to_that_local_day() -> None:
    late = datetime(2026, 2, 13, 15, 30, tzinfo=UTC)  # 23:30 Friday in Shanghai
    assert local_day(late) == date(2026, 2, 13)
    assert deadline(CAL, late, working(1)).last_day == date(2026, 2, 14)
    past_midnight = datetime(2026, 2, 13, 16, 30, tzinfo=UTC)  # 00:30 Saturday in Shanghai
    assert local_day(past_midnight) == date(2026, 2, 14)
    assert deadline(CAL, past_midnight, working(1)).last_day == date(2026, 2, 24)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline(CAL, datetime(2026, 3, 2, 10), days(1))


# ---------------------------------------------------------------- uncovered years, overrides

OVERRIDES_2027 = """year = 2027
[[holiday]]
from = 2027-01-01
to = 2027-01-03
name = "New Year's Day"
"""


def test_uncovered_2027_is_weekends_only_with_a_note() -> None:
    d = deadline(CAL, local(2026, 12, 31), days(1))
    assert d.last_day == date(2027, 1, 1)  # a Friday: a working day when only weekends are known
    assert d.notes == ("2027 is not covered by the official calendar; weekends only",)
    assert CAL.info(date(2027, 1, 1)).kind is DayKind.WORKING
    long = deadline(CAL, local(2027, 12, 20), days(30))
    assert long.notes == (
        "2027 is not covered by the official calendar; weekends only",
        "2028 is not covered by the official calendar; weekends only",
    )


def test_overrides_cover_2027_and_move_a_deadline() -> None:
    cal = CAL.with_overrides(parse_overrides(OVERRIDES_2027, "2027.toml"))
    assert 2027 in cal.covered_years
    d = deadline(cal, local(2026, 12, 31), days(1))
    assert (d.moved_from, d.last_day, d.notes) == (date(2027, 1, 1), date(2027, 1, 4), ())
    assert cal.info(date(2027, 1, 2)).name == "New Year's Day"
    assert CAL.info(date(2027, 1, 1)).kind is DayKind.WORKING  # the original is unchanged


def test_override_days_win_over_official_ones() -> None:
    text = 'year = 2026\n[[workday]]\ndate = 2026-10-03\nname = "National Day"\n'
    cal = CAL.with_overrides(parse_overrides(text, "fix.toml"))
    assert cal.info(date(2026, 10, 3)).kind is DayKind.MAKEUP_WORKDAY


def test_load_calendar_reads_toml_files(tmp_path: Path) -> None:
    (tmp_path / "holidays").mkdir()
    (tmp_path / "holidays" / "2027.toml").write_text(SAMPLE.read_text())
    cal = load_calendar(tmp_path)
    assert 2027 in cal.covered_years
    assert cal.info(date(2027, 2, 8)).kind is DayKind.HOLIDAY
    assert cal.info(date(2027, 2, 20)).kind is DayKind.MAKEUP_WORKDAY


def test_load_calendar_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "holidays").mkdir()
    bad = tmp_path / "holidays" / "2027.toml"
    bad.write_text("year = 2027\n[[holiday]]\ndate = 2027-01-01\n")
    with pytest.raises(RegistryError) as caught:
        load_calendar(tmp_path)
    assert (caught.value.file, caught.value.line) == (str(bad), 2)


def error(text: str) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        parse_overrides(text, "courts/holidays/2027.toml")
    assert caught.value.file == "courts/holidays/2027.toml"
    assert str(caught.value).startswith(f"courts/holidays/2027.toml:{caught.value.line}: ")
    return caught.value


GOOD_HEAD = """# 2027
year = 2027

[[holiday]]
date = 2027-01-01
name = "New Year's Day"

"""  # lines 1-7: a later block starts at line 8


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ('[[holiday]]\ndate = 2026-12-31\nname = "x"\n', 9, "outside year 2027"),
        ('[[holiday]]\nfrom = 2027-02-13\nto = 2027-02-05\nname = "x"\n', 9, "after `to`"),
        ('[[holiday]]\nfrom = 2027-02-05\nto = 2028-01-02\nname = "x"\n', 10, "outside year"),
        ("[[holiday]]\ndate = 2027-05-01\n", 8, "no `name`"),
        ('[[holiday]]\ndate = 2027-05-01\nname = "  "\n', 8, "no `name`"),
        ('[[holiday]]\nname = "x"\n', 8, "needs `date`"),
        ('[[holiday]]\ndate = "2027-05-01"\nname = "x"\n', 9, "without quotes"),
        ('[[holiday]]\ndate = 2027-05-01\nday = 1\nname = "x"\n', 10, "unknown key `day`"),
        ('[[workday]]\ndate = 2027-02-08\nname = "Spring Festival"\n', 9, "is a Mon"),
        (
            '[[holiday]]\ndate = 2027-01-02\nname = "x"\n'
            '[[workday]]\ndate = 2027-01-02\nname = "x"\n',
            11,
            "both a make-up workday and a holiday ([[holiday]] at line 8)",
        ),
        ('[[workday]]\ndate = 2028-01-01\nname = "x"\n', 9, "outside year"),
        ("[[workday]]\ndate = 2027-02-20\n", 8, "no `name`"),
        ('[[workday]]\nname = "x"\n', 8, "needs `date`"),
        ("[[holiday]]\ndate = 2027-05-01\nname = \n", 10, "not valid TOML"),
        ("[[holiday]\n", 8, "not valid TOML"),
    ],
)
def test_override_errors_name_file_and_line(body: str, line: int, words: str) -> None:
    caught = error(GOOD_HEAD + body)
    assert caught.line == line, caught
    assert words in caught.message


def test_override_errors_in_the_second_block_of_a_kind() -> None:
    second = '[[holiday]]\ndate = 2027-05-01\nname = "x"\n\n[[holiday]]\nname = "y"\ndate = 1\n'
    assert error(GOOD_HEAD + second).line == 14  # the second block's `date` (its header: 12)
    assert error(GOOD_HEAD + second.replace("date = 1\n", "")).line == 12  # needs a date


def test_override_errors_at_the_top() -> None:
    assert error('[[holiday]]\ndate = 2027-01-01\nname = "x"\n').line == 1  # no year
    missing = error("# nothing\n")
    assert (missing.line, "missing `year" in missing.message) == (1, True)
    assert error('# c\nyear = "2027"\n').line == 2
    assert error("year = 2027\nyeer = 2028\n").line == 2
    assert error("year = 2027\nholiday = 3\n").line == 2


def test_the_sample_file_is_valid() -> None:
    ov = parse_overrides(SAMPLE.read_text(), str(SAMPLE))
    assert ov.years == frozenset({2027})
    assert len(ov.holidays) == 10 and len(ov.makeup_workdays) == 1


# ---------------------------------------------------------------- describe


def test_describe_names_the_holidays_and_the_move() -> None:
    lines = describe(deadline(CAL, local(2026, 9, 30, 14), days(4)))
    text = "\n".join(lines)
    assert lines[0].startswith("start 2026-09-30 14:00 Asia/Shanghai (2026-09-30 06:00 UTC)")
    assert "the starting day 2026-09-30 is not counted" in text
    assert "2026-10-01 Thu  holiday (National Day)  1" in lines
    assert "2026-10-05 Mon  holiday (National Day)  extended" in lines
    assert "2026-10-08 Thu  working day  extended" in lines
    assert (
        "2026-10-04 is a holiday (National Day): the period ends on the next working day, "
        "2026-10-08" in lines
    )
    assert lines[-1] == "due by 2026-10-08 24:00 Asia/Shanghai (2026-10-08 16:00 UTC)"


def test_describe_working_days_and_notes() -> None:
    lines = describe(deadline(CAL, local(2026, 2, 12), working(3)))
    assert "2026-02-14 Sat  make-up workday (Spring Festival)  2" in lines
    assert "2026-02-16 Mon  holiday (Spring Festival)  not counted" in lines
    weekend = describe(deadline(CAL, local(2026, 3, 2), days(5)))
    assert "2026-03-07 is a weekend day: the period ends on the next working day, 2026-03-09" in (
        weekend
    )
    uncovered = describe(deadline(CAL, local(2026, 12, 31), days(1)))
    assert uncovered[-1] == "2027 is not covered by the official calendar; weekends only"
    hours = describe(deadline(CAL, local(2026, 10, 1), Period(48, Unit.HOURS)))
    assert hours[-1] == "due by 2026-10-03 10:00 Asia/Shanghai (2026-10-03 02:00 UTC)"


# ---------------------------------------------------------------- pausing


def test_pause_and_resume_working_days() -> None:
    d = deadline(CAL, local(2026, 2, 12), working(5))  # due end of 2026-02-26
    left = days_left(CAL, local(2026, 2, 13, 11), d.due, Unit.WORKING_DAYS)
    assert left == 4  # Sat 14, Tue 24, Wed 25, Thu 26
    later = resume(CAL, local(2026, 3, 2, 9), left, d.period)  # Mon: Tue 3 .. Fri 6
    assert later.last_day == date(2026, 3, 6)
    assert later.period == working(4)
    assert later.notes[0] == "resumed after a pause with 4 working days left of 5 working days"


def test_one_unit_is_written_in_the_singular() -> None:
    """ "1 working day", never "1 working days"; the plural from 0 and from 2."""
    assert str(working(1)) == "1 working day"
    assert str(days(1)) == "1 day"
    assert str(Period(1, Unit.HOURS)) == "1 hour"
    assert [amount(n, Unit.WORKING_DAYS) for n in (0, 2, 21)] == [
        "0 working days",
        "2 working days",
        "21 working days",
    ]
    assert str(days(15)) == "15 days"
    assert str(Period(24, Unit.HOURS)) == "24 hours"
    d = deadline(CAL, local(2026, 2, 12), working(5))
    later = resume(CAL, local(2026, 3, 2, 9), 1, d.period)
    assert later.notes[0] == "resumed after a pause with 1 working day left of 5 working days"
    assert describe(deadline(CAL, local(2026, 3, 2), days(1)))[0].endswith("period 1 day")


def test_pause_and_resume_hours_and_edges() -> None:
    d = deadline(CAL, local(2026, 3, 2), Period(24, Unit.HOURS))
    left = days_left(CAL, local(2026, 3, 2, 16), d.due, Unit.HOURS)
    assert left == timedelta(hours=18)
    assert resume(CAL, local(2026, 3, 5), left, d.period).due == local(2026, 3, 6, 4)
    assert days_left(CAL, local(2026, 3, 9), d.due, Unit.HOURS) == timedelta(0)
    assert days_left(CAL, local(2026, 3, 9), end_of(date(2026, 3, 6)), Unit.DAYS) == 0
    with pytest.raises(TypeError):
        resume(CAL, local(2026, 3, 5), 3, d.period)
    with pytest.raises(TypeError):
        resume(CAL, local(2026, 3, 5), timedelta(days=1), days(3))


# ---------------------------------------------------------------- properties

instants = st.datetimes(
    min_value=datetime(2004, 1, 2), max_value=datetime(2027, 6, 30), timezones=st.just(UTC)
)
day_units = st.sampled_from([Unit.DAYS, Unit.WORKING_DAYS])
units = st.sampled_from(list(Unit))
lengths = st.integers(min_value=0, max_value=90)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def compute(start: datetime, length: int, unit: Unit) -> Deadline:
    return deadline(CAL, start, Period(length, unit))


@PROPS
@given(instants, lengths, units)
def test_due_is_never_earlier_than_start(start: datetime, length: int, unit: Unit) -> None:
    assert compute(start, length, unit).due >= start


@PROPS
@given(instants, st.integers(min_value=1, max_value=90), day_units)
def test_last_day_is_a_working_day(start: datetime, length: int, unit: Unit) -> None:
    d = compute(start, length, unit)
    assert d.last_day is not None and CAL.is_working_day(d.last_day)
    assert d.due == end_of(d.last_day)
    assert d.last_day > local_day(start)


@PROPS
@given(instants, lengths, units)
def test_monotonic_in_length(start: datetime, length: int, unit: Unit) -> None:
    assert compute(start, length, unit).due <= compute(start, length + 1, unit).due


@PROPS
@given(
    instants,
    lengths,
    units,
    st.floats(min_value=0, max_value=1),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
)
def test_pausing_never_shortens(
    start: datetime, length: int, unit: Unit, where: float, pause: timedelta
) -> None:
    original = compute(start, length, unit)
    at = start + (original.due - start) * where
    at2 = at + pause
    left = days_left(CAL, at, original.due, unit)
    assert resume(CAL, at2, left, original.period).due >= original.due
    assert resume(CAL, at, left, original.period).due >= original.due


@PROPS
@given(instants, lengths, st.floats(min_value=0, max_value=1, exclude_max=True))
def test_pause_at_an_instant_and_resume_there_is_idempotent(
    start: datetime, length: int, where: float
) -> None:
    original = compute(start, length, Unit.WORKING_DAYS)
    at = start + (original.due - start) * where
    if at >= original.due:  # float rounding at the very end
        at = original.due - timedelta(microseconds=1)
    left = days_left(CAL, at, original.due, Unit.WORKING_DAYS)
    assert isinstance(left, int)
    assert resume(CAL, at, left, original.period).due == original.due
