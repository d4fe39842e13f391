"""The simulator's step scheduler: pure code, no I/O.

Determinism rests on two things here. Every random draw comes from a generator derived from
stable keys (the seed, then what the draw is about: a city and a day, a delegation's serial and
the step), never from one shared generator consumed in an order that timing could change. And
officers act only at a few slots of each working day, so the virtual instants at which anything
happens are few and the same in every run.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from jiaodong.domain.calendar import WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")


def rng(seed: int, *key: object) -> random.Random:
    """A generator for one draw, derived from the seed and what the draw is about (stable on
    every machine: SHA-256, never Python's salted ``hash``)."""
    text = "|".join([str(seed), *(str(k) for k in key)])
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big"))


def poisson(r: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method: fine for the small means of a day's volume)."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= r.random()
        if p <= limit:
            return k
        k += 1


def weighted(r: random.Random, weights: dict[str, float]) -> str:
    """One key of ``weights`` drawn in proportion to its weight (keys in sorted order)."""
    keys = sorted(k for k, w in weights.items() if w > 0)
    return r.choices(keys, weights=[weights[k] for k in keys])[0]


def local(day: date, at: time) -> datetime:
    """The UTC instant of local (Asia/Shanghai) ``at`` on ``day``."""
    return datetime.combine(day, at, tzinfo=SHANGHAI).astimezone(UTC)


def local_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def next_working_day(calendar: WorkCalendar, day: date) -> date:
    """The first working day after ``day``."""
    day += timedelta(days=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def add_working_days(calendar: WorkCalendar, day: date, n: int) -> date:
    """The n-th working day after ``day`` (``day`` itself is not counted)."""
    for _ in range(n):
        day = next_working_day(calendar, day)
    return day


def officer_time(
    calendar: WorkCalendar,
    base: datetime,
    working_days: int,
    slots: Sequence[time],
    r: random.Random,
) -> datetime:
    """When an officer acts ``working_days`` after ``base``: with 0, at the next slot of the same
    working day (the first slot of the next working day when none is left); otherwise at a slot
    drawn from ``r`` on the n-th working day after ``base``'s day. Always after ``base``."""
    day = local_day(base)
    if working_days <= 0:
        if calendar.is_working_day(day):
            for slot in slots:
                at = local(day, slot)
                if at > base:
                    return at
        return local(next_working_day(calendar, day), slots[0])
    return local(add_working_days(calendar, day, working_days), r.choice(list(slots)))


def first_slot_from(calendar: WorkCalendar, at: datetime, slots: Sequence[time]) -> datetime:
    """The first slot at or after ``at`` on a working day."""
    day = local_day(at)
    if calendar.is_working_day(day):
        for slot in slots:
            candidate = local(day, slot)
            if candidate >= at:
                return candidate
    return local(next_working_day(calendar, day), slots[0])


def scaled(r: random.Random, low: int, high: int, multiplier: float = 1.0) -> int:
    """A delay drawn uniformly from ``low..high`` working days, times ``multiplier`` (rounded)."""
    return round(r.randint(low, high) * multiplier)


class Phase(IntEnum):
    """The order of actions due at one instant; the driver waits for quiescence between phases,
    so a requesting court's action never races an entrusted court's step on one delegation."""

    OUTAGE = 0  # a node stops or starts
    ENTRUSTED = 1  # entrusted courts' steps, and new delegations
    REQUESTING = 2  # requesting courts' urges, supplements, cancellations, confirmations


@dataclass(frozen=True, order=True)
class Action:
    """One thing the driver will do. Ordered by instant, phase, delegation serial and kind, so
    the agenda's order never depends on when an action was added."""

    at: datetime
    phase: Phase
    serial: int
    kind: str
    cycle: int = 0


@dataclass
class Agenda:
    """The planned actions, earliest first."""

    _heap: list[Action] = field(default_factory=list)

    def add(self, action: Action) -> None:
        heapq.heappush(self._heap, action)

    def __len__(self) -> int:
        return len(self._heap)

    def next_at(self) -> datetime | None:
        return self._heap[0].at if self._heap else None

    def pop_due(self, at: datetime) -> list[Action]:
        """Every action due at or before ``at``, in order."""
        out = []
        while self._heap and self._heap[0].at <= at:
            out.append(heapq.heappop(self._heap))
        return out


def next_instant(
    agenda_at: datetime | None, clock_at: datetime | None, now: datetime
) -> datetime | None:
    """Where virtual time goes next: the earlier of the next planned action and the earliest
    instant an SLA clock owes something, never backwards (a clock already due is handled at
    ``now``); None when nothing is owed."""
    candidates = [t for t in (agenda_at, clock_at) if t is not None]
    if not candidates:
        return None
    return max(min(candidates), now)


def sla_tick(calendar: WorkCalendar, at: datetime, slots: Sequence[time]) -> datetime:
    """The first tick at or after ``at`` at which the simulator lets the coordinator's sweep
    act (scenario ``sla_steps = "ticks"``): an officers' slot on a working day, or local
    midnight (when the day limits end). Nothing an officer sees happens between two ticks, so
    only the SLA events' times move (to the tick), never a limit's due time."""
    midnight = local(local_day(at), time(0))
    if midnight < at:
        midnight = local(local_day(at) + timedelta(days=1), time(0))
    return min(first_slot_from(calendar, at, slots), midnight)


def working_days(calendar: WorkCalendar, first: date, days: int) -> Iterator[date]:
    """The working days among ``days`` calendar days from ``first``."""
    for i in range(days):
        day = first + timedelta(days=i)
        if calendar.is_working_day(day):
            yield day
