"""Before delivery the coordinator owns a delegation: it can cancel or move it even while the
entrusted court's node is down, and a late receipt from that node changes nothing.

Moved from tests/integration/test_before_delivery.py (there the node was stopped and restarted;
here it stops consuming, and its stream keeps what is sent to it until it is back)."""

from __future__ import annotations

import pytest

from jiaodong.domain.errors import NotAllowed
from jiaodong.domain.lifecycle import EventKind
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import draft
from tests.helpers.region import InProcessRegion, refusal

QD, YT, WF = "370202", "370602", "370702"


async def test_reroute_away_from_a_node_that_is_down_then_it_returns(
    region: InProcessRegion,
) -> None:
    region.down("yantai")
    qingdao, coord = region.node("qingdao"), region.coordinator
    d, _ = await qingdao.create(QD, draft())
    await region.settle()

    routed = await coord.get(d.id)
    assert routed.status == pb.STATUS_ROUTED
    assert routed.entrusted_court == YT

    moved = await coord.steer(d.id, EventKind.REROUTED, "move-1", "烟台节点停机", WF)
    assert moved.entrusted_court == WF
    await region.settle()
    delivered = await region.node("weifang").get(WF, d.id)
    assert delivered.status == pb.STATUS_DELIVERED
    kinds = [e.kind for e in delivered.history]
    assert kinds == [
        pb.EVENT_KIND_CREATED,
        pb.EVENT_KIND_ROUTED,
        pb.EVENT_KIND_REROUTED,
        pb.EVENT_KIND_DELIVERED,
    ]
    assert delivered.history[2].request_id == "move-1"

    # Yantai comes back, receives the stale offer, answers with a receipt: nothing changes.
    assert region.stored("yantai", d.id) is None
    region.up("yantai")
    await region.reconcile("yantai")  # as a restarted node does at once
    await region.settle()

    # Yantai's copy learns it was moved (read from its database): its stale receipt is answered
    # with the current state, delivered to Weifang. Yantai is no longer a party.
    assert region.carried("yantai", f"jd.v1.coord.{YT}.receipt"), "no stale receipt was sent"
    copy = region.stored("yantai", d.id)
    assert copy is not None and copy.entrusted_court == WF
    assert copy.status == pb.STATUS_DELIVERED and copy.seq == 4
    with pytest.raises(NotAllowed) as denied:
        await region.node("yantai").get(YT, d.id)
    assert refusal(denied.value).code == "PERMISSION_DENIED"
    listed, _ = await region.node("yantai").list(YT, "received", [], 0, 50)
    assert [x.id for x in listed] == []
    final = await coord.get(d.id)
    assert final.seq == 4
    assert final.status == pb.STATUS_DELIVERED and final.entrusted_court == WF
    assert [e.hash for e in final.history] == [e.hash for e in delivered.history]
    for side in ("coordinator", "yantai", "weifang"):
        assert region.dead_letters(side) == [], side


async def test_cancel_before_delivery_is_applied_by_the_coordinator(
    region: InProcessRegion,
) -> None:
    region.down("yantai")
    qingdao = region.node("qingdao")
    d, _ = await qingdao.create(QD, draft())
    await region.settle()
    assert (await qingdao.get(QD, d.id)).status == pb.STATUS_ROUTED

    await qingdao.request(QD, d.id, EventKind.CANCELLED, "c1", "已自动履行")
    await region.settle()
    cancelled = await qingdao.get(QD, d.id)
    assert cancelled.status == pb.STATUS_CANCELLED
    assert cancelled.history[-1].side == pb.SIDE_REQUESTING
    assert [r.state for r in cancelled.requests] == ["applied"]
