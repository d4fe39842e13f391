"""The live region: coordinator and city nodes in this process over a real nats-server and real
gRPC with mutual TLS; and helpers for calling it (acting as a court, waiting, probing, errors)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import grpc

from jiaodong.bootstrap import Running, start_coordinator, start_node
from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.config import Settings
from jiaodong.domain.clock import Clock
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.files.registry import load_registry
from jiaodong.security.certs import TlsFiles, init_pki
from jiaodong.security.clients import ChannelPool, act_as
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import coordinator_service_pb2_grpc, court_node_service_pb2_grpc
from jiaodong.v1 import court_node_service_pb2 as api

T = TypeVar("T")

REGIONAL_OPERATOR = Identity(Role.OPERATOR, REGION)


@dataclass
class Region:
    settings: Settings
    coordinator: Running
    nodes: dict[str, Running]
    pool: ChannelPool = field(init=False)

    def __post_init__(self) -> None:
        self.pool = ChannelPool(self.settings.tls_for)

    def tls(self, identity: Identity) -> TlsFiles:
        return self.settings.tls_for(identity)

    def channel(self, address: str, identity: Identity) -> grpc.aio.Channel:
        """One mutual-TLS channel per (server, identity), closed with the region."""
        return self.pool.channel(address, identity)

    def node_stub(
        self, city: str, identity: Identity | None = None
    ) -> court_node_service_pb2_grpc.CourtNodeServiceStub:
        """Calls present ``identity``'s certificate, or with ``metadata=as_court(c)`` the officer
        certificate of court c (a client-side marker; servers see only certificates)."""
        return self.pool.stub(
            court_node_service_pb2_grpc.CourtNodeServiceStub, self.nodes[city].address, identity
        )

    def node_channel(self, city: str, court: str) -> grpc.aio.Channel:
        """A channel to a city node that acts as ``court``'s officer (for raw calls)."""
        return self.channel(self.nodes[city].address, Identity(Role.OFFICER, court))

    def coordinator_stub(
        self, identity: Identity = REGIONAL_OPERATOR
    ) -> coordinator_service_pb2_grpc.CoordinatorServiceStub:
        """The coordinator as the regional command centre (or ``identity``)."""
        return coordinator_service_pb2_grpc.CoordinatorServiceStub(
            self.channel(self.coordinator.address, identity)
        )

    def coordinator_channel(self, identity: Identity = REGIONAL_OPERATOR) -> grpc.aio.Channel:
        return self.channel(self.coordinator.address, identity)

    async def close(self) -> None:
        await self.pool.close()
        for node in self.nodes.values():
            await node.stop(0)
        await self.coordinator.stop(0)


def as_court(court: str) -> list[tuple[str, str]]:
    """Make this call with ``court``'s officer certificate (see ChannelPool.stub)."""
    return act_as(court)


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
    pki: Path | None = None,
    http: str = "",
    board_token: str = "",
    registries: str = "off",
    metrics: str = "",
) -> Region:
    """Coordinator and nodes in this process. With a ManualClock the SLA sweeper does not run
    by itself: tests call ``coordinator.service.sweep()`` after moving virtual time. ``http``: the
    coordinator also serves the web board there (``board_token``: its development login).
    ``metrics``: every service serves its metrics and probes there (``127.0.0.1:0``: each on a
    free port, ``Running.probes.url``)."""
    sweep = 3600.0 if clock is not None else 1.0
    settings = Settings(
        data_dir=tmp_path / "data",
        nats_url=nats.url,
        database_url="",
        sweep_seconds=sweep,
        courts_dir=courts_dir,
        reconcile_seconds=1.0,
        tls_dir=pki or shared_pki(),
        registries=registries,
        metrics=metrics,
    )
    coordinator_settings = replace(settings, http=http, board_token=board_token)
    if database_url:
        # One PostgreSQL database per service: schemas would collide otherwise.
        coordinator_settings = replace(coordinator_settings, database_url=database_url)
    coordinator = await start_coordinator(coordinator_settings, clock=clock)
    nodes = {city: await start_node(settings, city, clock=clock) for city in cities}
    return Region(settings, coordinator, nodes)


_PKI: list[Path] = []


def shared_pki() -> Path:
    """One development CA and its certificates for the whole test session (made on first use)."""
    if not _PKI:
        root = Path(tempfile.mkdtemp(prefix="jd-pki-")) / "pki"
        init_pki(root, load_registry(None))
        _PKI.append(root)
    return _PKI[0]


# -- calls -----------------------------------------------------------------------------------------


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


async def publish_raw(nats_url: str, subject: str, data: bytes, msg_id: str) -> None:
    """Publish bytes onto the JetStream bus the way a relay would, but from outside."""
    import nats

    nc = await nats.connect(nats_url)
    try:
        ack = await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": msg_id})
        assert not ack.duplicate, f"JetStream dropped {msg_id} as a duplicate"
    finally:
        await nc.close()
