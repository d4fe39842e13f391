"""Seizures and freezes in force, and the watch on their expiry. Pure: no I/O.

A step that puts a control in force (a registry's answer to a seizure, or an officer's report of
one) carries its terms on the event (``Event.controls``): the asset kind, the number the registry
or the court gave it, and the dates it stands. A control outlives its delegation: a flat is
seized for three years and the delegation is confirmed within days. So its expiry is not one of
the delegation's clocks; it is a watch of its own, a pure function of the term, the renewal
policy (``[renewal]`` in courts/sla.toml) and the working-day calendar, which every side computes
the same way:

- ``renew_by``: the last day with a full month left. The Beijing High Court's rule
  (RULES.md, "Time limits") asks the requesting court to renew a seizure or freeze that has less
  than a month left; a day that is not a working day moves back to the working day before it,
  so the limit is never later than the rule's.
- ``warn_on``: ``warn_working_days`` working days before ``renew_by``, when the watch first
  warns and offers renewal.
- ``ends_on``: the last day the control stands; after it the control has lapsed.

A renewal (续封/续冻) is a new delegation that names the one it renews; its own controls carry
the watch on. ``watch_state`` says where a control stands on a given day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from jiaodong.domain.calendar import WorkCalendar, working_day_on_or_before, working_days_before
from jiaodong.domain.errors import FieldViolation, InvalidInput
from jiaodong.domain.lifecycle import ControlTerm, Event, EventKind

# How long a control may stand at most (Supreme People's Court interpretation of the Civil
# Procedure Law, 2015, Art. 487: deposits one year, movables two, real estate and other property
# rights three). Keyed by ``AssetKind`` values; a vehicle is a movable.
MAX_YEARS: Mapping[str, int] = {
    "DEPOSIT": 1,
    "VEHICLE": 2,
    "OTHER": 2,
    "REAL_ESTATE": 3,
    "EQUITY": 3,
}
MAX_TERMS = 200
MAX_REFERENCE = 64
K = TypeVar("K")  # whatever names a watched control where it is kept
# Steps that may put a control in force.
CONTROL_STEPS = frozenset({EventKind.PROGRESS_REPORTED, EventKind.COMPLETED})


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later; from 29 February, 1 March (a term from 29 February ends
    with February, on the 28th)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, month=3, day=1)


def months_before(day: date, months: int) -> date:
    """The same day of the month ``months`` earlier, or that month's last day if it is shorter
    (31 March less one month is 28 or 29 February)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    first_of_next = date(year + (month == 12), month % 12 + 1, 1)
    last = (first_of_next - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def longest_end(term: ControlTerm) -> date:
    """The last day the law lets this control stand."""
    return add_years(term.starts_on, MAX_YEARS[term.asset]) - timedelta(days=1)


def check_terms(terms: Iterable[ControlTerm], kind: EventKind) -> tuple[ControlTerm, ...]:
    """The terms, checked (``term_violations``); raises InvalidInput (for callers that take
    terms outside a step; a step's checks collect them with its other fields)."""
    out = tuple(terms)
    problems = term_violations(out, kind)
    if problems:
        raise InvalidInput(problems)
    return out


def term_violations(out: tuple[ControlTerm, ...], kind: EventKind) -> list[FieldViolation]:
    """What is wrong with control terms on a step of ``kind``: only a progress report or a
    result carries them; each has a number, ends after it starts and within the law's longest
    term for its asset kind."""
    if not out:
        return []
    problems: list[FieldViolation] = []
    if kind not in CONTROL_STEPS:
        problems.append(
            FieldViolation("controls", "only a progress report or a result may record controls")
        )
    if len(out) > MAX_TERMS:
        problems.append(FieldViolation("controls", f"at most {MAX_TERMS} controls in one step"))
    for i, term in enumerate(out):
        where = f"controls[{i}]"
        if term.asset not in MAX_YEARS:
            known = ", ".join(a.lower() for a in MAX_YEARS)
            problems.append(FieldViolation(f"{where}.asset_kind", f"must be one of: {known}"))
            continue
        ref = term.reference
        if (
            not ref.strip()
            or len(ref) > MAX_REFERENCE
            or any(ord(c) < 32 for c in ref)
            or "," in ref
        ):
            problems.append(
                FieldViolation(
                    f"{where}.reference",
                    f"give the registry's or the court's number, 1 to {MAX_REFERENCE} characters "
                    "without commas",
                )
            )
        if term.ends_on < term.starts_on:
            problems.append(
                FieldViolation(f"{where}.ends_on", "a control cannot end before it starts")
            )
        elif term.ends_on > longest_end(term):
            years = MAX_YEARS[term.asset]
            problems.append(
                FieldViolation(
                    f"{where}.ends_on",
                    f"a control of {term.asset.lower()} stands at most {years} year(s): "
                    f"from {term.starts_on} at the latest until {longest_end(term)} "
                    "(SPC interpretation of the Civil Procedure Law, art. 487)",
                )
            )
    return problems


@dataclass(frozen=True)
class RenewalPolicy:
    """``[renewal]`` in courts/sla.toml: when a control must be renewed, and when to warn."""

    renew_before_months: int = 1
    warn_working_days: int = 10
    source: str = (
        "Beijing High Court 京高法發[2011]337號: a seizure or freeze with less than one month "
        "left is renewed by the requesting court; local rule adopted as platform default"
    )
    warn_source: str = "PLATFORM DEFAULT: warn 10 working days before; operators should confirm"


class WatchState(StrEnum):
    STANDING = "STANDING"  # in force, renewal not yet due
    RENEW_SOON = "RENEW_SOON"  # warned: renew before renew_by
    RENEW_OVERDUE = "RENEW_OVERDUE"  # less than a month left and not renewed
    LAPSED = "LAPSED"  # past its end, not renewed
    RENEWED = "RENEWED"  # a renewal's control carries the watch on


@dataclass(frozen=True)
class Watch:
    """The dates that matter for one control."""

    term: ControlTerm
    warn_on: date
    renew_by: date

    def state(self, today: date, renewed: bool = False) -> WatchState:
        if renewed:
            return WatchState.RENEWED
        if today > self.term.ends_on:
            return WatchState.LAPSED
        if today > self.renew_by:
            return WatchState.RENEW_OVERDUE
        if today >= self.warn_on:
            return WatchState.RENEW_SOON
        return WatchState.STANDING

    def next_change(self, today: date) -> date | None:
        """The next day on which the state changes (None once lapsed)."""
        one = timedelta(days=1)
        for day in (self.warn_on, self.renew_by + one, self.term.ends_on + one):
            if day > today:
                return day
        return None


def watch(term: ControlTerm, policy: RenewalPolicy, cal: WorkCalendar) -> Watch:
    """The renewal dates of a control on the working-day calendar."""
    month_left = months_before(term.ends_on, policy.renew_before_months)
    renew_by = working_day_on_or_before(cal, month_left)
    return Watch(term, working_days_before(cal, renew_by, policy.warn_working_days), renew_by)


@dataclass(frozen=True)
class Placed:
    """A control as a delegation's history records it: the event that put it in force."""

    term: ControlTerm
    seq: int
    index: int
    at: datetime
    court: str  # the court whose step recorded it (the entrusted court)


def watched(kind: EventKind, terms: tuple[ControlTerm, ...]) -> bool:
    """Whether a step's terms are watched: a progress report's or a result's that pass the
    checks (every side decides it the same way)."""
    return bool(terms) and kind in CONTROL_STEPS and not term_violations(terms, kind)


def placed(history: Iterable[Event]) -> list[Placed]:
    """Every control the history records, in order: the terms of progress reports and results
    that pass the checks (a node's own API refuses others; a hostile node's are not watched)."""
    out = []
    for e in history:
        if watched(e.kind, e.controls):
            out += [
                Placed(term, e.seq, i, e.at, e.actor_court) for i, term in enumerate(e.controls)
            ]
    return out


def renewed_keys(old: Sequence[tuple[K, str, str]], new: Sequence[ControlTerm]) -> list[K]:
    """Which of the renewed delegation's controls (key, asset, reference; not yet renewed, in
    order) the renewal's terms renew: those renewed under the same number (a registry keeps it),
    then, for each asset kind, one more per term recorded under a number of its own (an officer's
    renewal), in order. So a renewal that covers one of three flats renews that one only."""
    numbers = {(t.asset, t.reference) for t in new}
    out = [key for key, asset, ref in old if (asset, ref) in numbers]
    known = {(asset, ref) for _, asset, ref in old}
    fresh = Counter(t.asset for t in new if (t.asset, t.reference) not in known)
    for key, asset, ref in old:
        if (asset, ref) not in numbers and fresh[asset] > 0:
            fresh[asset] -= 1
            out.append(key)
    return out
