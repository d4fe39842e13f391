"""Nothing lost when the broker forgets: a wiped JetStream store mid-flight, repaired from the
databases by reconciliation (digests from nodes, re-sends both ways)."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import grpc
import nats
from sqlmodel import col, select

from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.domain.clock import SystemClock
from jiaodong.store import outbox
from jiaodong.store.tables import InboxRow, OutboxRow
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import Region, as_court, eventually
from tests.integration.conftest import table_rows

QD, YT = "370202", "370602"
T = TypeVar("T")


def wipe(nats: EmbeddedNats) -> None:
    """Kill the broker, delete its JetStream store, start it again on the same port."""
    nats.stop(kill=True)
    shutil.rmtree(nats.data_dir / "jetstream", ignore_errors=True)
    nats.start()


async def test_wiped_store_mid_flight_converges(region: Region, nats_server: EmbeddedNats) -> None:
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    # The coordinator is down, so the new delegation waits in the broker, which then forgets it.
    await region.coordinator.stop(0)
    d = (await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))).delegation
    outbox_drained = lambda: region.nodes["qingdao"].service.summary()  # noqa: E731
    await eventually(outbox_drained, lambda x: x["outbox_pending"] == 0)
    wipe(nats_server)

    from jiaodong.bootstrap import start_coordinator

    region.coordinator = await start_coordinator(region.settings)

    async def at_yantai() -> pb.Delegation | None:
        try:
            reply = await yantai.GetDelegation(
                api.GetDelegationRequest(id=d.id), metadata=as_court(YT)
            )
        except grpc.aio.AioRpcError:  # NOT_FOUND until it is delivered
            return None
        return reply.delegation

    await eventually(
        at_yantai, lambda x: x is not None and x.status == pb.STATUS_DELIVERED, timeout=30
    )

    # Steps keep flowing afterwards, and a second wipe after the entrusted court acted is repaired.
    await yantai.Acknowledge(api.AcknowledgeRequest(id=d.id), metadata=as_court(YT))
    await eventually(
        lambda: region.nodes["yantai"].service.summary(), lambda x: x["outbox_pending"] == 0
    )
    wipe(nats_server)
    await yantai.Accept(api.AcceptRequest(id=d.id), metadata=as_court(YT))

    async def at_qingdao() -> pb.Delegation:
        reply = await qingdao.GetDelegation(
            api.GetDelegationRequest(id=d.id), metadata=as_court(QD)
        )
        return reply.delegation

    final = await eventually(at_qingdao, lambda x: x.status == pb.STATUS_ACCEPTED, timeout=30)
    coord = region.coordinator_stub()  # the restarted coordinator listens on a new port
    at_coord = (await coord.GetDelegation(capi.CoordinatorGetDelegationRequest(id=d.id))).delegation
    y = await at_yantai()
    assert y is not None
    assert (
        [e.hash for e in final.history]
        == [e.hash for e in y.history]
        == [e.hash for e in at_coord.history]
    )


async def test_prune_keeps_recent_and_unpublished_rows(region: Region) -> None:
    qingdao = region.node_stub("qingdao")
    await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))
    node = region.nodes["qingdao"]
    await eventually(lambda: node.service.summary(), lambda x: x["outbox_pending"] == 0)
    db = node.db
    published = await db.run(lambda s: len(s.exec(select(OutboxRow)).all()))
    assert published >= 1
    now = SystemClock().now()
    assert await db.run(lambda s: outbox.prune(s, now)) == (0, 0)  # all recent: nothing goes
    later = now + timedelta(days=40)
    pruned_out, _ = await db.run(lambda s: outbox.prune(s, later))
    assert pruned_out >= published
    left = await db.run(
        lambda s: s.exec(select(OutboxRow).where(col(OutboxRow.published_at) <= now)).all()
    )
    assert left == []
    # Every mark that existed before the prune was older than its cutoff (now + 9 days): all
    # gone. (Messages keep arriving meanwhile; their marks are newer than ``now``.)
    old_marks = await db.run(
        lambda s: s.exec(select(InboxRow).where(col(InboxRow.received_at) <= now)).all()
    )
    assert old_marks == []


async def test_digests_travel_apart_and_their_stream_comes_back(region: Region) -> None:
    """Digests never enter JD_COORD (where syncs and requests queue): they have their own stream
    and coordinator consumer. A JetStream store from before they existed (no JD_DIGEST) gets the
    stream and the consumer from the coordinator, and digests are applied again."""
    nc = await nats.connect(region.settings.nats_url)
    try:
        js = nc.jetstream()
        await eventually(lambda: js.stream_info("JD_DIGEST"), lambda i: i.state.messages > 0)
        coord = await js.stream_info("JD_COORD", subjects_filter=">")
        assert not [s for s in coord.state.subjects or {} if s.endswith(".digest")]
        main = await js.consumer_info("JD_COORD", "coordinator")
        assert main.config.filter_subjects == ["jd.v1.coord.>"]

        def applied_digests() -> int:
            rows = table_rows(region.coordinator, InboxRow)
            return sum(1 for r in rows if r.subject.startswith("jd.v1.digest."))

        await eventually(_async(applied_digests), lambda n: n > 0)
        await js.delete_stream("JD_DIGEST")  # as on a store made before this stream existed
        before = applied_digests()

        async def provisioned() -> bool:
            try:
                await js.consumer_info("JD_DIGEST", "coordinator-digest")
            except nats.js.errors.NotFoundError:
                return False
            return True

        await eventually(provisioned, bool, timeout=30)
        await eventually(_async(applied_digests), lambda n: n > before, timeout=30)
    finally:
        await nc.close()


def _async(probe: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def run() -> T:
        return probe()

    return run
