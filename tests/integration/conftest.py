"""An in-process region: coordinator and city nodes over a real nats-server and real gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from jiaodong.app import Running, start_coordinator, start_node
from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.config import Settings
from jiaodong.domain.clock import Clock
from jiaodong.v1 import coordinator_service_pb2_grpc, court_node_service_pb2_grpc

T = TypeVar("T")


@dataclass
class Region:
    settings: Settings
    coordinator: Running
    nodes: dict[str, Running]
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    def node_stub(self, city: str) -> court_node_service_pb2_grpc.CourtNodeServiceStub:
        channel = grpc.aio.insecure_channel(self.nodes[city].address)
        self.channels.append(channel)
        return court_node_service_pb2_grpc.CourtNodeServiceStub(channel)

    def coordinator_stub(self) -> coordinator_service_pb2_grpc.CoordinatorServiceStub:
        channel = grpc.aio.insecure_channel(self.coordinator.address)
        self.channels.append(channel)
        return coordinator_service_pb2_grpc.CoordinatorServiceStub(channel)

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
        for node in self.nodes.values():
            await node.stop(0)
        await self.coordinator.stop(0)


def as_court(court: str) -> list[tuple[str, str]]:
    return [("jd-court", court)]


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 15.0
) -> T:
    """Poll ``probe`` until ``check`` holds; fail with the last value seen."""
    deadline = asyncio.get_running_loop().time() + timeout
    value = await probe()
    while not check(value):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.05)
        value = await probe()
    return value


async def start_region(
    tmp_path: Path,
    nats: EmbeddedNats,
    cities: list[str],
    database_url: str = "",
    clock: Clock | None = None,
    courts_dir: Path | None = None,
) -> Region:
    """Coordinator and nodes in this process. With a ManualClock the SLA sweeper does not run
    by itself: tests call ``coordinator.service.sweep()`` after moving virtual time."""
    sweep = 3600.0 if clock is not None else 1.0
    settings = Settings(
        data_dir=tmp_path / "data",
        nats_url=nats.url,
        database_url="",
        sweep_seconds=sweep,
        courts_dir=courts_dir,
        reconcile_seconds=1.0,
    )
    coordinator_settings = settings
    if database_url:
        # One PostgreSQL database per service: schemas would collide otherwise.
        coordinator_settings = replace(settings, database_url=database_url)
    coordinator = await start_coordinator(coordinator_settings, clock=clock)
    nodes = {city: await start_node(settings, city, clock=clock) for city in cities}
    return Region(settings, coordinator, nodes)


@pytest.fixture
async def region(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Region]:
    r = await start_region(tmp_path, nats_server, ["qingdao", "yantai", "weifang"])
    try:
        yield r
    finally:
        await r.close()


def any_(value: Any) -> Any:
    return value


# -- small helpers shared by the integration suites ------------------------------------------------


async def rpc_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """Await a call that must fail; return its error."""
    try:
        value = await call
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError(f"the call succeeded but should have failed: {value!r}")


def field_violations(err: grpc.aio.AioRpcError) -> list[str]:
    """The fields named in the google.rpc.BadRequest detail of an error (empty if none)."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(err)
    if status is None:
        return []
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend(v.field for v in bad.field_violations)
    return fields


def delegation_probe(
    stub: court_node_service_pb2_grpc.CourtNodeServiceStub, court: str, delegation_id: str
) -> Callable[[], Awaitable[Any]]:
    """A probe for ``eventually``: the delegation as ``court`` sees it, or None while NOT_FOUND."""
    from jiaodong.v1 import court_node_service_pb2 as api

    async def probe() -> Any:
        try:
            reply = await stub.GetDelegation(
                api.GetDelegationRequest(id=delegation_id), metadata=as_court(court)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.delegation

    return probe


def coordinator_probe(
    stub: coordinator_service_pb2_grpc.CoordinatorServiceStub, delegation_id: str
) -> Callable[[], Awaitable[Any]]:
    """A probe for ``eventually``: the coordinator's view of a delegation, or None while unknown."""
    from jiaodong.v1 import coordinator_service_pb2 as capi

    async def probe() -> Any:
        try:
            reply = await stub.GetDelegation(capi.CoordinatorGetDelegationRequest(id=delegation_id))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.delegation

    return probe


def has_status(status: int) -> Callable[[Any], bool]:
    return lambda d: d is not None and d.status == status


def table_rows(service: Running, table: type[T]) -> list[T]:
    """Every row of one table of a running service's database, read directly."""
    from sqlmodel import Session, select

    with Session(service.db.engine) as session:
        return list(session.exec(select(table)).all())  # type: ignore[call-overload]


async def publish_raw(nats_url: str, subject: str, data: bytes, msg_id: str) -> None:
    """Publish bytes onto the JetStream bus the way a relay would, but from outside."""
    import nats

    nc = await nats.connect(nats_url)
    try:
        ack = await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": msg_id})
        assert not ack.duplicate, f"JetStream dropped {msg_id} as a duplicate"
    finally:
        await nc.close()


async def bus_idle(region: Region, timeout: float = 15.0) -> None:
    """Wait until every outbox is published and no consumer has anything pending or unacked."""
    import nats

    from jiaodong.store.tables import OutboxRow

    services = [region.coordinator, *region.nodes.values()]
    nc = await nats.connect(region.settings.nats_url)
    try:
        js = nc.jetstream()

        async def pending() -> list[tuple[str, int, int, int]]:
            out = []
            for service in services:
                unpublished = sum(
                    1 for r in table_rows(service, OutboxRow) if r.published_at is None
                )
                stream = "JD_COORD" if service is region.coordinator else "JD_COURT"
                info = await js.consumer_info(stream, service.name)
                out.append((service.name, unpublished, info.num_pending, info.num_ack_pending))
            return out

        await eventually(pending, lambda rows: all(sum(r[1:]) == 0 for r in rows), timeout=timeout)
    finally:
        await nc.close()
