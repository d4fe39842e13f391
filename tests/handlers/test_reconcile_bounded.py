"""Reconciliation traffic is bounded by what is missing, not by what is open.

A round in which every side agrees costs only the digests (in chunks); k delegations missing at a
node cost k syncs; a stale digest, or one that a later change here overtook, costs nothing; a
node's re-sends of what may have been lost back off per message and reuse stable ids per attempt.
The digests' chunk size is made small here so a few dozen delegations span several chunks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session, col, delete

from jiaodong.app.node import Step
from jiaodong.app.node import reconcile as node_reconcile
from jiaodong.bus import envelopes
from jiaodong.bus.flow import LAG_HIGH
from jiaodong.domain.clock import ManualClock
from jiaodong.domain.lifecycle import EventKind
from jiaodong.store import outbox
from jiaodong.store.tables import DelegationRow, EventRow, RequestRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.region import InProcessRegion, Message

QD, YT = "370202", "370602"
CHUNK = 10
N = 25  # three chunks of Qingdao Shinan's digest: 10, 10, 5


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(node_reconcile, "CHUNK", CHUNK)
    yield


async def open_delegations(region: InProcessRegion, n: int) -> list[str]:
    return [await region.delivered() for _ in range(n)]


def advance(region: InProcessRegion, seconds: float) -> None:
    clock = region.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(seconds=seconds))


def digest_of(message: Message) -> bus_pb2.Digest:
    envelope = bus_pb2.Envelope()
    envelope.ParseFromString(message.data)
    return envelope.digest


def since(region: InProcessRegion, mark: int) -> list[Message]:
    return region.carried()[mark:]


def lose_at(region: InProcessRegion, name: str, ids: list[str]) -> None:
    """The node's database forgets these delegations (a restore from an older backup)."""

    def forget(session: Session) -> None:
        for table, column in (
            (EventRow, EventRow.delegation_id),
            (RequestRow, RequestRow.delegation_id),
            (DelegationRow, DelegationRow.id),
        ):
            session.exec(delete(table).where(col(column).in_(ids)))

    region.service(name).db.transaction(forget)


async def test_a_round_in_agreement_sends_only_digests_in_chunks(region: InProcessRegion) -> None:
    ids = await open_delegations(region, N)
    for city in ("qingdao", "yantai"):
        mark = len(region.carried())
        entries = await region.reconcile(city)
        await region.settle()
        after = since(region, mark)
        assert after, "the digests were carried"
        assert all(m.subject.startswith("jd.v1.digest.") for m in after), [m.subject for m in after]
        court = QD if city == "qingdao" else YT
        ours = [digest_of(m) for m in after if m.subject == f"jd.v1.digest.{court}.digest"]
        assert [len(d.entries) for d in ours] == [10, 10, 5]
        assert entries == N
        listed = [e.delegation_id for d in ours for e in d.entries]
        assert sorted(listed) == sorted(ids)
        # Chunks tile the court's delegations: each begins where the one before ended.
        assert not ours[0].HasField("after") and not ours[-1].HasField("through")
        for before, chunk in itertools.pairwise(ours):
            assert chunk.after == before.through
        assert all(d.HasField("made_at") and d.interval.seconds == 30 for d in ours)


async def test_k_missing_cost_k_syncs_and_then_nothing(region: InProcessRegion) -> None:
    ids = await open_delegations(region, N)
    lost = [ids[3], ids[12], ids[24]]  # one in each chunk's range (ids are in creation order)
    lose_at(region, "yantai", lost)

    mark = len(region.carried())
    await region.reconcile("yantai")
    await region.settle()
    after = since(region, mark)
    syncs = [m for m in after if m.subject == f"jd.v1.court.{YT}.sync"]
    assert len(syncs) == len(lost)
    others = [m.subject for m in after if not m.subject.startswith("jd.v1.digest.")]
    assert sorted(others) == [f"jd.v1.court.{YT}.sync"] * len(lost)
    for delegation_id in lost:
        copy = region.stored("yantai", delegation_id)
        assert copy is not None and copy.status == pb.STATUS_DELIVERED

    # Converged: the next round is digests again, nothing else.
    advance(region, 30)
    mark = len(region.carried())
    await region.reconcile("yantai")
    await region.settle()
    assert all(m.subject.startswith("jd.v1.digest.") for m in since(region, mark))


async def test_a_stale_digest_is_dropped(region: InProcessRegion) -> None:
    ids = await open_delegations(region, 3)
    lose_at(region, "yantai", ids[:1])
    mark = len(region.carried())
    await region.reconcile("yantai", interval=30)
    advance(region, 31)  # the coordinator gets to it too late
    await region.settle()
    assert all(m.subject.startswith("jd.v1.digest.") for m in since(region, mark))
    assert region.stored("yantai", ids[0]) is None
    # The next, fresh round repairs it.
    await region.reconcile("yantai", interval=30)
    await region.settle()
    assert region.stored("yantai", ids[0]) is not None


async def test_no_sync_for_what_changed_after_the_digest_was_made(
    region: InProcessRegion,
) -> None:
    d = await region.delivered()
    # Qingdao's digest is made now (seq 3) but reaches the coordinator only later.
    region.forget_next(lambda m: m.subject == f"jd.v1.digest.{QD}.digest")
    await region.reconcile("qingdao")
    await region.settle()
    late = [m for m in region.lost if m.subject == f"jd.v1.digest.{QD}.digest"]
    assert len(late) == 1
    # Meanwhile Yantai acknowledges: the coordinator applies it and sends it on to Qingdao,
    # whose node is not consuming for now.
    region.down("qingdao")
    advance(region, 1)
    await region.node("yantai").act(YT, d, Step(EventKind.ACKNOWLEDGED))
    await region.settle()
    assert (await region.coordinator.get(d)).seq == 4

    mark = len(region.carried())
    advance(region, 1)
    await region.redeliver(late)  # says Qingdao holds seq 3: but the change went after it
    assert [m for m in since(region, mark) if m.subject.startswith("jd.v1.court.")] == []

    # A digest made after the change, still showing seq 3, is answered with the events.
    mark = len(region.carried())
    await region.reconcile("qingdao")
    await region.settle()
    to_qd = [m.subject for m in since(region, mark) if m.subject.startswith("jd.v1.court.")]
    assert to_qd == [f"jd.v1.court.{QD}.sync"]
    region.up("qingdao")
    await region.settle()
    copy = region.stored("qingdao", d)
    assert copy is not None and copy.status == pb.STATUS_ACKNOWLEDGED


async def test_resends_back_off_and_reuse_ids(region: InProcessRegion) -> None:
    d = await region.delivered()
    # The coordinator does not consume: the request waits, pending, and the node re-sends it.
    region.down("coordinator")
    await region.node("qingdao").request(QD, d, EventKind.URGED, "urge-1", "请尽快办理")
    base = envelopes.request_message_id(d, "urge-1")
    interval = 30.0
    sent_rounds: list[int] = []
    for round_ in range(23):
        before = {m.message_id for m in region.outbox("qingdao")}
        await region.reconcile("qingdao", interval)
        await region.reconcile("qingdao", interval)  # twice in one window: still one copy
        new = [
            m
            for m in region.outbox("qingdao")
            if m.message_id not in before and m.subject == f"jd.v1.coord.{QD}.request"
        ]
        assert len(new) <= 1
        if new:
            sent_rounds.append(round_)
            assert new[0].message_id == outbox.resend_id(base, len(sent_rounds))
        advance(region, interval)
    # Sent at round 0; re-sent 2 intervals later, then after 4, then every 8 (not 22 times).
    assert sent_rounds == [2, 6, 14, 22]

    region.up("coordinator")
    await region.settle(limit=5000)  # the digests held meanwhile are all stale: dropped
    final = await region.coordinator.get(d)
    assert [e.request_id for e in final.history].count("urge-1") == 1
    assert region.dead_letters("coordinator") == []


async def test_an_oversized_digest_is_parked_unread(region: InProcessRegion) -> None:
    digest = bus_pb2.Digest(
        entries=[bus_pb2.DigestEntry(delegation_id=f"{i:032x}", seq=1) for i in range(1001)]
    )
    digest.made_at.FromDatetime(region.clock.now())
    digest.since.FromDatetime(region.clock.now() - timedelta(days=30))
    await region.publish(
        "yantai", f"jd.v1.digest.{YT}.digest", envelopes.envelope(YT, digest, "oversized-1")
    )
    await region.settle()
    parked = region.dead_letters("coordinator")
    assert len(parked) == 1 and "at most 1000" in parked[0]


async def test_no_want_while_the_coordinator_is_behind_its_own_backlog(
    region: InProcessRegion,
) -> None:
    """A court ahead of the record here while this coordinator's consumer is behind: its events
    most likely wait in that backlog, so no re-send is asked (it would queue behind them); the
    first digest after the backlog drains asks for what is still missing, and repairs it."""
    d = await region.delivered()
    region.forget_next(lambda m: m.subject == f"jd.v1.coord.{YT}.sync")
    await region.node("yantai").act(YT, d, Step(EventKind.ACKNOWLEDGED))
    await region.settle()
    assert len(region.lost) == 1
    coordinator = region.coordinator
    behind_by = LAG_HIGH
    coordinator.inbound_backlog = lambda: behind_by

    mark = len(region.carried())
    await region.reconcile("yantai")
    await region.settle()
    assert [
        m.subject for m in since(region, mark) if not m.subject.startswith("jd.v1.digest.")
    ] == []
    assert (await coordinator.get(d)).status == pb.STATUS_DELIVERED  # still behind

    behind_by = LAG_HIGH - 1  # drained below the mark
    advance(region, 30)
    mark = len(region.carried())
    await region.reconcile("yantai")
    await region.settle()
    wants = [m for m in since(region, mark) if m.subject == f"jd.v1.court.{YT}.want"]
    assert [list(m.envelope().want.delegation_ids) for m in wants] == [[d]]
    assert (await coordinator.get(d)).status == pb.STATUS_ACKNOWLEDGED
