"""The official working-day calendar and the law's period counting, pure and testable.

Day logic happens on local dates in Asia/Shanghai; instants in and out are timezone-aware UTC.

The counting rule (Civil Procedure Law, periods chapter): the starting day is not counted; a
period that ends on a statutory holiday (weekend rest days included) ends on the first working
day after it. A make-up workday (调休上班日: a Saturday or Sunday worked in exchange for a
holiday) is a working day.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from jiaodong.domain.errors import RegistryError
from jiaodong.domain.periods import Period, Unit

SHANGHAI = ZoneInfo("Asia/Shanghai")

_ONE_DAY = timedelta(days=1)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class DayKind(StrEnum):
    """What a day is on the official calendar."""

    WORKING = "working"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    MAKEUP_WORKDAY = "makeup_workday"  # a Saturday or Sunday worked in exchange for a holiday


@dataclass(frozen=True)
class DayInfo:
    """One day: its kind, the holiday's name (also for a make-up workday) and whether the year
    is covered by official data (if not, only weekends are known)."""

    day: date
    kind: DayKind
    name: str
    official: bool


@dataclass(frozen=True)
class Overrides:
    """Holidays and make-up workdays read from an operator's file; ``years`` become covered."""

    holidays: Mapping[date, str]
    makeup_workdays: Mapping[date, str]
    years: frozenset[int]


@dataclass(frozen=True)
class WorkCalendar:
    """Official holidays and make-up workdays; outside ``covered_years`` only weekends are known."""

    holidays: Mapping[date, str]
    makeup_workdays: Mapping[date, str]
    covered_years: frozenset[int]

    def info(self, day: date) -> DayInfo:
        official = day.year in self.covered_years
        if day in self.makeup_workdays:
            return DayInfo(day, DayKind.MAKEUP_WORKDAY, self.makeup_workdays[day], official)
        if day in self.holidays:
            return DayInfo(day, DayKind.HOLIDAY, self.holidays[day], official)
        if day.weekday() >= 5:
            return DayInfo(day, DayKind.WEEKEND, "", official)
        return DayInfo(day, DayKind.WORKING, "", official)

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def uncovered_years(self, first: date, last: date) -> list[int]:
        """Years from ``first`` to ``last`` (either order) without official data."""
        low, high = sorted((first.year, last.year))
        return [year for year in range(low, high + 1) if year not in self.covered_years]

    def with_overrides(self, ov: Overrides) -> WorkCalendar:
        """This calendar with ``ov`` applied: override days win; its years become covered."""
        holidays = dict(self.holidays)
        makeup = dict(self.makeup_workdays)
        for day, name in ov.holidays.items():
            makeup.pop(day, None)
            holidays[day] = name
        for day, name in ov.makeup_workdays.items():
            holidays.pop(day, None)
            makeup[day] = name
        return WorkCalendar(
            holidays=MappingProxyType(holidays),
            makeup_workdays=MappingProxyType(makeup),
            covered_years=self.covered_years | ov.years,
        )


@dataclass(frozen=True)
class Step:
    """One day of a computation; ``counted`` is the running count after it (0: not counted)."""

    day: date
    kind: DayKind
    name: str
    counted: int


@dataclass(frozen=True)
class Deadline:
    """A computed time limit. ``due`` is the exclusive end instant (UTC): for day units local
    midnight at the end of ``last_day``; for hours ``start`` + length hours. ``moved_from`` is the
    day the period would have ended on before the holiday rule moved it."""

    start: datetime
    period: Period
    due: datetime
    last_day: date | None
    steps: tuple[Step, ...]
    moved_from: date | None
    notes: tuple[str, ...]


def _utc(instant: datetime, what: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


def local_day(instant: datetime) -> date:
    """The Asia/Shanghai date of an aware instant."""
    return _utc(instant, "instant").astimezone(SHANGHAI).date()


def start_of_day(day: date) -> datetime:
    """The instant ``day`` begins in Asia/Shanghai."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


def working_day_on_or_before(cal: WorkCalendar, day: date) -> date:
    """``day`` if it is a working day, else the last working day before it."""
    while not cal.is_working_day(day):
        day -= _ONE_DAY
    return day


def working_days_before(cal: WorkCalendar, day: date, count: int) -> date:
    """The working day ``count`` working days before ``day`` (``day`` itself not counted);
    ``day`` for 0."""
    for _ in range(count):
        day = working_day_on_or_before(cal, day - _ONE_DAY)
    return day


def end_of_day(day: date) -> datetime:
    """The instant (UTC) at which ``day`` ends in Asia/Shanghai: 00:00 of the next day."""
    return datetime.combine(day + _ONE_DAY, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def _step(cal: WorkCalendar, day: date, counted: int) -> Step:
    info = cal.info(day)
    return Step(day, info.kind, info.name, counted)


def _uncovered_notes(cal: WorkCalendar, first: date, last: date) -> tuple[str, ...]:
    return tuple(
        f"{year} is not covered by the official calendar; weekends only"
        for year in cal.uncovered_years(first, last)
    )


def deadline(cal: WorkCalendar, start: datetime, period: Period) -> Deadline:
    """The deadline of ``period`` from ``start`` under the law's counting rule."""
    start = _utc(start, "start")
    if period.length < 0:
        raise ValueError(f"a period cannot be negative: {period.length}")
    if period.unit is Unit.HOURS:
        due = start + timedelta(hours=period.length)
        return Deadline(start, period, due, None, (), None, ())

    first = local_day(start)
    day = first
    steps: list[Step] = []
    moved_from: date | None = None
    if period.unit is Unit.DAYS:
        for count in range(1, period.length + 1):
            day += _ONE_DAY
            steps.append(_step(cal, day, count))
        if period.length > 0 and not cal.is_working_day(day):
            moved_from = day
            while True:
                day += _ONE_DAY
                steps.append(_step(cal, day, 0))
                if cal.is_working_day(day):
                    break
    else:
        count = 0
        while count < period.length:
            day += _ONE_DAY
            if cal.is_working_day(day):
                count += 1
                steps.append(_step(cal, day, count))
            else:
                steps.append(_step(cal, day, 0))
    return Deadline(
        start=start,
        period=period,
        due=end_of_day(day),
        last_day=day,
        steps=tuple(steps),
        moved_from=moved_from,
        notes=_uncovered_notes(cal, first, day),
    )


def days_left(cal: WorkCalendar, at: datetime, due: datetime, unit: Unit) -> int | timedelta:
    """What is left of a period at ``at`` (for pausing it).

    Day units: the days (calendar or working, per ``unit``) strictly after ``at``'s local day up
    to and including the due's last day; 0 if none. Hours: ``due - at``, not below zero."""
    at = _utc(at, "at")
    due = _utc(due, "due")
    if unit is Unit.HOURS:
        return max(due - at, timedelta(0))
    after = local_day(at)
    last = local_day(due - timedelta(microseconds=1))
    if last <= after:
        return 0
    if unit is Unit.DAYS:
        return (last - after).days
    left = 0
    day = after + _ONE_DAY
    while day <= last:
        if cal.is_working_day(day):
            left += 1
        day += _ONE_DAY
    return left


def resume(cal: WorkCalendar, at: datetime, left: int | timedelta, period: Period) -> Deadline:
    """The new deadline when a pause ends at ``at``, giving back ``left`` (from ``days_left``).

    Day units: a period of ``left`` units counted from ``at`` by the same rules (the result's
    ``period`` is that remainder). Hours: ``at + left`` (the result keeps ``period``)."""
    at = _utc(at, "at")
    if period.unit is Unit.HOURS:
        if not isinstance(left, timedelta):
            raise TypeError("an hours period resumes with a timedelta left")
        rest = max(left, timedelta(0))
        note = f"resumed after a pause with {rest} left of {period}"
        return Deadline(at, period, at + rest, None, (), None, (note,))
    if isinstance(left, (timedelta, bool)):
        raise TypeError("a day period resumes with a whole number of days left")
    remainder = Period(max(left, 0), period.unit)
    resumed = deadline(cal, at, remainder)
    note = f"resumed after a pause with {remainder} left of {period}"
    return replace(resumed, notes=(note, *resumed.notes))


# ---------------------------------------------------------------- explanation


def _label(kind: DayKind, name: str) -> str:
    words = {
        DayKind.WORKING: "working day",
        DayKind.WEEKEND: "weekend",
        DayKind.HOLIDAY: "holiday",
        DayKind.MAKEUP_WORKDAY: "make-up workday",
    }
    return f"{words[kind]} ({name})" if name else words[kind]


def _local(instant: datetime) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe(deadline: Deadline) -> list[str]:
    """Human lines explaining ``deadline`` day by day (for ``jiaodong sla explain``)."""
    d = deadline
    lines = [f"start {_local(d.start)} Asia/Shanghai ({_utc_text(d.start)}); period {d.period}"]
    if d.period.unit is Unit.HOURS or d.last_day is None:
        lines.append("counted in clock hours from the start; weekends and holidays do not matter")
        lines.append(f"due by {_local(d.due)} Asia/Shanghai ({_utc_text(d.due)})")
        lines.extend(d.notes)
        return lines
    first = local_day(d.start)
    if not d.steps:
        lines.append(f"length 0: the period ends with the starting day {first}")
    elif d.period.unit is Unit.DAYS:
        lines.append(f"the starting day {first} is not counted; every calendar day after it counts")
    else:
        lines.append(f"the starting day {first} is not counted; only working days count")
    for step in d.steps:
        if step.counted:
            count = str(step.counted)
        elif d.period.unit is Unit.DAYS:
            count = "extended"
        else:
            count = "not counted"
        label = _label(step.kind, step.name)
        lines.append(f"{step.day} {_WEEKDAYS[step.day.weekday()]}  {label}  {count}")
    if d.moved_from is not None:
        moved = next(s for s in d.steps if s.day == d.moved_from)
        what = "a weekend day"
        if moved.kind is not DayKind.WEEKEND:
            what = "a " + _label(moved.kind, moved.name)
        lines.append(
            f"{d.moved_from} is {what}: the period ends on the next working day, {d.last_day}"
        )
    lines.append(f"due by {d.last_day} 24:00 Asia/Shanghai ({_utc_text(d.due)})")
    lines.extend(d.notes)
    return lines


# ---------------------------------------------------------------- override files

_TABLE = re.compile(r"^\s*\[")
_BLOCK = re.compile(r"^\s*\[\[\s*(holiday|workday)\s*\]\]")
_TOML_LINE = re.compile(r"at line (\d+)")
_HOLIDAY_KEYS = frozenset({"date", "from", "to", "name"})
_WORKDAY_KEYS = frozenset({"date", "name"})
_TOP_KEYS = frozenset({"year", "holiday", "workday"})


class _Lines:
    """Finds the line of a block header or key by scanning the text (tomllib keeps no lines)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.blocks: dict[str, list[int]] = {"holiday": [], "workday": []}
        for number, line in enumerate(self.lines, start=1):
            found = _BLOCK.match(line)
            if found:
                self.blocks[found.group(1)].append(number)

    def _key_in(self, key: str, first: int, last: int) -> int | None:
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(first, min(last, len(self.lines)) + 1):
            if pattern.match(self.lines[number - 1]):
                return number
        return None

    def top(self, key: str) -> int:
        end = next((n for n, ln in enumerate(self.lines, 1) if _TABLE.match(ln)), len(self.lines))
        return self._key_in(key, 1, end) or 1

    def block(self, kind: str, index: int) -> int:
        headers = self.blocks[kind]
        return headers[index] if index < len(headers) else self.top(kind)

    def key(self, kind: str, index: int, key: str) -> int:
        header = self.block(kind, index)
        following = range(header + 1, len(self.lines) + 1)
        end = next((n - 1 for n in following if _TABLE.match(self.lines[n - 1])), len(self.lines))
        return self._key_in(key, header + 1, end) or header


def _toml_error_line(message: str, text: str) -> int:
    found = _TOML_LINE.search(message)
    if found:
        return int(found.group(1))
    return max(1, len(text.splitlines()))


def _blocks(data: dict[str, Any], kind: str, file: str, line: int) -> list[dict[str, Any]]:
    raw = data.get(kind, [])
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise RegistryError(file, line, f"`{kind}` must be written as [[{kind}]] blocks")
    return list(raw)


def parse_overrides(text: str, file: str) -> Overrides:
    """Reads one holiday file (TOML; see courts/holidays/README.md). Errors name file and line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = _TOML_LINE.sub("", str(exc)).replace("()", "").strip(" (),")
        raise RegistryError(
            file, _toml_error_line(str(exc), text), f"not valid TOML: {message}"
        ) from exc
    lines = _Lines(text)

    def fail_at(line: int, message: str) -> NoReturn:
        raise RegistryError(file, line, message)

    for key in data:
        if key not in _TOP_KEYS:
            fail_at(lines.top(key), f"unknown key `{key}`; expected year, [[holiday]], [[workday]]")
    if "year" not in data:
        fail_at(1, "missing `year = YYYY` at the top of the file")
    year = data["year"]
    if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 9999:
        fail_at(lines.top("year"), f"`year` must be a year such as 2027, not {year!r}")

    def day_value(kind: str, index: int, key: str, block: dict[str, Any]) -> date:
        value = block[key]
        line = lines.key(kind, index, key)
        if isinstance(value, datetime) or not isinstance(value, date):
            fail_at(line, f"`{key}` must be a date written as YYYY-MM-DD without quotes")
        if value.year != year:
            fail_at(line, f"{value} is outside year {year} (the file's `year`)")
        return value

    def name_of(kind: str, index: int, block: dict[str, Any]) -> str:
        name = block.get("name")
        if not isinstance(name, str) or not name.strip():
            fail_at(lines.block(kind, index), f"[[{kind}]] block has no `name`")
        return name.strip()

    def check_keys(kind: str, index: int, block: dict[str, Any], allowed: frozenset[str]) -> None:
        for key in block:
            if key not in allowed:
                fail_at(
                    lines.key(kind, index, key),
                    f"unknown key `{key}` in [[{kind}]]; expected {', '.join(sorted(allowed))}",
                )

    holidays: dict[date, str] = {}
    holiday_lines: dict[date, int] = {}
    for index, block in enumerate(_blocks(data, "holiday", file, lines.top("holiday"))):
        check_keys("holiday", index, block, _HOLIDAY_KEYS)
        name = name_of("holiday", index, block)
        header = lines.block("holiday", index)
        if "date" in block:
            if "from" in block or "to" in block:
                fail_at(header, "[[holiday]] has `date` and `from`/`to`; use one or the other")
            days = [day_value("holiday", index, "date", block)]
        elif "from" in block and "to" in block:
            first = day_value("holiday", index, "from", block)
            last = day_value("holiday", index, "to", block)
            if first > last:
                fail_at(lines.key("holiday", index, "from"), f"`from` {first} is after `to` {last}")
            days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        else:
            fail_at(header, "[[holiday]] needs `date`, or `from` and `to`")
        for day in days:
            holidays[day] = name
            holiday_lines[day] = header

    workdays: dict[date, str] = {}
    for index, block in enumerate(_blocks(data, "workday", file, lines.top("workday"))):
        check_keys("workday", index, block, _WORKDAY_KEYS)
        name = name_of("workday", index, block)
        if "date" not in block:
            fail_at(lines.block("workday", index), "[[workday]] needs `date`")
        day = day_value("workday", index, "date", block)
        if day.weekday() < 5:
            fail_at(
                lines.key("workday", index, "date"),
                f"{day} is a {_WEEKDAYS[day.weekday()]}: a make-up workday is a Saturday or Sunday",
            )
        if day in holidays:
            fail_at(
                lines.block("workday", index),
                f"{day} is both a make-up workday and a holiday "
                f"([[holiday]] at line {holiday_lines[day]})",
            )
        workdays[day] = name

    return Overrides(
        holidays=MappingProxyType(holidays),
        makeup_workdays=MappingProxyType(workdays),
        years=frozenset({year}),
    )
