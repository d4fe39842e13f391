"""The command-centre board: the figures operators watch, and the queue of delegations sorted by
the time left to their next due time.

Plain Python for every adapter (gRPC, the web board, the terminal board): frozen dataclasses and
``pb.Delegation`` messages, counted by the database (``store/board.py``), never by loading the
region's delegations. A city's command centre passes its city and gets its city's figures only;
the regional centre passes None and gets every city.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from jiaodong.app import controls
from jiaodong.app.coordinator.base import CoordinatorBase
from jiaodong.app.operations import operations
from jiaodong.domain.calendar import days_left, deadline, local_day
from jiaodong.domain.errors import FieldViolation, InvalidInput
from jiaodong.domain.periods import Period, Unit
from jiaodong.store import board as figures
from jiaodong.store.ledger import RegionFilter
from jiaodong.store.mapper import view
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import delegation_pb2 as pb

# "Due soon": a running clock falls due within this many working days (the official calendar).
DUE_SOON_WORKING_DAYS = 3
# Aging buckets: open delegations older than each of these many calendar days.
AGING_DAYS = (5, 10, 15, 30)
# A node is offline once nothing came from it for this many reconciliation intervals (a node
# sends a digest of each of its courts every interval, even when idle).
OFFLINE_AFTER_INTERVALS = 3
# The on-time window an operator may choose, in days.
MAX_WINDOW_DAYS = 366


@dataclass(frozen=True)
class CityFigures:
    """One city's headline figures.

    - ``inbound_open``: open delegations entrusted to a court of the city (status not CONFIRMED,
      CANCELLED or ROUTING_FAILED).
    - ``outbound_open``: open delegations a court of the city sent.
    - ``due_soon``: open delegations a court of the city holds whose next due time (the earliest
      running clock, paused clocks left out) has not passed and falls within
      ``DUE_SOON_WORKING_DAYS`` working days on the official calendar (up to ``Board.due_soon_by``).
    - ``breached``: open delegations a court of the city holds with a running clock past its due
      time.
    - ``on_time_rate``: of the clocks run against the city's courts that were decided within the
      window (met within it, or unmet with their due time within it), the share met before the
      due time; None when none was decided. ``decided`` and ``met_on_time`` are its terms. Each
      goal counts its latest running per delegation (an earlier running replaced by a reroute or
      a supplement is not kept).
    """

    city: str
    inbound_open: int
    outbound_open: int
    due_soon: int
    breached: int
    decided: int
    met_on_time: int

    @property
    def on_time_rate(self) -> float | None:
        return self.met_on_time / self.decided if self.decided else None


@dataclass(frozen=True)
class PairFigures:
    """Open delegations from ``from_city`` to ``to_city`` (routed; not yet routed ones have no
    pair) and how many of them have a breached running clock."""

    from_city: str
    to_city: str
    open: int
    breached: int

    @property
    def breach_rate(self) -> float:
        return self.breached / self.open if self.open else 0.0


@dataclass(frozen=True)
class AgingBucket:
    """Open delegations created more than ``over_days`` calendar days ago and at most
    ``up_to_days`` ago (None: no upper bound). Buckets do not overlap; their sum is every open
    delegation older than the smallest ``over_days``."""

    over_days: int
    up_to_days: int | None
    count: int


@dataclass(frozen=True)
class NodeHealth:
    """One city's node as the coordinator sees it.

    - ``last_seen``: when the coordinator last applied a message from the node (any of its courts'
      digests, syncs, receipts); None if never since the coordinator kept the record.
    - ``offline_since``: ``last_seen`` once nothing came for more than OFFLINE_AFTER_INTERVALS
      reconciliation intervals (None: online); a node never seen is offline with no time.
    - ``unpublished``: coordinator outbox messages addressed to the node's courts not yet
      published to the broker.
    - ``undelivered``: delegations routed to the node's courts whose delivery receipt has not
      arrived.
    - ``parked``: the node's own dead letters as its last digest reported them (``parked_at``);
      None: not reported. The messages themselves stay in the node's database and log.
    """

    node: str
    city: str
    last_seen: datetime | None
    offline: bool
    offline_since: datetime | None
    unpublished: int
    undelivered: int
    parked: int | None = None
    parked_at: datetime | None = None


@dataclass(frozen=True)
class Board:
    """The board at ``at`` for ``city`` (None: the region).

    ``cities`` has every city in scope (in registry order, zeros included); ``pairs`` every pair
    with an open delegation, touching ``city`` if one is given; ``aging`` the buckets of
    AGING_DAYS over the open delegations in scope; ``nodes`` the node of each city in scope;
    ``parked`` the coordinator's dead letters (for a city: those whose subject names one of its
    courts); ``notices`` what operators should know (calendar gaps, parked messages)."""

    at: datetime
    city: str | None
    window_days: int
    due_soon_by: datetime
    cities: tuple[CityFigures, ...]
    pairs: tuple[PairFigures, ...]
    aging: tuple[AgingBucket, ...]
    nodes: tuple[NodeHealth, ...]
    parked: int
    notices: tuple[str, ...] = ()
    # The calendar of on-site assistance operations (app/operations.py), masked.
    operations: tuple[capi.Operation, ...] = ()


@dataclass(frozen=True)
class QueueItem:
    """One delegation of the queue (masking is the caller's: views carry personal data).

    ``next_due``: the earliest due time of its running clocks (None: none runs; paused clocks
    do not count), ``goal`` that clock's goal, ``level`` 0, 50, 75 (the share of the limit
    used) or 100 (breached) for its most advanced running clock, ``working_days_left`` the
    working days after today up to the due day (0 on the due day or when overdue; None for
    hour limits or no clock), ``seconds_left`` the same in seconds (negative: overdue)."""

    delegation: pb.Delegation
    next_due: datetime | None
    goal: str
    level: int
    working_days_left: int | None
    seconds_left: int | None


@dataclass(frozen=True)
class QueuePage:
    """A page of the queue; ``more``: another page follows; ``total`` counted up to
    ``ledger.COUNT_CAP`` (``capped``: more match)."""

    items: tuple[QueueItem, ...]
    more: bool
    total: int
    capped: bool
    notices: tuple[str, ...] = field(default_factory=tuple)


class BoardQueries(CoordinatorBase):
    async def board(self, city: str | None = None, window_days: int = 30) -> Board:
        """The board's figures for ``city`` (None: the whole region); the on-time rate counts
        the clocks decided in the last ``window_days`` days (1-366)."""
        violations = []
        if city is not None and city not in self.registry.cities:
            violations.append(FieldViolation("city", f"unknown city {city!r}"))
        if not 1 <= window_days <= MAX_WINDOW_DAYS:
            violations.append(FieldViolation("window_days", f"must be 1-{MAX_WINDOW_DAYS} days"))
        if violations:
            raise InvalidInput(violations)
        now = self.clock.now()
        due_by = deadline(self.sla.calendar, now, Period(DUE_SOON_WORKING_DAYS, Unit.WORKING_DAYS))
        cities = [city] if city else list(self.registry.cities)
        city_of_court = {c.court_id: c.city for c in self.registry.courts.values()}
        interval = getattr(self, "reconcile_interval", timedelta(seconds=30))

        def work(session: Session) -> tuple[Board, Counter[str]]:
            counts, by_pair = figures.city_and_pair_counts(
                session, now, due_by.due, now - timedelta(days=window_days), city_of_court
            )
            per_city = tuple(
                CityFigures(
                    city=c,
                    inbound_open=(k := counts.get(c, figures.CityCounts())).inbound_open,
                    outbound_open=k.outbound_open,
                    due_soon=k.due_soon,
                    breached=k.breached,
                    decided=k.decided,
                    met_on_time=k.on_time,
                )
                for c in cities
            )
            pairs = tuple(
                PairFigures(a, b, n, late)
                for (a, b), (n, late) in sorted(by_pair.items())
                if not city or city in (a, b)
            )
            cutoffs = [now - timedelta(days=d) for d in AGING_DAYS]
            older = figures.aging_counts(session, cutoffs, city or "")
            aging = tuple(
                AgingBucket(
                    days,
                    AGING_DAYS[i + 1] if i + 1 < len(AGING_DAYS) else None,
                    older[i] - (older[i + 1] if i + 1 < len(older) else 0),
                )
                for i, days in enumerate(AGING_DAYS)
            )
            nodes = self._node_health(session, cities, now, interval)
            courts = None if not city else [c.court_id for c in self.registry.courts_in_city(city)]
            parked = figures.parked_count(session, courts)
            calendar = operations(session, self.registry, self.sla.calendar, local_day(now), city)
            board = Board(
                now,
                city,
                window_days,
                due_by.due,
                per_city,
                pairs,
                aging,
                nodes,
                parked,
                operations=tuple(calendar),
            )
            return board, controls.renewals_due(session, courts)

        out, renewals = await self.db.read(work)
        notices = list(self.notices())
        renew = controls.renewal_notice(renewals, city)
        if renew:
            notices.append(renew)
        tomorrow = [o for o in out.operations if o.reminder_today]
        if tomorrow:
            notices.append(
                f"{len(tomorrow)} 项异地执行协助行动在下一个工作日进行（已提醒双方法院）："
                "见行动日历"
            )
        if out.parked:
            notices.append(
                f"{out.parked} message(s) parked as dead letters at the coordinator: see ListParked"
            )
        return Board(**{**out.__dict__, "notices": tuple(notices)})

    def _node_health(
        self, session: Session, cities: list[str], now: datetime, interval: timedelta
    ) -> tuple[NodeHealth, ...]:
        seen = figures.contacts(session)
        unpublished = figures.unpublished_to(session)
        undelivered = figures.undelivered_to(session)
        out = []
        for city in cities:
            node = self.registry.city(city).node
            courts = [c.court_id for c in self.registry.courts_of_node(node)]
            contact = seen.get(node)
            last = contact.last_seen_at if contact else None
            offline = last is None or now - last > interval * OFFLINE_AFTER_INTERVALS
            out.append(
                NodeHealth(
                    node=node,
                    city=city,
                    last_seen=last,
                    offline=offline,
                    offline_since=last if offline else None,
                    unpublished=sum(unpublished.get(c, 0) for c in courts),
                    undelivered=sum(undelivered.get(c, 0) for c in courts),
                    parked=contact.parked if contact else None,
                    parked_at=contact.parked_at if contact else None,
                )
            )
        return tuple(out)

    async def queue(self, where: RegionFilter, offset: int = 0, size: int = 50) -> QueuePage:
        """A page of the region's delegations matching ``where`` (its ``touching`` limits a city
        centre to its city), each with its next due time and warning level. ``where.order``:
        "due" (the default here) puts those with a running clock first, the least time left
        first (the most overdue at the top), then the rest newest first; "newest": newest first.
        The views are full: mask them before they leave for a list."""
        self.check_filter(where)
        if not 1 <= size <= 500:
            raise InvalidInput.one("page_size", "must be 1-500")
        now = self.clock.now()
        calendar = self.sla.calendar

        def work(session: Session) -> QueuePage:
            found, total, capped = figures.of_region_due(session, where, now, offset, size + 1)
            more, found = len(found) > size, found[:size]
            clocks = figures.running_clocks_of(session, found)
            items = []
            for row in found:
                running = clocks.get(row.id, [])
                first = running[0] if running else None
                left = None
                if first is not None and not first.period.endswith(Unit.HOURS.value):
                    due = first.due_at
                    counted = days_left(calendar, now, due, Unit.WORKING_DAYS) if due > now else 0
                    left = counted if isinstance(counted, int) else None
                items.append(
                    QueueItem(
                        delegation=view(row),
                        next_due=first.due_at if first else None,
                        goal=first.goal if first else "",
                        level=max((c.level(now) for c in running), default=0),
                        working_days_left=left,
                        seconds_left=int((first.due_at - now).total_seconds()) if first else None,
                    )
                )
            return QueuePage(tuple(items), more, total, capped)

        page = await self.db.read(work)
        return QueuePage(page.items, page.more, page.total, page.capped, tuple(self.notices()))

    def check_filter(self, where: RegionFilter) -> None:
        """Bad filter values, all at once, as field violations (nothing is read)."""
        violations = []
        for name, city in (("from_city", where.from_city), ("to_city", where.to_city)):
            if city and city not in self.registry.cities:
                violations.append(FieldViolation(name, f"unknown city {city!r}"))
        if where.court and where.court not in self.registry.courts:
            violations.append(FieldViolation("court_id", f"unknown court {where.court!r}"))
        if where.created_from and where.created_to and where.created_from >= where.created_to:
            violations.append(FieldViolation("created_before", "must be later than created_after"))
        if len(where.case_number) > 60:
            violations.append(FieldViolation("case_number", "is at most 60 characters"))
        elif not where.case_number.isprintable():
            violations.append(FieldViolation("case_number", "contains control characters"))
        if violations:
            raise InvalidInput(violations)
