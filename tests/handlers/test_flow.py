"""One delegation from Qingdao to Yantai, step by step, through the handlers of all three sides.

Moved from tests/integration/test_flow.py (the same steps over real NATS and gRPC)."""

from __future__ import annotations

from jiaodong.app.node import Step
from jiaodong.domain.lifecycle import EventKind
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import draft
from tests.helpers.region import InProcessRegion

QD, YT = "370202", "370602"


async def test_full_lifecycle_agrees_on_all_three_sides(region: InProcessRegion) -> None:
    qingdao, yantai, coord = region.node("qingdao"), region.node("yantai"), region.coordinator
    d, created = await qingdao.create(QD, draft())
    assert created and d.status == pb.STATUS_CREATED and d.seq == 1

    await region.settle()
    got = await yantai.get(YT, d.id)
    assert got.status == pb.STATUS_DELIVERED
    assert got.entrusted_court == YT
    await yantai.act(YT, d.id, Step(EventKind.ACKNOWLEDGED))
    await yantai.act(YT, d.id, Step(EventKind.ACCEPTED))
    await yantai.act(YT, d.id, Step(EventKind.PROGRESS_REPORTED, "车辆已找到"))
    await yantai.act(YT, d.id, Step(EventKind.COMPLETED, "已扣押", result="DONE"))

    await region.settle()
    assert (await qingdao.get(QD, d.id)).status == pb.STATUS_COMPLETED
    await qingdao.request(QD, d.id, EventKind.CONFIRMED, "confirm-1", "")
    await region.settle()
    final_q = await qingdao.get(QD, d.id)
    final_y = await yantai.get(YT, d.id)
    final_c = await coord.get(d.id)
    assert final_q.status == final_c.status == pb.STATUS_CONFIRMED
    kinds = [e.kind for e in final_q.history]
    assert kinds == [
        pb.EVENT_KIND_CREATED,
        pb.EVENT_KIND_ROUTED,
        pb.EVENT_KIND_DELIVERED,
        pb.EVENT_KIND_ACKNOWLEDGED,
        pb.EVENT_KIND_ACCEPTED,
        pb.EVENT_KIND_PROGRESS_REPORTED,
        pb.EVENT_KIND_COMPLETED,
        pb.EVENT_KIND_CONFIRMED,
    ]
    assert (
        [e.hash for e in final_q.history]
        == [e.hash for e in final_y.history]
        == [e.hash for e in final_c.history]
    )
    assert final_q.requests[0].state == "applied"
    for side in ("coordinator", "qingdao", "yantai"):
        assert region.dead_letters(side) == [], side
