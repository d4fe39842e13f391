"""Messages carry only the events the receiver lacks; a receiver that finds a gap (a message the
broker lost) applies nothing, asks for the whole history, and catches up."""

from __future__ import annotations

from jiaodong.app.node import Step
from jiaodong.domain.lifecycle import EventKind
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import draft
from tests.helpers.region import InProcessRegion, Message

QD, YT = "370202", "370602"


def sync_for(court: str, kind: int) -> object:
    """Matches the coordinator's sync to ``court`` whose last event is of ``kind``."""

    def which(message: Message) -> bool:
        envelope = message.envelope()
        return (
            message.subject == f"jd.v1.court.{court}.sync"
            and envelope.sync.history[-1].kind == kind
        )

    return which


def from_yantai(message: Message) -> bool:
    """Matches Yantai's next sync to the coordinator."""
    return message.subject == f"jd.v1.coord.{YT}.sync"


def syncs(region: InProcessRegion, subject: str) -> list[list[int]]:
    """The seqs each carried sync on ``subject`` held, in order."""
    return [
        [e.seq for e in m.envelope().sync.history] for m in region.carried() if m.subject == subject
    ]


async def test_each_step_travels_alone_not_the_whole_history(region: InProcessRegion) -> None:
    qingdao, yantai = region.node("qingdao"), region.node("yantai")
    d, _ = await qingdao.create(QD, draft())
    await region.settle()
    for step in (
        Step(EventKind.ACKNOWLEDGED),
        Step(EventKind.ACCEPTED),
        Step(EventKind.PROGRESS_REPORTED, "车辆已找到"),
        Step(EventKind.COMPLETED, "已扣押", result="DONE"),
    ):
        await yantai.act(YT, d.id, step)
        await region.settle()
    # Yantai's node sent one event per step; the coordinator relayed each alone to Qingdao.
    assert syncs(region, f"jd.v1.coord.{YT}.sync") == [[4], [5], [6], [7]]
    assert syncs(region, f"jd.v1.court.{QD}.sync")[-4:] == [[4], [5], [6], [7]]
    # The entrusted court, offered the delegation, got it whole.
    assert syncs(region, f"jd.v1.court.{YT}.sync")[0] == [1, 2]
    final = [await n.get(c, d.id) for n, c in ((qingdao, QD), (yantai, YT))]
    assert final[0].history == final[1].history
    assert final[0].status == pb.STATUS_COMPLETED


async def test_a_lost_relay_is_asked_for_and_repaired(region: InProcessRegion) -> None:
    """The coordinator's sync telling Qingdao of the acknowledgement is lost; the next one (the
    acceptance) does not follow what Qingdao holds, so Qingdao asks and gets the whole history."""
    qingdao, yantai = region.node("qingdao"), region.node("yantai")
    d, _ = await qingdao.create(QD, draft())
    await region.settle()
    region.forget_next(sync_for(QD, pb.EVENT_KIND_ACKNOWLEDGED))  # type: ignore[arg-type]
    await yantai.act(YT, d.id, Step(EventKind.ACKNOWLEDGED))
    await region.settle()
    assert len(region.lost) == 1
    assert (await qingdao.get(QD, d.id)).status == pb.STATUS_DELIVERED  # behind, not broken
    await yantai.act(YT, d.id, Step(EventKind.ACCEPTED))
    await region.settle()
    wants = [m for m in region.carried() if m.subject == f"jd.v1.coord.{QD}.want"]
    assert [list(m.envelope().want.delegation_ids) for m in wants] == [[d.id]]
    got = await qingdao.get(QD, d.id)
    assert got.status == pb.STATUS_ACCEPTED
    assert got.history == (await yantai.get(YT, d.id)).history
    assert region.dead_letters("qingdao") == []


async def test_a_lost_step_from_the_writer_is_asked_for(region: InProcessRegion) -> None:
    """Yantai's sync of its acknowledgement never reaches the coordinator; its acceptance then
    does not follow, so the coordinator asks Yantai for the whole history and relays it on."""
    qingdao, yantai = region.node("qingdao"), region.node("yantai")
    d, _ = await qingdao.create(QD, draft())
    await region.settle()
    region.forget_next(from_yantai)
    await yantai.act(YT, d.id, Step(EventKind.ACKNOWLEDGED))
    await region.settle()
    assert (await region.coordinator.get(d.id)).status == pb.STATUS_DELIVERED
    await yantai.act(YT, d.id, Step(EventKind.ACCEPTED))
    await region.settle()
    wants = [m for m in region.carried() if m.subject == f"jd.v1.court.{YT}.want"]
    assert len(wants) == 1
    for got in (await region.coordinator.get(d.id), await qingdao.get(QD, d.id)):
        assert got.status == pb.STATUS_ACCEPTED
        assert [e.kind for e in got.history][-2:] == [
            pb.EVENT_KIND_ACKNOWLEDGED,
            pb.EVENT_KIND_ACCEPTED,
        ]
    assert region.dead_letters("coordinator") == []


async def test_several_gapped_steps_ask_once_and_nothing_is_parked(
    region: InProcessRegion,
) -> None:
    """Yantai's acknowledgement is lost and two more steps follow before the coordinator hears
    anything: both find the same gap, one Want goes out, and all converge with no dead letter."""
    qingdao, yantai = region.node("qingdao"), region.node("yantai")
    d, _ = await qingdao.create(QD, draft())
    await region.settle()
    region.forget_next(from_yantai)
    await yantai.act(YT, d.id, Step(EventKind.ACKNOWLEDGED))
    await yantai.act(YT, d.id, Step(EventKind.ACCEPTED))
    await yantai.act(YT, d.id, Step(EventKind.PROGRESS_REPORTED, "已查明车辆位置"))
    await region.settle()
    wants = [m for m in region.carried() if m.subject == f"jd.v1.court.{YT}.want"]
    assert len(wants) == 1
    assert region.retried == []  # the second ask neither failed nor was retried
    for got in (await region.coordinator.get(d.id), await qingdao.get(QD, d.id)):
        assert got.status == pb.STATUS_ACCEPTED
        assert got.history[-1].kind == pb.EVENT_KIND_PROGRESS_REPORTED
    assert region.dead_letters("coordinator") == []
