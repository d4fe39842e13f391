"""Lengths of time limits, as the law and the SLA policy state them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    """How a period is counted."""

    DAYS = "days"  # calendar days; the starting day is not counted
    WORKING_DAYS = "working_days"  # working days on the official calendar, after the starting day
    HOURS = "hours"  # clock hours from the starting instant (urgent work)


@dataclass(frozen=True)
class Period:
    """A time limit: a length and its unit."""

    length: int
    unit: Unit

    def __str__(self) -> str:
        words = {Unit.DAYS: "days", Unit.WORKING_DAYS: "working days", Unit.HOURS: "hours"}
        return f"{self.length} {words[self.unit]}"
