"""The working-day calendar from its sources: the ``chinesecalendar`` package (the State Council's
schedules it ships) and operators' files ``courts/holidays/*.toml`` for years it lacks."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from types import MappingProxyType

from chinese_calendar import constants

from jiaodong.domain.calendar import WorkCalendar, parse_overrides
from jiaodong.files.read import read_operator_file
from jiaodong.files.registry import default_courts_dir


@cache
def official_calendar() -> WorkCalendar:
    """Holidays and make-up workdays from ``chinese_calendar.constants``; its years are covered
    (every year from the first to the last year that has holidays in the package)."""
    holidays: dict[date, str] = {day: str(name) for day, name in constants.holidays.items()}
    workdays: dict[date, str] = {day: str(name) for day, name in constants.workdays.items()}
    years = [day.year for day in holidays]
    covered = frozenset(range(min(years), max(years) + 1)) if years else frozenset[int]()
    return WorkCalendar(
        holidays=MappingProxyType(holidays),
        makeup_workdays=MappingProxyType(workdays),
        covered_years=covered,
    )


def load_calendar(courts_dir: Path | None = None) -> WorkCalendar:
    """The official calendar with every ``holidays/*.toml`` in ``courts_dir`` applied, in name
    order (default folder: ``$JD_COURTS_DIR`` or the repository's ``courts/``)."""
    folder = (courts_dir if courts_dir is not None else default_courts_dir()) / "holidays"
    calendar = official_calendar()
    for path in sorted(folder.glob("*.toml")):
        calendar = calendar.with_overrides(parse_overrides(read_operator_file(path), str(path)))
    return calendar
