"""The fault scenarios. Each starts a fresh layout, runs live traffic, injects its fault
mid-traffic, then waits (bounded) until the invariants hold, reading every database directly.

Time to converge is measured from the end of the fault until the invariants first hold; because
traffic goes on after the fault, it includes the time the rest of the traffic needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import nats

from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from tests.faults.backlog import OFFLINE_CITY, drive_offline_backlog
from tests.faults.flow import FlowMonitor
from tests.faults.harness import (
    CpuHog,
    FaultLayout,
    Traffic,
    blocking,
    bounded_close,
    broker_backlog,
    log_warnings,
    stream_leader,
)
from tests.faults.invariants import Report, check


@dataclass
class Options:
    delegations: int = 100
    rate: float = 4.0  # delegations sent per second
    converge_timeout: float = 90.0  # after the fault ends
    cut_seconds: float = 15.0  # how long a city stays cut off
    # sustained overload: this many delegations per second for overload_seconds, then the normal
    # traffic (``delegations`` at ``rate``); twice 8/s, a rate the layout was measured to walk
    # through steadily on this 2-core machine (docs/faults.md)
    overload_rate: float = 16.0
    overload_seconds: float = 60.0
    overload_patience: float = 240.0  # seconds after the overload, instead of converge_timeout
    hog_workers: int = 0  # CPU hog workers in the busy-machine row (0: two per core)
    drain_timeout: float = 45.0  # after the invariants hold, until every consumer's lag is 0
    backlog: int = 2000  # delegations queued for the offline city (the offline-city row)
    backlog_patience: float = 300.0  # seconds after its return, before the row gives up
    seed: int = 11
    keep: bool = False  # keep data folders of passing scenarios too
    log: Callable[[str], None] = print


@dataclass
class Context:
    """What an injection needs and what it leaves for the checks."""

    layout: FaultLayout
    traffic: Traffic
    options: Options
    fault_start: float = 0.0
    fault_end: float = 0.0
    notes: list[str] = field(default_factory=list)
    # service -> message ids that must end parked as dead letters
    expect_dead: dict[str, set[str]] = field(default_factory=dict)
    parked_after: float | None = None  # seconds from the fault until all of them were parked
    killed_at: float | None = None  # wall-clock time a scenario killed the active coordinator

    def started(self, what: str) -> None:
        self.fault_start = time.monotonic()
        self.layout.note(f"fault: {what}")
        self.options.log(f"    fault: {what}")

    def ended(self) -> None:
        self.fault_end = time.monotonic()


Inject = Callable[[Context], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    inject: Inject
    quick: bool = False
    cluster: bool = False
    proxy_coordinator: bool = False  # the coordinator's NATS link through a (freezable) proxy
    # the traffic's phases [(count, per second)], if not ``delegations`` at ``rate``
    shape: Callable[[Options], list[tuple[int, float]]] | None = None
    patience: Callable[[Options], float] | None = None  # if not ``converge_timeout``
    # why the row fails beyond the invariants (e.g. a recovery that must show in the logs)
    verdict: Callable[[Context], list[str]] | None = None
    standbys: int = 0  # coordinator replicas besides the first (issue 11, point 3)
    # a row that drives its own traffic instead of the walks (the offline-city backlog)
    drive: Callable[[Scenario, FaultLayout, Options, Row], Coroutine[Any, Any, None]] | None = None


@dataclass
class Row:
    scenario: str
    sent: int = 0
    completed: int = 0
    lost: int = 0
    duplicated: int = 0
    disagree: int = 0
    dead: int = 0
    converge_seconds: float | None = None
    max_lag: int = 0  # the most messages any durable consumer had pending at one sample
    max_lag_where: str = ""
    max_outbox_age: float = 0.0  # seconds the oldest unpublished outbox row had waited, max
    max_outbox_where: str = ""
    final_lag: int | None = None  # messages pending over all consumers at the end (must be 0)
    seconds: float = 0.0
    passed: bool = False
    why: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data_dir: str = ""

    @property
    def result(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "result": self.result}


# ---------------------------------------------------------------------------------------------
# Injections
# ---------------------------------------------------------------------------------------------


async def kill_each_node(ctx: Context) -> None:
    """SIGKILL every city node in turn, mid-traffic, and restart it on the same port."""
    layout = ctx.layout
    await ctx.traffic.wait_sent(0.1)
    ctx.started("SIGKILL each node in turn, restart after 0.5 s")
    for city in layout.cities:
        name = layout.node_name(city)
        await blocking(layout.kill, name)
        await asyncio.sleep(0.5)
        await blocking(layout.restart, name)
        await asyncio.sleep(1.5)
    ctx.ended()


async def kill_one_node(ctx: Context) -> None:
    layout = ctx.layout
    await ctx.traffic.wait_sent(0.4)
    name = layout.node_name("qingdao")
    ctx.started(f"SIGKILL {name}, restart after 1 s")
    await blocking(layout.kill, name)
    await asyncio.sleep(1.0)
    await blocking(layout.restart, name)
    ctx.ended()


async def kill_coordinator(ctx: Context) -> None:
    await ctx.traffic.wait_sent(0.4)
    ctx.started("SIGKILL the coordinator, restart after 2 s")
    await blocking(ctx.layout.kill, "coordinator")
    await asyncio.sleep(2.0)
    await blocking(ctx.layout.restart, "coordinator")
    ctx.ended()


BACKLOG_CITY = "weihai"


async def build_backlog(ctx: Context) -> None:
    """Make the broker hold messages nobody has consumed yet, so that a broker fault has
    something to lose: cut one city off (the coordinator's messages to it wait in JD_COURT),
    then pause the coordinator with SIGSTOP (the nodes' messages wait in JD_COORD)."""
    layout = ctx.layout
    await blocking(layout.cut, BACKLOG_CITY)
    node = layout.node_name(BACKLOG_CITY)
    until = time.monotonic() + 10
    await asyncio.sleep(2.0)
    while (await broker_backlog(layout.nats_url)).get(node, 0) < 3 and time.monotonic() < until:
        await asyncio.sleep(0.5)
    await blocking(layout.pause, "coordinator")
    await asyncio.sleep(2.0)
    held = await broker_backlog(layout.nats_url)
    ctx.notes.append(
        f"broker held {sum(held.values())} unacknowledged messages at the fault: "
        + ", ".join(f"{k} {v}" for k, v in sorted(held.items()))
    )


async def release_backlog(ctx: Context) -> None:
    await blocking(ctx.layout.resume, "coordinator")
    await blocking(ctx.layout.reconnect, BACKLOG_CITY)


async def restart_nats(ctx: Context) -> None:
    await ctx.traffic.wait_sent(0.4)
    ctx.started(
        f"backlog ({BACKLOG_CITY} cut off, coordinator paused), then stop nats-server "
        "(SIGTERM) and start it again on its store after 2 s"
    )
    await build_backlog(ctx)
    await blocking(ctx.layout.stop_nats)
    await asyncio.sleep(2.0)
    await blocking(ctx.layout.start_nats)
    await release_backlog(ctx)
    ctx.ended()


async def wipe_nats(ctx: Context) -> None:
    await ctx.traffic.wait_sent(0.4)
    ctx.started(
        f"backlog ({BACKLOG_CITY} cut off, coordinator paused), then SIGKILL nats-server, "
        "delete its JetStream store, start it after 1 s"
    )
    layout = ctx.layout
    await build_backlog(ctx)
    await blocking(lambda: layout.stop_nats(kill=True))
    await blocking(layout.wipe_nats_store)
    await asyncio.sleep(1.0)
    await blocking(layout.start_nats)
    await release_backlog(ctx)
    ctx.ended()


async def cut_off_city(ctx: Context) -> None:
    """One city loses the broker (its gRPC keeps serving its courts) for a virtual day."""
    city = "weihai"
    await ctx.traffic.wait_sent(0.3)
    seconds = ctx.options.cut_seconds
    ctx.started(f"cut {city} off from NATS for {seconds:.0f} s; virtual time +1 day meanwhile")
    await blocking(ctx.layout.cut, city)
    await asyncio.sleep(seconds / 2)
    await blocking(ctx.layout.move_time, timedelta(days=1))
    await asyncio.sleep(seconds / 2)
    await blocking(ctx.layout.reconnect, city)
    ctx.ended()


def published_outbox(db: Path) -> list[tuple[str, bytes]]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return list(
            conn.execute(
                "SELECT subject, payload FROM outbox WHERE published_at IS NOT NULL ORDER BY id"
            )
        )
    finally:
        conn.close()


async def replay_outboxes(ctx: Context, services: list[str], copies: int) -> int:
    """Publish every published outbox message of ``services`` again: ``copies`` times as it was
    (fresh Nats-Msg-Id, so the broker cannot drop them) and once re-sent under a fresh envelope
    message id (the way a re-send from the database looks), all in shuffled order."""
    messages: list[tuple[str, bytes]] = []
    for service in services:
        rows = await blocking(published_outbox, ctx.layout.db_path(service))
        for subject, payload in rows:
            messages.extend([(subject, payload)] * copies)
            envelope = bus_pb2.Envelope()
            envelope.ParseFromString(payload)
            envelope.message_id = uuid.uuid4().hex
            messages.append((subject, envelope.SerializeToString(deterministic=True)))
    random.Random(len(messages)).shuffle(messages)
    nc = await nats.connect(ctx.layout.nats_url, connect_timeout=5)
    try:
        js = nc.jetstream()
        for subject, payload in messages:
            await js.publish(subject, payload, headers={"Nats-Msg-Id": uuid.uuid4().hex})
    finally:
        await nc.close()
    return len(messages)


async def duplicates(ctx: Context) -> None:
    services = ["coordinator", ctx.layout.node_name("qingdao"), ctx.layout.node_name("yantai")]
    await ctx.traffic.wait_sent(0.5)
    ctx.started("re-publish the outboxes of the coordinator, qingdao and yantai, x4, shuffled")
    first = await replay_outboxes(ctx, services, 3)
    await ctx.traffic.all_sent.wait()
    second = await replay_outboxes(ctx, services, 3)
    ctx.notes.append(f"re-published {first} + {second} messages")
    ctx.ended()


async def poison(ctx: Context) -> None:
    """Undecodable bytes and a request for a delegation that does not exist, to the coordinator
    and to a node; each must be parked after bounded retries without holding up the rest."""
    registry = ctx.layout.registry
    qd = registry.courts_in_city("qingdao")[0].court_id
    yt = registry.courts_in_city("yantai")[0].court_id
    await ctx.traffic.wait_sent(0.4)
    ctx.started("publish 2 poison messages to the coordinator and 2 to node-yantai")

    def ghost_request(court: str) -> bytes:
        request = bus_pb2.ActionRequest(
            delegation_id="0" * 32,
            request_id=f"poison-{uuid.uuid4().hex[:8]}",
            kind=pb.EVENT_KIND_URGED,
            side=pb.SIDE_REQUESTING,
            actor_court=court,
            text="poison",
        )
        return bus_pb2.Envelope(
            message_id=uuid.uuid4().hex, court_id=court, request=request
        ).SerializeToString()

    garbage = b"\xff\xfe\xfd not a protobuf envelope \x00\x01"
    sends = [
        ("coordinator", f"jd.v1.coord.{qd}.sync", garbage),
        ("coordinator", f"jd.v1.coord.{qd}.request", ghost_request(qd)),
        (ctx.layout.node_name("yantai"), f"jd.v1.court.{yt}.sync", garbage),
        (ctx.layout.node_name("yantai"), f"jd.v1.court.{yt}.request", ghost_request(yt)),
    ]
    nc = await nats.connect(ctx.layout.nats_url, connect_timeout=5)
    try:
        js = nc.jetstream()
        for service, subject, payload in sends:
            msg_id = uuid.uuid4().hex
            await js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
            ctx.expect_dead.setdefault(service, set()).add(msg_id)
    finally:
        await nc.close()
    ctx.ended()


async def lose_cluster_member(ctx: Context) -> None:
    """Three servers, streams with three replicas; SIGKILL the leader of the nodes' stream."""
    layout = ctx.layout
    await ctx.traffic.wait_sent(0.4)
    leader = await stream_leader(layout.nats_url, "JD_COURT") or layout.members[0].name
    ctx.started(f"SIGKILL nats server {leader} (leader of JD_COURT); it stays down")
    await blocking(layout.kill_member, leader)
    ctx.ended()


FROZEN = ("coordinator", "qingdao")


async def freeze_links(ctx: Context) -> None:
    """The coordinator's and qingdao's NATS connections go half-open mid-traffic: the proxy stops
    reading them and closes nothing, no reset arrives; new connections pass. Only the services'
    own watchdog can notice and connect anew; the frozen sockets stay frozen."""
    await ctx.traffic.wait_sent(0.3)
    ctx.started(f"freeze the NATS links of {' and '.join(FROZEN)} (half-open), never thaw")
    counts = [await blocking(ctx.layout.freeze, name) for name in FROZEN]
    if not all(counts):  # nothing frozen proves nothing
        raise RuntimeError(
            f"no open NATS connection to freeze: {dict(zip(FROZEN, counts, strict=True))}"
        )
    ctx.notes.append(
        "froze "
        + ", ".join(f"{n} connection(s) of {name}" for n, name in zip(counts, FROZEN, strict=True))
    )
    ctx.ended()


def recovered_by_itself(ctx: Context) -> list[str]:
    """Each frozen service logged its own recovery: nats-py's reconnect after unanswered pings
    (``nats_reconnected``) or the link watchdog's replacement (``nats_link_replaced``); which
    came first is a race (two pings at 5 s against the 15 s watchdog), either is the service's
    own doing, and the notes say which."""
    why = []
    for name in FROZEN:
        service = name if name == "coordinator" else ctx.layout.node_name(name)
        lines = ctx.layout.log_path(service).read_text(encoding="utf-8", errors="replace")
        stalled = [line for line in lines.splitlines() if '"relay_stalled"' in line]
        replaced = lines.count('"nats_link_replaced"')
        reconnected = lines.count('"nats_reconnected"')
        ctx.notes.append(
            f"{service}: nats_reconnected x{reconnected}, relay_stalled x{len(stalled)}, "
            f"nats_link_replaced x{replaced}"
            + (f"; first stall: {stalled[0][:200]}" if stalled else "")
        )
        if not replaced and not reconnected:
            why.append(f"{service} did not recover its frozen NATS link by itself")
    return why


TAKEOVER_BOUND = 10.0  # seconds from the active coordinator's death to a standby acting


async def kill_active_coordinator(ctx: Context) -> None:
    """SIGKILL the coordinator holding the lease mid-traffic with a standby running; no restart
    until the standby has taken over (then the dead one comes back, as a supervisor would bring
    it, and waits as the new standby)."""
    await ctx.traffic.wait_sent(0.4)
    ctx.started("SIGKILL the active coordinator; the standby (coordinator-2) must take over")
    ctx.killed_at = time.time()
    await blocking(ctx.layout.kill, "coordinator")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _events(ctx, "coordinator-2", "coordinator_active"):
        await asyncio.sleep(0.2)
    await blocking(ctx.layout.restart, "coordinator")
    ctx.ended()


def _events(ctx: Context, service: str, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of ``service`` whose event is ``event``."""
    path = ctx.layout.log_path(service)
    out = []
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    for line in text.splitlines():
        if f'"{event}"' not in line:
            continue
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("event") == event:
                out.append(record)
    return out


def took_over_in_time(ctx: Context) -> list[str]:
    """The standby logged coordinator_active within TAKEOVER_BOUND seconds of the kill."""
    if ctx.killed_at is None:
        return ["the active coordinator was never killed"]
    active = _events(ctx, "coordinator-2", "coordinator_active")
    if not active:
        return ["the standby never became active"]
    became = datetime.fromisoformat(str(active[0]["timestamp"]).replace("Z", "+00:00"))
    takeover = became.timestamp() - ctx.killed_at
    ctx.notes.append(f"standby active {takeover:.2f} s after the kill")
    if takeover > TAKEOVER_BOUND:
        return [f"the standby took over after {takeover:.1f} s (bound {TAKEOVER_BOUND:g} s)"]
    return []


async def busy_machine(ctx: Context) -> None:
    """A CPU hog on every core, at the services' own priority, from early in the traffic until
    the row ends (the services converge with the hog still running)."""
    await ctx.traffic.wait_sent(0.05)
    hog = CpuHog(ctx.options.hog_workers or 2 * (os.cpu_count() or 2))
    ctx.layout.hogs.append(hog)
    await blocking(hog.start)
    ctx.started(
        f"CPU hog: {hog.cpus} workers on {os.cpu_count()} cores ({hog.tool}, nice 0) "
        "until the row ends"
    )
    await ctx.traffic.all_sent.wait()
    ctx.notes.append(f"CPU hog: {hog.tool}, {hog.cpus} workers; the fault ends with the sending")
    ctx.ended()


# How often, at most, a walk of the overload row looks at its delegation once it has waited.
OVERLOAD_POLL = 10.0


def overload_shape(options: Options) -> list[tuple[int, float]]:
    burst = max(1, round(options.overload_rate * options.overload_seconds))
    return [(burst, options.overload_rate), (options.delegations, options.rate)]


async def overload(ctx: Context) -> None:
    """Twice the sustainable rate for a while, then the normal rate: the fault ends when the
    overload's last delegation is sent."""
    options = ctx.options
    burst = overload_shape(options)[0][0]
    ctx.started(
        f"{options.overload_rate:g} delegations/s for {options.overload_seconds:g} s ({burst}), "
        f"then {options.delegations} at {options.rate:g}/s"
    )
    await ctx.traffic.wait_count(burst)
    ctx.ended()


async def _no_injection(ctx: Context) -> None:
    """For a row with its own ``drive``: the fault is part of its driving."""


SCENARIOS: list[Scenario] = [
    Scenario("node-kill", "SIGKILL one node (qingdao) mid-traffic, restart", kill_one_node, True),
    Scenario("node-kills", "SIGKILL each of the 5 nodes in turn, restart each", kill_each_node),
    Scenario("coordinator-kill", "SIGKILL the coordinator, restart", kill_coordinator),
    Scenario("nats-restart", "restart nats-server holding a backlog", restart_nats, True),
    Scenario("nats-wiped", "SIGKILL nats-server holding a backlog, wipe its store", wipe_nats),
    Scenario("city-cut-off", "weihai cut off from NATS (a virtual day), reconnect", cut_off_city),
    Scenario("duplicates", "every message again x3 + re-sent, shuffled", duplicates, True),
    Scenario("poison", "undecodable + always-failing messages parked", poison, True),
    Scenario(
        "cluster-member-lost",
        "3-server cluster, R3 streams, stream leader killed",
        lose_cluster_member,
        cluster=True,
    ),
    Scenario(
        "frozen-link",
        "coordinator's and qingdao's NATS links frozen half-open; recover by themselves",
        freeze_links,
        proxy_coordinator=True,
        verdict=recovered_by_itself,
    ),
    Scenario("busy-machine", "a CPU hog (two workers per core) for the whole run", busy_machine),
    Scenario(
        "overload",
        "about twice the sustainable rate for a minute, then normal traffic",
        overload,
        shape=overload_shape,
        patience=lambda o: o.overload_patience,
    ),
    Scenario(
        "standby-takeover",
        "SIGKILL the active coordinator with a standby running; it takes over within 10 s",
        kill_active_coordinator,
        verdict=took_over_in_time,
        standbys=1,
    ),
    Scenario(
        "offline-city",
        f"{OFFLINE_CITY} offline while 2,000 delegations queue for it; all delivered once "
        "within 2 min of its return, each acknowledged by its clerks as it arrives",
        _no_injection,
        drive=drive_offline_backlog,
    ),
]
QUICK = [s for s in SCENARIOS if s.quick]
FULL = [s for s in SCENARIOS if s.name != "node-kill"]


# ---------------------------------------------------------------------------------------------
# Running one scenario
# ---------------------------------------------------------------------------------------------


def _dead_ok(ctx: Context, report: Report) -> list[str]:
    """Expected poison parked where it was sent (found by its Nats-Msg-Id)."""
    missing = []
    for service, ids in ctx.expect_dead.items():
        parked = {d.message_id for d in report.dead_letters.get(service, [])}
        for msg_id in sorted(ids - parked):
            missing.append(f"poison {msg_id} not parked at {service}")
    return missing


def _alerts(ctx: Context) -> list[str]:
    """Each parked poison message must show in its service's log as an error (the alert)."""
    out = []
    for service, ids in ctx.expect_dead.items():
        text = ctx.layout.log_path(service).read_text(encoding="utf-8", errors="replace")
        for msg_id in sorted(ids):
            if not any(msg_id in line and '"error"' in line for line in text.splitlines()):
                out.append(f"no error logged at {service} for parked {msg_id}")
    return out


async def _drive(scenario: Scenario, layout: FaultLayout, options: Options, row: Row) -> None:
    shape = scenario.shape(options) if scenario.shape else None
    patience = scenario.patience(options) if scenario.patience else options.converge_timeout
    traffic = Traffic(
        layout,
        options.delegations,
        seed=options.seed,
        rate=options.rate,
        prefix=f"f{scenario.name[:12]}",
        phases=shape,
        # A walk waiting long looks less often (a clerk would): in the overload row a thousand
        # walks polling every 2 s were several hundred calls a second, more load than the
        # traffic itself, growing with the backlog (the calls per method are in the notes).
        # At 5 s it was still 26,000 GetDelegation calls for 520 walks (CI's row, 2026-12-01),
        # about a third of the nodes' busy time in a profile, taken from the coordinator whose
        # backlog the row waits on (docs/faults.md): 10 s.
        poll_max=OVERLOAD_POLL if shape else 0.4,
    )
    ctx = Context(layout, traffic, options)
    monitor = await FlowMonitor(layout).start()
    try:
        # A safety net until the fault ends and sets the real deadline.
        traffic.deadline = time.monotonic() + traffic.planned_seconds + 300
        runner = asyncio.create_task(traffic.run())
        try:
            await scenario.inject(ctx)
        except Exception as exc:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            raise RuntimeError(f"injection failed: {exc!r}") from exc
        if not ctx.fault_end:
            ctx.ended()
        traffic.deadline = ctx.fault_end + patience
        await runner
        sent = [(w.from_court, w.request_id) for w in traffic.walks if w.stage != "not sent"]
        created = [(w.from_court, w.request_id) for w in traffic.walks if w.delegation_id]
        prefix = traffic.prefix_of_ids
        while True:
            report = await blocking(check, layout.data_dir, layout.registry, sent, created, prefix)
            extra = _dead_ok(ctx, report)
            if ctx.expect_dead and not extra and ctx.parked_after is None:
                ctx.parked_after = round(time.monotonic() - ctx.fault_start, 1)
            if report.holds and not extra:
                row.converge_seconds = round(time.monotonic() - ctx.fault_end, 1)
                break
            if time.monotonic() > traffic.deadline:
                break
            await asyncio.sleep(1.0)
        # Lag must drain to zero at the end of every row (bounded: digests come and go).
        behind: dict[str, int] = {}
        if report.holds:
            behind = await monitor.drained(options.drain_timeout)
            end_lag: dict[str, int] | None = behind
        else:
            end_lag = await monitor.lag()
        await monitor.stop()
        row.max_lag, row.max_lag_where = monitor.max_lag, monitor.max_lag_where
        row.max_outbox_age = round(monitor.max_outbox_age, 1)
        row.max_outbox_where = monitor.max_outbox_where
        no_answer = end_lag is None or any(v < 0 for v in end_lag.values())
        row.final_lag = None if no_answer else sum((end_lag or {}).values())
        summary = traffic.summary()
        row.sent = summary["sent"]
        row.completed = report.confirmed
        row.lost = report.lost
        row.duplicated = report.duplicated
        row.disagree = report.disagree
        row.dead = report.dead_count()
        expected_dead = sum(len(v) for v in ctx.expect_dead.values())
        why = list(extra)
        if row.sent == 0:
            why.append("no traffic was sent: a row that sent nothing proves nothing")
        if behind:
            why.append(
                f"consumer lag not drained {options.drain_timeout:.0f} s after the invariants "
                "held: " + ", ".join(f"{k} {v}" for k, v in sorted(behind.items()))
            )
        if scenario.verdict is not None:
            why += scenario.verdict(ctx)
        if not extra and ctx.expect_dead:
            why += _alerts(ctx)
        if not report.holds:
            why.append(
                f"invariants do not hold {patience:.0f} s after the fault: "
                f"{report.confirmed}/{report.expected} confirmed everywhere, lost {report.lost}, "
                f"duplicated {report.duplicated}, disagree {report.disagree}, "
                f"agreed-not-final {report.not_final}, never accepted {report.unsent}"
            )
            why += report.problems[:12]
            why += [f"driver: {e}" for e in summary["errors"][:8]]
        row.passed = not why
        for service, letters in report.dead_letters.items():
            for d in letters:
                expected = d.message_id in ctx.expect_dead.get(service, set())
                row.notes.append(
                    f"dead letter at {service}{' (expected)' if expected else ''}: "
                    f"{d.subject} {d.reason[:140]}"
                )
        if row.dead > expected_dead:
            row.notes.append(f"{row.dead - expected_dead} unexpected dead letter(s)")
        row.notes += ctx.notes
        row.notes.append(
            f"flow: max consumer lag {monitor.max_lag} ({monitor.max_lag_where or '-'}), "
            f"max outbox age {monitor.max_outbox_age:.1f} s ({monitor.max_outbox_where or '-'}), "
            f"{monitor.lag_samples}/{monitor.samples} samples answered by the broker"
        )
        walk_kinds = {"CREATED", "ROUTED", "DELIVERED", "ACKNOWLEDGED", "ACCEPTED", "COMPLETED"}
        other = {k: n for k, n in report.kinds.items() if k not in walk_kinds | {"CONFIRMED"}}
        if other:
            row.notes.append(
                "events besides the walk's: "
                + ", ".join(f"{k} x{n}" for k, n in sorted(other.items()))
            )
        if ctx.parked_after is not None:
            row.notes.append(f"all poison parked within {ctx.parked_after} s of the fault")
        later = [w for w in traffic.walks if w.started >= ctx.fault_start and w.ended]
        if later:
            row.notes.append(
                f"{len(later)} delegations sent after the fault began: "
                f"{sum(w.confirmed for w in later)} confirmed, longest walk "
                f"{max(w.ended - w.started for w in later):.1f} s"
            )
        row.notes += [f"timeline {line}" for line in layout.timeline()]
        for service, counts in log_warnings(layout).items():
            row.notes.append(
                f"log {service}: " + ", ".join(f"{k} x{n}" for k, n in counts.most_common(6))
            )
        row.notes.append(
            f"driver: stages {json.dumps(summary['stages'])}, "
            f"retries {json.dumps(summary['retries'])}, "
            f"calls {json.dumps(summary['calls'])} in {time.monotonic() - traffic.began:.0f} s, "
            f"longest walk {summary['walk_seconds_max']} s"
        )
        row.why = why
    finally:
        await monitor.stop()
        await bounded_close(traffic)


def run_scenario(scenario: Scenario, options: Options) -> Row:
    """Start a fresh layout, run the scenario, stop every process; keep the folder if it failed."""
    row = Row(scenario.name)
    started = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix=f"jd-faults-{scenario.name}-"))
    row.data_dir = str(data_dir)
    layout = FaultLayout(
        data_dir,
        cluster=scenario.cluster,
        proxy_coordinator=scenario.proxy_coordinator,
        standbys=scenario.standbys,
    )
    try:
        layout.start()
        asyncio.run((scenario.drive or _drive)(scenario, layout, options, row))
        died = layout.check_alive()
        if died:
            row.passed = False
            row.why += [f"{d} (not killed by the scenario)" for d in died]
    except Exception as exc:  # noqa: BLE001  a broken scenario fails its row; the others still run
        row.passed = False
        row.why.append(f"harness error: {exc!r}")
        row.why += traceback.format_exc().splitlines()[-6:]
    finally:
        with contextlib.suppress(Exception):
            layout.close()
    row.seconds = round(time.monotonic() - started, 1)
    if row.passed and not options.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
        row.data_dir = ""
    return row
