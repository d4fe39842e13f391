"""The five-city layout on one machine: nats-server, the coordinator and five city nodes, each a
separate process on loopback. Used by `jiaodong up`, the demo and the end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jiaodong.bus.embedded import EmbeddedNats, NatsCluster, free_port
from jiaodong.config import Settings
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.files.registry import load_registry
from jiaodong.security.certs import TlsFiles, files_for, init_pki
from jiaodong.security.clients import ChannelPool
from jiaodong.security.grpc_auth import sync_channel
from jiaodong.security.nats_config import secured_broker, secured_cluster
from jiaodong.v1 import coordinator_service_pb2_grpc as cgrpc
from jiaodong.v1 import court_node_service_pb2_grpc as ngrpc


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    # The service's metrics and probe port (JD_METRICS): /metrics, /healthz, /readyz.
    metrics_port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port else ""


@dataclass(frozen=True)
class Clients:
    """The simulated officers' and operators' way in: one pool, a stub per node and one of the
    coordinator."""

    pool: ChannelPool
    nodes: dict[str, ngrpc.CourtNodeServiceStub]
    coordinator: cgrpc.CoordinatorServiceStub


@dataclass
class Layout:
    """A started five-city layout; ``stop`` ends every process it began."""

    data_dir: Path
    nats: EmbeddedNats | None
    nats_url: str
    pki: Path
    coordinator: Service | None = None
    nodes: dict[str, Service] = field(default_factory=dict)
    # Further coordinator replicas on the same database: standbys while the first holds the lease.
    standbys: list[Service] = field(default_factory=list)
    # The web board of the first coordinator (empty: none) and its development login token.
    board_url: str = ""
    board_token: str = ""
    # The environment the services were started with (a node stopped and started again, as the
    # simulator's outage does, gets the same).
    env: dict[str, str] = field(default_factory=dict)
    # The clustered brokers of `up --nats-cluster N` (then ``nats`` is None).
    nats_cluster: NatsCluster | None = None
    # ``stop`` has begun (a signal handler then only kills: ``stop`` reaps).
    stopping: bool = False

    @property
    def board_login(self) -> str:
        """The development login address ``up`` and ``demo --serve`` print."""
        return f"{self.board_url}/login?token={self.board_token}" if self.board_url else ""

    def settings(self) -> Settings:
        """Client settings for talking to this layout (its certificates)."""
        return Settings(data_dir=self.data_dir, tls_dir=self.pki)

    def clients(self) -> Clients:
        """A channel pool with a stub of every node and of the coordinator (asked as the
        regional command centre); the caller closes the pool."""
        pool = ChannelPool(self.settings().tls_for)
        nodes = {
            city: pool.stub(ngrpc.CourtNodeServiceStub, svc.address)
            for city, svc in self.nodes.items()
        }
        assert self.coordinator is not None
        coordinator = pool.stub(
            cgrpc.CoordinatorServiceStub,
            self.coordinator.address,
            Identity(Role.OPERATOR, REGION),
        )
        return Clients(pool, nodes, coordinator)

    @property
    def services(self) -> list[Service]:
        coordinators = [self.coordinator] if self.coordinator else []
        return coordinators + self.standbys + list(self.nodes.values())

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping = True
        for svc in self.services:
            if svc.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    svc.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for svc in self.services:
            try:
                svc.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                svc.process.kill()
                svc.process.wait()
        if self.nats is not None:
            self.nats.stop()
        if self.nats_cluster is not None:
            self.nats_cluster.stop()
        with contextlib.suppress(ValueError):
            _STARTED.remove(self)

    def kill(self) -> None:
        """SIGKILL every process of the layout, the broker last. Only signals: it may run in a
        signal handler while ``stop`` waits on the same processes (``stop`` then reaps them)."""
        procs = [svc.process for svc in self.services]
        if self.nats is not None and self.nats.process is not None:
            procs.append(self.nats.process)
        if self.nats_cluster is not None:
            procs += self.nats_cluster.processes()
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)

    def stop_node(self, city: str, timeout: float = 15.0) -> None:
        """Stop one city's node (SIGTERM, then SIGKILL after ``timeout``); its port is kept for
        ``start_node``."""
        svc = self.nodes[city]
        if svc.process.poll() is None:
            svc.process.send_signal(signal.SIGTERM)
            try:
                svc.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                svc.process.kill()
                svc.process.wait()

    def start_node(self, city: str, timeout: float = 30.0) -> None:
        """Start a stopped city node again on its port, with its environment; wait until it
        answers its health check."""
        old = self.nodes[city]
        if old.process.poll() is None:
            raise RuntimeError(f"{old.name} is still running")
        self.nodes[city] = spawn(
            old.name, ["node", "--city", city], old.port, self.data_dir, self.env, old.metrics_port
        )
        wait_healthy(
            [self.nodes[city]], files_for(self.pki, Identity(Role.COORDINATOR, REGION)), timeout
        )

    def check_alive(self) -> None:
        """Raise if a node, or every coordinator replica, has exited (a replica may die while
        another one lives: that is what standbys are for)."""
        replicas = [self.coordinator, *self.standbys] if self.coordinator else []
        living = [r for r in replicas if r.process.poll() is None]
        for svc in ([] if living else replicas[:1]) + list(self.nodes.values()):
            code = svc.process.poll()
            if code is not None:
                raise RuntimeError(f"{svc.name} exited with code {code}; see {svc.log_path}")


def _free_or(port: int) -> int:
    if port == 0:
        return free_port()
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(
                f"port {port} is in use; pass --base-port 0 to pick free ports"
            ) from exc
    return port


def spawn(
    name: str,
    args: list[str],
    port: int,
    data_dir: Path,
    env: dict[str, str],
    metrics_port: int = 0,
) -> Service:
    """Start one service; it serves its metrics and probes on ``metrics_port`` (0: a free one,
    a port of its own whatever JD_METRICS says in the environment)."""
    log_path = data_dir / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_port = metrics_port or free_port()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jiaodong.cli.main", *args, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**env, "JD_METRICS": f"127.0.0.1:{metrics_port}"},
            start_new_session=True,
        )
    return Service(name, port, process, log_path, metrics_port)


def wait_healthy(services: list[Service], tls: TlsFiles, timeout: float = 30.0) -> None:
    """Wait until every service answers its health check over mutual TLS (``tls``: any valid
    client certificate; health checks are open to every holder of one)."""
    deadline = time.monotonic() + timeout
    for svc in services:
        with sync_channel(svc.address, tls) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                if svc.process.poll() is not None:
                    raise RuntimeError(
                        f"{svc.name} exited with code {svc.process.returncode}; see {svc.log_path}"
                    )
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{svc.name} not healthy within {timeout}s")
                time.sleep(0.1)


# The layouts this process started and has not stopped: what a SIGTERM handler must stop
# (``stop_started``), as their processes run in sessions of their own.
_STARTED: list[Layout] = []


def stop_started() -> None:
    """Stop every layout this process started and has not stopped (from a signal handler: one
    that ``stop`` is already stopping is only killed, and that ``stop`` reaps)."""
    for layout in list(_STARTED):
        if layout.stopping:
            layout.kill()
        else:
            layout.stop()


def start_layout(
    data_dir: Path,
    *,
    base_port: int = 50060,
    nats_url: str = "",
    database_url: str = "",
    cities: tuple[str, ...] = (),
    log_level: str = "info",
    extra_env: dict[str, str] | None = None,
    coordinators: int = 1,
    board_port: int | None = None,
    nats_cluster: int = 1,
) -> Layout:
    """Start nats (unless a URL is given), the coordinator and the nodes; wait until healthy.

    ``cities`` defaults to every city of the registry (courts/cities.csv). ``coordinators`` > 1
    starts further replicas on the same coordinator database (ports after the nodes'): the
    first takes the lease, the others wait as standbys. ``board_port`` (0: a free one) has the
    first coordinator serve the web board there, with a fresh development login token.
    ``nats_cluster`` > 1 (without ``nats_url``) starts that many secured nats-servers routed
    into one JetStream cluster, gives the services every member's URL and has the coordinator
    create the streams with that many replicas (JD_NATS_REPLICAS)."""
    if coordinators < 1:
        raise ValueError("coordinators must be at least 1")
    if nats_cluster < 1:
        raise ValueError("nats_cluster must be at least 1")
    if nats_cluster > 1 and nats_url:
        raise ValueError("--nats-cluster starts its own servers; it cannot be given a NATS URL")
    registry = load_registry(Settings.from_env().courts_dir)
    cities = cities or tuple(registry.cities)
    data_dir.mkdir(parents=True, exist_ok=True)
    pki = Settings.from_env(data_dir=data_dir).pki_dir
    init_pki(pki, registry)  # the development CA; adds only what is missing
    nats: EmbeddedNats | None = None
    cluster: NatsCluster | None = None
    if nats_cluster > 1:
        # The same secured configuration on every member, plus routes with mutual TLS.
        cluster = secured_cluster(data_dir / "nats", registry, pki, nats_cluster).start()
        nats_url = cluster.url
    elif not nats_url:
        # The secured broker: TLS, one user per service mapped from its certificate, and
        # subject permissions (a node publishes only as its courts, reads only its consumer).
        nats = secured_broker(data_dir / "nats", registry, pki).start()
        nats_url = nats.url
    layout = Layout(data_dir, nats, nats_url, pki, nats_cluster=cluster)
    _STARTED.append(layout)
    env = layout.env = dict(os.environ)
    env.update(
        {
            "JD_NATS_URL": nats_url,
            "JD_DATA_DIR": str(data_dir),
            "JD_LOG_LEVEL": os.environ.get("JD_LOG_LEVEL", log_level),
            "JD_LOG_JSON": "1",
            "JD_TLS_DIR": str(pki),
        }
    )
    if database_url:
        env["JD_DATABASE_URL"] = database_url
    if cluster is not None:
        env["JD_NATS_REPLICAS"] = str(nats_cluster)
    env.update(extra_env or {})
    try:
        port = _free_or(base_port)
        args, coordinator_env = ["coordinator"], env
        if board_port is not None:
            http = _free_or(board_port)
            layout.board_url = f"https://127.0.0.1:{http}"
            layout.board_token = secrets.token_urlsafe(18)
            args += ["--http", f"127.0.0.1:{http}", "--dev-login"]
            # In the environment, not the command line: other users' `ps` shows arguments.
            coordinator_env = {**env, "JD_BOARD_TOKEN": layout.board_token}
        layout.coordinator = spawn("coordinator", args, port, data_dir, coordinator_env)
        for i, city in enumerate(cities, start=1):
            port = _free_or(base_port + i if base_port else 0)
            layout.nodes[city] = spawn(
                f"node-{city}", ["node", "--city", city], port, data_dir, env
            )
        tls = files_for(pki, Identity(Role.COORDINATOR, REGION))
        if coordinators > 1:
            # The first creates (or migrates) the database and takes the lease; then the others.
            wait_healthy([layout.coordinator], tls)
        for n in range(2, coordinators + 1):
            port = _free_or(base_port + len(cities) + n - 1 if base_port else 0)
            layout.standbys.append(spawn(f"coordinator-{n}", ["coordinator"], port, data_dir, env))
        wait_healthy(layout.services, tls)
    except BaseException:
        layout.stop()
        raise
    return layout
