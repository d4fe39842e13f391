"""The coordinator on PostgreSQL: the same lifecycle and the same idempotency as on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.store.tables import DelegationRow, EventRow
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
from tests.integration.conftest import bus_idle, table_rows

pytestmark = pytest.mark.postgres

QD, YT = "370202", "370602"
LIFECYCLE = [
    pb.EVENT_KIND_CREATED,
    pb.EVENT_KIND_ROUTED,
    pb.EVENT_KIND_DELIVERED,
    pb.EVENT_KIND_ACKNOWLEDGED,
    pb.EVENT_KIND_ACCEPTED,
    pb.EVENT_KIND_PROGRESS_REPORTED,
    pb.EVENT_KIND_COMPLETED,
    pb.EVENT_KIND_CONFIRMED,
]


@pytest.fixture
async def pg_region(
    tmp_path: Path, nats_server: EmbeddedNats, postgres_url: str
) -> AsyncIterator[Region]:
    r = await start_region(tmp_path, nats_server, ["qingdao", "yantai"], database_url=postgres_url)
    try:
        assert r.coordinator.db.engine.dialect.name == "postgresql"
        yield r
    finally:
        await r.close()


async def wait_everywhere(region: Region, delegation_id: str, status: int) -> list[pb.Delegation]:
    """The delegation at Qingdao, Yantai and the coordinator once all three show ``status``."""
    probes = [
        delegation_probe(region.node_stub("qingdao"), QD, delegation_id),
        delegation_probe(region.node_stub("yantai"), YT, delegation_id),
        coordinator_probe(region.coordinator_stub(), delegation_id),
    ]
    return [await eventually(probe, has_status(status)) for probe in probes]


async def test_full_lifecycle_on_postgres_agrees_on_all_three_sides(pg_region: Region) -> None:
    qingdao, yantai = pg_region.node_stub("qingdao"), pg_region.node_stub("yantai")
    created = await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))
    d = created.delegation.id
    assert created.created

    [_, at_yantai, _] = await wait_everywhere(pg_region, d, pb.STATUS_DELIVERED)
    assert at_yantai.entrusted_court == YT
    yt = as_court(YT)
    await yantai.Acknowledge(api.AcknowledgeRequest(id=d), metadata=yt)
    await yantai.Accept(api.AcceptRequest(id=d), metadata=yt)
    await yantai.ReportProgress(api.ReportProgressRequest(id=d, text="车辆已找到"), metadata=yt)
    done = api.CompleteRequest(id=d, result=pb.COMPLETION_RESULT_DONE, text="已扣押")
    await yantai.Complete(done, metadata=yt)
    await wait_everywhere(pg_region, d, pb.STATUS_COMPLETED)
    confirm = api.ConfirmRequest(id=d, request_id="confirm-1")
    await qingdao.Confirm(confirm, metadata=as_court(QD))

    final = await wait_everywhere(pg_region, d, pb.STATUS_CONFIRMED)
    assert [e.kind for e in final[0].history] == LIFECYCLE
    assert len({tuple(e.hash for e in side.history) for side in final}) == 1
    assert final[0].requests[0].state == "applied"
    assert final[2].result == pb.COMPLETION_RESULT_DONE

    [row] = table_rows(pg_region.coordinator, DelegationRow)
    assert (row.id, row.status, row.seq) == (d, "CONFIRMED", len(LIFECYCLE))
    events = sorted(table_rows(pg_region.coordinator, EventRow), key=lambda e: e.seq)
    assert [e.hash for e in events] == [e.hash for e in final[2].history]


async def test_idempotent_create_on_postgres(pg_region: Region) -> None:
    qingdao = pg_region.node_stub("qingdao")
    request = create_request()
    first = await qingdao.CreateDelegation(request, metadata=as_court(QD))
    again = await qingdao.CreateDelegation(request, metadata=as_court(QD))
    assert first.created and not again.created
    assert again.delegation.id == first.delegation.id

    await wait_everywhere(pg_region, first.delegation.id, pb.STATUS_DELIVERED)
    late = await qingdao.CreateDelegation(request, metadata=as_court(QD))
    assert not late.created and late.delegation.id == first.delegation.id
    await bus_idle(pg_region)
    assert [r.id for r in table_rows(pg_region.coordinator, DelegationRow)] == [first.delegation.id]
    sent = await qingdao.ListDelegations(
        api.ListDelegationsRequest(direction=api.DIRECTION_SENT), metadata=as_court(QD)
    )
    assert [x.id for x in sent.delegations] == [first.delegation.id]
