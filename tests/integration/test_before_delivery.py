"""Before delivery the coordinator owns a delegation: it can cancel or move it even while the
entrusted court's node is down, and a late receipt from that node changes nothing."""

from __future__ import annotations

import grpc
import pytest

from jiaodong.bootstrap import start_node
from jiaodong.store.tables import DelegationRow
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import Region, as_court, eventually

QD, YT, WF = "370202", "370602", "370702"


async def test_reroute_away_from_a_node_that_is_down_then_it_returns(region: Region) -> None:
    await region.nodes["yantai"].stop(0)
    qingdao, coord = region.node_stub("qingdao"), region.coordinator_stub()
    d = (await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))).delegation

    async def at_coordinator() -> pb.Delegation | None:
        try:
            reply = await coord.GetDelegation(capi.CoordinatorGetDelegationRequest(id=d.id))
        except grpc.aio.AioRpcError:
            return None
        return reply.delegation

    routed = await eventually(
        at_coordinator, lambda x: x is not None and x.status == pb.STATUS_ROUTED
    )
    assert routed is not None
    assert routed.entrusted_court == YT

    moved = await coord.Reroute(
        capi.RerouteRequest(id=d.id, request_id="move-1", court_id=WF, text="烟台节点停机")
    )
    assert moved.delegation.entrusted_court == WF
    weifang = region.node_stub("weifang")

    async def at_weifang() -> pb.Delegation | None:
        try:
            reply = await weifang.GetDelegation(
                api.GetDelegationRequest(id=d.id), metadata=as_court(WF)
            )
        except Exception:
            return None
        return reply.delegation

    delivered = await eventually(
        at_weifang, lambda x: x is not None and x.status == pb.STATUS_DELIVERED
    )
    kinds = [e.kind for e in delivered.history]
    assert kinds == [
        pb.EVENT_KIND_CREATED,
        pb.EVENT_KIND_ROUTED,
        pb.EVENT_KIND_REROUTED,
        pb.EVENT_KIND_DELIVERED,
    ]
    assert delivered.history[2].request_id == "move-1"

    # Yantai comes back, receives the stale offer, answers with a receipt: nothing changes.
    region.nodes["yantai"] = await start_node(region.settings, "yantai")
    yantai = region.node_stub("yantai")

    async def yantai_copy() -> DelegationRow | None:
        return await region.nodes["yantai"].db.run(lambda s: s.get(DelegationRow, d.id))

    # Yantai's copy learns it was moved (read from its database): its stale receipt is answered
    # with the current state, delivered to Weifang. Yantai is no longer a party.
    copy = await eventually(
        yantai_copy,
        lambda x: x is not None and x.entrusted_court == WF and x.status == "DELIVERED",
    )
    assert copy is not None and copy.seq == 4
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await yantai.GetDelegation(api.GetDelegationRequest(id=d.id), metadata=as_court(YT))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = await yantai.ListDelegations(
        api.ListDelegationsRequest(direction=api.DIRECTION_RECEIVED), metadata=as_court(YT)
    )
    assert [x.id for x in listed.delegations] == []
    final = await eventually(at_coordinator, lambda x: x is not None and x.seq == 4)
    assert final is not None and final.status == pb.STATUS_DELIVERED and final.entrusted_court == WF
    assert [e.hash for e in final.history] == [e.hash for e in delivered.history]


async def test_cancel_before_delivery_is_applied_by_the_coordinator(region: Region) -> None:
    await region.nodes["yantai"].stop(0)
    qingdao = region.node_stub("qingdao")
    d = (await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))).delegation

    async def at_qingdao() -> pb.Delegation:
        reply = await qingdao.GetDelegation(
            api.GetDelegationRequest(id=d.id), metadata=as_court(QD)
        )
        return reply.delegation

    await eventually(at_qingdao, lambda x: x.status == pb.STATUS_ROUTED)
    await qingdao.Cancel(
        api.CancelRequest(id=d.id, request_id="c1", text="已自动履行"), metadata=as_court(QD)
    )
    cancelled = await eventually(at_qingdao, lambda x: x.status == pb.STATUS_CANCELLED)
    assert cancelled.history[-1].side == pb.SIDE_REQUESTING
    assert [r.state for r in cancelled.requests] == ["applied"]
