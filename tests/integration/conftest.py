"""An in-process region: coordinator and city nodes over a real nats-server and real gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from jiaodong.app import Running, start_coordinator, start_node
from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.config import Settings
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
    tmp_path: Path, nats: EmbeddedNats, cities: list[str], database_url: str = ""
) -> Region:
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats.url, database_url="")
    coordinator_settings = settings
    if database_url:
        # One PostgreSQL database per service: schemas would collide otherwise.
        coordinator_settings = Settings(
            data_dir=settings.data_dir, nats_url=nats.url, database_url=database_url
        )
    coordinator = await start_coordinator(coordinator_settings)
    nodes = {city: await start_node(settings, city) for city in cities}
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
