"""Composition: the one place that names concrete adapters and wires a running service."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client.core import Metric
from sqlalchemy.exc import SQLAlchemyError

from jiaodong.api.audit import AuditServicer
from jiaodong.api.coordinator import CoordinatorServicer
from jiaodong.api.node import CourtNodeServicer
from jiaodong.api.web.access import DevLogin
from jiaodong.api.web.app import BoardSettings, create_board
from jiaodong.api.web.server import BoardServer
from jiaodong.app.coordinator import Coordinator
from jiaodong.app.coordinator.duty import CoordinatorDuty
from jiaodong.app.leadership import Leadership, Replica
from jiaodong.app.node import CourtNode
from jiaodong.app.registries import links_for
from jiaodong.app.sla import SlaEngine
from jiaodong.bus.subjects import (
    ConsumerSpec,
    coordinator_consumer,
    coordinator_digest_consumer,
    node_consumer,
    ops_subject,
)
from jiaodong.bus.transport import BusSettings, Transport
from jiaodong.config import Settings, masked_url
from jiaodong.domain.authz import AUDIT_SERVICE
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.clock import Clock
from jiaodong.domain.identity import REGION, BadIdentity, Identity, Role
from jiaodong.domain.ratelimit import RateLimiter
from jiaodong.domain.registry import Registry
from jiaodong.domain.sla_policy import SlaPolicy
from jiaodong.files.calendar import load_calendar
from jiaodong.files.clock import clock_from_spec
from jiaodong.files.policy import load_policy
from jiaodong.files.registries import load_registries
from jiaodong.files.registry import load_registry
from jiaodong.health import HealthWatch
from jiaodong.metrics import Metrics, counter, gauge
from jiaodong.probes import ProbeServer
from jiaodong.security.certs import TlsFiles, identity_of, issued_by
from jiaodong.security.grpc_auth import SecurityInterceptor, server_credentials
from jiaodong.security.nats_config import (
    COORDINATOR,
    NatsAuth,
    inbox_prefix,
    nats_user,
    node_consumers,
    service_identity,
)
from jiaodong.store import measures, outbox
from jiaodong.store.database import Database
from jiaodong.store.lease import lease_for
from jiaodong.store.outbox import DatabaseOutbox
from jiaodong.v1 import (
    audit_service_pb2_grpc,
    coordinator_service_pb2,
    coordinator_service_pb2_grpc,
    court_node_service_pb2,
    court_node_service_pb2_grpc,
)

log = structlog.get_logger("jiaodong.bootstrap")
T = TypeVar("T")


class StartRefused(Exception):
    """A service cannot start as configured (its port is taken, its database cannot be opened);
    ``str()`` is one line for the terminal."""


class DatabaseUnavailable(StartRefused):
    """The database could not be opened (refused, unknown host, wrong password, ...)."""


def check_port_free(host: str, port: int) -> None:
    """Refuse at once, before anything is opened, when ``host:port`` is already bound (another
    service listens there). The real bind (exclusive, see create_server) checks again."""
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # As gRPC binds: TIME_WAIT leftovers of a stopped service do not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise StartRefused(_bind_problem(f"{host}:{port}", exc)) from None


def _bind_problem(address: str, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"{address}: 端口已被占用，另有服务在监听 (port in use by another service)"
    return f"{address}: 无法监听 (cannot listen there): {exc.strerror or exc}"


def create_server(
    address: str,
    service_names: list[str],
    settings: Settings,
    identity: Identity,
    hosted_courts: list[str],
    metrics: Metrics | None = None,
) -> tuple[grpc.aio.Server, int, Any]:
    """A gRPC server bound to ``address`` (port 0 picks a free one), with health and reflection,
    mutual TLS (a client certificate from our CA is required at the handshake) and the security
    gate (identity from the certificate, the permission table, per-court rate limits). With
    ``metrics``: every call counted and timed, before the gate (its refusals counted too)."""
    files = own_certificate(settings, identity)
    gate = SecurityInterceptor(hosted_courts, RateLimiter(settings.rate_limit, settings.rate_burst))
    interceptors: list[grpc.aio.ServerInterceptor] = [gate]
    if metrics is not None:
        interceptors.insert(0, metrics.interceptor())
        metrics.collect_from(
            lambda: [
                counter(
                    "jiaodong_gate_refusals",
                    "Calls the security gate refused: no valid identity or not permitted "
                    "(denied), over the court's rate limit (rate_limited)",
                    {("denied",): gate.denied, ("rate_limited",): gate.limited},
                    ["reason"],
                )
            ]
        )
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 8 * 1024 * 1024),
            # gRPC binds with SO_REUSEPORT by default: a second service on a port in use would
            # start without complaint and take part of the first one's calls (seen in the fault
            # harness as UNIMPLEMENTED from a node's address). A port in use is an error.
            ("grpc.so_reuseport", 0),
        ],
        interceptors=interceptors,
    )
    try:
        port = server.add_secure_port(address, server_credentials(files))
    except RuntimeError:  # "Failed to bind to address": why, the OS says
        host, _, wanted = address.rpartition(":")
        check_port_free(host, int(wanted))
        raise StartRefused(f"{address}: 无法监听 (cannot listen there)") from None
    if port == 0:
        raise StartRefused(f"{address}: 无法监听 (cannot listen there)")
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    return server, port, health_servicer


def own_certificate(settings: Settings, identity: Identity) -> TlsFiles:
    """The service's TLS files, refusing a certificate that names someone else."""
    files = settings.tls_for(identity)
    cert = files.cert.read_bytes()
    if not issued_by(cert, files.ca.read_bytes()):
        raise BadIdentity(
            f"{files.cert} is not issued by the CA in {files.ca}: the certificate and the CA "
            "belong to different certificate authorities"
        )
    own = identity_of(cert)
    if own != identity:
        raise BadIdentity(
            f"{files.cert} is the certificate of {own.label}, not of {identity.label}"
        )
    return files


@dataclass
class Running:
    """A started service: its gRPC server, port, transport and database."""

    name: str
    port: int
    server: grpc.aio.Server
    transport: Transport
    db: Database
    service: Any
    health: Any
    extras: list[Any] = field(default_factory=list)
    # The coordinator's web board, when it serves one.
    board: BoardServer | None = None
    # The metrics and probe port (JD_METRICS), when it serves one; what sets the health.
    probes: ProbeServer | None = None
    watch: HealthWatch | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self, grace: float = 2.0) -> None:
        """Graceful: stop taking calls, drain the bus, close the database. Each stage is bounded
        in time, so a stuck broker or disk cannot hold a shutdown forever."""
        if self.watch is not None:
            self.watch.closed = True
        with contextlib.suppress(Exception):
            await self.health.enter_graceful_shutdown()
        for task in self.extras:
            task.cancel()
        if self.extras:
            await asyncio.wait(self.extras, timeout=5)
        if self.board is not None:
            self.board.refuse_new()
        self.service.broadcaster.close()  # ends the board's live streams too
        if self.board is not None:
            await self._bounded("board", self.board.stop(), 10)
        await self._bounded("grpc", self.server.stop(grace), grace + 5)
        if self.probes is not None:
            await self._bounded("metrics", self.probes.stop(), 10)
        await self._bounded("bus", self.transport.stop(), 20)
        loop = asyncio.get_running_loop()
        await self._bounded("database", loop.run_in_executor(None, self.db.close), 30)
        log.info("service_stopped", service=self.name)

    async def _bounded(self, stage: str, work: Awaitable[Any], seconds: float) -> None:
        try:
            await asyncio.wait_for(work, timeout=seconds)
        except TimeoutError:
            log.error("stop_stage_timed_out", service=self.name, stage=stage, seconds=seconds)
        except Exception as exc:  # noqa: BLE001 - a failed stage must not stop the others
            log.error("stop_stage_failed", service=self.name, stage=stage, error=str(exc))


async def serve(
    settings: Settings,
    port: int,
    identity: Identity,
    hosted_courts: list[str],
    service: ServiceDescriptor,
    add_servicer: Callable[[grpc.aio.Server], None],
    audit: AuditServicer,
    metrics: Metrics | None = None,
) -> tuple[grpc.aio.Server, int, Any]:
    """Start the service's gRPC server (its own service, the audit service, health and
    reflection), reported NOT_SERVING until its HealthWatch has looked."""
    server, bound, health_servicer = create_server(
        f"{settings.host}:{port}",
        [service.full_name, AUDIT_SERVICE],
        settings,
        identity,
        hosted_courts,
        metrics,
    )
    add_servicer(server)
    audit_service_pb2_grpc.add_AuditServiceServicer_to_server(audit, server)
    for name in ("", service.full_name):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.start()
    return server, bound, health_servicer


def metrics_for(settings: Settings, name: str) -> Metrics | None:
    """The service's series, when it serves them (JD_METRICS)."""
    return Metrics(name) if settings.metrics else None


async def watch_health(
    settings: Settings,
    running: Running,
    metrics: Metrics | None,
    link: Callable[[], Callable[[], str | None] | None],
    *,
    services: tuple[str, ...],
    acting: tuple[str, ...] = (),
    active: Callable[[], bool] = lambda: True,
    starting: bool = False,
) -> HealthWatch:
    """Set the service's health from what it depends on, now and every second (``starting``:
    NOT_SERVING until ``watch.starting`` is cleared); serve the metrics and probes (JD_METRICS)
    when asked to."""
    db = running.db
    watch = HealthWatch(
        running.name,
        running.health,
        lambda: db.read(measures.answers),
        link,
        services=services,
        acting=acting,
        active=active,
    )
    running.watch = watch
    watch.starting = starting
    await watch.refresh()
    running.extras.append(asyncio.create_task(watch.run(), name="health-watch"))
    if metrics is not None:
        metrics.collect_from(
            lambda: [
                gauge(
                    "jiaodong_serving",
                    "Whether the service's gRPC health is SERVING (1) or not (0): its database "
                    "answers, its NATS link is connected and its consumers make progress",
                    {(): 1.0 if watch.ready else 0.0},
                )
            ]
        )
        probes = ProbeServer(settings.metrics, metrics, watch.readiness)
        await probes.start()
        running.probes = probes
    return watch


def measure(metrics: Metrics, running: Running, clock: Clock) -> None:
    """What a scrape reads besides the counted events: the database's state (one bounded read)
    and the bus transport's counters and last measured backlog."""
    delegations = metrics.gauge(
        "jiaodong_delegations",
        "Delegations this service holds, by status and city pair",
        ["status", "requesting_city", "entrusted_city"],
    )
    documents = metrics.gauge(
        "jiaodong_documents", "Documents held here by state (receiving: in flight)", ["state"]
    )
    backlog = metrics.gauge(
        "jiaodong_outbox_backlog", "Messages committed to the outbox and not yet published"
    )
    oldest = metrics.gauge(
        "jiaodong_outbox_oldest_age_seconds",
        "How long the oldest unpublished outbox message has waited (0: none waits)",
    )
    parked = metrics.gauge(
        "jiaodong_parked_messages", "Messages parked as dead letters, waiting for an operator"
    )

    async def read() -> None:
        found = await running.db.read(measures.read)
        delegations.clear()
        for key, count in found.delegations.items():
            delegations.labels(*key).set(count)
        documents.clear()
        for state, count in found.documents.items():
            documents.labels(state).set(count)
        backlog.set(found.outbox_backlog)
        age = (clock.now() - found.outbox_oldest).total_seconds() if found.outbox_oldest else 0.0
        oldest.set(max(age, 0.0))
        parked.set(found.parked)

    def bus() -> list[Metric]:
        transport = running.transport
        nc = transport.nc
        return [
            counter(
                "jiaodong_bus_messages",
                "Messages published and applied by this service since it started, by kind "
                "(digest and want: reconciliation; doc: document pieces)",
                transport.traffic,
                ["direction", "kind"],
            ),
            counter(
                "jiaodong_bus_redeliveries",
                "Messages fetched again after a nak or an unacknowledged delivery",
                {(): transport.redelivered},
            ),
            counter(
                "jiaodong_bus_parked",
                "Messages this service parked since it started",
                {(): transport.parked},
            ),
            counter(
                "jiaodong_bus_link_replaced",
                "NATS connections the watchdog replaced after a stall",
                {(): transport.replaced},
            ),
            gauge(
                "jiaodong_consumer_pending",
                "Messages waiting for a consumer (JetStream num_pending), as last measured",
                {(durable,): n for durable, n in transport.flow.lag.items()},
                ["consumer"],
            ),
            gauge(
                "jiaodong_nats_connected",
                "Whether the NATS link is connected (1) or not (0)",
                {(): 1.0 if nc is not None and nc.is_connected else 0.0},
            ),
        ]

    metrics.on_scrape(read)
    metrics.collect_from(bus)


async def start_node(
    settings: Settings,
    city: str,
    *,
    port: int = 0,
    registry: Registry | None = None,
    clock: Clock | None = None,
) -> Running:
    registry = registry or load_registry(settings.courts_dir)
    city_info = registry.city(city)
    node_id = city_info.node
    clock = clock or clock_from_spec(settings.clock)
    # The city's registries, checked before anything starts (a mistake stops the node).
    links = links_for(
        load_registries(registry, settings.registries, settings.courts_dir), registry, city, clock
    )
    db = await open_database(settings, node_id)
    node = CourtNode(node_id, registry, db, clock, sla=load_sla_files(settings))
    node.link_registries(links)
    # On a secured broker a node may not create streams or consumers: the coordinator does.
    own = node_consumer(node_id, sorted(node.courts))
    transport = bus_transport(
        settings, node_id, db, clock, provision=not secured(settings), watch=flow_watch(own)
    )
    node.set_relay_wake(transport.wake)
    # The command centres' questions on this node's parked messages, relayed by the coordinator.
    await transport.serve(ops_subject(city_info.city), node.answer_parked_request)
    await transport.start(own, node.on_message, node.on_messages)
    metrics = metrics_for(settings, node_id)
    descriptor = court_node_service_pb2.DESCRIPTOR.services_by_name["CourtNodeService"]
    server, bound, health_servicer = await serve(
        settings,
        port,
        Identity(Role.NODE, node_id),
        sorted(node.courts),
        descriptor,
        lambda s: court_node_service_pb2_grpc.add_CourtNodeServiceServicer_to_server(
            CourtNodeServicer(node), s
        ),
        AuditServicer(db, node_id),
        metrics,
    )
    reconciler = asyncio.create_task(
        node.run_reconciler(
            transport.publish_direct,
            settings.reconcile_seconds,
            transport.reconnected,
            lambda: transport.flow,
        ),
        name="reconciler",
    )
    tasks = [reconciler, asyncio.create_task(housekeeping(db, clock), name="housekeeping")]
    if links.connectors:
        tasks.append(
            asyncio.create_task(node.run_registry_desk(settings.sweep_seconds), name="registries")
        )
    running = Running(node_id, bound, server, transport, db, node, health_servicer, tasks)
    if metrics is not None:
        measure(metrics, running, clock)
    await watch_health(
        settings,
        running,
        metrics,
        lambda: running.transport.trouble,
        services=("", descriptor.full_name),
    )
    log.info(
        "node_started",
        node=node_id,
        city=city,
        port=bound,
        courts=len(node.courts),
        registries=sorted(a.value.lower() for a in links.connectors),
        metrics=running.probes.url if running.probes else "",
    )
    return running


async def start_coordinator(
    settings: Settings,
    *,
    port: int = 0,
    registry: Registry | None = None,
    clock: Clock | None = None,
) -> Running:
    """A coordinator replica. It serves reads at once; it consumes, relays and sweeps only while
    it holds the lease (jiaodong.app.leadership): at once when no other replica does, otherwise
    when the active one is gone."""
    registry = registry or load_registry(settings.courts_dir)
    clock = clock or clock_from_spec(settings.clock)
    db = await open_database(settings, "coordinator")
    policy, calendar = load_sla_files(settings)
    coordinator = Coordinator(
        registry,
        db,
        clock,
        SlaEngine(policy, calendar, clock),
        reload=lambda: load_sla_files(settings),
    )
    coordinator.reconcile_interval = timedelta(seconds=settings.reconcile_seconds)
    duty = CoordinatorDuty(
        coordinator,
        lambda: bus_transport(
            settings,
            COORDINATOR,
            db,
            clock,
            provision_consumers=node_consumers(registry) if secured(settings) else (),
            watch=flow_watch(),
        ),
        settings.sweep_seconds,
        background=lambda: housekeeping(db, clock),
    )
    replica = Replica("")
    metrics = metrics_for(settings, "coordinator")
    if metrics is not None:
        coordinator.on_sweep = lambda report: metrics.count_sweep(
            {**report.kinds, "REMINDER": report.reminders}
        )
    descriptor = coordinator_service_pb2.DESCRIPTOR.services_by_name["CoordinatorService"]
    server, bound, health_servicer = await serve(
        settings,
        port,
        Identity(Role.COORDINATOR, REGION),
        [],
        descriptor,
        lambda s: coordinator_service_pb2_grpc.add_CoordinatorServiceServicer_to_server(
            CoordinatorServicer(coordinator, replica), s
        ),
        AuditServicer(db, "coordinator"),
        metrics,
    )
    running = Running(
        "coordinator", bound, server, duty.transport, db, coordinator, health_servicer, []
    )
    duty.on_transport = lambda transport: setattr(running, "transport", transport)
    coordinator.inbound_backlog = own_backlog(running, asyncio.get_running_loop())
    if metrics is not None:
        measure(metrics, running, clock)
    # Healthy (service "") while the database answers and, on the active replica, the link;
    # CoordinatorService SERVING only on the active replica (a standby serves reads only).
    watch = await watch_health(
        settings,
        running,
        metrics,
        lambda: running.transport.trouble if replica.active else None,
        services=("",),
        acting=(descriptor.full_name,),
        active=lambda: replica.active,
        starting=True,
    )
    running.board = await start_board(settings, coordinator, replica)
    try:
        leadership = await lead(settings, db, duty, replica, bound, watch, server)
    except BaseException:
        for task in running.extras:
            task.cancel()
        if running.probes is not None:
            await running.probes.stop()
        if running.board is not None:
            await running.board.stop()
        raise
    for notice in coordinator.notices():  # logged once, at start; also on the board
        log.warning("calendar_not_covered", notice=notice)
    log.info(
        "coordinator_started",
        port=bound,
        active=replica.active,
        metrics=running.probes.url if running.probes else "",
    )
    running.extras.append(asyncio.create_task(leadership.run(), name="leadership"))
    return running


async def start_board(
    settings: Settings, coordinator: Coordinator, replica: Replica
) -> BoardServer | None:
    """The web board on ``settings.http`` (none when empty), over HTTPS with the coordinator's
    certificate; operators sign in with their client certificates, or in development with the
    login token."""
    if not settings.http:
        return None
    host, _, port = settings.http.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--http takes HOST:PORT, not {settings.http!r}")
    login = DevLogin(settings.board_token) if settings.board_token else None
    app = create_board(coordinator, replica, BoardSettings(dev_login=login))
    files = own_certificate(settings, Identity(Role.COORDINATOR, REGION))
    board = BoardServer(app, host.strip("[]"), int(port), files)
    await board.start()
    return board


async def lead(
    settings: Settings,
    db: Database,
    duty: CoordinatorDuty,
    replica: Replica,
    port: int,
    watch: HealthWatch,
    server: grpc.aio.Server,
) -> Leadership:
    """Take the coordinator's lease if it is free (and start acting), else stay a standby; the
    health is looked at again on every change (CoordinatorService SERVING only on the active
    replica)."""

    async def announce(active: bool) -> None:
        # Taking over: look at the new link now. Stepping down (also when the service stops,
        # from the cancelled lease loop): say so at once, asking neither database nor link.
        await (watch.refresh() if active else watch.apply())

    replica.address = advertised(settings.host, port)
    lease = lease_for(db.url, replica.address)
    leadership = Leadership(lease, duty, replica, on_change=announce)
    try:
        await leadership.try_first()
    except BaseException:
        await server.stop(0)
        await asyncio.get_running_loop().run_in_executor(None, db.close)
        raise
    watch.starting = False
    await watch.refresh()
    return leadership


def advertised(host: str, port: int) -> str:
    """The address other replicas and clients can reach this one at (a wildcard bind address
    names no host: the machine's name stands in)."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = socket.gethostname()
    return f"{host}:{port}"


async def housekeeping(db: Database, clock: Clock, interval: float = 3600.0) -> None:
    """Prune old published outbox rows and inbox marks, hourly."""
    while True:
        await asyncio.sleep(interval)
        try:
            sent, received = await db.run(partial(outbox.prune, now=clock.now()))
            if sent or received:
                log.info("pruned", outbox=sent, inbox=received)
        except Exception as exc:  # noqa: BLE001 - pruning is housekeeping: retried next hour
            log.error("prune_failed", error=str(exc))


async def open_database(settings: Settings, name: str) -> Database:
    """The service's database, created or migrated to the newest schema. The work runs on a
    daemon thread of its own: a start interrupted here (SIGTERM while the database server does
    not answer) can exit without waiting for it."""
    url = settings.database_for(name)
    try:
        db = Database(url)
        await in_daemon_thread(db.create_schema, f"open-database-{name}")
    except SQLAlchemyError as exc:
        # The driver's first line says what it is (refused, unknown host, password, ...).
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise DatabaseUnavailable(
            f"数据库无法打开 (cannot open the database) {masked_url(url)}: "
            f"{cause[0] if cause else type(exc).__name__}"
        ) from None
    return db


async def in_daemon_thread(work: Callable[[], T], name: str) -> T:
    """Run ``work`` on a new daemon thread; its result or error, awaited."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def deliver(outcome: Callable[[], None]) -> None:
        if not done.done():
            outcome()

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            error = exc
            answer = lambda: done.set_exception(error)  # noqa: E731
        else:
            answer = lambda: done.set_result(result)  # noqa: E731
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(deliver, answer)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await done


def own_backlog(running: Running, loop: asyncio.AbstractEventLoop) -> Callable[[], int | None]:
    """The coordinator's own consumer's backlog as its transport last measured it, or None when
    not measured within three of its periods (read from the writer thread: plain attributes)."""
    durable = coordinator_consumer().durable

    def backlog() -> int | None:
        transport = running.transport
        if not transport.flow.fresh(loop.time(), 3 * transport.settings.flow_seconds):
            return None
        return transport.flow.lag_of(durable)

    return backlog


def flow_watch(*own: ConsumerSpec) -> tuple[ConsumerSpec, ...]:
    """The consumers whose backlog a service measures: the coordinator's two (every service:
    nodes pace their reconciliation by them), and its own."""
    return (coordinator_consumer(), coordinator_digest_consumer(), *own)


def secured(settings: Settings) -> bool:
    return settings.nats_url.startswith("tls://")


def bus_transport(
    settings: Settings, service: str, db: Database, clock: Clock, **options: Any
) -> Transport:
    """The service's bus: its consumer and the relay of its own outbox."""
    bus = BusSettings(
        url=settings.nats_url,
        name=service,
        replicas=settings.nats_replicas,
        auth=bus_auth(settings, service),
        ping_interval=settings.nats_ping_seconds,
        max_outstanding_pings=settings.nats_max_pings,
        flush_timeout=settings.nats_flush_seconds,
        stall_seconds=settings.nats_stall_seconds,
        start_timeout=settings.nats_start_seconds,
        **options,
    )
    return Transport(bus, DatabaseOutbox(db), clock)


def bus_auth(settings: Settings, service: str) -> NatsAuth | None:
    """How a service authenticates to NATS: on a ``tls://`` URL, with its certificate (the
    broker maps it to the service's user and permissions); otherwise not at all (an open
    development broker)."""
    if not secured(settings):
        return None
    return NatsAuth(
        settings.tls_for(service_identity(service)), nats_user(service), inbox_prefix(service)
    )


def load_sla_files(settings: Settings) -> tuple[SlaPolicy, WorkCalendar]:
    """The SLA policy and the working-day calendar from the courts/ folder."""
    return load_policy(settings.courts_dir), load_calendar(settings.courts_dir)
