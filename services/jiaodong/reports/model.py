"""The one table model that every format renders: a title, columns that know their kind, and rows
of plain values. CSV, XLSX and HTML read the same ``Table`` objects, so they cannot disagree.

A cell holds what the report's dict holds: an ``int``, a ``float`` (a rate in [0, 1] or a day
figure), a ``str`` or ``None`` (nothing decided). Each format decides how to show a kind: HTML as
``95.7%`` and ``—``, CSV as ``0.9565`` and an empty cell, XLSX as a number with a percent format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

Cell = int | float | str | None

DASH = "—"


class Kind(StrEnum):
    """How a column's values are shown."""

    TEXT = "text"  # an id, a name, a date
    COUNT = "count"  # a whole number
    RATE = "rate"  # a fraction in [0, 1]
    DAYS = "days"  # working days, one decimal
    HOURS = "hours"  # calendar hours, one decimal


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind = Kind.TEXT


@dataclass(frozen=True)
class Table:
    """One table of the report. ``key`` is its stable anchor (ASCII); ``title`` what people read.
    ``marked`` holds the indices of rows to highlight (the courts of the three-week notice)."""

    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    marked: frozenset[int] = field(default_factory=frozenset)

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]


def percent(rate: float | None) -> str:
    """``0.9565`` -> ``95.7%`` (half up, as people round), ``None`` -> ``—``."""
    if rate is None:
        return DASH
    shown = (Decimal(str(rate)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{shown}%"


def figure(row: Mapping[str, Any], key: str) -> Any:
    """A ROW's figure by its key; a dotted key reaches into a nested one (``delivery.delayed``,
    ``complete_days.median``); None where a part is missing."""
    value: Any = row
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def shown(value: Cell, kind: Kind) -> str:
    """A cell as text for people: the HTML tables."""
    if value is None or value == "":
        return DASH
    if kind is Kind.RATE and isinstance(value, int | float):
        return percent(value)
    if kind in (Kind.DAYS, Kind.HOURS) and isinstance(value, int | float):
        return f"{value:.1f}"
    return str(value)
