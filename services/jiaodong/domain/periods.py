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
        return amount(self.length, self.unit)


_SINGULAR = {Unit.DAYS: "day", Unit.WORKING_DAYS: "working day", Unit.HOURS: "hour"}


def amount(count: int, unit: Unit) -> str:
    """A count of a unit in words, singular for exactly one: ``1 working day``, ``2 days``."""
    word = _SINGULAR[unit]
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
