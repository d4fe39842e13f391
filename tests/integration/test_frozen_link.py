"""A frozen NATS link (the broker stops reading the service's socket and nothing is closed) does
not wedge the service: the watchdog replaces the connection and what was queued meanwhile is
delivered, once, with nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.bus.subjects import COORD_STREAM, Kind, coordinator_consumer, to_coordinator
from jiaodong.bus.transport import BusSettings, Transport
from jiaodong.domain.clock import SystemClock
from jiaodong.domain.ids import new_id
from jiaodong.store.database import Database
from jiaodong.store.outbox import DatabaseOutbox, enqueue, pending_count
from jiaodong.v1 import bus_pb2
from tests.helpers.network import publish_raw
from tests.helpers.proxy import FreezableProxy

COURT = "370202"


@dataclass
class Applied:
    """What the consumer handed to the service, in order (a redelivery shows up twice)."""

    ids: list[str] = field(default_factory=list)
    delay: float = 0.0  # seconds each message takes to apply (a busy machine)

    async def handler(self, subject: str, envelope: bus_pb2.Envelope) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.ids.append(envelope.message_id)


@dataclass
class Rig:
    proxy: FreezableProxy
    db: Database
    transport: Transport
    applied: Applied
    nats_url: str

    async def queue(self, count: int, size: int = 0) -> list[str]:
        """Commit ``count`` messages to the outbox (each ``size`` bytes of padding)."""
        envelopes = [
            bus_pb2.Envelope(
                message_id=new_id(),
                court_id=COURT,
                want=bus_pb2.Want(delegation_ids=["x" * size] if size else ["x"]),
            )
            for _ in range(count)
        ]

        def work(session: object) -> None:
            for envelope in envelopes:
                enqueue(session, to_coordinator(COURT, Kind.WANT), envelope, datetime.now(UTC))  # type: ignore[arg-type]

        await self.db.run(work)
        self.transport.wake()
        return [e.message_id for e in envelopes]

    async def stored(self) -> int:
        """Messages the stream holds (one per Nats-Msg-Id: a re-publish is dropped)."""
        nc = await nats.connect(self.nats_url)
        try:
            info = await nc.jetstream().stream_info(COORD_STREAM.name)
            return int(info.state.messages)
        finally:
            await nc.close()


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def make_rig(
    tmp_path: Path, nats_server: EmbeddedNats
) -> AsyncIterator[Callable[..., object]]:
    made: list[Rig] = []

    async def make(**link: float) -> Rig:
        proxy = FreezableProxy(nats_server.port)
        await proxy.open()
        db = Database(f"sqlite:///{(tmp_path / 'coordinator.db').as_posix()}")
        db.create_schema()
        settings = BusSettings(url=proxy.url, name="coordinator", **link)  # type: ignore[arg-type]
        transport = Transport(settings, DatabaseOutbox(db), SystemClock())
        rig = Rig(proxy, db, transport, Applied(), nats_server.url)
        made.append(rig)
        await transport.start(coordinator_consumer(), rig.applied.handler)
        return rig

    yield make
    for rig in made:
        await asyncio.wait_for(rig.transport.stop(), timeout=30)
        await rig.proxy.close()
        rig.db.close()


@pytest.mark.parametrize(
    ("link", "size"),
    [
        # nats-py never notices by itself (pings far apart): only the watchdog can recover.
        ({"ping_interval": 120, "stall_seconds": 3, "publish_timeout": 1, "flush_timeout": 1}, 0),
        # Large messages fill the socket buffers, nats-py's pending buffer passes its limit (a
        # forced flush) and its own stale-connection reconnect waits in wait_closed on a socket
        # whose peer never reads (nats-io/nats.py#671): the watchdog aborts that socket.
        (
            {
                "ping_interval": 0.5,
                "max_outstanding_pings": 2,
                "stall_seconds": 4,
                "publish_timeout": 1,
                "flush_timeout": 1,
            },
            300_000,
        ),
    ],
    ids=["quiet client", "large messages, pinging client"],
)
async def test_frozen_link_is_replaced_and_the_queued_messages_arrive_once(
    make_rig: Callable[..., object], link: dict[str, float], size: int
) -> None:
    rig: Rig = await make_rig(**link)  # type: ignore[misc]
    before = await rig.queue(5)
    await until(lambda: set(before) <= set(rig.applied.ids), 15, "delivery on a healthy link")
    assert rig.proxy.accepted == 1

    assert rig.proxy.freeze() == 1
    during = await rig.queue(40, size)
    burst: list[str] = []
    if size:
        # Many publishes at once (digests, say): megabytes wait in the client's buffers.
        digests = [_digest(size) for _ in range(40)]
        burst = [d.message_id for d in digests]
        sending = [
            rig.transport.publish_direct(to_coordinator(COURT, Kind.DIGEST), d) for d in digests
        ]
        await asyncio.gather(*sending, return_exceptions=True)

    everything = set(before) | set(during)
    await until(lambda: everything <= set(rig.applied.ids), 60, "delivery after the freeze")
    assert rig.transport.replaced >= 1
    assert rig.proxy.accepted >= 2  # a new connection, through the same proxy
    assert rig.proxy.frozen >= 1  # while the old one stays frozen: it was abandoned, not thawed
    assert await rig.db.run(pending_count) == 0
    # Each row reached the stream once, whatever was re-published (same Nats-Msg-Id) ...
    assert await rig.stored() - len(set(burst) & set(rig.applied.ids)) == len(everything)
    # ... and nothing arrived that was not sent.
    assert set(rig.applied.ids) - set(burst) == everything


def _digest(size: int) -> bus_pb2.Envelope:
    return bus_pb2.Envelope(
        message_id=new_id(), court_id=COURT, want=bus_pb2.Want(delegation_ids=["d" * size])
    )


async def test_a_frozen_link_with_nothing_to_publish_still_gets_its_consumer_back(
    make_rig: Callable[..., object],
) -> None:
    """Only the consumer is affected (the service has nothing to send): messages others publish
    meanwhile are fetched once the watchdog has replaced the link."""
    rig: Rig = await make_rig(  # type: ignore[misc]
        ping_interval=120, stall_seconds=3, publish_timeout=1, flush_timeout=1
    )
    rig.proxy.freeze()
    sent = [_digest(10) for _ in range(10)]
    for envelope in sent:
        await publish_raw(
            rig.nats_url,
            to_coordinator(COURT, Kind.DIGEST),
            envelope.SerializeToString(),
            envelope.message_id,
        )
    ids = {e.message_id for e in sent}
    await until(lambda: ids <= set(rig.applied.ids), 60, "delivery after the freeze")
    assert rig.transport.replaced >= 1
    assert rig.proxy.frozen >= 1


async def test_a_service_on_a_frozen_link_still_stops(make_rig: Callable[..., object]) -> None:
    """Stopping never waits for a peer that does not read: the socket is aborted in time."""
    rig: Rig = await make_rig(  # type: ignore[misc]
        ping_interval=120, stall_seconds=60, publish_timeout=1, flush_timeout=1
    )
    rig.proxy.freeze()
    await rig.queue(20, 300_000)
    digests = [_digest(300_000) for _ in range(20)]
    await asyncio.gather(
        *(rig.transport.publish_direct(to_coordinator(COURT, Kind.DIGEST), d) for d in digests),
        return_exceptions=True,
    )
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(rig.transport.stop(), timeout=25)
    assert asyncio.get_running_loop().time() - started < 25
    assert await rig.db.run(pending_count) > 0  # not published: they wait for the next start


async def test_a_slow_batch_on_a_healthy_link_is_work_not_a_stall(
    make_rig: Callable[..., object],
) -> None:
    """A fetched batch that takes longer to apply than the stall bound (a busy machine) is not
    a stalled link: replacing the link then abandoned the batch, its acks lost, again and again
    (the overload row on a loaded machine, 2026-11-30)."""
    rig: Rig = await make_rig(  # type: ignore[misc]
        ping_interval=120, stall_seconds=2, publish_timeout=1, flush_timeout=1
    )
    rig.applied.delay = 0.1
    # More than one fetch (so messages stay pending at the broker while the first batch is
    # applied): each full batch is 6.4 s of work, three stall bounds.
    sent = [_digest(10) for _ in range(100)]
    for envelope in sent:
        await publish_raw(
            rig.nats_url,
            to_coordinator(COURT, Kind.DIGEST),
            envelope.SerializeToString(),
            envelope.message_id,
        )
    ids = [e.message_id for e in sent]
    await until(lambda: set(ids) <= set(rig.applied.ids), 60, "every message applied")
    assert rig.transport.replaced == 0
    assert sorted(rig.applied.ids) == sorted(ids)  # each once: no batch abandoned and redelivered
