"""Retries and redeliveries: one request_id makes one delegation, one message applies once.

Moved from tests/integration/test_idempotency.py; the redelivery of a message by JetStream itself
(a second copy under a new Nats-Msg-Id) stays there as a transport check."""

from __future__ import annotations

import asyncio

import pytest

from jiaodong.app.node import Step
from jiaodong.domain.errors import AlreadyExists
from jiaodong.domain.lifecycle import EventKind
from jiaodong.store.ledger import RegionFilter
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import draft_from_pb
from tests.helpers.factory import create_request, draft
from tests.helpers.region import InProcessRegion, refusal

QD, QD_SHIBEI, YT = "370202", "370203", "370602"
SIDES = ("qingdao", "yantai", "coordinator")


async def views(region: InProcessRegion, delegation_id: str) -> dict[str, pb.Delegation]:
    """The delegation as the requesting node, the entrusted node and the coordinator hold it."""
    return {
        "qingdao": await region.node("qingdao").get(QD, delegation_id),
        "yantai": await region.node("yantai").get(YT, delegation_id),
        "coordinator": await region.coordinator.get(delegation_id),
    }


def hashes(d: pb.Delegation) -> list[str]:
    return [e.hash for e in d.history]


async def counts_everywhere(region: InProcessRegion) -> dict[str, int]:
    """How many delegations each side lists (through its handlers) and stores (in its database)."""
    sent, _ = await region.node("qingdao").list(QD, "sent", [], 0, 50)
    received, _ = await region.node("yantai").list(YT, "received", [], 0, 50)
    board, _, total, _capped = await region.coordinator.list(RegionFilter(), 0, 50)
    return {
        "qingdao sent": len(sent),
        "yantai received": len(received),
        "coordinator total": total,
        "coordinator listed": len(board),
        **{f"{side} rows": len(region.delegation_ids(side)) for side in SIDES},
    }


# -- create ----------------------------------------------------------------------------------------


async def test_same_request_id_gives_one_delegation_everywhere(region: InProcessRegion) -> None:
    qingdao = region.node("qingdao")
    request = draft()
    first, first_created = await qingdao.create(QD, request)
    again, again_created = await qingdao.create(QD, request)
    assert first_created and not again_created
    assert again.id == first.id

    await region.settle()
    late, late_created = await qingdao.create(QD, request)
    assert not late_created and late.id == first.id
    assert late.status == pb.STATUS_DELIVERED

    await region.settle()
    assert set((await counts_everywhere(region)).values()) == {1}
    own = [m for m in region.outbox("qingdao") if f".{QD}." in m.subject]
    assert len(own) == 1, "a retry must not send the delegation again"


async def test_concurrent_retries_create_one_delegation(region: InProcessRegion) -> None:
    qingdao = region.node("qingdao")
    request = draft()
    replies = await asyncio.gather(*(qingdao.create(QD, request) for _ in range(5)))
    assert sorted(created for _, created in replies) == [False] * 4 + [True]
    assert len({d.id for d, _ in replies}) == 1
    await region.settle()
    assert set((await counts_everywhere(region)).values()) == {1}


async def test_same_request_id_with_other_content_is_already_exists(
    region: InProcessRegion,
) -> None:
    qingdao = region.node("qingdao")
    request = create_request()
    first, _ = await qingdao.create(QD, draft_from_pb(request))
    changed = draft(request_id=request.request_id, requested_actions="查封被执行人房产")
    with pytest.raises(AlreadyExists) as err:
        await qingdao.create(QD, changed)
    assert refusal(err.value).code == "ALREADY_EXISTS"
    assert first.id in str(err.value)

    await region.settle()
    assert set((await counts_everywhere(region)).values()) == {1}
    stored = (await views(region, first.id))["yantai"]
    assert stored.requested_actions == request.requested_actions


async def test_request_id_is_scoped_to_the_requesting_court(region: InProcessRegion) -> None:
    qingdao = region.node("qingdao")
    request = create_request()
    shinan, shinan_created = await qingdao.create(QD, draft_from_pb(request))
    shibei, shibei_created = await qingdao.create(
        QD_SHIBEI, draft(request_id=request.request_id, case_number="(2024)鲁0203执9号")
    )
    assert shinan_created and shibei_created
    assert shinan.id != shibei.id


# -- requests (cancel) -----------------------------------------------------------------------------


async def test_cancel_twice_with_one_request_id_cancels_once(region: InProcessRegion) -> None:
    qingdao = region.node("qingdao")
    d = await region.delivered()

    async def cancel() -> pb.Delegation:
        return await qingdao.request(QD, d, EventKind.CANCELLED, "cancel-1", "已自动履行")

    await cancel()
    await cancel()
    await region.settle()
    for side, view in (await views(region, d)).items():
        assert view.status == pb.STATUS_CANCELLED, side
    retry = await cancel()  # a retry after it took effect
    assert retry.status == pb.STATUS_CANCELLED

    await region.settle()
    seen = await views(region, d)
    for side, delegation in seen.items():
        kinds = [e.kind for e in delegation.history]
        assert kinds.count(pb.EVENT_KIND_CANCELLED) == 1, (side, kinds)
        assert kinds[-1] == pb.EVENT_KIND_CANCELLED, side
    assert hashes(seen["qingdao"]) == hashes(seen["yantai"]) == hashes(seen["coordinator"])
    requests = seen["qingdao"].requests
    assert [(r.request_id, r.state) for r in requests] == [("cancel-1", "applied")]

    with pytest.raises(AlreadyExists) as err:
        await qingdao.request(QD, d, EventKind.URGED, "cancel-1", "")
    assert refusal(err.value).code == "ALREADY_EXISTS"


# -- a message delivered twice ---------------------------------------------------------------------


def fingerprint(d: pb.Delegation) -> tuple[object, ...]:
    requests = [(r.request_id, r.state) for r in d.requests]
    return d.status, d.seq, d.last_hash, hashes(d), requests


async def test_an_envelope_delivered_twice_changes_nothing(region: InProcessRegion) -> None:
    d = await region.delivered()
    before = await views(region, d)
    inbox = len(region.inbox("coordinator"))

    first_sync = region.carried("qingdao", f"jd.v1.coord.{QD}.sync")[0]
    await region.redeliver([first_sync])

    after = await views(region, d)
    for side in ("coordinator", "yantai"):
        assert len(after[side].history) == len(before[side].history) == 3, side
        assert fingerprint(after[side]) == fingerprint(before[side]), side
    assert len(region.inbox("coordinator")) == inbox
    assert region.dead_letters("coordinator") == []


async def test_every_message_of_a_lifecycle_delivered_twice_changes_nothing(
    region: InProcessRegion,
) -> None:
    qingdao, yantai = region.node("qingdao"), region.node("yantai")
    d = await region.delivered()
    await qingdao.request(QD, d, EventKind.URGED, "urge-1", "")
    await region.settle()
    await yantai.act(YT, d, Step(EventKind.ACKNOWLEDGED))
    await yantai.act(YT, d, Step(EventKind.ACCEPTED))
    await region.settle()
    assert (await region.coordinator.get(d)).status == pb.STATUS_ACCEPTED
    before = await views(region, d)
    assert pb.EVENT_KIND_URGED in [e.kind for e in before["yantai"].history]

    every = [m for side in SIDES for m in region.carried(side)]
    assert len(every) >= 8
    await region.redeliver(every)

    after = await views(region, d)
    for side in before:
        assert fingerprint(after[side]) == fingerprint(before[side]), side
    for side in SIDES:
        assert region.dead_letters(side) == [], side


async def test_board_total_is_counted_up_to_the_cap(
    region: InProcessRegion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The board counts what matches up to a cap (its cost stays flat with what is stored) and
    says when more match; pages are not affected by the cap."""
    for _ in range(4):
        await region.delivered()
    board, more, total, capped = await region.coordinator.list(RegionFilter(), 0, 2)
    assert (len(board), more, total, capped) == (2, True, 4, False)
    monkeypatch.setattr("jiaodong.store.ledger.COUNT_CAP", 3)
    board, more, total, capped = await region.coordinator.list(RegionFilter(), 2, 2)
    assert (len(board), more, total, capped) == (2, False, 3, True)
    monkeypatch.setattr("jiaodong.store.ledger.COUNT_CAP", 4)
    _, _, total, capped = await region.coordinator.list(RegionFilter(), 0, 2)
    assert (total, capped) == (4, False)
