"""NATS subject isolation on a real nats-server running the generated secured configuration.

The coordinator provisions the streams and every node's consumer. Connected as the Qingdao node,
every attempt to read Yantai's traffic, speak for a Yantai court or for the coordinator, or manage
streams and consumers is refused by the server: the assertions wait for the server's
"Permissions Violation" error, not for a mere timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from jiaodong.bus.auth import NatsAuth
from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.bus.subjects import (
    COURT_STREAM,
    Kind,
    coordinator_consumer,
    coordinator_digest_consumer,
    digest_subject,
    node_consumer,
    ops_subject,
    to_coordinator,
    to_court,
)
from jiaodong.bus.transport import BusSettings, Transport, ensure_consumer, ensure_streams
from jiaodong.domain.clock import SystemClock
from jiaodong.domain.registry import Registry
from jiaodong.files.registry import load_registry
from jiaodong.security.certs import files, init_pki
from jiaodong.security.nats_config import client_auth, node_consumers, secured_broker
from jiaodong.store.database import Database
from jiaodong.store.outbox import DatabaseOutbox
from jiaodong.v1 import bus_pb2

QD, YT = "370202", "370602"
QD_NODE, YT_NODE = "node-qingdao", "node-yantai"


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(None)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Path:
    root = tmp_path_factory.mktemp("pki")
    init_pki(root, registry)
    return root


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Path:
    """Another CA issuing the very same names: its certificates must not be accepted."""
    root = tmp_path_factory.mktemp("foreign-pki")
    init_pki(root, registry)
    return root


@pytest.fixture(scope="module")
def secure_nats(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry, pki: Path
) -> Iterator[EmbeddedNats]:
    """One secured broker, provisioned by the coordinator, holding one message for Qingdao's
    court 370202 and one for Yantai's court 370602."""
    server = secured_broker(tmp_path_factory.mktemp("secure-nats"), registry, pki).start()
    try:
        asyncio.run(_provision_and_seed(server, registry, pki))
        yield server
    finally:
        server.stop()


async def _provision_and_seed(server: EmbeddedNats, registry: Registry, pki: Path) -> None:
    coordinator = await connect_as(server, client_auth(pki, "coordinator"))
    try:
        await ensure_streams(coordinator.js)
        await ensure_consumer(coordinator.js, coordinator_consumer())
        for spec in node_consumers(registry):
            await ensure_consumer(coordinator.js, spec)
        for court in (QD, YT):
            ack = await coordinator.js.publish(to_court(court, Kind.SYNC), envelope(court))
            assert ack.stream == COURT_STREAM.name
        coordinator.assert_no_violation()
    finally:
        await coordinator.close()


@dataclass
class Client:
    nc: NatsClient
    errors: list[str] = field(default_factory=list)

    @property
    def js(self) -> JetStreamContext:
        return self.nc.jetstream(timeout=5)

    def assert_no_violation(self) -> None:
        assert not [e for e in self.errors if "violation" in e.lower()], self.errors

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.nc.close()


async def connect_as(
    server: EmbeddedNats, auth: NatsAuth, *, tls: ssl.SSLContext | None = None, **options: object
) -> Client:
    """A client that keeps every error the server sends (the -ERR lines)."""
    client = Client(nc=NatsClient())

    async def on_error(exc: Exception) -> None:
        client.errors.append(str(exc))

    await client.nc.connect(
        servers=[server.url],
        tls=tls or auth.ssl_context(),
        inbox_prefix=auth.inbox_prefix,
        error_cb=on_error,
        allow_reconnect=False,
        connect_timeout=5,
        **options,  # type: ignore[arg-type]
    )
    return client


@pytest.fixture
async def qingdao(secure_nats: EmbeddedNats, pki: Path) -> AsyncIterator[Client]:
    client = await connect_as(secure_nats, client_auth(pki, QD_NODE))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def coordinator(secure_nats: EmbeddedNats, pki: Path) -> AsyncIterator[Client]:
    client = await connect_as(secure_nats, client_auth(pki, "coordinator"))
    try:
        yield client
    finally:
        await client.close()


def envelope(court: str, message_id: str | None = None) -> bytes:
    env = bus_pb2.Envelope(
        message_id=message_id or uuid.uuid4().hex,
        court_id=court,
        want=bus_pb2.Want(delegation_ids=["probe"]),
    )
    return env.SerializeToString()


async def refused(
    client: Client,
    attempt: Callable[[], Awaitable[object]],
    subject: str,
    *,
    operation: str = "publish",
    timeout: float = 5.0,
) -> None:
    """Run ``attempt`` and wait for the server's permissions violation on ``subject``; the
    attempt itself must not succeed."""
    needle = f'permissions violation for {operation} to "{subject}"'.lower()
    seen = len(client.errors)
    task = asyncio.ensure_future(attempt())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            if any(needle in e.lower() for e in client.errors[seen:]):
                break
            if task.done() and not task.cancelled() and task.exception() is None:
                pytest.fail(f"allowed: {subject} ({operation}) returned {task.result()!r}")
            if loop.time() > deadline:
                outcome = task.exception() if task.done() else "still waiting"
                pytest.fail(
                    f"no permissions violation for {operation} to {subject!r} within {timeout}s; "
                    f"server errors: {client.errors[seen:]}; attempt: {outcome!r}"
                )
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    # The connection stays up: the server refuses the one operation, not the client.
    assert client.nc.is_connected


async def server_logged(server: EmbeddedNats, text: str, timeout: float = 5.0) -> str:
    """Wait for ``text`` in the server's log; return the line."""
    path = server.data_dir / "nats-server.log"
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if text in ln]
        if lines:
            return lines[-1]
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"the server did not log {text!r}")
        await asyncio.sleep(0.05)


# -- positive controls -----------------------------------------------------------------------------


async def test_node_publishes_as_its_courts_and_reads_its_own_consumer(
    qingdao: Client, coordinator: Client
) -> None:
    for court in (QD, "370200", "370285"):
        ack = await qingdao.js.publish(to_coordinator(court, Kind.DIGEST), envelope(court))
        assert ack.stream == "JD_COORD"

    sub = await qingdao.js.pull_subscribe_bind(durable=QD_NODE, stream=COURT_STREAM.name)
    msgs = await sub.fetch(batch=10, timeout=5)
    assert [m.subject for m in msgs] == [to_court(QD, Kind.SYNC)]
    for msg in msgs:
        await msg.ack()
    await qingdao.nc.flush()
    # Acks are fire-and-forget: wait (bounded) until the server has counted them.
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        info = await qingdao.js.consumer_info(COURT_STREAM.name, QD_NODE)
        done = info.num_ack_pending == 0 and info.num_pending == 0
        if done or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert info.num_ack_pending == 0 and info.num_pending == 0

    # The coordinator reads what the node sent, on its own consumer, and acks it.
    csub = await coordinator.js.pull_subscribe_bind(durable="coordinator", stream="JD_COORD")
    got = await csub.fetch(batch=10, timeout=5)
    assert {m.subject for m in got} >= {to_coordinator(QD, Kind.DIGEST)}
    for msg in got:
        await msg.ack()
    # ... and may publish to any court.
    ack = await coordinator.js.publish(to_court("371102", Kind.WANT), envelope("371102"))
    assert ack.stream == COURT_STREAM.name
    qingdao.assert_no_violation()
    coordinator.assert_no_violation()


# -- what the Qingdao node may not do --------------------------------------------------------------


async def test_node_cannot_fetch_from_another_nodes_consumer(
    qingdao: Client, coordinator: Client
) -> None:
    async def fetch_yantai() -> object:
        sub = await qingdao.js.pull_subscribe_bind(durable=YT_NODE, stream=COURT_STREAM.name)
        return await sub.fetch(batch=1, timeout=4)

    await refused(qingdao, fetch_yantai, f"$JS.API.CONSUMER.MSG.NEXT.JD_COURT.{YT_NODE}")
    await refused(
        qingdao,
        lambda: qingdao.js.consumer_info(COURT_STREAM.name, YT_NODE),
        f"$JS.API.CONSUMER.INFO.JD_COURT.{YT_NODE}",
    )
    # Acking (and so discarding) Yantai's messages is refused too.
    ack_subject = f"$JS.ACK.JD_COURT.{YT_NODE}.1.2.1.1700000000000000000.0"
    await refused(qingdao, lambda: qingdao.nc.request(ack_subject, b"+ACK", timeout=4), ack_subject)
    # Yantai's message is still there, never delivered.
    info = await coordinator.js.consumer_info(COURT_STREAM.name, YT_NODE)
    assert info.num_pending == 1 and info.num_ack_pending == 0 and info.delivered.stream_seq == 0


async def test_node_answers_the_coordinator_on_its_own_city_subject(
    qingdao: Client, coordinator: Client
) -> None:
    async def answer(msg: Msg) -> None:
        await msg.respond(b"pong:" + msg.data)

    await qingdao.nc.subscribe(ops_subject("qingdao"), cb=answer)
    await qingdao.nc.flush()
    reply = await coordinator.nc.request(ops_subject("qingdao"), b"ping", timeout=5)
    assert reply.data == b"pong:ping"
    assert not qingdao.errors and not coordinator.errors


async def test_node_cannot_read_the_streams_directly(qingdao: Client) -> None:
    await refused(
        qingdao,
        lambda: qingdao.js.get_msg(COURT_STREAM.name, seq=2),
        "$JS.API.STREAM.MSG.GET.JD_COURT",
    )
    await refused(
        qingdao, lambda: qingdao.js.stream_info(COURT_STREAM.name), "$JS.API.STREAM.INFO.JD_COURT"
    )
    await refused(qingdao, lambda: qingdao.js.streams_info(), "$JS.API.STREAM.LIST")


@pytest.mark.parametrize(
    "subject",
    [
        f"jd.v1.court.{YT}.>",
        "jd.v1.>",
        ">",
        "_INBOX_node-yantai.>",
        "_INBOX.>",
        "$JS.ACK.>",
        ops_subject("yantai"),  # another city's operator questions
        "jd.v1.ops.*.parked",
    ],
)
async def test_node_cannot_subscribe_outside_its_inbox(qingdao: Client, subject: str) -> None:
    async def listen() -> object:
        sub = await qingdao.nc.subscribe(subject)
        await qingdao.nc.flush()
        return await sub.next_msg(timeout=4)

    await refused(qingdao, listen, subject, operation="subscription")


@pytest.mark.parametrize(
    "subject",
    [
        to_coordinator(YT, Kind.SYNC),  # speaking for a Yantai court
        to_coordinator(YT, Kind.DIGEST),
        to_court(QD, Kind.SYNC),  # impersonating the coordinator, even to its own court
        to_court(YT, Kind.WANT),
        f"jd.v1.coord.{QD}.sync.extra",  # not the subject layout
        ops_subject("yantai"),  # asking another node, as if it were the coordinator
        "_INBOX_coordinator.forged",  # answering what it was never asked
    ],
)
async def test_node_cannot_publish_for_others(qingdao: Client, subject: str) -> None:
    await refused(qingdao, lambda: qingdao.js.publish(subject, envelope(YT), timeout=4), subject)


async def test_node_cannot_manage_streams(qingdao: Client, coordinator: Client) -> None:
    js = qingdao.js
    await refused(
        qingdao,
        lambda: js.add_stream(api.StreamConfig(name="JD_SPY", subjects=["jd.v1.court.370602.>"])),
        "$JS.API.STREAM.CREATE.JD_SPY",
    )
    await refused(
        qingdao,
        lambda: js.update_stream(api.StreamConfig(name="JD_COURT", subjects=["jd.v1.court.>"])),
        "$JS.API.STREAM.UPDATE.JD_COURT",
    )
    await refused(qingdao, lambda: js.delete_stream("JD_COURT"), "$JS.API.STREAM.DELETE.JD_COURT")
    await refused(qingdao, lambda: js.delete_stream("JD_COORD"), "$JS.API.STREAM.DELETE.JD_COORD")
    await refused(qingdao, lambda: js.purge_stream("JD_COURT"), "$JS.API.STREAM.PURGE.JD_COURT")
    await refused(
        qingdao, lambda: js.delete_msg("JD_COURT", 2), "$JS.API.STREAM.MSG.DELETE.JD_COURT"
    )
    info = await coordinator.js.stream_info("JD_COURT")
    assert info.state.messages >= 2


async def test_node_cannot_manage_consumers(qingdao: Client, coordinator: Client) -> None:
    js = qingdao.js
    spy = api.ConsumerConfig(
        durable_name="qingdao-spy",
        filter_subject=f"jd.v1.court.{YT}.>",
        ack_policy=api.AckPolicy.EXPLICIT,
    )
    await refused(
        qingdao,
        lambda: js.add_consumer(COURT_STREAM.name, spy),
        "$JS.API.CONSUMER.DURABLE.CREATE.JD_COURT.qingdao-spy",
    )
    named = api.ConsumerConfig(name="qingdao-spy2", filter_subject=f"jd.v1.court.{YT}.>")
    await refused(
        qingdao,
        lambda: js.add_consumer(COURT_STREAM.name, named),
        f"$JS.API.CONSUMER.CREATE.JD_COURT.qingdao-spy2.jd.v1.court.{YT}.>",
    )
    ephemeral = api.ConsumerConfig(filter_subject=f"jd.v1.court.{YT}.>")
    await refused(
        qingdao,
        lambda: js.add_consumer(COURT_STREAM.name, ephemeral),
        "$JS.API.CONSUMER.CREATE.JD_COURT",
    )
    # Widening its own consumer to Yantai's courts.
    widened = api.ConsumerConfig(
        durable_name=QD_NODE,
        filter_subjects=[*node_consumer(QD_NODE, [QD]).filter_subjects, f"jd.v1.court.{YT}.>"],
        ack_policy=api.AckPolicy.EXPLICIT,
    )
    await refused(
        qingdao,
        lambda: js.add_consumer(COURT_STREAM.name, widened),
        f"$JS.API.CONSUMER.DURABLE.CREATE.JD_COURT.{QD_NODE}",
    )
    await refused(
        qingdao,
        lambda: js.delete_consumer(COURT_STREAM.name, YT_NODE),
        f"$JS.API.CONSUMER.DELETE.JD_COURT.{YT_NODE}",
    )
    await refused(
        qingdao,
        lambda: js.delete_consumer(COURT_STREAM.name, QD_NODE),
        f"$JS.API.CONSUMER.DELETE.JD_COURT.{QD_NODE}",
    )
    # Nothing changed.
    for name in ("qingdao-spy", "qingdao-spy2"):
        with pytest.raises(NotFoundError):
            await coordinator.js.consumer_info(COURT_STREAM.name, name)
    await coordinator.js.consumer_info(COURT_STREAM.name, YT_NODE)
    mine = await coordinator.js.consumer_info(COURT_STREAM.name, QD_NODE)
    assert f"jd.v1.court.{YT}.>" not in (mine.config.filter_subjects or [])


async def test_coordinator_cannot_delete_or_purge(coordinator: Client) -> None:
    js = coordinator.js
    await refused(
        coordinator, lambda: js.delete_stream("JD_COURT"), "$JS.API.STREAM.DELETE.JD_COURT"
    )
    await refused(coordinator, lambda: js.purge_stream("JD_COORD"), "$JS.API.STREAM.PURGE.JD_COORD")
    await refused(
        coordinator,
        lambda: js.delete_consumer(COURT_STREAM.name, YT_NODE),
        f"$JS.API.CONSUMER.DELETE.JD_COURT.{YT_NODE}",
    )
    await refused(
        coordinator,
        lambda: js.publish(to_coordinator(QD, Kind.SYNC), envelope(QD), timeout=4),
        to_coordinator(QD, Kind.SYNC),
    )


# -- who may connect -------------------------------------------------------------------------------


async def _must_not_connect(server: EmbeddedNats, auth: NatsAuth, tls: ssl.SSLContext) -> str:
    with pytest.raises(Exception) as caught:
        client = await connect_as(server, auth, tls=tls)
        await client.close()
    return repr(caught.value)


async def test_connection_without_client_certificate_is_refused(
    secure_nats: EmbeddedNats, pki: Path
) -> None:
    auth = client_auth(pki, QD_NODE)
    no_cert = ssl.create_default_context(cafile=str(auth.tls.ca))
    await _must_not_connect(secure_nats, auth, no_cert)
    await server_logged(secure_nats, "client didn't provide a certificate")


async def test_certificate_from_another_ca_is_refused(
    secure_nats: EmbeddedNats, pki: Path, foreign_pki: Path
) -> None:
    auth = client_auth(pki, QD_NODE)
    foreign = files(foreign_pki, QD_NODE)
    tls = ssl.create_default_context(cafile=str(auth.tls.ca))  # trusts the real server
    tls.load_cert_chain(str(foreign.cert), str(foreign.key))
    await _must_not_connect(secure_nats, auth, tls)
    await server_logged(secure_nats, "certificate signed by unknown authority")


async def test_a_certificate_that_maps_to_no_user_is_refused(
    secure_nats: EmbeddedNats, pki: Path
) -> None:
    """Valid certificates of the same CA that are not bus services: an officer, the server's."""
    auth = client_auth(pki, QD_NODE)
    for stem in ("officer-370202", "operator-region", "nats-server"):
        held = files(pki, stem)
        tls = ssl.create_default_context(cafile=str(auth.tls.ca))
        tls.load_cert_chain(str(held.cert), str(held.key))
        error = await _must_not_connect(secure_nats, auth, tls)
        assert "authorization violation" in error.lower(), (stem, error)


async def test_the_user_comes_from_the_certificate_not_the_connect_request(
    secure_nats: EmbeddedNats, pki: Path
) -> None:
    auth = client_auth(pki, QD_NODE)
    yantai_user = client_auth(pki, YT_NODE).user
    # Naming Yantai's user with a password (there is none): refused outright.
    with pytest.raises(Exception, match=r"(?i)authorization violation"):
        await connect_as(secure_nats, auth, user=yantai_user, password="guess")
    # Naming it without a password: the server still maps Qingdao's certificate to Qingdao.
    client = await connect_as(secure_nats, auth, user=yantai_user)
    try:
        await server_logged(secure_nats, f'User "{yantai_user}" found in connect proto')
        subject = to_coordinator(YT, Kind.SYNC)
        await refused(client, lambda: client.js.publish(subject, envelope(YT), timeout=4), subject)

        async def fetch_yantai() -> object:
            sub = await client.js.pull_subscribe_bind(durable=YT_NODE, stream=COURT_STREAM.name)
            return await sub.fetch(batch=1, timeout=4)

        await refused(client, fetch_yantai, f"$JS.API.CONSUMER.MSG.NEXT.JD_COURT.{YT_NODE}")
    finally:
        await client.close()


async def test_plain_connections_are_refused(secure_nats: EmbeddedNats) -> None:
    with pytest.raises(Exception):  # noqa: B017 - TLS required: the server never speaks plain
        nc = await nats.connect(
            secure_nats.url.replace("tls://", "nats://"),
            allow_reconnect=False,
            connect_timeout=3,
        )
        await nc.close()


# -- the transports: the coordinator provisions, the nodes only bind ------------------------------


@dataclass
class Inbox:
    got: list[tuple[str, str]] = field(default_factory=list)

    async def handler(self, subject: str, env: bus_pb2.Envelope) -> None:
        self.got.append((subject, env.message_id))

    def ids(self) -> set[str]:
        return {m for _, m in self.got}


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition not met in time")
        await asyncio.sleep(0.1)


def _want(court: str) -> bus_pb2.Envelope:
    return bus_pb2.Envelope(
        message_id=uuid.uuid4().hex, court_id=court, want=bus_pb2.Want(delegation_ids=["x"])
    )


async def test_transports_on_the_secured_broker(
    tmp_path: Path, registry: Registry, pki: Path
) -> None:
    server = secured_broker(tmp_path / "nats", registry, pki).start()
    clock = SystemClock()
    dbs: list[Database] = []
    transports: list[Transport] = []

    def make(service: str, **options: object) -> Transport:
        db = Database(f"sqlite:///{(tmp_path / f'{service}.db').as_posix()}")
        db.create_schema()
        dbs.append(db)
        settings = BusSettings(
            url=server.url,
            name=service,
            auth=client_auth(pki, service),
            **options,  # type: ignore[arg-type]
        )
        transport = Transport(settings, DatabaseOutbox(db), clock)
        transports.append(transport)
        return transport

    inboxes = {name: Inbox() for name in ("coordinator", QD_NODE, YT_NODE)}
    courts = {n: [c.court_id for c in registry.courts_of_node(n)] for n in (QD_NODE, YT_NODE)}
    # Every service measures the coordinator's backlog (nodes pace their reconciliation by it).
    watch = (coordinator_consumer(), coordinator_digest_consumer())
    coordinator = make(
        "coordinator",
        provision_consumers=node_consumers(registry),
        watch=watch,
        flow_seconds=0.2,
    )
    nodes = {
        n: make(n, provision=False, bind_timeout=30.0, watch=watch, flow_seconds=0.2)
        for n in (QD_NODE, YT_NODE)
    }
    try:
        # The nodes start first: they wait for their consumers instead of creating them.
        starting = {
            n: asyncio.create_task(t.start(node_consumer(n, courts[n]), inboxes[n].handler))
            for n, t in nodes.items()
        }
        await asyncio.sleep(1.0)
        assert not any(task.done() for task in starting.values())
        # Digests reach the coordinator through a consumer of their own, on their own stream.
        await coordinator.start(
            coordinator_consumer(),
            inboxes["coordinator"].handler,
            also=[(coordinator_digest_consumer(), inboxes["coordinator"].handler)],
        )
        await asyncio.wait_for(asyncio.gather(*starting.values()), timeout=20)

        async def round_trip() -> None:
            to_qd, to_yt = _want(QD), _want(YT)
            await coordinator.publish_direct(to_court(QD, Kind.WANT), to_qd)
            await coordinator.publish_direct(to_court(YT, Kind.WANT), to_yt)
            digest = _want(QD)
            await nodes[QD_NODE].publish_direct(digest_subject(QD), digest)

            async def arrived() -> bool:
                return (
                    to_qd.message_id in inboxes[QD_NODE].ids()
                    and to_yt.message_id in inboxes[YT_NODE].ids()
                    and digest.message_id in inboxes["coordinator"].ids()
                )

            await _eventually(arrived)
            assert to_yt.message_id not in inboxes[QD_NODE].ids()
            assert to_qd.message_id not in inboxes[YT_NODE].ids()

        await round_trip()
        # Each service could read the coordinator's two consumers' backlog.

        async def measured() -> bool:
            return all({"coordinator", "coordinator-digest"} <= set(t.flow.lag) for t in transports)

        await _eventually(measured)

        # The broker loses its store: the coordinator re-provisions, the nodes bind again.
        server.stop(kill=True)
        shutil.rmtree(server.data_dir / "jetstream", ignore_errors=True)
        server.start()

        async def flows_again() -> bool:
            try:
                await asyncio.wait_for(round_trip(), timeout=10)
            except (TimeoutError, nats.errors.Error):  # the broker is still coming back
                return False
            return True

        await _eventually(flows_again, timeout=60)
        assert all(t.parked == 0 for t in transports)
        # The services never needed anything they are not allowed (the server logs each refusal
        # as "Publish Violation" or "Subscription Violation").
        log_text = (server.data_dir / "nats-server.log").read_text(errors="replace")
        violations = [ln for ln in log_text.splitlines() if " Violation - Subject " in ln]
        assert not violations, violations[:5]
    finally:
        for t in transports:
            await t.stop()
        for db in dbs:
            db.close()
        server.stop()


def test_generated_config_is_private(tmp_path: Path, registry: Registry, pki: Path) -> None:
    server = secured_broker(tmp_path / "nats", registry, pki)
    assert server.url.startswith("tls://127.0.0.1:")
    server.start()
    try:
        conf = server.data_dir / "nats-server.conf"
        assert conf.stat().st_mode & 0o077 == 0
        assert json.dumps(str((pki / "nats-server.key").resolve())) in conf.read_text()
    finally:
        server.stop()


async def test_coordinator_recreates_a_lost_node_consumer(
    tmp_path: Path, registry: Registry, nats_server: EmbeddedNats
) -> None:
    """On an open broker (where anyone may delete), a node consumer deleted by hand comes back:
    the coordinator checks the consumers it provisions every ``provision_check_seconds``."""
    db = Database(f"sqlite:///{(tmp_path / 'coordinator.db').as_posix()}")
    db.create_schema()
    settings = BusSettings(
        url=nats_server.url,
        name="coordinator",
        provision_consumers=node_consumers(registry),
        provision_check_seconds=0.5,
    )
    transport = Transport(settings, DatabaseOutbox(db), SystemClock())
    admin = await nats.connect(nats_server.url)
    try:
        await transport.start(coordinator_consumer(), Inbox().handler)
        js = admin.jetstream()
        assert (await js.consumer_info(COURT_STREAM.name, YT_NODE)).config.filter_subjects
        await js.delete_consumer(COURT_STREAM.name, YT_NODE)

        async def back() -> bool:
            try:
                await js.consumer_info(COURT_STREAM.name, YT_NODE)
            except NotFoundError:
                return False
            return True

        await _eventually(back, timeout=15)
        info = await js.consumer_info(COURT_STREAM.name, YT_NODE)
        courts = [c.court_id for c in registry.courts_of_node(YT_NODE)]
        assert info.config.filter_subjects == list(node_consumer(YT_NODE, courts).filter_subjects)
    finally:
        await admin.close()
        await transport.stop()
        db.close()
