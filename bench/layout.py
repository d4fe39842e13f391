"""The whole layout against its own ceiling, in the same run (issue 10, "What to build" point 2).

``python -m bench.layout [--quick] [--big] [--seconds S] [--json]`` (last step of ``make bench``).
It starts the five-city layout as ``jiaodong up`` does (jiaodong.devtools.layout: the secured
nats-server, the coordinator and five city nodes as separate processes on free loopback ports, the
development PKI, in a temporary folder) and measures, each figure the median of three runs with
min and max, beside a ceiling measured in the same run and the ratio of the two:

(a) CreateDelegation on the Qingdao node over mutual TLS, closed loop at 1, 16 and 64 calls in
    flight: calls/s, p50 and p99. Ceilings: the minimal handler (``bench.ceilings minimal``: a
    grpc.aio server over the node's certificate whose handler commits one SQLite row, WAL and
    ``synchronous=FULL``, and publishes one JetStream message with ``Nats-Msg-Id``, acked before
    answering, on the layout's own nats-server) and a bare mutual-TLS echo server.
(b) create -> delivered: from the create's answer to the delegation stored at the entrusted node
    (seen on the entrusted court's WatchDelegations stream at its node), offered open loop at 20,
    50 and 200 delegations/s between random pairs of cities for ``--seconds``: p50/p95/p99, the
    backlog when the load stops (offered minus delivered) and the seconds to drain it (bounded by
    ``--drain``). Ceiling: the minimal chain (commit, publish -> consume, commit, publish ->
    consume, commit, in three processes on the same nats-server).
(c) CPU milliseconds per delegation per process (coordinator, each node, nats-server) at 20/s,
    from /proc/<pid>/stat utime+stime over the run, its drain and the settling after it. psutil
    is not installed in the project's environment and /proc gives the same counters, so /proc.
(d) the same create figures, the node's ListDelegations and the coordinator's first board page
    with 10,000 and 100,000 delegations stored (``--big`` adds 1,000,000: far beyond the 10-minute
    bound today). Rows are cloned from delegations the layout itself delivered in (b), with
    SQLAlchemy Core INSERT ... SELECT into the delegation, delegation_event and sla_clock tables
    of every holder (the Qingdao node, the coordinator, the node of the other city) while the
    services are stopped; each clone gets a new id, request id and event ids, and its content
    is re-serialized with its id. Their hash chains are the source's, so not valid for the new
    id: no clone is ever merged, and reconciliation compares sequence numbers and last hashes,
    which agree at every holder.
(e) resident memory (VmRSS) of the nodes and the coordinator after (d)'s largest size.
(f) the SLA sweep over 1,000,000 clocks: ``bench.sla_sweep`` (run before this by make bench).

Everything it starts is in its own process group and is killed on exit, also on Ctrl-C or
SIGTERM. Waits are on conditions with deadlines. ``--quick`` (one run, short, small stores) is for
smoke tests; the full run takes about 10 minutes on 2 cores. Results go to
bench/results/layout-<UTC timestamp>.json; the table goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import logging
import os
import platform
import random
import select as io_select
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
)

from bench.ceilings import DONE_SUBJECT, bench_user_block, connect_bench
from jiaodong.bus.embedded import EmbeddedNats, free_port
from jiaodong.devtools.layout import Layout, start_layout
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.files.registry import load_registry
from jiaodong.security.certs import files_for, init_pki
from jiaodong.security.clients import ChannelPool, act_as
from jiaodong.security.nats_config import render_server_config
from jiaodong.store.tables import DelegationRow, EventRow, SlaClockRow
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import coordinator_service_pb2_grpc as cgrpc
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import court_node_service_pb2_grpc as ngrpc
from jiaodong.v1 import delegation_pb2 as pb

REGISTRY = load_registry(None)
CITIES = sorted(REGISTRY.cities)
NODE_CITY = "qingdao"  # the node of (a), (d) and (e)
BASIC = {
    city: sorted(
        c.court_id for c in REGISTRY.courts.values() if c.city == city and c.level == "basic"
    )
    for city in CITIES
}
# (b) targets a city without a district, so the city's intermediate court is entrusted; basic
# courts send. Each entrusted court's officer watches its node: it hears only arrivals.
INTERMEDIATE = {city: REGISTRY.intermediate_court(city).court_id for city in CITIES}
LEVELS = (1, 16, 64)
RATES = (20, 50, 200)
# The gate's per-court rate limit (default 50/s with bursts of 200) would throttle the load
# generator, not measure the layout; the check itself still runs on every call.
RATE_ENV = {"JD_RATE_LIMIT": "1000000", "JD_RATE_BURST": "1000000"}
# The resident-ID standard's published test vector (RULES.md), not a person.
RESIDENT_ID = "34052419800101001X"
CLK_TCK = os.sysconf("SC_CLK_TCK")
RESULTS = Path(__file__).resolve().parent / "results"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- every process this benchmark starts, killed on the way out --------------------------------

_GROUPS: set[int] = set()


def track(pid: int) -> None:
    """Remember a process started in a session of its own (its group id is its pid)."""
    _GROUPS.add(pid)


def kill_all() -> None:
    for pgid in list(_GROUPS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _GROUPS.discard(pgid)


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


# -- numbers ------------------------------------------------------------------------------------


def pct(samples: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of ``samples``; None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def spread(values: Iterable[float | None]) -> dict[str, Any]:
    """Median, min and max of the runs' values (runs without a value are left out)."""
    got = [v for v in values if v is not None]
    if not got:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {
        "median": statistics.median(got),
        "min": min(got),
        "max": max(got),
        "runs": [round(v, 4) for v in got],
    }


def ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    if a["median"] is None or not b["median"]:
        return None
    return float(a["median"]) / float(b["median"])


# -- /proc ----------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            out[name] = cpu_seconds(pid)
    return out


async def wait_quiet(
    pids: dict[str, int], bound: float, cores: float = 0.08, window: float = 1.0
) -> float | None:
    """Wait until ``pids`` together use under ``cores`` of a CPU over a ``window``; the seconds
    it took, or None if they were still busy after ``bound`` seconds."""
    start = time.monotonic()
    before = sum(cpu_snapshot(pids).values())
    while time.monotonic() - start < bound:
        await asyncio.sleep(window)  # one sampling window of the CPU counters
        now = sum(cpu_snapshot(pids).values())
        if (now - before) / window < cores:
            return time.monotonic() - start
        before = now
    return None


async def until(condition: Callable[[], bool], deadline: float, step: float = 0.02) -> bool:
    """Poll ``condition`` until it holds or the monotonic ``deadline`` passes."""
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(step)
    return True


def read_ready(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The READY line a ceiling process prints once it serves (bounded wait)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ceiling process exited with {proc.returncode}")
        ready, _, _ = io_select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline().decode().strip()
            if line.startswith("READY"):
                return line
    raise RuntimeError(f"ceiling process not ready within {timeout}s")


# -- the layout -----------------------------------------------------------------------------------


@dataclass
class Stack:
    """One layout: its secured nats-server (with the bench user added), the services, and the
    ceiling processes started beside it."""

    root: Path
    pki: Path
    log_level: str
    nats: EmbeddedNats | None = None
    layout: Layout | None = None
    ceilings: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def start(self) -> Stack:
        port = free_port()
        text = render_server_config(
            REGISTRY, self.pki, store_dir=self.root / "nats" / "jetstream", port=port
        )
        end = text.rindex("  ]\n}")
        text = text[:end] + bench_user_block(self.pki) + text[end:]
        self.nats = EmbeddedNats(self.root / "nats", port, config=text, tls=True)
        try:
            self.nats.start()
        finally:
            if self.nats.process is not None:
                track(self.nats.process.pid)
        self.start_services()
        return self

    def start_services(self) -> None:
        assert self.nats is not None
        self.layout = start_layout(
            self.data_dir,
            base_port=0,
            nats_url=self.nats.url,
            log_level=self.log_level,
            extra_env=RATE_ENV,
        )
        for svc in self.layout.services:
            track(svc.process.pid)

    def stop_services(self) -> None:
        if self.layout is not None:
            self.layout.stop()
            for svc in self.layout.services:
                _GROUPS.discard(svc.process.pid)
            self.layout = None

    def start_ceiling(self, name: str, *args: str) -> str:
        with open(self.root / f"{name}.log", "ab") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.ceilings", *args, "--pki", str(self.pki)],
                stdout=subprocess.PIPE,
                stderr=log_file,
                start_new_session=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
        track(proc.pid)
        self.ceilings[name] = proc
        return read_ready(proc, 30)

    def start_grpc_ceilings(self) -> None:
        assert self.nats is not None
        line = self.start_ceiling("echo", "echo")
        self.ports["echo"] = int(line.split()[1])
        line = self.start_ceiling(
            "minimal", "minimal", "--nats", self.nats.url, "--db", str(self.root / "minimal.db")
        )
        self.ports["minimal"] = int(line.split()[1])

    def start_chain(self) -> None:
        assert self.nats is not None
        for hop in ("mid", "end"):
            db = str(self.root / f"chain-{hop}.db")
            self.start_ceiling(hop, "stage", "--hop", hop, "--nats", self.nats.url, "--db", db)

    def stop(self) -> None:
        for proc in self.ceilings.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.ceilings.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            _GROUPS.discard(proc.pid)
        self.ceilings.clear()
        self.stop_services()
        if self.nats is not None:
            pid = self.nats.process.pid if self.nats.process else None
            self.nats.stop()
            if pid is not None:
                _GROUPS.discard(pid)

    def address(self, name: str) -> str:
        assert self.layout is not None
        if name == "coordinator":
            assert self.layout.coordinator is not None
            return self.layout.coordinator.address
        return self.layout.nodes[name].address

    def pids(self) -> dict[str, int]:
        """The layout's processes by name: coordinator, node-<city>, nats-server."""
        assert self.layout is not None and self.nats is not None and self.nats.process
        out = {svc.name: svc.process.pid for svc in self.layout.services}
        out["nats-server"] = self.nats.process.pid
        return out

    def chain_pids(self) -> dict[str, int]:
        assert self.nats is not None and self.nats.process
        out = {f"chain-{hop}": self.ceilings[hop].pid for hop in ("mid", "end")}
        out["nats-server"] = self.nats.process.pid
        return out

    def log_mark(self) -> dict[str, int]:
        assert self.layout is not None
        return {
            svc.name: svc.log_path.stat().st_size
            for svc in self.layout.services
            if svc.log_path.exists()
        }

    def digests_since(self, mark: dict[str, int]) -> int:
        """Reconciliation rounds logged by the nodes since ``mark`` (info level and above)."""
        assert self.layout is not None
        rounds = 0
        for svc in self.layout.nodes.values():
            with open(svc.log_path, "rb") as f:
                f.seek(mark.get(svc.name, 0))
                rounds += f.read().count(b"reconcile_digest_sent")
        return rounds


class Clients:
    """Mutual-TLS clients of one stack: officers of any court, the regional operator."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.pool = ChannelPool(lambda identity: files_for(stack.pki, identity))

    def node(self, city: str) -> ngrpc.CourtNodeServiceStub:
        return self.pool.stub(ngrpc.CourtNodeServiceStub, self.stack.address(city))

    def at(self, address: str) -> ngrpc.CourtNodeServiceStub:
        return self.pool.stub(ngrpc.CourtNodeServiceStub, address)

    def coordinator(self) -> cgrpc.CoordinatorServiceStub:
        return self.pool.stub(
            cgrpc.CoordinatorServiceStub,
            self.stack.address("coordinator"),
            Identity(Role.OPERATOR, REGION),
        )

    async def close(self) -> None:
        await self.pool.close()


def create_request(court: str, target_city: str, serial: int) -> api.CreateDelegationRequest:
    """A valid request of ``court`` (its own case code in the case number) to another city."""
    code = REGISTRY.court(court).case_code
    return api.CreateDelegationRequest(
        request_id=uuid.uuid4().hex,
        case_number=f"(2024){code}执{serial % 999_999 + 1}号",
        target=pb.Target(city=target_city),
        task_type=pb.TASK_TYPE_SEIZURE,
        asset_kind=pb.ASSET_KIND_VEHICLE,
        debtor=pb.Party(
            person=pb.Person(name="张三", resident_id=RESIDENT_ID), phone="13800138000"
        ),
        place=pb.Place(address="南大街1号"),
        requested_actions="扣押被执行人名下车辆",
        priority=pb.PRIORITY_NORMAL,
        plate="鲁F12345",
    )


# -- (a) and (d): closed loop ------------------------------------------------------------------


async def closed_loop(
    call: Callable[[int], Awaitable[Any]], inflight: int, seconds: float
) -> dict[str, Any]:
    """``inflight`` workers call back to back for ``seconds``: completed calls per second and the
    latency of each completed call."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def worker(first: int) -> None:
        i = first
        while time.monotonic() < deadline:
            t = time.perf_counter()
            try:
                await call(i)
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] = errors.get(exc.code().name, 0) + 1
            else:
                latencies.append((time.perf_counter() - t) * 1000)
            i += inflight

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(inflight)))
    elapsed = time.perf_counter() - start
    return {
        "calls_per_s": len(latencies) / elapsed,
        "p50_ms": pct(latencies, 0.50),
        "p99_ms": pct(latencies, 0.99),
        "calls": len(latencies),
        "errors": errors,
    }


def creator(stub: ngrpc.CourtNodeServiceStub) -> Callable[[int], Awaitable[Any]]:
    """Creates at the Qingdao node, round robin over its basic courts and the other cities."""
    courts = BASIC[NODE_CITY]
    others = [c for c in CITIES if c != NODE_CITY]

    def call(i: int) -> Awaitable[Any]:
        court = courts[i % len(courts)]
        request = create_request(court, others[i % len(others)], i)
        return stub.CreateDelegation(request, metadata=act_as(court), timeout=60)

    return call


def node_lister(stub: ngrpc.CourtNodeServiceStub) -> Callable[[int], Awaitable[Any]]:
    """The node's ListDelegations, first page, sent and received, as the court that holds the
    most (the city's intermediate court, entrusted with every delegation to the city)."""
    court = INTERMEDIATE[NODE_CITY]
    request = api.ListDelegationsRequest()
    return lambda _i: stub.ListDelegations(request, metadata=act_as(court), timeout=60)


def board_lister(stub: cgrpc.CoordinatorServiceStub) -> Callable[[int], Awaitable[Any]]:
    """The coordinator's first page of the region's delegations (the regional operator)."""
    request = capi.CoordinatorListDelegationsRequest()
    return lambda _i: stub.ListDelegations(request, timeout=60)


# -- (b): open loop -------------------------------------------------------------------------------


class Arrivals:
    """Watch streams of every city's intermediate court at its node: the first time a delegation
    shows there, it is stored at its entrusted node."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.seen: dict[str, float] = {}
        self.breaks = 0
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for city in CITIES:
            self.tasks.append(asyncio.create_task(self._watch(city)))

    async def _watch(self, city: str) -> None:
        stub = self.clients.node(city)
        while True:
            try:
                stream = stub.WatchDelegations(
                    api.WatchDelegationsRequest(), metadata=act_as(INTERMEDIATE[city])
                )
                async for change in stream:
                    self.seen.setdefault(change.delegation.id, time.monotonic())
            except grpc.aio.AioRpcError:
                pass
            self.breaks += 1  # a stream that ends is opened again; the gap is reported
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def warm_up(clients: Clients, arrivals: Arrivals) -> None:
    """One delegation into every city, seen arriving: the streams and channels are open."""
    ids = []
    for i, city in enumerate(CITIES):
        sender = CITIES[(i + 1) % len(CITIES)]
        court = BASIC[sender][0]
        reply = await clients.node(sender).CreateDelegation(
            create_request(court, city, i), metadata=act_as(court), timeout=60
        )
        ids.append(reply.delegation.id)
    if not await until(lambda: all(i in arrivals.seen for i in ids), time.monotonic() + 60):
        raise RuntimeError("warm-up delegations did not arrive within 60 s")


async def layout_open_loop(
    clients: Clients,
    arrivals: Arrivals,
    rate: float,
    seconds: float,
    drain: float,
    rng: random.Random,
    max_inflight: int = 1024,
) -> dict[str, Any]:
    """Offer ``rate`` creates per second (random pairs of cities) for ``seconds``; how long each
    took from its answer to its arrival, the backlog when the load stops and the drain."""
    stubs = {city: clients.node(city) for city in CITIES}
    offered = int(rate * seconds)
    answered: dict[str, float] = {}
    create_ms: list[float] = []
    errors: dict[str, int] = {}
    skipped = 0
    inflight: set[asyncio.Task[None]] = set()
    breaks_before = arrivals.breaks

    async def one(i: int) -> None:
        sender = rng.choice(CITIES)
        target = rng.choice([c for c in CITIES if c != sender])
        court = rng.choice(BASIC[sender])
        t = time.perf_counter()
        try:
            reply = await stubs[sender].CreateDelegation(
                create_request(court, target, i), metadata=act_as(court), timeout=120
            )
        except grpc.aio.AioRpcError as exc:
            errors[exc.code().name] = errors.get(exc.code().name, 0) + 1
            return
        answered[reply.delegation.id] = time.monotonic()
        create_ms.append((time.perf_counter() - t) * 1000)

    start = time.monotonic()
    for i in range(offered):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(inflight) >= max_inflight:
            skipped += 1
            continue
        task = asyncio.create_task(one(i))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    load_end = start + offered / rate
    if load_end > time.monotonic():  # the last create was due 1/rate before the load's end
        await asyncio.sleep(load_end - time.monotonic())
    delivered_at_end = sum(1 for d in list(answered) if d in arrivals.seen)

    def done() -> bool:
        return not inflight and all(d in arrivals.seen for d in answered)

    drained = await until(done, load_end + drain)
    drain_s = time.monotonic() - load_end if drained else None
    if inflight:  # creates still unanswered after the bound: given up on (counted)
        for task in list(inflight):
            task.cancel()
        await asyncio.gather(*inflight, return_exceptions=True)
    latencies = [
        max(0.0, arrivals.seen[d] - t) * 1000 for d, t in answered.items() if d in arrivals.seen
    ]
    return {
        "offered": offered,
        "created": len(answered),
        "errors": errors,
        "skipped_client_cap": skipped,
        "delivered_at_end": delivered_at_end,
        "backlog_at_end": offered - delivered_at_end,
        "delivered": len(latencies),
        "drained": drained,
        "drain_s": drain_s,
        "p50_ms": pct(latencies, 0.50),
        "p95_ms": pct(latencies, 0.95),
        "p99_ms": pct(latencies, 0.99),
        "create_p50_ms": pct(create_ms, 0.50),
        "create_p99_ms": pct(create_ms, 0.99),
        "watch_breaks": arrivals.breaks - breaks_before,
        "window_s": time.monotonic() - start,
    }


class ChainArrivals:
    """Arrivals at the minimal chain's last hop, reported on core NATS."""

    def __init__(self) -> None:
        self.nc: Any = None
        self.got: dict[str, tuple[float, float]] = {}

    async def start(self, stack: Stack) -> None:
        assert stack.nats is not None
        self.nc = await connect_bench(stack.nats.url, stack.pki, "bench-layout")

        async def on_done(msg: Any) -> None:
            item, t0, arrived = json.loads(msg.data)
            self.got[item] = (t0, arrived)

        await self.nc.subscribe(f"{DONE_SUBJECT}.>", cb=on_done)

    async def stop(self) -> None:
        if self.nc is not None:
            await self.nc.close()


async def chain_open_loop(
    stack: Stack, arrivals: ChainArrivals, rate: float, seconds: float, drain: float, run: str
) -> dict[str, Any]:
    assert stack.nats is not None
    pids = stack.chain_pids()
    before = cpu_snapshot(pids)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ceilings",
        "origin",
        "--pki",
        str(stack.pki),
        "--nats",
        stack.nats.url,
        "--db",
        str(stack.root / f"chain-origin-{run}.db"),
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--run",
        run,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    track(proc.pid)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=seconds + 90)
    _GROUPS.discard(proc.pid)
    summary = json.loads(out.decode().strip().splitlines()[-1])
    sent = summary["offered"] - summary["errors"] - summary["skipped"]
    load_end = summary["load_end"]

    def mine() -> list[tuple[float, float]]:
        return [v for k, v in list(arrivals.got.items()) if k.startswith(f"{run}-")]

    drained = await until(lambda: len(mine()) >= sent, load_end + drain)
    after = cpu_snapshot(pids)
    got = mine()
    delivered_at_end = sum(1 for _, arrived in got if arrived <= load_end)
    latencies = [(arrived - t0) * 1000 for t0, arrived in got]
    cpu = {name: after[name] - before.get(name, after[name]) for name in after}
    cpu["chain-origin"] = summary["cpu_s"]
    return {
        "offered": summary["offered"],
        "created": sent,
        "errors": {"publish": summary["errors"]} if summary["errors"] else {},
        "skipped_client_cap": summary["skipped"],
        "delivered_at_end": delivered_at_end,
        "backlog_at_end": summary["offered"] - delivered_at_end,
        "delivered": len(got),
        "drained": drained,
        "drain_s": max(0.0, max(a for _, a in got) - load_end) if drained and got else None,
        "p50_ms": pct(latencies, 0.50),
        "p95_ms": pct(latencies, 0.95),
        "p99_ms": pct(latencies, 0.99),
        "cpu_ms_per_delegation": {
            name: value * 1000 / max(1, len(got)) for name, value in cpu.items()
        },
    }


# -- (d): stored delegations --------------------------------------------------------------------


def top_up(data_dir: Path, target: int) -> dict[str, Any]:
    """Clone delivered delegations until the Qingdao node holds ``target`` (services stopped).

    Each clone is written at every holder: the Qingdao node, the coordinator and the node of the
    other city, so reconciliation finds them in agreement."""
    t = time.perf_counter()
    files = {name: data_dir / f"{name}.db" for name in ["coordinator", *REGISTRY.nodes()]}
    node = REGISTRY.city(NODE_CITY).node

    def delivered(name: str) -> dict[str, tuple[str, str, bytes]]:
        with contextlib.closing(sqlite3.connect(f"file:{files[name]}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT id, requesting_city, entrusted_city, content FROM delegation "
                "WHERE status = 'DELIVERED'"
            ).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    held = {name: delivered(name) for name in files}
    city_node = {city: REGISTRY.city(city).node for city in CITIES}
    sources = []
    for delegation_id, (sender, receiver, _content) in sorted(held[node].items()):
        other = receiver if sender == NODE_CITY else sender
        if delegation_id in held["coordinator"] and delegation_id in held[city_node[other]]:
            sources.append((delegation_id, city_node[other]))
    with contextlib.closing(sqlite3.connect(files[node])) as db:
        have = db.execute("SELECT count(*) FROM delegation").fetchone()[0]
        last = db.execute(
            "SELECT max(request_id) FROM delegation WHERE request_id LIKE 'bench-%'"
        ).fetchone()[0]
    first = int(last.removeprefix("bench-"), 16) + 1 if last else 0
    wanted = max(0, target - have)
    if wanted and not sources:
        raise RuntimeError("no delivered delegation to clone: (b) at 20/s delivered nothing")
    plan: dict[str, list[dict[str, Any]]] = {name: [] for name in files}
    for n in range(wanted):
        k = first + n
        src, other = sources[n % len(sources)]
        new_id = src[:24] + f"{k:08x}"
        request_id = f"bench-{k:08x}"
        for name in (node, "coordinator", other):
            content = pb.Delegation()
            content.ParseFromString(held[name][src][2])
            content.id = new_id
            content.request_id = request_id
            plan[name].append(
                {
                    "new_id": new_id,
                    "src": src,
                    "request_id": request_id,
                    "content": content.SerializeToString(deterministic=True),
                    "k": k,
                }
            )
    counts = {}
    for name, rows in plan.items():
        if rows:
            _clone_into(files[name], rows)
        with contextlib.closing(sqlite3.connect(files[name])) as db:
            counts[name] = db.execute("SELECT count(*) FROM delegation").fetchone()[0]
    return {
        "target": target,
        "cloned": wanted,
        "sources": len(sources),
        "stored": counts,
        "seconds": time.perf_counter() - t,
    }


def _clone_into(path: Path, rows: list[dict[str, Any]]) -> None:
    """INSERT ... SELECT through SQLAlchemy Core, the store's own table definitions."""
    engine = create_engine(f"sqlite:///{path}")
    clone = Table(
        "bench_clone",
        MetaData(),
        Column("new_id", String, primary_key=True),
        Column("src", String),
        Column("request_id", String),
        Column("content", LargeBinary),
        Column("k", Integer),
        prefixes=["TEMPORARY"],
    )
    d, e, c = DelegationRow.__table__, EventRow.__table__, SlaClockRow.__table__  # type: ignore[attr-defined]
    replaced_d = {
        "id": clone.c.new_id,
        "request_id": clone.c.request_id,
        "content": clone.c.content,
    }
    replaced_e = {
        "delegation_id": clone.c.new_id,
        "event_id": func.substr(e.c.event_id, 1, 24).concat(func.printf("%08x", clone.c.k)),
    }
    try:
        with engine.begin() as conn:
            clone.create(conn)
            conn.execute(insert(clone), rows)
            for table, key, replaced in (
                (d, d.c.id, replaced_d),
                (e, e.c.delegation_id, replaced_e),
                (c, c.c.delegation_id, {"delegation_id": clone.c.new_id}),
            ):
                columns = [col.name for col in table.columns]
                source = select(*(replaced.get(n, table.c[n]) for n in columns)).select_from(
                    clone.join(table, key == clone.c.src)
                )
                conn.execute(insert(table).from_select(columns, source))
            clone.drop(conn)
    finally:
        engine.dispose()


# -- the phases ----------------------------------------------------------------------------------


@dataclass
class Options:
    runs: int
    call_seconds: float
    seconds: float
    drain: float
    sizes: tuple[int, ...]
    log_level: str
    quiet_bound: float


async def phase_a(stack: Stack, o: Options) -> dict[str, Any]:
    """(a) create at 1/16/64 in flight against the minimal handler and the echo, per run."""
    clients = Clients(stack)
    targets = {
        "echo": creator(clients.at(f"127.0.0.1:{stack.ports['echo']}")),
        "minimal": creator(clients.at(f"127.0.0.1:{stack.ports['minimal']}")),
        "layout": creator(clients.node(NODE_CITY)),
    }
    pids = stack.pids()
    runs: list[dict[str, Any]] = []
    try:
        for call in targets.values():  # channels open, handshakes done, code paths warm
            await closed_loop(call, 4, 0.5)
        for run in range(o.runs):
            quiet = await wait_quiet(pids, o.quiet_bound)
            result: dict[str, Any] = {"quiet_before_s": quiet}
            # Ceilings first, on a quiet layout; then the layout, whose creates go on to be
            # routed and delivered while the next level runs (that work is part of its cost).
            for name in ("echo", "minimal", "layout"):
                for level in LEVELS:
                    figures = await closed_loop(targets[name], level, o.call_seconds)
                    result[f"{name}@{level}"] = figures
                    log(
                        f"(a) run {run + 1} {name:8} {level:3} in flight: "
                        f"{figures['calls_per_s']:7.1f}/s p50 {figures['p50_ms']:.1f} ms "
                        f"p99 {figures['p99_ms']:.1f} ms errors {figures['errors'] or 0}"
                    )
            runs.append(result)
    finally:
        await clients.close()
    return {"runs": runs, "stored": stored_counts(stack.data_dir)}


async def measure_lists(clients: Clients, o: Options) -> list[dict[str, Any]]:
    out = []
    node = node_lister(clients.node(NODE_CITY))
    board = board_lister(clients.coordinator())
    await closed_loop(node, 1, 0.3)
    await closed_loop(board, 1, 0.3)
    for _ in range(o.runs):
        out.append(
            {
                "node_list": await closed_loop(node, 1, o.call_seconds),
                "board_page": await closed_loop(board, 1, o.call_seconds),
            }
        )
    return out


def stored_counts(data_dir: Path) -> dict[str, int]:
    out = {}
    for name in ["coordinator", REGISTRY.city(NODE_CITY).node]:
        with contextlib.closing(
            sqlite3.connect(f"file:{data_dir / f'{name}.db'}?mode=ro", uri=True)
        ) as db:
            out[name] = db.execute("SELECT count(*) FROM delegation").fetchone()[0]
    return out


async def delivery_run(
    stack: Stack,
    clients: Clients,
    arrivals: Arrivals,
    chain: ChainArrivals,
    rate: int,
    run: int,
    o: Options,
    rng: random.Random,
) -> dict[str, Any]:
    """One run at ``rate``: the minimal chain first (on a quiet layout), then the layout; at 20/s
    also the CPU each process spent from the load's start until the layout is quiet again."""
    pids = stack.pids()
    quiet = await wait_quiet(pids, o.quiet_bound)
    chain_fig = await chain_open_loop(
        stack, chain, rate, o.seconds, o.drain, f"c{rate}r{run}x{rng.randrange(1 << 30)}"
    )
    await wait_quiet({**pids, **stack.chain_pids()}, o.quiet_bound)
    mark = stack.log_mark()
    before = cpu_snapshot(pids)
    layout_fig = await layout_open_loop(clients, arrivals, rate, o.seconds, o.drain, rng)
    settled = await wait_quiet(pids, o.quiet_bound) if layout_fig["drained"] else None
    after = cpu_snapshot(pids)
    layout_fig["quiet_before_s"] = quiet
    layout_fig["settled_s"] = settled
    layout_fig["digest_rounds"] = stack.digests_since(mark)
    if rate == RATES[0]:
        layout_fig["cpu_ms_per_delegation"] = {
            name: (after[name] - before[name]) * 1000 / max(1, layout_fig["created"])
            for name in after
        }
    log(
        f"(b) run {run + 1} {rate:3}/s  layout p50 {fmt(layout_fig['p50_ms'])} "
        f"p99 {fmt(layout_fig['p99_ms'])} ms, backlog {layout_fig['backlog_at_end']}, "
        f"drain {fmt(layout_fig['drain_s'])} s | chain p50 {fmt(chain_fig['p50_ms'])} "
        f"p99 {fmt(chain_fig['p99_ms'])} ms, backlog {chain_fig['backlog_at_end']}"
    )
    return {"layout": layout_fig, "chain": chain_fig}


async def phase_b_low_and_d(
    stack: Stack, o: Options, rng: random.Random
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(b)/(c) at 20/s on one layout, then (d) and (e) on the same layout's data."""
    runs = []
    clients = Clients(stack)
    arrivals = Arrivals(clients)
    chain = ChainArrivals()
    try:
        arrivals.start()
        await chain.start(stack)
        await warm_up(clients, arrivals)
        for run in range(o.runs):
            runs.append(await delivery_run(stack, clients, arrivals, chain, RATES[0], run, o, rng))
        # The lists as they are before any row is added: what (d)'s first size is compared with.
        await wait_quiet(stack.pids(), o.quiet_bound)
        before = {"stored": stored_counts(stack.data_dir), "lists": await measure_lists(clients, o)}
    finally:
        await arrivals.stop()
        await chain.stop()
        await clients.close()
    sizes: dict[str, Any] = {"before": before}
    for size in o.sizes:
        stack.stop_services()
        loaded = top_up(stack.data_dir, size)
        log(
            f"(d) {loaded['stored']} stored "
            f"({loaded['cloned']} cloned in {loaded['seconds']:.1f} s)"
        )
        t = time.perf_counter()
        stack.start_services()
        started = time.perf_counter() - t
        mark = stack.log_mark()
        quiet = await wait_quiet(stack.pids(), o.quiet_bound)
        clients = Clients(stack)
        try:
            call = creator(clients.node(NODE_CITY))
            await closed_loop(call, 4, 0.5)
            creates = []
            for _run in range(o.runs):
                creates.append(
                    {f"layout@{lv}": await closed_loop(call, lv, o.call_seconds) for lv in LEVELS}
                )
            lists = await measure_lists(clients, o)
        finally:
            await clients.close()
        pids = stack.pids()
        rss = {name: rss_mib(pid) for name, pid in pids.items()}
        sizes[str(size)] = {
            "load": loaded,
            "start_s": started,
            "quiet_before_s": quiet,
            "digest_rounds": stack.digests_since(mark),
            "creates": creates,
            "lists": lists,
            "rss_mib": rss,
        }
        c16 = spread(r["layout@16"]["calls_per_s"] for r in creates)["median"]
        nl = spread(r["node_list"]["p50_ms"] for r in lists)["median"]
        bl = spread(r["board_page"]["p50_ms"] for r in lists)["median"]
        log(
            f"(d) {size:,}: create@16 {fmt(c16)}/s, node list p50 {fmt(nl)} ms, "
            f"board page p50 {fmt(bl)} ms; RSS {', '.join(f'{k} {v:.0f}' for k, v in rss.items())}"
        )
    return runs, sizes


async def phase_b_high(
    root: Path, pki: Path, o: Options, rng: random.Random
) -> dict[int, list[dict[str, Any]]]:
    """(b) at the higher rates: a fresh layout for a run whenever the last one left work behind."""
    out: dict[int, list[dict[str, Any]]] = {}
    stack: Stack | None = None
    clients: Clients | None = None
    arrivals: Arrivals | None = None
    chain: ChainArrivals | None = None
    count = 0

    async def close() -> None:
        if arrivals is not None:
            await arrivals.stop()
        if chain is not None:
            await chain.stop()
        if clients is not None:
            await clients.close()
        if stack is not None:
            stack.stop()

    try:
        for rate in RATES[1:]:
            out[rate] = []
            for run in range(o.runs):
                if stack is None:
                    count += 1
                    stack = Stack(root / f"high{count}", pki, o.log_level).start()
                    stack.start_chain()
                    clients = Clients(stack)
                    arrivals = Arrivals(clients)
                    arrivals.start()
                    chain = ChainArrivals()
                    await chain.start(stack)
                    await warm_up(clients, arrivals)
                assert clients is not None and arrivals is not None and chain is not None
                result = await delivery_run(stack, clients, arrivals, chain, rate, run, o, rng)
                result["layout"]["fresh_layout"] = count
                out[rate].append(result)
                if not result["layout"]["drained"] or result["layout"]["settled_s"] is None:
                    await close()
                    stack = clients = arrivals = chain = None
    finally:
        await close()
    return out


# -- the report ----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int | None = None) -> str:
    if value is None:
        return "-"
    if digits is None:
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}"


def cell(s: dict[str, Any]) -> str:
    if s["median"] is None:
        return "-"
    if s["min"] == s["max"]:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def build_table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of figure, layout, ceiling, ratio, note (spreads are median, min, max of runs)."""
    rows: list[dict[str, Any]] = []

    def add(
        figure: str,
        layout: dict[str, Any],
        ceiling: dict[str, Any] | None,
        note: str = "",
        with_ratio: bool = True,
    ) -> None:
        rows.append(
            {
                "figure": figure,
                "layout": layout,
                "ceiling": ceiling,
                "ratio": ratio(layout, ceiling) if ceiling and with_ratio else None,
                "note": note,
            }
        )

    a = results["a"]["runs"]
    for level in LEVELS:

        def of(name: str, key: str, level: int = level) -> dict[str, Any]:
            return spread(r[f"{name}@{level}"][key] for r in a)

        echo = of("echo", "calls_per_s")
        add(
            f"(a) create, {level} in flight: calls/s",
            of("layout", "calls_per_s"),
            of("minimal", "calls_per_s"),
            f"echo {cell(echo)}/s; layout/echo {fmt(ratio(of('layout', 'calls_per_s'), echo), 3)}",
        )
        for key, label in (("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")):
            add(
                f"(a) create, {level} in flight: {label}",
                of("layout", key),
                of("minimal", key),
                f"echo {cell(of('echo', key))} ms",
            )
    b = results["b"]
    for rate in RATES:
        runs = b.get(str(rate), [])
        if not runs:
            continue

        def lb(side: str, key: str, runs: list[dict[str, Any]] = runs) -> dict[str, Any]:
            return spread(r[side][key] for r in runs)

        for key, label in (("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms")):
            add(f"(b) create→delivered at {rate}/s: {label}", lb("layout", key), lb("chain", key))
        undrained = sum(1 for r in runs if not r["layout"]["drained"])
        offered = runs[0]["layout"]["offered"]
        add(
            f"(b) {rate}/s: backlog when the load stops (of {offered:,})",
            lb("layout", "backlog_at_end"),
            lb("chain", "backlog_at_end"),
            with_ratio=False,
        )
        add(
            f"(b) {rate}/s: seconds to drain after the load stops",
            lb("layout", "drain_s"),
            lb("chain", "drain_s"),
            f"{undrained} of {len(runs)} runs not drained within "
            f"{results['options']['drain']:.0f} s"
            if undrained
            else "",
            with_ratio=False,
        )
        add(f"(b) {rate}/s: create's own p50 ms (layout)", lb("layout", "create_p50_ms"), None)
    low = b.get(str(RATES[0]), [])
    if low:
        names = sorted(low[0]["layout"]["cpu_ms_per_delegation"])
        total = spread(sum(r["layout"]["cpu_ms_per_delegation"].values()) for r in low)
        chain_total = spread(sum(r["chain"]["cpu_ms_per_delegation"].values()) for r in low)
        rounds = [r["layout"]["digest_rounds"] for r in low]
        add(
            f"(c) CPU ms per delegation at {RATES[0]}/s, all processes",
            total,
            chain_total,
            f"digest rounds in the runs' windows: {rounds}",
        )
        for name in names:
            ceiling = None
            if name in ("nats-server", "coordinator"):  # the chain's middle hop is its coordinator
                hop = "chain-mid" if name == "coordinator" else name
                ceiling = spread(r["chain"]["cpu_ms_per_delegation"][hop] for r in low)
            add(
                f"(c) CPU ms per delegation: {name}",
                spread(r["layout"]["cpu_ms_per_delegation"][name] for r in low),
                ceiling,
            )
    node = REGISTRY.city(NODE_CITY).node
    before = results["d"]["before"]
    created = (f"{results['a']['stored'][node]:,} (a)", results["a"]["runs"])
    listed = (f"{before['stored'][node]:,}", before["lists"])
    sizes = [k for k in results["d"] if k != "before"]
    for size in sizes:
        d = results["d"][size]
        label = f"{int(size):,}"
        for level in LEVELS:
            for key, what in (("calls_per_s", "calls/s"), ("p50_ms", "p50 ms")):
                add(
                    f"(d) {label} stored: create, {level} in flight, {what}",
                    spread(r[f"layout@{level}"][key] for r in d["creates"]),
                    spread(r[f"layout@{level}"][key] for r in created[1]),
                    f"ceiling: the same with {created[0]} stored",
                )
        for key, what in (("node_list", "node ListDelegations"), ("board_page", "board page 1")):
            add(
                f"(d) {label} stored: {what}, p50 ms",
                spread(r[key]["p50_ms"] for r in d["lists"]),
                spread(r[key]["p50_ms"] for r in listed[1]),
                f"ceiling: the same with {listed[0]} stored",
            )
        created = (label, d["creates"])
        listed = (label, d["lists"])
    if sizes:
        largest = sizes[-1]
        rss = results["d"][largest]["rss_mib"]
        for name in sorted(rss):
            if name == "nats-server":
                continue
            add(
                f"(e) RSS MiB at {int(largest):,} stored: {name}",
                spread([rss[name]]),
                None,
            )
    rows.append(
        {
            "figure": "(f) SLA sweep over 1,000,000 clocks",
            "layout": None,
            "ceiling": None,
            "ratio": None,
            "note": "bench.sla_sweep (make bench runs it first; docs/benchmarks.md)",
        }
    )
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    header = ("figure", "layout: median (min–max)", "ceiling: median (min–max)", "ratio", "note")
    table = [header]
    for row in rows:
        table.append(
            (
                row["figure"],
                cell(row["layout"]) if row["layout"] else "-",
                cell(row["ceiling"]) if row["ceiling"] else "-",
                fmt(row["ratio"], 3) if row["ratio"] is not None else "-",
                row["note"],
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = []
    for i, r in enumerate(table):
        lines.append(
            "  ".join(r[j].ljust(widths[j]) if j == 0 else r[j].rjust(widths[j]) for j in range(4))
            + ("  " + r[4] if r[4] else "")
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:  # read-only: which code was measured
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            return subprocess.run(
                ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        return ""

    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "sqlite": sqlite3.sqlite_version,
        "commit": git("rev-parse", "--short", "HEAD"),
        "services_changed_since_commit": bool(git("status", "--porcelain", "--", "services")),
    }


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot (/proc/stat, every CPU)."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLK_TCK


def own_cpu() -> float:
    """CPU seconds of this process and of every child it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


async def run_all(o: Options, root: Path, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    pki = root / "pki"
    init_pki(pki, REGISTRY)
    os.environ["JD_TLS_DIR"] = str(pki)  # start_layout reads its PKI folder from the environment
    results: dict[str, Any] = {"machine": machine(), "options": dict(o.__dict__), "b": {}}
    t0 = time.monotonic()
    busy0, own0 = machine_busy(), own_cpu()
    timings: dict[str, float] = {}

    log("(a) starting the layout and the ceilings")
    stack = Stack(root / "a", pki, o.log_level).start()
    try:
        stack.start_grpc_ceilings()
        results["a"] = await phase_a(stack, o)
    finally:
        stack.stop()
    timings["a"] = time.monotonic() - t0

    log("(b) at 20/s with (c), then (d) and (e) on the same layout")
    stack = Stack(root / "low", pki, o.log_level).start()
    try:
        stack.start_chain()
        low, results["d"] = await phase_b_low_and_d(stack, o, rng)
    finally:
        stack.stop()
    results["b"][str(RATES[0])] = low
    timings["b_low_d"] = time.monotonic() - t0 - timings["a"]

    log("(b) at the higher rates")
    high = await phase_b_high(root, pki, o, rng)
    for rate, runs in high.items():
        results["b"][str(rate)] = runs
    timings["total"] = time.monotonic() - t0
    results["timings_s"] = timings
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    # Services are started several times in a run, each time from the files on disk: say if the
    # code moved meanwhile (another worktree merged, an edit saved).
    end = machine()
    results["machine"]["commit_at_end"] = end["commit"]
    results["machine"]["services_changed_at_end"] = end["services_changed_since_commit"]
    # What else ran on the machine meanwhile: busy CPU time not spent by this benchmark or a
    # process it started (every one has been waited for by now), per second of the run.
    others = (machine_busy() - busy0) - (own_cpu() - own0)
    results["machine"]["other_load_cores"] = max(0.0, others / timings["total"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run, short, small stores")
    parser.add_argument("--big", action="store_true", help="(d) also at 1,000,000 stored")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (3)")
    parser.add_argument("--seconds", type=float, default=None, help="(b) load per run (10)")
    parser.add_argument("--call-seconds", type=float, default=None, help="(a)/(d) per figure (2)")
    parser.add_argument("--drain", type=float, default=None, help="(b) drain bound, s (20)")
    parser.add_argument("--log-level", default=os.environ.get("JD_LOG_LEVEL", "info"))
    parser.add_argument(
        "--sizes", default="", help="(d) stored delegations, e.g. 10000,100000 (the default)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the JSON, not the table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    quick = args.quick
    sizes = (2_000, 5_000) if quick else (10_000, 100_000)
    if args.sizes:
        sizes = tuple(int(x) for x in args.sizes.split(","))
    if args.big:
        sizes = (*sizes, 1_000_000)
    o = Options(
        runs=args.runs or (1 if quick else 3),
        call_seconds=args.call_seconds or (1.0 if quick else 2.0),
        seconds=args.seconds or (3.0 if quick else 10.0),
        drain=args.drain or (10.0 if quick else 20.0),
        sizes=sizes,
        log_level=args.log_level,
        quiet_bound=15.0 if quick else 30.0,
    )
    for name in [k for k in os.environ if k.startswith("JD_")]:
        os.environ.pop(name)  # the layout is configured here, not by the caller's environment
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Ctrl-C interrupts even when started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # asyncio warns when a TLS connection to NATS is closed by its client ("returning true from
    # eof_received() has no effect"): noise here.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    atexit.register(kill_all)
    root = Path(tempfile.mkdtemp(prefix="jd-bench-layout-"))
    started = datetime.now(UTC)
    log(f"working in {root}; machine {machine()}")
    try:
        results = asyncio.run(run_all(o, root, args.seed))
    finally:
        kill_all()
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    results["started_utc"] = started.isoformat(timespec="seconds")
    results["quick"] = quick
    rows = build_table(results)
    results["table"] = rows
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"layout-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str))
    if args.json:
        print(json.dumps(results, ensure_ascii=False, default=str))
    else:
        m = results["machine"]
        print(
            f"The whole layout against its own ceiling ({'quick' if quick else 'full'} run, "
            f"{started:%Y-%m-%d %H:%M} UTC, {results['timings_s']['total']:.0f} s): "
            f"{m['nproc']} CPUs ({m['cpu_model']}), load average at start "
            f"{' '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}, other work on the machine "
            f"{m['other_load_cores']:.2f} cores on average; code at {m['commit']}"
            f"{' with services/ changed' if m['services_changed_since_commit'] else ''}"
            + (
                f" (at the end: {m['commit_at_end']}"
                f"{' with services/ changed' if m['services_changed_at_end'] else ''})"
                if (m["commit_at_end"], m["services_changed_at_end"])
                != (m["commit"], m["services_changed_since_commit"])
                else ""
            )
        )
        print(render(rows))
        print(f"JSON: {out}")


if __name__ == "__main__":
    main()
