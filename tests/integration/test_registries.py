"""End to end over the real bus and gRPC (issue 14): a Qingdao court asks Yantai to look up a
debtor's real estate and vehicles, and gets the structured result and the result letter without
any Yantai officer acting: Yantai's node answers through its simulated registries. Every call is
a real gRPC call with the officer's certificate; every message crosses a real nats-server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import grpc
import pytest

from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.domain.identity import Identity, Role
from jiaodong.domain.registries import Outcome, result_from_wire
from jiaodong.store.tables import DataReadRow, RegistryTaskRow
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import RESIDENT_ID, create_request
from tests.helpers.network import Region, as_court, eventually, start_region
from tests.integration.conftest import table_rows

QD, YT = "370202", "370602"

# Answers within a second or two of wall time, so the test waits on real registries' pace.
FAST = """
[defaults]
poll_minutes = 0.02

[[connector]]
city = "yantai"
asset = "real_estate"
adapter = "simulated"
answer_minutes = [0, 0.02]
control_minutes = [0, 0.02]
nothing_found = 0
refused = 0

[[connector]]
city = "yantai"
asset = "vehicle"
adapter = "simulated"
answer_minutes = [0, 0.02]
refused = 0
"""


@pytest.fixture
async def region(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Region]:
    path = tmp_path / "registries.toml"
    path.write_text(FAST, encoding="utf-8")
    r = await start_region(tmp_path, nats_server, ["qingdao", "yantai"], registries=str(path))
    try:
        yield r
    finally:
        await r.close()


async def view(region: Region, delegation_id: str) -> pb.Delegation:
    reply = await region.node_stub("qingdao").GetDelegation(
        api.GetDelegationRequest(id=delegation_id), metadata=as_court(QD)
    )
    return reply.delegation


async def download(region: Region, delegation_id: str, sha256: str) -> bytes:
    stub = region.node_stub("qingdao")
    pieces = stub.GetDocument(
        api.GetDocumentRequest(delegation_id=delegation_id, sha256=sha256), metadata=as_court(QD)
    )
    return b"".join([p.data async for p in pieces])


async def test_real_estate_and_vehicles_in_yantai_are_answered_without_an_officer(
    region: Region,
) -> None:
    qingdao = region.node_stub("qingdao")
    sent = {}
    for asset, plate in ((pb.ASSET_KIND_REAL_ESTATE, ""), (pb.ASSET_KIND_VEHICLE, "鲁F12345")):
        request = create_request(
            task_type=pb.TASK_TYPE_PROPERTY_INQUIRY,
            asset_kind=asset,
            plate=plate,
            requested_actions="查询被执行人名下财产",
        )
        reply = await qingdao.CreateDelegation(request, metadata=as_court(QD))
        sent[asset] = reply.delegation.id

    for asset, delegation_id in sent.items():
        done = await eventually(
            lambda d=delegation_id: view(region, d),
            lambda d: (
                d.status == pb.STATUS_COMPLETED
                and all(s.state == "verified" for s in d.document_states)
            ),
            timeout=60,
        )
        # Every step after delivery was the Yantai node's own, for its court, with no call.
        steps = [
            e
            for e in done.history
            if e.side == pb.SIDE_ENTRUSTED and e.kind != pb.EVENT_KIND_DELIVERED
        ]
        assert [e.kind for e in steps] == [
            pb.EVENT_KIND_ACKNOWLEDGED,
            pb.EVENT_KIND_ACCEPTED,
            pb.EVENT_KIND_PROGRESS_REPORTED,
            pb.EVENT_KIND_COMPLETED,
        ]
        assert all(e.actor_court == YT and e.text.startswith("【网络查控】") for e in steps)
        letter, twin = done.history[-1].documents
        text = (await download(region, delegation_id, letter.sha256)).decode()
        assert text.startswith("烟台市芝罘区人民法院\n协助查询")
        assert "委托法院：青岛市市南区人民法院" in text and RESIDENT_ID in text
        data = json.loads(await download(region, delegation_id, twin.sha256))
        result = result_from_wire(data["results"][-1])
        assert result.final
        if asset == pb.ASSET_KIND_REAL_ESTATE:
            assert result.outcome is Outcome.FOUND
            assert all(p.identifier.startswith("鲁（") for p in result.properties)
        else:
            # The plate the court named is the vehicle found.
            assert result.properties[0].identifier == "鲁F12345"
            assert "烟台市公安局交通警察支队车辆管理所" in data["registry"]

    yantai = region.nodes["yantai"]
    tasks = table_rows(yantai, RegistryTaskRow)
    assert sorted(t.state for t in tasks) == ["answered", "answered"]
    reads = table_rows(yantai, DataReadRow)
    assert sorted(r.rpc for r in reads) == [
        "registry/REAL_ESTATE/INQUIRE",
        "registry/VEHICLE/INQUIRE",
    ]
    assert {r.reader for r in reads} == {f"court:{QD}"}
    # What a board shows of the history carries no personal data.
    coordinator_view = await eventually(
        lambda: region.coordinator.service.get(sent[pb.ASSET_KIND_REAL_ESTATE]),
        lambda d: d.status == pb.STATUS_COMPLETED,
    )
    assert all(RESIDENT_ID not in e.text and "张三" not in e.text for e in coordinator_view.history)


async def test_a_seizure_of_a_vehicle_waits_for_an_officer(region: Region) -> None:
    reply = await region.node_stub("qingdao").CreateDelegation(
        create_request(), metadata=as_court(QD)
    )
    await eventually(
        lambda: view(region, reply.delegation.id), lambda d: d.status == pb.STATUS_DELIVERED
    )
    assert table_rows(region.nodes["yantai"], RegistryTaskRow) == []


async def test_only_an_officer_may_ask_for_a_seizure(region: Region) -> None:
    """A seizure or freeze is an enforcement officer's decision, and some are carried out by the
    other city's registries with nobody there acting: a clerk's request is refused and stores
    nothing; the same court's officer's goes through."""
    clerk = region.node_stub("qingdao", Identity(Role.CLERK, QD))
    request = create_request(asset_kind=pb.ASSET_KIND_REAL_ESTATE, plate="")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await clerk.CreateDelegation(request)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "seizure or freeze" in (refused.value.details() or "")
    listed = await region.node_stub("qingdao").ListDelegations(
        api.ListDelegationsRequest(), metadata=as_court(QD)
    )
    assert list(listed.delegations) == []
    # The clerk may ask for an inquiry; the officer for the seizure.
    inquiry = create_request(task_type=pb.TASK_TYPE_PROPERTY_INQUIRY, plate="鲁F12345")
    assert (await clerk.CreateDelegation(inquiry)).created
    officer = region.node_stub("qingdao")
    assert (await officer.CreateDelegation(request, metadata=as_court(QD))).created


async def test_a_registered_seizure_is_watched_and_renewed_through_the_registry(
    region: Region,
) -> None:
    """The seizure of real estate is the registration itself: Yantai's registry seizes the flats
    for three years and the result carries the terms; the coordinator watches them. Qingdao's
    renewal (续封) names the first delegation: the registry renews the same numbers, again with
    no officer, and the first seizure's watch ends as renewed."""
    qingdao = region.node_stub("qingdao")
    seizure = create_request(
        asset_kind=pb.ASSET_KIND_REAL_ESTATE,
        plate="",
        priority=pb.PRIORITY_NORMAL,
        requested_actions="查封被执行人名下不动产",
    )
    first = (await qingdao.CreateDelegation(seizure, metadata=as_court(QD))).delegation.id
    done = await eventually(
        lambda: view(region, first), lambda d: d.status == pb.STATUS_COMPLETED, timeout=60
    )
    terms = list(done.history[-1].controls)
    assert terms and all(t.asset_kind == pb.ASSET_KIND_REAL_ESTATE for t in terms)
    for t in terms:
        start, end = date.fromisoformat(t.starts_on), date.fromisoformat(t.ends_on)
        assert end == start.replace(year=start.year + 3) - timedelta(days=1)  # the law's longest
    watched = await eventually(
        lambda: region.coordinator_stub().ListControls(pb.ListControlsRequest()),
        lambda r: len(r.controls) == len(terms),
    )
    assert {w.state for w in watched.controls} == {"STANDING"}
    assert {w.term.reference for w in watched.controls} == {t.reference for t in terms}

    renewal = create_request(
        asset_kind=pb.ASSET_KIND_REAL_ESTATE,
        plate="",
        priority=pb.PRIORITY_NORMAL,
        requested_actions="续封",
        target=pb.Target(court_id=YT),
        renews=first,
    )
    second = (await qingdao.CreateDelegation(renewal, metadata=as_court(QD))).delegation.id
    renewed = await eventually(
        lambda: view(region, second), lambda d: d.status == pb.STATUS_COMPLETED, timeout=60
    )
    assert {t.reference for t in renewed.history[-1].controls} == {t.reference for t in terms}
    (task,) = [
        t for t in table_rows(region.nodes["yantai"], RegistryTaskRow) if t.action == "RENEW"
    ]
    assert task.delegation_id == second and set(task.control_no.split(",")) == {
        t.reference for t in terms
    }
    listed = await eventually(
        lambda: region.coordinator_stub().ListControls(pb.ListControlsRequest(states=["RENEWED"])),
        lambda r: len(r.controls) == len(terms),
    )
    assert {w.renewed_by for w in listed.controls} == {second}
