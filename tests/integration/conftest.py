"""Fixtures of the integration tier: the live region (tests/helpers/network.py) per test, and
helpers that read a running service's database and the broker's consumers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import pytest

from jiaodong.bootstrap import Running
from jiaodong.bus.embedded import EmbeddedNats
from tests.helpers.network import Region, eventually, start_region

T = TypeVar("T")


@pytest.fixture
async def region(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Region]:
    r = await start_region(tmp_path, nats_server, ["qingdao", "yantai", "weifang"])
    try:
        yield r
    finally:
        await r.close()


def table_rows(service: Running, table: type[T]) -> list[T]:
    """Every row of one table of a running service's database, read directly."""
    from sqlmodel import Session, select

    with Session(service.db.engine) as session:
        return list(session.exec(select(table)).all())  # type: ignore[call-overload]


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
