"""A region that lives for a whole test module, on an event loop in a background thread.

Hypothesis drives plain (sync) test functions; each example hands its coroutine to the region's
loop with ``Live.run``. So the region (nats-server, coordinator, three city nodes) starts once per
module, whatever the number of examples, and no async fixture has to outlive a test.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import text_format
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import inspect, text

from jiaodong.bootstrap import Running
from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.store import ledger
from jiaodong.v1 import coordinator_service_pb2_grpc, court_node_service_pb2_grpc
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import (
    Region,
    as_court,
    coordinator_probe,
    delegation_probe,
    eventually,
    has_status,
    start_region,
)
from tests.helpers.region import sync_of_row

T = TypeVar("T")

QD, QD_SHIBEI, YT, WF = "370202", "370203", "370602", "370702"
CITIES = ["qingdao", "yantai", "weifang"]
# A document uploaded at set-up to the Qingdao and Yantai nodes, so valid steps can attach it.
SEED_DOCUMENT = b"%PDF-1.4\n% jiaodong fuzz seed document\n%%EOF\n"
SEED_PDF = pb.Document(
    name="回执.pdf",
    media_type="application/pdf",
    size_bytes=len(SEED_DOCUMENT),
    sha256=hashlib.sha256(SEED_DOCUMENT).hexdigest(),
)
# A hostile call gets a deadline: an RPC that hangs is a failure (DEADLINE_EXCEEDED).
CALL_TIMEOUT = 20.0

# Every status a hostile call may end with. Never UNKNOWN, INTERNAL, UNAVAILABLE,
# DEADLINE_EXCEEDED, CANCELLED, ABORTED, DATA_LOSS, UNIMPLEMENTED, UNAUTHENTICATED.
ALLOWED = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
# Tables a refused call may leave changed: the bus's own marks (background traffic) only, and
# the coordinator's note of when it last heard from each node (every digest writes it).
UNCOUNTED_TABLES = frozenset({"inbox", "dead_letter", "node_contact", "alembic_version"})


def coordinator_channel(region: Region) -> grpc.aio.Channel:
    """The one place the fuzz suite gets a channel that no typed stub hides: raw calls to the
    coordinator (and health checks). It takes the region's own coordinator channel (mutual TLS as
    the regional operator) when the region offers one, else opens a plain channel. Node channels
    come from ``Region.node_channel`` and typed stubs from ``Region.*_stub``."""
    own = getattr(region, "coordinator_channel", None)
    if own is not None:
        return own()  # type: ignore[no-any-return]
    channel = grpc.aio.insecure_channel(region.coordinator.address)
    region.channels.append(channel)  # type: ignore[attr-defined]
    return channel


CITY_COURT = {"qingdao": QD, "yantai": YT, "weifang": WF}


def short(message: Any, limit: int = 1500) -> str:
    """A request (a message, bytes, or a list of either) as text for a failure message, cut to
    ``limit`` characters."""
    if isinstance(message, list):
        return "[" + ", ".join(short(m, limit // max(1, len(message))) for m in message) + "]"
    if isinstance(message, bytes):
        shown = repr(message[:limit])
        return shown + (f"... ({len(message)} bytes)" if len(message) > limit else "")
    body = text_format.MessageToString(message, as_one_line=True, as_utf8=True)
    size = message.ByteSize()
    cut = body[:limit] + ("..." if len(body) > limit else "")
    return f"{type(message).__name__}({cut}) [{size} bytes encoded]"


_TABLES: dict[int, list[str]] = {}


def row_counts(service: Running, tables: Sequence[str] = ()) -> dict[str, int]:
    """Rows per table of a running service, read directly from its database in one query:
    ``tables``, or every table of the record (delegations, history, requests, outbox, documents,
    recorded reads...) but the bus's inbox and dead letters."""
    engine = service.db.engine
    if not tables:
        if id(engine) not in _TABLES:
            names = inspect(engine).get_table_names()
            _TABLES[id(engine)] = sorted(set(names) - UNCOUNTED_TABLES)
        tables = _TABLES[id(engine)]
    query = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t})" for t in tables)
    with engine.connect() as conn:
        row = conn.execute(text(query)).one()
    return {t: int(n) for t, n in zip(tables, row, strict=True)}


def delegation_ids(services: Sequence[Running]) -> set[str]:
    """Every delegation id the services hold (rows are copied between services by reroutes and
    reconciliation; only new ids matter)."""
    out: set[str] = set()
    for service in services:
        with service.db.engine.connect() as conn:
            out.update(r[0] for r in conn.execute(text("SELECT id FROM delegation")))
    return out


def pending_requests(service: Running) -> int:
    with service.db.engine.connect() as conn:
        query = "SELECT COUNT(*) FROM action_request WHERE state = 'pending'"
        return int(conn.execute(text(query)).scalar_one())


def postgres_database(*, optional: bool = False) -> tuple[str, Callable[[], None]]:
    """A fresh PostgreSQL database and a function that drops it. Module-scoped fixtures cannot
    use the function-scoped ``postgres_url``. If the server is unreachable: fail in CI, else
    skip the test, or (``optional``) return ``("", no-op)`` so the caller falls back to SQLite."""
    import psycopg
    import pytest

    from tests.helpers.postgres import PG_ADMIN, postgres_problem

    problem = postgres_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(
                f"PostgreSQL tests must run in CI, but {PG_ADMIN} is unreachable: {problem}"
            )
        if optional:
            return "", lambda: None
        pytest.skip(f"PostgreSQL at {PG_ADMIN} unreachable: {problem}")
    name = f"jd_fuzz_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", drop


@dataclass
class Outcome:
    code: grpc.StatusCode
    details: str
    reply: Any = None


async def unary(call: Awaitable[Any]) -> Outcome:
    try:
        reply = await call
    except grpc.aio.AioRpcError as exc:
        return Outcome(exc.code(), exc.details() or "")
    return Outcome(grpc.StatusCode.OK, "", reply)


async def streamed(call: Any, wait: float = 0.15) -> Outcome:
    """Open a server stream, read one item or wait ``wait`` seconds, then cancel it."""
    try:
        item = await asyncio.wait_for(call.read(), wait)
    except TimeoutError:
        call.cancel()
        return Outcome(grpc.StatusCode.OK, "")
    except grpc.aio.AioRpcError as exc:
        return Outcome(exc.code(), exc.details() or "")
    if item is grpc.aio.EOF:
        code = await call.code()
        return Outcome(code, await call.details() or "")
    call.cancel()
    return Outcome(grpc.StatusCode.OK, "", item)


# The parked-message RPCs forward a question to the named city's node; the fuzz region runs
# only CITIES, so a request naming another real city (fuzzed from the valid-looking words) gets
# the true answer: UNAVAILABLE, that node did not answer. Nothing else may be UNAVAILABLE.
FORWARDED = frozenset({"ListParked", "GetParked", "RetryParked", "DiscardParked"})
ABSENT_CITIES = ("weihai", "rizhao")


def absent_node(method: str, outcome: Outcome) -> bool:
    """A forwarded question refused only because the city it names has no node running here."""
    return (
        method in FORWARDED
        and outcome.code is grpc.StatusCode.UNAVAILABLE
        and any(f"the node of {c} did not answer" in outcome.details for c in ABSENT_CITIES)
    )


def check_outcome(outcome: Outcome, what: str, method: str = "") -> None:
    """A clear status from the allowed set; every refusal says why in words."""
    assert outcome.code in ALLOWED or absent_node(method, outcome), (
        f"{outcome.code.name} ({outcome.details!r}) is not an allowed answer to {what}"
    )
    if outcome.code is not grpc.StatusCode.OK:
        details = outcome.details.strip()
        assert details, f"{outcome.code.name} without a message for {what}"
        assert "Traceback" not in details, f"{outcome.code.name} leaks a traceback: {details}"


@dataclass
class Live:
    """A running region plus the loop and thread it runs on."""

    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    nats: EmbeddedNats
    region: Region = field(init=False)
    seeds: list[str] = field(default_factory=list)
    # Stubs and channels, made once on the loop (a channel belongs to the loop it was made on).
    _cache: dict[tuple[str, ...], Any] = field(default_factory=dict)
    _nc: Any = None
    # True after a call that may have started bus traffic: settle before the next row count.
    dirty: bool = True

    @classmethod
    def start(cls, tmp: Path, seeds: int = 3, database_url: str = "") -> Live:
        """Start nats-server and the region (the coordinator on ``database_url`` if given)."""
        nats = EmbeddedNats(tmp / "nats").start()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fuzz-region", daemon=True)
        thread.start()
        live = cls(loop, thread, nats)
        try:
            live.region = live.run(
                start_region(tmp, nats, CITIES, database_url=database_url), timeout=120
            )
            live.seeds = live.run(live._seed(seeds), timeout=120)
        except BaseException:
            live.stop()
            raise
        return live

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        """Run a coroutine on the region's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        try:
            if self._nc is not None:
                self.run(self._nc.close(), timeout=30)
            if hasattr(self, "region"):
                self.run(self.region.close(), timeout=120)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
            self.loop.close()
            self.nats.stop()

    # -- region helpers (coroutines; run them on the loop) -------------------------------------

    async def _seed(self, count: int) -> list[str]:
        """Delegations Qingdao -> Yantai, delivered on all three sides: real ids to aim at; and
        SEED_DOCUMENT uploaded at both nodes."""
        for city, court in (("qingdao", QD), ("yantai", YT)):
            piece = api.UploadDocumentRequest(
                sha256=SEED_PDF.sha256, size_bytes=SEED_PDF.size_bytes, data=SEED_DOCUMENT
            )
            await self.node_stub(city).UploadDocument(iter([piece]), metadata=as_court(court))
        return list(await asyncio.gather(*(self.deliver_one() for _ in range(count))))

    async def deliver_one(self) -> str:
        """Create a valid delegation at Qingdao; wait until it is DELIVERED on all three sides."""
        qingdao = self.node_stub("qingdao")
        created = await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))
        d = created.delegation.id
        delivered = has_status(pb.STATUS_DELIVERED)
        await eventually(delegation_probe(self.node_stub("yantai"), YT, d), delivered)
        await eventually(delegation_probe(qingdao, QD, d), delivered)
        await eventually(coordinator_probe(self.coordinator_stub(), d), delivered)
        return d

    def node_stub(self, city: str) -> court_node_service_pb2_grpc.CourtNodeServiceStub:
        key = ("node-stub", city)
        if key not in self._cache:
            self._cache[key] = self.region.node_stub(city)
        return self._cache[key]  # type: ignore[no-any-return]

    def coordinator_stub(self) -> coordinator_service_pb2_grpc.CoordinatorServiceStub:
        key = ("coordinator-stub",)
        if key not in self._cache:
            self._cache[key] = self.region.coordinator_stub()
        return self._cache[key]  # type: ignore[no-any-return]

    def raw_channel(self, city: str | None, court: str = "") -> grpc.aio.Channel:
        """A channel for raw calls: to ``city``'s node acting as ``court``, or (city None) to
        the coordinator."""
        key = ("raw", city or "coordinator", court)
        if key not in self._cache:
            self._cache[key] = (
                coordinator_channel(self.region)
                if city is None
                else self.region.node_channel(city, court)
            )
        return self._cache[key]  # type: ignore[no-any-return]

    def health_stub(self, service: Running) -> health_pb2_grpc.HealthStub:
        if service is self.region.coordinator:
            channel = self.raw_channel(None)
        else:
            city = next(c for c, node in self.region.nodes.items() if node is service)
            channel = self.raw_channel(city, CITY_COURT[city])
        return health_pb2_grpc.HealthStub(channel)

    def services(self) -> list[Running]:
        return [self.region.coordinator, *self.region.nodes.values()]

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until the bus is quiet: every outbox row published, no consumer with messages
        pending or unacked, no action request waiting for its writer. Only then do row counts
        of one call mean anything."""
        services = self.services()
        js = await self.jetstream()

        async def busy() -> list[tuple[str, int, int, int, int]]:
            dead = self.dead_tasks()
            if dead:
                broken = [s for s in services if any(d.startswith(s.name) for d in dead)]
                culprits = [await self.first_unacked(js, s) for s in broken]
                raise AssertionError(
                    f"background tasks ended: {dead}; first unacked message per consumer: "
                    f"{[c for c in culprits if c]}"
                )
            out = []
            for service in services:
                stream = "JD_COORD" if service is self.region.coordinator else "JD_COURT"
                info = await js.consumer_info(stream, service.name)
                with service.db.engine.connect() as conn:
                    unpublished = int(
                        conn.execute(
                            text("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
                        ).scalar_one()
                    )
                out.append(
                    (
                        service.name,
                        unpublished,
                        info.num_pending,
                        info.num_ack_pending,
                        pending_requests(service),
                    )
                )
            return out

        await eventually(busy, lambda rows: all(sum(r[1:]) == 0 for r in rows), timeout)
        self.dirty = False

    async def jetstream(self) -> Any:
        """A JetStream context on one connection kept for the module (closed in ``stop``)."""
        import nats

        if self._nc is None:
            self._nc = await nats.connect(self.region.settings.nats_url)
        return self._nc.jetstream()

    async def first_unacked(self, js: Any, service: Running) -> str:
        """The first message a service's consumer has not acked: the one a dead consumer died
        on (subject and the start of its payload), or ""."""
        stream = "JD_COORD" if service is self.region.coordinator else "JD_COURT"
        try:
            info = await js.consumer_info(stream, service.name)
            if not info.num_ack_pending:
                return ""
            msg = await js.get_msg(stream, info.ack_floor.stream_seq + 1)
        except Exception as exc:  # noqa: BLE001  diagnostics only: never hide the real failure
            return f"{service.name}: (could not read it: {exc!r})"
        return f"{service.name}: {msg.subject!r} {bytes(msg.data or b'')[:200]!r}"

    def dead_tasks(self) -> list[str]:
        """Background tasks of the services (bus relay and consumer, reconciler, sweeper...) that
        ended: none may, while the region runs."""
        out = []
        for service in self.services():
            for task in [*service.transport._tasks, *service.extras]:
                if task.done():
                    exc = None if task.cancelled() else task.exception()
                    out.append(f"{service.name}/{task.get_name()}: {exc!r}")
        return out

    def sync_of(self, delegation_id: str) -> Message:
        """A delegation's true sync, as the coordinator holds it."""
        db = self.region.coordinator.db
        return db.transaction(lambda s: sync_of_row(s, ledger.require_row(s, delegation_id)))

    async def assert_serving(self) -> None:
        """No background task died, every service answers its health check, and Qingdao a
        valid GetDelegation."""
        dead = self.dead_tasks()
        assert not dead, f"background tasks ended: {dead}"
        for service in self.services():
            stub = self.health_stub(service)
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service.name
        got = await self.node_stub("qingdao").GetDelegation(
            api.GetDelegationRequest(id=self.seeds[0]), metadata=as_court(QD), timeout=10
        )
        assert got.delegation.id == self.seeds[0]

    def new_request_id(self) -> str:
        return f"fz-{uuid.uuid4().hex[:12]}"
