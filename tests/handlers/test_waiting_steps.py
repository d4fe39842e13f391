"""The entrusted court can act as soon as its node holds the offer: a step taken before the
coordinator has recorded the delivery (the receipt's round trip) waits, and is applied the moment
DELIVERED arrives, with the time it was taken (issue 11, point 5)."""

from __future__ import annotations

import pytest

from jiaodong.app.node import Step
from jiaodong.domain.errors import IllegalTransition
from jiaodong.domain.lifecycle import EventKind
from jiaodong.store import ledger
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import draft
from tests.helpers.region import InProcessRegion

QD, YT, WF = "370202", "370602", "370702"


def receipt(message: object) -> bool:
    return str(getattr(message, "subject", "")).endswith(".receipt")


async def offered_without_receipt(region: InProcessRegion) -> str:
    """A delegation from Qingdao held by the Yantai node, its receipt lost on the way: the
    coordinator still shows it ROUTED."""
    region.forget_next(receipt)
    created, _ = await region.node("qingdao").create(QD, draft())
    await region.settle()
    assert len(region.lost) == 1
    assert (await region.coordinator.get(created.id)).status == pb.STATUS_ROUTED
    assert (await region.node("yantai").get(YT, created.id)).status == pb.STATUS_ROUTED
    return created.id


async def test_steps_before_the_delivery_is_recorded_wait_then_apply_in_order(
    region: InProcessRegion,
) -> None:
    delegation_id = await offered_without_receipt(region)
    yantai = region.node("yantai")

    first = await yantai.act(YT, delegation_id, Step(EventKind.ACKNOWLEDGED))
    acted_at = region.clock.now()
    second = await yantai.act(YT, delegation_id, Step(EventKind.ACCEPTED))
    assert first.status == second.status == pb.STATUS_ROUTED, "nothing sealed before delivery"
    assert [(r.kind, r.state) for r in second.requests] == [
        (pb.EVENT_KIND_ACKNOWLEDGED, "waiting"),
        (pb.EVENT_KIND_ACCEPTED, "waiting"),
    ]
    assert region.unpublished("yantai") == 0, "a waiting step sends nothing yet"

    await region.redeliver(region.lost)  # the receipt arrives after all

    expected = [
        pb.EVENT_KIND_CREATED,
        pb.EVENT_KIND_ROUTED,
        pb.EVENT_KIND_DELIVERED,
        pb.EVENT_KIND_ACKNOWLEDGED,
        pb.EVENT_KIND_ACCEPTED,
    ]
    views = [
        await yantai.get(YT, delegation_id),
        await region.node("qingdao").get(QD, delegation_id),
        await region.coordinator.get(delegation_id),
    ]
    for seen in views:
        assert seen.status == pb.STATUS_ACCEPTED
        assert [e.kind for e in seen.history] == expected
        assert [e.hash for e in seen.history] == [e.hash for e in views[0].history]
    acknowledged = views[0].history[3]
    assert acknowledged.actor_court == YT
    assert acknowledged.at.ToDatetime().timestamp() == pytest.approx(acted_at.timestamp(), abs=1)
    assert not views[0].requests, "applied steps are history now, not waiting"


async def test_a_waiting_step_is_dropped_when_the_delegation_moves_elsewhere(
    region: InProcessRegion,
) -> None:
    delegation_id = await offered_without_receipt(region)
    yantai = region.node("yantai")
    await yantai.act(YT, delegation_id, Step(EventKind.ACKNOWLEDGED))

    await region.coordinator.steer(delegation_id, EventKind.REROUTED, "move-1", "改由潍坊办理", WF)
    region.down("weifang")  # the step is dropped when the reroute arrives, not at the delivery
    await region.settle()

    held = region.stored("yantai", delegation_id)  # Yantai is no party any more: read its store
    assert held is not None and held.entrusted_court == WF
    assert pb.EVENT_KIND_ACKNOWLEDGED not in [e.kind for e in held.history]
    dropped = region.service("yantai").db.transaction(
        lambda s: [(w.kind, w.reason) for w in ledger.waiting_steps(s, delegation_id, ("dropped",))]
    )
    assert [kind for kind, _ in dropped] == ["ACKNOWLEDGED"]
    assert "no longer offered" in dropped[0][1]
    region.up("weifang")
    await region.settle()
    await region.redeliver(region.lost)  # the late receipt changes nothing now
    weifang = await region.node("weifang").get(WF, delegation_id)
    assert weifang.status == pb.STATUS_DELIVERED
    assert [e.kind for e in weifang.history][-1] == pb.EVENT_KIND_DELIVERED
    assert [e.hash for e in weifang.history] == [
        e.hash for e in (await region.coordinator.get(delegation_id)).history
    ]


async def test_a_step_not_allowed_after_delivery_is_refused_and_nothing_waits(
    region: InProcessRegion,
) -> None:
    delegation_id = await offered_without_receipt(region)
    yantai = region.node("yantai")
    with pytest.raises(IllegalTransition):
        await yantai.act(
            YT, delegation_id, Step(EventKind.COMPLETED, text="已执行完毕", result="FULL")
        )
    assert not (await yantai.get(YT, delegation_id)).requests
    await region.redeliver(region.lost)
    assert (await yantai.get(YT, delegation_id)).status == pb.STATUS_DELIVERED
