"""Coordinator replicas on one database: the leases themselves (PostgreSQL advisory lock, file
lock), and two coordinators in this process over real NATS, gRPC and PostgreSQL: one acts, the
other serves reads and refuses writes naming the active one, and takes over when the active one
stops or loses its lease session."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jiaodong.bootstrap import Running, start_coordinator, start_node
from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.config import Settings
from jiaodong.store.lease import LOCK_CLASS, FileLease, lease_for
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import coordinator_service_pb2_grpc
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import (
    REGIONAL_OPERATOR,
    Region,
    as_court,
    coordinator_probe,
    delegation_probe,
    eventually,
    has_status,
    rpc_error,
    shared_pki,
)

QD, YT = "370202", "370602"
COORDINATOR_SERVICE = "jiaodong.v1.CoordinatorService"


# -- the leases ------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_postgres_lease_one_holder_named_and_freed_with_its_session(
    postgres_url: str,
) -> None:
    first = lease_for(postgres_url, "10.0.0.1:50060", check_timeout=2)
    second = lease_for(postgres_url, "10.0.0.2:50060", check_timeout=2)
    try:
        assert await first.try_acquire() is True
        assert await first.try_acquire() is True  # a holder asking again still holds it
        assert await second.try_acquire() is False
        assert await first.alive() is True and await second.alive() is False
        assert await second.holder() == "10.0.0.1:50060"
        # The holder's session ends (a killed process, a cut link): the server frees the lock.
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND classid = %s",
                (LOCK_CLASS,),
            )
        assert await first.alive() is False
        assert await second.try_acquire() is True
        assert await first.try_acquire() is False
        assert await first.holder() == "10.0.0.2:50060"
    finally:
        await first.release()
        await second.release()


async def test_file_lease_one_holder_named_and_released(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coordinator.db'}"
    first, second = lease_for(url, "127.0.0.1:1"), lease_for(url, "127.0.0.1:2")
    assert isinstance(first, FileLease) and first.path == tmp_path / "coordinator.db.lease"
    assert await first.try_acquire() is True
    assert await second.try_acquire() is False
    assert await second.holder() == "127.0.0.1:1"
    assert await first.alive() is True
    await first.release()
    assert await first.alive() is False
    assert await second.try_acquire() is True
    assert await first.holder() == "127.0.0.1:2"
    # A lock file removed by hand: the holder can no longer prove it holds the lease.
    first.path.unlink()
    assert await second.alive() is False
    await second.release()


# -- two coordinators ------------------------------------------------------------------------------


@dataclasses.dataclass
class Replicas:
    region: Region  # its coordinator is the first replica
    standby: Running

    def stub(self, running: Running) -> coordinator_service_pb2_grpc.CoordinatorServiceStub:
        return coordinator_service_pb2_grpc.CoordinatorServiceStub(
            self.region.channel(running.address, REGIONAL_OPERATOR)
        )


async def service_health(region: Region, running: Running) -> int:
    stub = health_pb2_grpc.HealthStub(region.channel(running.address, REGIONAL_OPERATOR))
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=COORDINATOR_SERVICE))
    return int(reply.status)


@pytest.fixture
async def replicas(
    tmp_path: Path, nats_server: EmbeddedNats, postgres_url: str
) -> AsyncIterator[Replicas]:
    settings = Settings(
        data_dir=tmp_path / "data",
        nats_url=nats_server.url,
        reconcile_seconds=1.0,
        tls_dir=shared_pki(),
    )
    on_pg = dataclasses.replace(settings, database_url=postgres_url)
    first = await start_coordinator(on_pg)
    second = await start_coordinator(on_pg)
    nodes = {city: await start_node(settings, city) for city in ("qingdao", "yantai")}
    region = Region(settings, first, nodes)
    try:
        yield Replicas(region, second)
    finally:
        region.coordinator = first
        await second.stop(0)  # a second stop of a stopped replica changes nothing
        await region.close()


async def delivered_through(region: Region, coordinator: Running) -> str:
    """A delegation created now reaches DELIVERED at Yantai and at ``coordinator``."""
    created = await region.node_stub("qingdao").CreateDelegation(
        create_request(), metadata=as_court(QD)
    )
    d = created.delegation.id
    delivered = has_status(pb.STATUS_DELIVERED)
    await eventually(delegation_probe(region.node_stub("yantai"), YT, d), delivered)
    stub = coordinator_service_pb2_grpc.CoordinatorServiceStub(
        region.channel(coordinator.address, REGIONAL_OPERATOR)
    )
    await eventually(coordinator_probe(stub, d), delivered, timeout=15)
    return d


@pytest.mark.postgres
async def test_standby_reads_refuses_writes_and_takes_over(replicas: Replicas) -> None:
    region, active, standby = replicas.region, replicas.region.coordinator, replicas.standby
    assert await service_health(region, active) == health_pb2.HealthCheckResponse.SERVING
    assert await service_health(region, standby) == health_pb2.HealthCheckResponse.NOT_SERVING
    assert standby.transport.nc is None  # it never connected: nothing consumed or relayed

    d = await delivered_through(region, active)
    read = await eventually(
        coordinator_probe(replicas.stub(standby), d),
        has_status(pb.STATUS_DELIVERED),
    )
    assert read.id == d  # the standby reads the shared database
    refused = await rpc_error(
        replicas.stub(standby).Escalate(capi.EscalateRequest(id=d, request_id="esc-1", text="督办"))
    )
    assert refused.code() == grpc.StatusCode.UNAVAILABLE
    assert active.address in (refused.details() or "")
    assert "备用" in (refused.details() or "")
    # The operator API's writes likewise; its reads are answered from the shared database.
    standby_stub = replicas.stub(standby)
    for write in (
        standby_stub.Urge(capi.CoordinatorUrgeRequest(id=d, request_id="urge-1")),
        standby_stub.Annotate(capi.AnnotateRequest(id=d, request_id="note-1", text="备注")),
        standby_stub.RetryParked(capi.RetryParkedRequest(id=1, reason="重试")),
        standby_stub.DiscardParked(capi.DiscardParkedRequest(id=1, reason="丢弃")),
    ):
        assert (await rpc_error(write)).code() == grpc.StatusCode.UNAVAILABLE
    board = await standby_stub.GetBoard(capi.GetBoardRequest())
    assert {c.city: c.outbound_open for c in board.cities}["qingdao"] == 1
    assert list((await standby_stub.ListParked(capi.ListParkedRequest())).parked) == []
    # A node's parked messages are asked over the bus, which only the active replica holds.
    asked = await rpc_error(standby_stub.ListParked(capi.ListParkedRequest(city="yantai")))
    assert asked.code() == grpc.StatusCode.UNAVAILABLE
    assert active.address in (asked.details() or "")

    await active.stop(0)  # the active one goes away (gracefully: its lease session ends)
    await eventually(
        lambda: service_health(region, standby),
        lambda status: status == health_pb2.HealthCheckResponse.SERVING,
        timeout=10,
    )
    await delivered_through(region, standby)  # routing resumed on the new active replica
    # ... and so did the operators' questions to the nodes, on its own bus link.
    listed = await standby_stub.ListParked(capi.ListParkedRequest(city="yantai"))
    assert list(listed.parked) == []


@pytest.mark.postgres
async def test_active_that_loses_its_lease_session_stops_and_the_standby_acts(
    replicas: Replicas, postgres_url: str
) -> None:
    region, first, second = replicas.region, replicas.region.coordinator, replicas.standby
    await delivered_through(region, first)
    acting = first.transport
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # the lease session is cut
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks"
            " WHERE locktype = 'advisory' AND classid = %s",
            (LOCK_CLASS,),
        )

    async def old_link() -> object:
        return acting.nc

    # The first stops acting at once: its consumer and relay are closed.
    await eventually(old_link, lambda nc: nc is None, timeout=10)

    async def roles() -> tuple[int, int]:
        return await service_health(region, first), await service_health(region, second)

    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    # Exactly one acts again: the standby, which gets the first try (the first pauses before
    # competing again), or, if it lost the race on a busy machine, the first once more.
    now = await eventually(roles, lambda r: sorted(r) == sorted((serving, not_serving)), timeout=10)
    await delivered_through(region, second if now[1] == serving else first)
