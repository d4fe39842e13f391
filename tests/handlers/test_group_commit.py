"""A batch of messages applied in one transaction (group commit): each message still applies or
fails alone, and one that fails leaves nothing behind."""

from __future__ import annotations

from jiaodong.app.messagebus import OutOfOrder
from jiaodong.bus import envelopes
from jiaodong.domain.lifecycle import EventKind, Side
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import draft
from tests.helpers.region import InProcessRegion

QD, YT = "370202", "370602"


async def test_a_batch_applies_each_message_and_rolls_back_only_the_failing_one(
    region: InProcessRegion,
) -> None:
    """Two syncs and, between them, a request for a delegation Qingdao does not hold yet (it may
    still arrive: retried later), applied as one batch at Qingdao's node."""
    qingdao = region.node("qingdao")
    first = await region.delivered()
    second = await region.delivered(draft(request_id="second"))
    unknown = envelopes.action_request("f" * 32, "u-1", EventKind.URGED, Side.REQUESTING)
    outcomes = await qingdao.on_messages(
        [
            (f"jd.v1.court.{QD}.sync", envelopes.envelope(QD, region.sync_of(first), "m-1")),
            (f"jd.v1.court.{QD}.request", envelopes.envelope(QD, unknown, "m-2")),
            (f"jd.v1.court.{QD}.sync", envelopes.envelope(QD, region.sync_of(second), "m-3")),
        ]
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], OutOfOrder)
    # The applied messages are marked; the failed one's inbox mark was rolled back with it, so
    # its redelivery will be applied, not dropped as a copy.
    assert region.applied("qingdao", "m-1") and region.applied("qingdao", "m-3")
    assert not region.applied("qingdao", "m-2")
    for d in (first, second):
        assert (await qingdao.get(QD, d)).status == pb.STATUS_DELIVERED


async def test_a_failing_handler_leaves_no_trace_in_the_batch(region: InProcessRegion) -> None:
    """The second message of a batch fails inside its handler after writing (a want whose
    second id is malformed, after the sync for the first was queued): its writes are undone, the
    first message's are kept."""
    yantai = region.node("yantai")
    d = await region.delivered()
    good = region.sync_of(d)
    ask = bus_pb2.Want(delegation_ids=[d])
    wrong = bus_pb2.Want(delegation_ids=[d, "not-an-id"])  # malformed id: refused, parked
    outcomes = await region.coordinator.on_messages(
        [
            (f"jd.v1.coord.{YT}.want", envelopes.envelope(YT, ask, "w-1")),
            (f"jd.v1.coord.{YT}.want", envelopes.envelope(YT, wrong, "w-2")),
        ]
    )
    assert outcomes[0] is None
    assert outcomes[1] is not None
    assert region.applied("coordinator", "w-1") and not region.applied("coordinator", "w-2")
    # The first want was answered: a whole-history sync to Yantai waits in the outbox.
    queued = [m for m in region.outbox("coordinator") if m.subject == f"jd.v1.court.{YT}.sync"]
    answers = [m for m in queued if list(m.envelope().sync.history) == list(good.history)]
    assert len(answers) == 1  # the first want's answer, and none from the rolled-back one
    assert (await yantai.get(YT, d)).status == pb.STATUS_DELIVERED
