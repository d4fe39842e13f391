"""The offline-city row (issue 11, "Done when"): a city's node is cut off from the broker while
the other cities send it a large backlog (2,000 delegations in `make faults`); when it comes back,
every one must be delivered to it once within two minutes, and its clerks must be able to act on
each as soon as it arrives.

The clerks are the entrusted city's courts, each with a WatchDelegations stream open on its node
(as a clerk's screen would), acknowledging every delegation the moment the stream shows it
DELIVERED; every two seconds each also re-lists its received DELIVERED delegations (the page a
clerk refreshes), which catches anything a stream missed. An acknowledge the node refuses
(FAILED_PRECONDITION, the symptom the issue describes) fails the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from jiaodong.devtools.demo import make_plans
from jiaodong.security.clients import act_as
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.faults.flow import FlowMonitor
from tests.faults.harness import (
    Calls,
    FaultLayout,
    OutOfTime,
    blocking,
    bounded_close,
    broker_backlog,
)
from tests.faults.invariants import Report, check

if TYPE_CHECKING:
    from tests.faults.scenarios import Options, Row, Scenario

OFFLINE_CITY = "weihai"
DELIVERY_BOUND = 120.0  # seconds from the city's return until every delegation is at its node
CREATE_CONCURRENCY = 16
ACK_CONCURRENCY = 16
RELIST_SECONDS = 2.0


def _count(db: Path, sql: str, like: str) -> int:
    """One count from a service's database, read-only; -1 if it cannot be read now."""
    if not db.exists():
        return -1
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute(sql, (like,)).fetchone()[0])
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


ROUTED_SQL = (
    "SELECT count(*) FROM delegation WHERE request_id LIKE ? AND entrusted_court != '' "
    "AND status NOT IN ('CREATED', 'ROUTING_FAILED')"
)
HELD_SQL = "SELECT count(*) FROM delegation WHERE request_id LIKE ?"


@dataclass
class Clerks:
    """The offline city's courts at their screens."""

    calls: Calls
    courts: list[str]
    expected: int
    seen: dict[str, float] = field(default_factory=dict)  # delegation id -> first seen
    acked: dict[str, float] = field(default_factory=dict)  # delegation id -> acknowledged
    found_by: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stream_restarts: int = 0
    all_acked: asyncio.Event = field(default_factory=asyncio.Event)
    _sem: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(ACK_CONCURRENCY))
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def _saw(self, court: str, d: pb.Delegation, how: str) -> None:
        if d.id in self.seen or d.status != pb.STATUS_DELIVERED or d.entrusted_court != court:
            return
        self.seen[d.id] = time.monotonic()
        self.found_by[how] += 1
        task = asyncio.create_task(self._acknowledge(court, d.id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _acknowledge(self, court: str, delegation_id: str) -> None:
        async with self._sem:
            try:
                await self.calls.call(
                    OFFLINE_CITY, "Acknowledge", api.AcknowledgeRequest(id=delegation_id), court
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    self.refused.append(f"{delegation_id}: {exc.details()}")
                else:
                    self.errors.append(f"{delegation_id}: {exc.code().name} {exc.details()}")
                return
            except OutOfTime:
                self.errors.append(f"{delegation_id}: out of time")
                return
        self.acked[delegation_id] = time.monotonic()
        if len(self.acked) >= self.expected:
            self.all_acked.set()

    async def watch(self, court: str) -> None:
        """The clerk's screen: a change stream, reopened whenever it ends."""
        stub = self.calls.stubs[OFFLINE_CITY]
        while True:
            try:
                stream = stub.WatchDelegations(
                    api.WatchDelegationsRequest(), metadata=act_as(court)
                )
                async for change in stream:
                    self._saw(court, change.delegation, "watch")
            except grpc.aio.AioRpcError:
                pass
            self.stream_restarts += 1
            await asyncio.sleep(0.5)

    async def relist(self, court: str) -> None:
        """The page the clerk refreshes: received delegations waiting to be acknowledged."""
        while True:
            await asyncio.sleep(RELIST_SECONDS)
            token = ""
            with contextlib.suppress(grpc.aio.AioRpcError, OutOfTime):
                while True:
                    page = await self.calls.call(
                        OFFLINE_CITY,
                        "ListDelegations",
                        api.ListDelegationsRequest(
                            direction=api.DIRECTION_RECEIVED,
                            statuses=[pb.STATUS_DELIVERED],
                            page_size=500,
                            page_token=token,
                        ),
                        court,
                    )
                    for d in page.delegations:
                        self._saw(court, d, "list")
                    token = page.next_page_token
                    if not token:
                        break

    def latencies(self) -> list[float]:
        return sorted(self.acked[i] - self.seen[i] for i in self.acked if i in self.seen)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


async def create_all(
    calls: Calls, requests: list[tuple[str, api.CreateDelegationRequest]]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Create every delegation through its requesting court's node, 16 at a time; returns the
    (court, request id) of those created and the errors."""
    sem = asyncio.Semaphore(CREATE_CONCURRENCY)
    created: list[tuple[str, str]] = []
    errors: list[str] = []

    async def one(court: str, request: api.CreateDelegationRequest) -> None:
        async with sem:
            try:
                await calls.call(calls.city_of(court), "CreateDelegation", request, court)
                created.append((court, request.request_id))
            except (grpc.aio.AioRpcError, OutOfTime) as exc:
                errors.append(f"{request.request_id}: {exc!r}"[:200])

    await asyncio.gather(*(one(c, r) for c, r in requests))
    return created, errors


async def _wait_count(db: Path, sql: str, like: str, target: int, deadline: float) -> int:
    while True:
        n = await blocking(_count, db, sql, like)
        if n >= target or time.monotonic() > deadline:
            return n
        await asyncio.sleep(0.5)


async def drive_offline_backlog(
    scenario: Scenario, layout: FaultLayout, options: Options, row: Row
) -> None:
    n = options.backlog
    registry = layout.registry
    prefix = f"fbacklog-{options.seed}-"
    like = prefix.replace("_", r"\_") + "%"
    plans = [p for p in make_plans(registry, n * 8, options.seed) if p.to_city == OFFLINE_CITY][:n]
    assert len(plans) == n, f"only {len(plans)} plans to {OFFLINE_CITY}"
    requests = []
    for p in plans:
        request = api.CreateDelegationRequest()
        request.CopyFrom(p.request)
        request.request_id = f"{prefix}{p.index}"
        requests.append((p.from_court.court_id, request))
    courts = [c.court_id for c in registry.courts_in_city(OFFLINE_CITY)]
    calls = Calls(layout)
    clerks = Clerks(calls, courts, n)
    monitor = await FlowMonitor(layout).start()
    clerk_tasks: list[asyncio.Task[None]] = []
    coordinator_db = layout.db_path("coordinator")
    node_db = layout.db_path(layout.node_name(OFFLINE_CITY))
    try:
        await blocking(layout.cut, OFFLINE_CITY)
        clerk_tasks = [asyncio.create_task(clerks.watch(c)) for c in courts]
        clerk_tasks += [asyncio.create_task(clerks.relist(c)) for c in courts]
        began = time.monotonic()
        calls.deadline = began + 600
        created, errors = await create_all(calls, requests)
        create_seconds = time.monotonic() - began
        row.sent = len(created)
        routed = await _wait_count(
            coordinator_db, ROUTED_SQL, like, len(created), time.monotonic() + 300
        )
        routed_seconds = time.monotonic() - began
        early = await blocking(_count, node_db, HELD_SQL, like)
        held = await broker_backlog(layout.nats_url)
        row.notes.append(
            f"{len(created)} of {n} created in {create_seconds:.1f} s while {OFFLINE_CITY} was "
            f"cut off, {routed} routed by {routed_seconds:.1f} s; broker held "
            + ", ".join(f"{k} {v}" for k, v in sorted(held.items()))
            + f"; at the node before its return: {early}"
        )
        if errors:
            row.why.append(f"{len(errors)} creates failed: {errors[:3]}")
        if routed < len(created):
            row.why.append(f"only {routed} of {len(created)} routed before the city's return")

        layout.note(f"fault: {OFFLINE_CITY} returns")
        options.log(f"    fault: {OFFLINE_CITY} returns to {len(created)} queued delegations")
        await blocking(layout.reconnect, OFFLINE_CITY)
        back = time.monotonic()
        calls.deadline = back + options.backlog_patience
        marks: dict[int, float] = {}
        while True:
            at_node = await blocking(_count, node_db, HELD_SQL, like)
            for q in (25, 50, 75, 100):
                if q not in marks and at_node >= len(created) * q / 100:
                    marks[q] = time.monotonic() - back
            if at_node >= len(created) or time.monotonic() > calls.deadline:
                break
            await asyncio.sleep(0.5)
        delivered = marks.get(100)
        row.converge_seconds = None if delivered is None else round(delivered, 1)
        row.notes.append(
            f"stored at {layout.node_name(OFFLINE_CITY)} after its return: "
            + ", ".join(f"{q} % by {s:.1f} s" for q, s in sorted(marks.items()))
        )
        if delivered is None:
            row.why.append(
                f"only {at_node} of {len(created)} at {OFFLINE_CITY}'s node "
                f"{options.backlog_patience:.0f} s after its return"
            )
        elif delivered > DELIVERY_BOUND:
            row.why.append(
                f"all delivered {delivered:.1f} s after the return (bound {DELIVERY_BOUND:g} s)"
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                clerks.all_acked.wait(), max(1.0, calls.deadline - time.monotonic())
            )
        report = await _settled(layout, created, prefix, calls.deadline)
        row.completed = report.confirmed
        row.lost, row.duplicated, row.disagree = report.lost, report.duplicated, report.disagree
        row.dead = report.dead_count()
        waits = clerks.latencies()
        row.notes.append(
            f"clerks acknowledged {len(clerks.acked)} of {len(created)} "
            f"(found by watch {clerks.found_by['watch']}, by re-listing {clerks.found_by['list']}"
            f", streams reopened {clerks.stream_restarts}); from seen to acknowledged "
            f"p50 {_quantile(waits, 0.5):.2f} s, p95 {_quantile(waits, 0.95):.2f} s, "
            f"max {_quantile(waits, 1.0):.2f} s"
        )
        if clerks.refused:
            row.why.append(
                f"{len(clerks.refused)} acknowledges refused although the node showed the "
                f"delegation DELIVERED: {clerks.refused[:3]}"
            )
        if clerks.errors:
            row.why.append(f"{len(clerks.errors)} acknowledges failed: {clerks.errors[:3]}")
        if len(clerks.acked) < len(created):
            row.why.append(f"clerks acknowledged only {len(clerks.acked)} of {len(created)}")
        if not report.holds:
            row.why.append(
                f"invariants do not hold: {report.confirmed}/{report.expected} acknowledged "
                f"everywhere, lost {report.lost}, duplicated {report.duplicated}, "
                f"disagree {report.disagree}"
            )
            row.why += report.problems[:8]
        behind: dict[str, int] = {}
        if report.holds:
            behind = await monitor.drained(options.drain_timeout)
            end_lag: dict[str, int] | None = behind
        else:
            end_lag = await monitor.lag()
        await monitor.stop()
        no_answer = end_lag is None or any(v < 0 for v in end_lag.values())
        row.final_lag = None if no_answer else sum((end_lag or {}).values())
        if behind:
            row.why.append(
                "consumer lag not drained: " + ", ".join(f"{k} {v}" for k, v in behind.items())
            )
        row.max_lag, row.max_lag_where = monitor.max_lag, monitor.max_lag_where
        row.max_outbox_age = round(monitor.max_outbox_age, 1)
        row.max_outbox_where = monitor.max_outbox_where
        if row.sent == 0:
            row.why.append("no traffic was sent: a row that sent nothing proves nothing")
        row.notes += [f"timeline {line}" for line in layout.timeline()]
        row.passed = not row.why
    finally:
        for task in clerk_tasks:
            task.cancel()
        await asyncio.gather(*clerk_tasks, return_exceptions=True)
        await monitor.stop()
        await bounded_close(calls)


async def _settled(
    layout: FaultLayout, created: list[tuple[str, str]], prefix: str, deadline: float
) -> Report:
    """The invariants with ACKNOWLEDGED as the final status, waited for (bounded)."""
    while True:
        report = await blocking(
            check, layout.data_dir, layout.registry, created, created, prefix, "ACKNOWLEDGED"
        )
        if report.holds or time.monotonic() > deadline:
            return report
        await asyncio.sleep(1.0)
