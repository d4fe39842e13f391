"""The fault harness: the five-city layout as real processes on loopback, with handles to hurt it.

* every service has a fixed port, so a service killed with SIGKILL restarts where clients expect it;
* each city node reaches NATS through a small TCP proxy of its own, so one city can be cut off from
  the broker (connections dropped, new ones refused) while its gRPC keeps serving its courts;
* nats-server can be stopped, started, killed and have its JetStream store wiped, on the same port;
* optionally a three-server NATS cluster (replicated streams) instead of a single server;
* all services share a virtual clock file, so a scenario can move time on (a cut-off "day");
* a traffic driver walks delegations between every pair of cities through acknowledge, accept,
  complete and confirm over gRPC, retrying UNAVAILABLE and DEADLINE_EXCEEDED with the same
  request ids, bounded by a deadline that the scenario sets.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
import nats
from nats.js import api as jsapi

from jiaodong.bus.embedded import EmbeddedNats, free_port
from jiaodong.config import Settings
from jiaodong.devtools.demo import VIRTUAL_START, make_plans
from jiaodong.devtools.layout import Service, spawn, wait_healthy
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.domain.registry import Registry
from jiaodong.files.clock import FileClock
from jiaodong.files.registry import load_registry
from jiaodong.security.certs import TlsFiles, files_for, init_pki
from jiaodong.security.clients import ChannelPool, act_as
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import court_node_service_pb2_grpc as ngrpc
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.proxy import FreezableProxy

T = TypeVar("T")
LOOPBACK = "127.0.0.1"

# ---------------------------------------------------------------------------------------------
# TCP proxies between the city nodes and nats-server
# ---------------------------------------------------------------------------------------------


class ProxyLoop:
    """An asyncio loop on a thread of its own: the proxies keep forwarding while the harness
    blocks (waiting for a restarted service, killing the broker, reading databases)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="proxies", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if not self.loop.is_running():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        with contextlib.suppress(RuntimeError):
            self.loop.close()


class LinkProxy(FreezableProxy):
    """A service's NATS link: forwards 127.0.0.1:listen_port to 127.0.0.1:target_port.

    ``cut`` drops every open connection and stops listening (new connections are refused);
    ``restore`` listens again. ``freeze`` (from FreezableProxy) leaves the open connections
    half-open: nothing read, nothing closed, while new connections pass."""

    def __init__(self, name: str, listen_port: int, target_port: int) -> None:
        super().__init__(target_port, listen_port)
        self.name = name
        self.dropped = 0

    async def cut(self) -> None:
        self.dropped += len(self.links)
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.server is None:  # cut while this connection was being accepted
            writer.transport.abort()
            return
        await super()._accept(reader, writer)


# ---------------------------------------------------------------------------------------------
# NATS: one server, or a three-server cluster
# ---------------------------------------------------------------------------------------------


class ClusterMember(EmbeddedNats):
    """One server of a JetStream cluster on loopback (durable: sync_interval always)."""

    def __init__(self, data_dir: Path, name: str, port: int, route_port: int) -> None:
        super().__init__(data_dir, port)
        self.name = name
        self.route_port = route_port
        self.routes: list[int] = []

    def config_text(self) -> str:
        store = (self.data_dir / "jetstream").as_posix()
        routes = ", ".join(f"nats-route://{LOOPBACK}:{p}" for p in self.routes)
        return (
            f"server_name: {self.name}\n"
            f"listen: {LOOPBACK}:{self.port}\n"
            f"jetstream {{\n  store_dir: {store!r}\n  sync_interval: always\n}}\n"
            f"cluster {{\n  name: jd\n  listen: {LOOPBACK}:{self.route_port}\n"
            f"  routes: [{routes}]\n}}\n"
            "max_payload: 8MB\n"
        )


async def _jetstream_ready(url: str, replicas: int, timeout: float) -> None:
    """Wait until JetStream answers (a cluster needs a meta leader) and, for a cluster, until a
    replicated stream can be placed."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            nc = await nats.connect(servers=url.split(","), connect_timeout=2)
        except (OSError, nats.errors.Error) as exc:  # not listening yet (TimeoutError is OSError)
            last = exc
            await asyncio.sleep(0.3)
            continue
        try:
            js = nc.jetstream()
            while time.monotonic() < deadline:
                try:
                    await js.account_info()
                    if replicas > 1:
                        await js.add_stream(
                            jsapi.StreamConfig(
                                name="JD_PROBE", subjects=["jd.probe"], num_replicas=replicas
                            )
                        )
                        await js.delete_stream("JD_PROBE")
                    return
                except (TimeoutError, nats.errors.Error) as exc:  # no meta leader yet
                    last = exc
                    await asyncio.sleep(0.3)
        finally:
            with contextlib.suppress(Exception):
                await nc.close()
    raise RuntimeError(f"JetStream not ready within {timeout}s: {last}")


async def broker_backlog(url: str) -> dict[str, int]:
    """Messages the broker holds that a consumer has not acknowledged yet, per consumer."""
    nc = await nats.connect(servers=url.split(","), connect_timeout=2)
    out: dict[str, int] = {}
    try:
        js = nc.jetstream()
        for stream in ("JD_COORD", "JD_COURT"):
            with contextlib.suppress(Exception):
                for info in await js.consumers_info(stream):
                    out[info.name] = (info.num_pending or 0) + (info.num_ack_pending or 0)
    finally:
        await nc.close()
    return out


async def stream_leader(url: str, stream: str) -> str:
    nc = await nats.connect(servers=url.split(","), connect_timeout=2)
    try:
        info = await nc.jetstream().stream_info(stream)
        return info.cluster.leader if info.cluster and info.cluster.leader else ""
    finally:
        await nc.close()


# ---------------------------------------------------------------------------------------------
# The layout
# ---------------------------------------------------------------------------------------------


@dataclass
class Spec:
    """How to (re)start one service: same args, port and environment every time."""

    name: str
    args: list[str]
    port: int
    env: dict[str, str]
    service: Service | None = None


@dataclass
class FaultLayout:
    """nats-server (or a cluster), the coordinator and one node per city, as processes."""

    data_dir: Path
    cluster: bool = False
    log_level: str = "info"
    registry: Registry = field(default_factory=load_registry)
    nats: EmbeddedNats | None = None
    members: list[ClusterMember] = field(default_factory=list)
    proxy_coordinator: bool = False  # the coordinator's NATS link through a proxy too
    # Further coordinator replicas on the coordinator's database (standbys: the first holds
    # the lease), named coordinator-2, coordinator-3, ...
    standbys: int = 0
    proxies: dict[str, LinkProxy] = field(default_factory=dict)  # by city
    coordinator_proxy: LinkProxy | None = None
    specs: dict[str, Spec] = field(default_factory=dict)
    proxy_loop: ProxyLoop | None = None
    events: list[tuple[float, str]] = field(default_factory=list)
    # (virtual time just before a move, how far it moved), to tell real ages from moved clocks
    time_moves: list[tuple[datetime, timedelta]] = field(default_factory=list)
    hogs: list[CpuHog] = field(default_factory=list)

    def __hash__(self) -> int:  # kept in the reaper's set of live layouts
        return id(self)

    # -- names and places ----------------------------------------------------------------------

    @property
    def cities(self) -> list[str]:
        return list(self.registry.cities)

    @property
    def clock_file(self) -> Path:
        return self.data_dir / "virtual-clock"

    @property
    def nats_url(self) -> str:
        if self.cluster:
            return ",".join(m.url for m in self.members)
        assert self.nats is not None
        return self.nats.url

    def node_name(self, city: str) -> str:
        return self.registry.city(city).node

    def service_names(self) -> list[str]:
        return list(self.specs)

    def address(self, name: str) -> str:
        return f"{LOOPBACK}:{self.specs[name].port}"

    def node_address(self, city: str) -> str:
        return self.address(self.node_name(city))

    @property
    def pki(self) -> Path:
        return self.data_dir / "pki"

    @property
    def health_tls(self) -> TlsFiles:
        return files_for(self.pki, Identity(Role.AUDITOR, REGION))

    def settings(self) -> Settings:
        """Client settings for this layout (its certificates)."""
        return Settings(data_dir=self.data_dir, tls_dir=self.pki)

    def db_path(self, service: str) -> Path:
        return self.data_dir / f"{service}.db"

    def log_path(self, service: str) -> Path:
        return self.data_dir / "logs" / f"{service}.log"

    def note(self, what: str) -> None:
        self.events.append((time.monotonic(), what))

    # -- start and stop ------------------------------------------------------------------------

    def start(self) -> FaultLayout:
        _LIVE.add(self)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        FileClock.write(self.clock_file, VIRTUAL_START, 1.0)
        try:
            self._start_nats()
            env = dict(os.environ)
            env.update(
                {
                    "JD_DATA_DIR": str(self.data_dir),
                    "JD_LOG_LEVEL": os.environ.get("JD_LOG_LEVEL", self.log_level),
                    "JD_LOG_JSON": "1",
                    "JD_CLOCK": f"file:{self.clock_file}",
                    "JD_NATS_REPLICAS": "3" if self.cluster else "1",
                    # The rows' drivers play every officer (the demo's plans, inquiries among
                    # them) and check the states their steps lead to: a registry desk answering
                    # inquiries beside them would take those steps first (docs/registries.md).
                    "JD_REGISTRIES": "off",
                }
            )
            env.pop("JD_DATABASE_URL", None)
            # The services' own reconcile interval: a shorter one hides what a real region sees.
            env.pop("JD_RECONCILE_SECONDS", None)
            init_pki(self.pki, self.registry)
            env["JD_TLS_DIR"] = str(self.pki)
            coordinator_url = self.nats_url
            if not self.cluster:
                assert self.nats is not None
                self.proxy_loop = ProxyLoop()
                if self.proxy_coordinator:
                    self.coordinator_proxy = self._proxy("coordinator")
                    coordinator_url = self.coordinator_proxy.url
            self.specs["coordinator"] = Spec(
                "coordinator",
                ["coordinator"],
                free_port(),
                {**env, "JD_NATS_URL": coordinator_url},
            )
            for city in self.cities:
                url = self.nats_url
                if self.proxy_loop is not None:
                    self.proxies[city] = self._proxy(city)
                    url = self.proxies[city].url
                name = self.node_name(city)
                self.specs[name] = Spec(
                    name, ["node", "--city", city], free_port(), {**env, "JD_NATS_URL": url}
                )
            for spec in self.specs.values():
                spec.service = spawn(spec.name, spec.args, spec.port, self.data_dir, spec.env)
            wait_healthy(
                [s.service for s in self.specs.values() if s.service], self.health_tls, timeout=60
            )
            # Standbys once the first coordinator has made the database (and holds the lease).
            for n in range(2, 2 + self.standbys):
                name = f"coordinator-{n}"
                self.specs[name] = Spec(
                    name, ["coordinator"], free_port(), {**env, "JD_NATS_URL": coordinator_url}
                )
                self.restart(name)
        except BaseException:
            self.close()
            raise
        self.note("layout started")
        return self

    def _proxy(self, name: str) -> LinkProxy:
        assert self.proxy_loop is not None and self.nats is not None
        proxy = LinkProxy(name, free_port(), self.nats.port)
        self.proxy_loop.run(proxy.open())
        return proxy

    def _start_nats(self) -> None:
        if not self.cluster:
            self.nats = EmbeddedNats(self.data_dir / "nats").start()
            asyncio.run(_jetstream_ready(self.nats.url, 1, 20))
            return
        ports = [(free_port(), free_port()) for _ in range(3)]
        self.members = [
            ClusterMember(self.data_dir / f"nats-{i + 1}", f"n{i + 1}", p, r)
            for i, (p, r) in enumerate(ports)
        ]
        for m in self.members:
            m.routes = [x.route_port for x in self.members if x is not m]
        for m in self.members:
            m.start()
        asyncio.run(_jetstream_ready(self.nats_url, 3, 60))

    def processes(self) -> list[subprocess.Popen[bytes]]:
        """Every process this layout runs now: services, brokers, CPU hogs."""
        out = [s.service.process for s in self.specs.values() if s.service is not None]
        out += [n.process for n in [self.nats, *self.members] if n is not None and n.process]
        return out

    def close(self) -> None:
        """End every process this layout started (SIGTERM, then SIGKILL), then the brokers."""
        for hog in self.hogs:
            hog.stop()
        for spec in self.specs.values():
            proc = spec.service.process if spec.service else None
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)  # in case a scenario paused it
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for spec in self.specs.values():
            proc = spec.service.process if spec.service else None
            if proc is None:
                continue
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.proxy_loop is not None:
            for proxy in [*self.proxies.values(), self.coordinator_proxy]:
                if proxy is not None:
                    with contextlib.suppress(Exception):
                        self.proxy_loop.run(proxy.cut())
            self.proxy_loop.close()
            self.proxy_loop = None
        if self.nats is not None:
            self.nats.stop()
        for m in self.members:
            m.stop()
        _LIVE.discard(self)

    def check_alive(self) -> list[str]:
        """Services that exited on their own (not killed by a scenario)."""
        out = []
        for spec in self.specs.values():
            if spec.service is not None and spec.service.process.poll() is not None:
                out.append(f"{spec.name} exited with {spec.service.process.returncode}")
        return out

    # -- faults: services ----------------------------------------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL: no graceful shutdown, no drain, whatever was in flight is cut."""
        spec = self.specs[name]
        assert spec.service is not None
        proc = spec.service.process
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        code = proc.wait()
        spec.service = None
        self.note(f"killed {name} (exit {code})")

    def pause(self, name: str) -> None:
        """SIGSTOP: the process holds its connections but does nothing (a stalled consumer)."""
        spec = self.specs[name]
        assert spec.service is not None
        spec.service.process.send_signal(signal.SIGSTOP)
        self.note(f"paused {name}")

    def resume(self, name: str) -> None:
        spec = self.specs[name]
        assert spec.service is not None
        spec.service.process.send_signal(signal.SIGCONT)
        self.note(f"resumed {name}")

    def restart(self, name: str, timeout: float = 60.0) -> None:
        """Start a killed (or not yet started) service again with the same arguments, port and
        environment."""
        spec = self.specs[name]
        assert spec.service is None, f"{name} is still running"
        spec.service = spawn(spec.name, spec.args, spec.port, self.data_dir, spec.env)
        wait_healthy([spec.service], self.health_tls, timeout=timeout)
        self.note(f"restarted {name}")

    # -- faults: the broker --------------------------------------------------------------------

    def stop_nats(self, *, kill: bool = False) -> None:
        assert self.nats is not None
        self.nats.stop(kill=kill)
        self.note("nats killed" if kill else "nats stopped")

    def start_nats(self) -> None:
        assert self.nats is not None
        self.nats.start()
        self.note("nats started")

    def wipe_nats_store(self) -> None:
        """The broker forgets everything: streams, consumers, messages in flight."""
        assert self.nats is not None and self.nats.process is None
        shutil.rmtree(self.nats.data_dir / "jetstream", ignore_errors=True)
        self.note("jetstream store wiped")

    def kill_member(self, name: str) -> ClusterMember:
        member = next(m for m in self.members if m.name == name)
        member.stop(kill=True)
        self.note(f"killed nats member {name}")
        return member

    # -- faults: the network -------------------------------------------------------------------

    def cut(self, city: str) -> None:
        assert self.proxy_loop is not None
        self.proxy_loop.run(self.proxies[city].cut())
        self.note(f"cut off {city}")

    def freeze(self, name: str) -> int:
        """Freeze the open NATS connections of ``name`` (the coordinator or a city): half-open,
        nothing read, nothing closed; new connections pass. Returns how many were frozen."""
        assert self.proxy_loop is not None
        proxy = self.coordinator_proxy if name == "coordinator" else self.proxies[name]
        assert proxy is not None, f"{name}'s NATS link has no proxy"

        async def freeze() -> int:
            return proxy.freeze()

        count = self.proxy_loop.run(freeze())
        self.note(f"froze {count} NATS connection(s) of {name}")
        return count

    def reconnect(self, city: str) -> None:
        assert self.proxy_loop is not None
        proxy = self.proxies[city]
        self.proxy_loop.run(proxy.open())
        self.note(f"reconnected {city} (proxy dropped {proxy.dropped} connections so far)")

    def timeline(self) -> list[str]:
        if not self.events:
            return []
        t0 = self.events[0][0]
        return [f"+{t - t0:5.1f} s {what}" for t, what in self.events]

    # -- time ----------------------------------------------------------------------------------

    def move_time(self, delta: timedelta) -> None:
        now = FileClock(self.clock_file).now()
        FileClock.write(self.clock_file, now + delta, 1.0)
        self.time_moves.append((now, delta))
        self.note(f"virtual time moved {delta}")


def real_age(layout: FaultLayout, created: datetime) -> float:
    """Seconds since ``created`` (a service's virtual time), less the moves of the clock since."""
    now = FileClock(layout.clock_file).now()
    moved = sum((d for at, d in layout.time_moves if at >= created), timedelta())
    return (now - created - moved).total_seconds()


# ---------------------------------------------------------------------------------------------
# What the harness started, ended whatever ends the harness
# ---------------------------------------------------------------------------------------------

_LIVE: set[FaultLayout] = set()
_HOGS: set[CpuHog] = set()


class CpuHog:
    """A busy machine: ``cpus`` workers (default one per core) spinning at nice 0 in one process
    group of their own (stress-ng if installed, else Python busy loops)."""

    def __init__(self, cpus: int | None = None) -> None:
        self.cpus = cpus or os.cpu_count() or 2
        self.process: subprocess.Popen[bytes] | None = None
        self.tool = ""

    def start(self) -> CpuHog:
        stress = shutil.which("stress-ng")
        if stress:
            self.tool = "stress-ng"
            self.process = subprocess.Popen(
                [stress, "--cpu", str(self.cpus), "--cpu-method", "matrixprod", "--quiet"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            _HOGS.add(self)
            return self
        self.tool = "python busy loops"
        # One process in a session of its own forks the other spinners, so all of them share
        # its process group (a process of the harness may not join a group in another session:
        # EPERM, which broke the busy-machine row wherever stress-ng was missing).
        spin = (
            f"import os\nfor _ in range({self.cpus - 1}):\n    if os.fork() == 0:\n"
            "        break\nwhile True:\n    pass\n"
        )
        self.process = subprocess.Popen([sys.executable, "-c", spin], start_new_session=True)
        _HOGS.add(self)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        _end_groups([self.process], grace=2.0)
        self.process = None
        _HOGS.discard(self)


def _end_groups(processes: list[subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM each process's group (each was started as a group leader), SIGKILL what is left
    after ``grace`` seconds."""

    def signal_group(p: subprocess.Popen[bytes], sig: int) -> None:
        if p.poll() is not None:
            return  # reaped: its pid may belong to someone else by now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGCONT)
            os.killpg(p.pid, sig)

    for p in processes:
        signal_group(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.05, deadline - time.monotonic()))
    for p in processes:
        signal_group(p, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5)


def reap(grace: float = 5.0) -> None:
    """End every process of every layout still open (the harness is going away)."""
    processes = [p for layout in list(_LIVE) for p in layout.processes()]
    processes += [h.process for h in list(_HOGS) if h.process is not None]
    _end_groups(processes, grace)
    _LIVE.clear()
    _HOGS.clear()


def _on_signal(signum: int, _frame: object) -> None:
    reap()
    os._exit(128 + signum)


atexit.register(reap)


def install_reaper() -> None:
    """When the harness process is ended by SIGTERM, SIGINT or SIGHUP, end what it started
    first (at a normal exit the atexit hook does). SIGKILL cannot be caught: then the services
    (sessions of their own) stay. For the harness's own main program, not inside pytest."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def log_warnings(layout: FaultLayout) -> dict[str, Counter[str]]:
    """Warning and error events per service, from the JSON logs in <data_dir>/logs."""
    import json

    out: dict[str, Counter[str]] = {}
    for path in sorted((layout.data_dir / "logs").glob("*.log")):
        counts: Counter[str] = Counter()
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("level") in ("warning", "error", "critical"):
                    counts[f"{entry['level']}:{entry.get('event', '?')}"] += 1
        if counts:
            out[path.stem] = counts
    return out


# ---------------------------------------------------------------------------------------------
# Traffic
# ---------------------------------------------------------------------------------------------

RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
AFTER_DELIVERY = frozenset(
    {
        pb.STATUS_DELIVERED,
        pb.STATUS_ACKNOWLEDGED,
        pb.STATUS_ACCEPTED,
        pb.STATUS_COMPLETED,
        pb.STATUS_CONFIRMED,
    }
)
ENDED = frozenset({pb.STATUS_CONFIRMED, pb.STATUS_CANCELLED, pb.STATUS_ROUTING_FAILED})
CALL_TIMEOUT = 5.0
POLL = 0.4


class OutOfTime(Exception):
    """The scenario's deadline passed while a walk was waiting."""


@dataclass
class Walk:
    """One delegation as the driver sees it."""

    index: int
    request_id: str
    from_court: str
    to_city: str
    delegation_id: str = ""
    entrusted_court: str = ""
    stage: str = "not sent"
    error: str = ""
    started: float = 0.0
    ended: float = 0.0

    @property
    def confirmed(self) -> bool:
        return self.stage == "confirmed"


class Calls:
    """Calls to the city nodes as a court, stubborn: calls that fail with UNAVAILABLE or
    DEADLINE_EXCEEDED are retried with the same request until ``deadline`` (a monotonic time
    the scenario may move)."""

    def __init__(self, layout: FaultLayout, *, poll_max: float = POLL) -> None:
        self.layout = layout
        self.registry = layout.registry
        self.poll_max = poll_max
        self.deadline = time.monotonic() + 600
        self.pool = ChannelPool(layout.settings().tls_for, CHANNEL_OPTIONS)
        self.stubs = {
            c: self.pool.stub(ngrpc.CourtNodeServiceStub, layout.node_address(c))
            for c in layout.cities
        }
        self.retries: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()  # every attempt, by method: the driver's own load

    async def close(self) -> None:
        await self.pool.close()

    def city_of(self, court: str) -> str:
        return self.registry.court(court).city

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime("deadline passed")
        return left

    async def call(self, city: str, method: str, request: Any, court: str) -> Any:
        fn = getattr(self.stubs[city], method)
        while True:
            left = self._left()
            self.calls[method] += 1
            try:
                return await fn(request, metadata=act_as(court), timeout=min(CALL_TIMEOUT, left))
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE:
                    raise
                self.retries[f"{method} {exc.code().name}"] += 1
                await asyncio.sleep(min(0.3 + random.random() * 0.3, max(0.0, left)))

    async def get(self, city: str, court: str, delegation_id: str) -> pb.Delegation | None:
        try:
            reply = await self.call(
                city, "GetDelegation", api.GetDelegationRequest(id=delegation_id), court
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.delegation  # type: ignore[no-any-return]

    async def until(
        self, city: str, court: str, delegation_id: str, check: Callable[[pb.Delegation], bool]
    ) -> pb.Delegation:
        poll = POLL
        while True:
            d = await self.get(city, court, delegation_id)
            if d is not None and check(d):
                return d
            await asyncio.sleep(min(poll, self._left()) * (0.75 + random.random() / 2))
            poll = min(self.poll_max, poll * 1.5)  # a clerk waiting long looks less often


class Traffic(Calls):
    """Simulated officers, but simple and stubborn: each delegation is created, then walked
    through acknowledge, accept, complete and confirm by polling GetDelegation."""

    def __init__(
        self,
        layout: FaultLayout,
        n: int,
        *,
        seed: int = 11,
        rate: float = 3.0,
        prefix: str = "fault",
        phases: list[tuple[int, float]] | None = None,
        poll_max: float = POLL,
    ) -> None:
        super().__init__(layout, poll_max=poll_max)
        # (how many, per second) in turn; by default all n at ``rate``
        self.phases = phases or [(n, rate)]
        n = sum(count for count, _ in self.phases)
        self.requests: list[api.CreateDelegationRequest] = []
        self.walks: list[Walk] = []
        for plan in make_plans(self.registry, n, seed):
            request = api.CreateDelegationRequest()
            request.CopyFrom(plan.request)
            request.request_id = f"{prefix}-{seed}-{plan.index}"
            self.requests.append(request)
            self.walks.append(
                Walk(plan.index, request.request_id, plan.from_court.court_id, plan.to_city)
            )
        self.sent = 0
        self.all_sent = asyncio.Event()
        self.began = time.monotonic()  # when the first delegation was due to be sent
        self.progress: Callable[[Walk], None] | None = None

    @property
    def prefix_of_ids(self) -> str:
        return self.walks[0].request_id.rsplit("-", 1)[0] + "-" if self.walks else ""

    # -- the walk ----------------------------------------------------------------------------------

    async def walk(self, w: Walk, request: api.CreateDelegationRequest) -> None:
        w.started = time.monotonic()
        req_city = self.city_of(w.from_court)
        w.stage = "sending"
        created = await self.call(req_city, "CreateDelegation", request, w.from_court)
        w.delegation_id = created.delegation.id
        w.stage = "created"
        d = await self.until(
            req_city,
            w.from_court,
            w.delegation_id,
            lambda d: bool(d.entrusted_court) or d.status in ENDED,
        )
        if d.status in ENDED and not d.entrusted_court:
            w.stage = pb.Status.Name(d.status).lower()
            return
        w.entrusted_court = d.entrusted_court
        w.stage = "routed"
        to_city, to_court = self.city_of(d.entrusted_court), d.entrusted_court
        d = await self.until(
            to_city, to_court, w.delegation_id, lambda d: d.status in AFTER_DELIVERY
        )
        w.stage = "delivered"
        steps: dict[int, tuple[str, Callable[[], Any]]] = {
            pb.STATUS_DELIVERED: (
                "Acknowledge",
                lambda: api.AcknowledgeRequest(id=w.delegation_id),
            ),
            pb.STATUS_ACKNOWLEDGED: ("Accept", lambda: api.AcceptRequest(id=w.delegation_id)),
            pb.STATUS_ACCEPTED: (
                "Complete",
                lambda: api.CompleteRequest(
                    id=w.delegation_id, result=pb.COMPLETION_RESULT_DONE, text="已按委托办理"
                ),
            ),
        }
        while d.status not in (pb.STATUS_COMPLETED, pb.STATUS_CONFIRMED):
            if d.status not in steps:
                raise RuntimeError(f"unexpected status {pb.Status.Name(d.status)} at {to_city}")
            method, make = steps[d.status]
            try:
                d = (await self.call(to_city, method, make(), to_court)).delegation
                w.stage = method.lower()
            except grpc.aio.AioRpcError as exc:
                # An earlier try may have been applied before its reply was lost: look again.
                if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
                self.retries[f"{method} FAILED_PRECONDITION"] += 1
                got = await self.get(to_city, to_court, w.delegation_id)
                assert got is not None
                d = got
        w.stage = "completed"
        await self.until(
            req_city,
            w.from_court,
            w.delegation_id,
            lambda d: d.status in (pb.STATUS_COMPLETED, pb.STATUS_CONFIRMED),
        )
        await self.call(
            req_city,
            "Confirm",
            api.ConfirmRequest(id=w.delegation_id, request_id=f"confirm-{w.delegation_id}"),
            w.from_court,
        )
        w.stage = "confirming"
        await self.until(
            req_city, w.from_court, w.delegation_id, lambda d: d.status == pb.STATUS_CONFIRMED
        )
        w.stage = "confirmed"

    async def _guarded(self, w: Walk, request: api.CreateDelegationRequest) -> None:
        try:
            await self.walk(w, request)
        except OutOfTime:
            w.error = f"out of time at stage {w.stage}"
        except grpc.aio.AioRpcError as exc:
            w.error = f"{exc.code().name} at stage {w.stage}: {exc.details()}"
        except Exception as exc:  # noqa: BLE001  any failure is this walk's result, reported
            w.error = f"{type(exc).__name__} at stage {w.stage}: {exc}"
        w.ended = time.monotonic()
        if self.progress is not None:
            self.progress(w)

    async def run(self) -> None:
        """Send at each phase's rate in turn (the fault lands mid-traffic), walk every one."""
        at = self.began = time.monotonic()
        times = []
        for count, rate in self.phases:
            times += [at + i / rate for i in range(count)]
            at += count / rate
        tasks = []
        for when, w, request in zip(times, self.walks, self.requests, strict=True):
            await asyncio.sleep(max(0.0, when - time.monotonic()))
            tasks.append(asyncio.create_task(self._guarded(w, request)))
            self.sent += 1
        self.all_sent.set()
        await asyncio.gather(*tasks)

    @property
    def planned_seconds(self) -> float:
        return sum(count / rate for count, rate in self.phases)

    async def wait_sent(self, fraction: float) -> None:
        """Until ``fraction`` of the delegations have been sent."""
        await self.wait_count(max(1, int(len(self.walks) * fraction)))

    async def wait_count(self, target: int) -> None:
        """Until ``target`` delegations have been sent."""
        while self.sent < target and not self.all_sent.is_set():
            await asyncio.sleep(0.05)

    def summary(self) -> dict[str, Any]:
        stages = Counter(w.stage for w in self.walks)
        errors = [f"#{w.index} {w.request_id}: {w.error}" for w in self.walks if w.error]
        walked = [w.ended - w.started for w in self.walks if w.confirmed]
        return {
            "sent": self.sent,
            "created": sum(1 for w in self.walks if w.delegation_id),
            "confirmed": stages.get("confirmed", 0),
            "stages": dict(stages),
            "errors": errors,
            "retries": dict(self.retries),
            "calls": dict(self.calls),
            "walk_seconds_max": round(max(walked), 1) if walked else None,
        }


async def bounded_close(calls: Calls, timeout: float = 10.0) -> None:
    """Close the driver's channels, waiting at most ``timeout``: a row ends even if a channel
    does not (its end is left to the event loop's shutdown)."""
    closing = asyncio.ensure_future(calls.close())
    await asyncio.wait({closing}, timeout=timeout)
    if closing.done() and not closing.cancelled():
        closing.exception()  # retrieved: a failed close is nothing to report here


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking harness action without stopping the traffic."""
    return await asyncio.to_thread(fn, *args)


async def sleep_until(t: float) -> None:
    await asyncio.sleep(max(0.0, t - time.monotonic()))
