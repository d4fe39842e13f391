"""Wrong court or wrong state on a delivered delegation: the handlers refuse with the error that
becomes the right gRPC status, and the delegation does not change.

Moved from tests/integration/test_bad_input.py; two small gRPC checks stay there (a refusal for
the wrong court is PERMISSION_DENIED on the wire, one for the wrong state FAILED_PRECONDITION)."""

from __future__ import annotations

import pytest

from jiaodong.app.node import Step
from jiaodong.domain.errors import DomainError
from jiaodong.domain.lifecycle import EventKind
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.region import InProcessRegion, Refusal, refusal

QD, QD_SHIBEI, YT, WF = "370202", "370203", "370602", "370702"


async def refused(call: object) -> Refusal:
    """Await a handler call that must fail with a domain error; what it would be over gRPC."""
    with pytest.raises(DomainError) as err:
        await call  # type: ignore[misc]
    return refusal(err.value)


@pytest.fixture
async def delivered(region: InProcessRegion) -> str:
    """A Qingdao -> Yantai delegation that Yantai has stored and the coordinator has seen."""
    return await region.delivered()


async def test_acknowledge_by_the_requesting_court_is_permission_denied(
    region: InProcessRegion, delivered: str
) -> None:
    qingdao = region.node("qingdao")
    before = await qingdao.get(QD, delivered)
    err = await refused(qingdao.act(QD, delivered, Step(EventKind.ACKNOWLEDGED)))
    assert err.code == "PERMISSION_DENIED"
    assert await qingdao.get(QD, delivered) == before


async def test_accept_before_acknowledge_is_failed_precondition_naming_the_state(
    region: InProcessRegion, delivered: str
) -> None:
    yantai = region.node("yantai")
    err = await refused(yantai.act(YT, delivered, Step(EventKind.ACCEPTED)))
    assert err.code == "FAILED_PRECONDITION"
    assert "DELIVERED" in err.message
    after = await yantai.get(YT, delivered)
    assert after.status == pb.STATUS_DELIVERED and after.seq == 3


async def test_complete_without_result_is_invalid_argument_on_result(
    region: InProcessRegion, delivered: str
) -> None:
    yantai = region.node("yantai")
    await yantai.act(YT, delivered, Step(EventKind.ACKNOWLEDGED))
    await yantai.act(YT, delivered, Step(EventKind.ACCEPTED))
    err = await refused(yantai.act(YT, delivered, Step(EventKind.COMPLETED, "已扣押")))
    assert err.code == "INVALID_ARGUMENT"
    assert err.fields == ["result"]
    assert (await yantai.get(YT, delivered)).status == pb.STATUS_ACCEPTED


async def test_confirm_before_completion_is_failed_precondition(
    region: InProcessRegion, delivered: str
) -> None:
    qingdao = region.node("qingdao")
    before = await qingdao.get(QD, delivered)
    err = await refused(qingdao.request(QD, delivered, EventKind.CONFIRMED, "confirm-early", ""))
    assert err.code == "FAILED_PRECONDITION"
    assert "DELIVERED" in err.message
    after = await qingdao.get(QD, delivered)
    assert after == before and list(after.requests) == []
    assert region.unpublished("qingdao") == 0, "a refused request must send nothing"


@pytest.mark.parametrize(
    ("city", "court"), [("weifang", WF), ("qingdao", QD_SHIBEI)], ids=["other city", "same node"]
)
async def test_a_third_court_cannot_read_the_delegation(
    region: InProcessRegion, delivered: str, city: str, court: str
) -> None:
    node = region.node(city)
    err = await refused(node.get(court, delivered))
    assert err.code in ("NOT_FOUND", "PERMISSION_DENIED")
    leaked = err.message
    assert "张三" not in leaked and "3405241980" not in leaked and "芝罘区" not in leaked
    listed, _ = await node.list(court, "", [], 0, 50)
    assert listed == []


async def test_reroute_into_the_requesting_city_is_invalid_argument(
    region: InProcessRegion, delivered: str
) -> None:
    coordinator = region.coordinator
    err = await refused(
        coordinator.steer(delivered, EventKind.REROUTED, "reroute-1", "管辖错误", QD_SHIBEI)
    )
    assert err.code == "INVALID_ARGUMENT"
    assert err.fields == ["court_id"]
    seen = await coordinator.get(delivered)
    assert list(seen.requests) == []


async def test_escalate_without_text_is_invalid_argument(
    region: InProcessRegion, delivered: str
) -> None:
    coordinator = region.coordinator
    err = await refused(coordinator.steer(delivered, EventKind.ESCALATED, "escalate-1", ""))
    assert err.code == "INVALID_ARGUMENT"
    assert err.fields == ["text"]
    seen = await coordinator.get(delivered)
    assert list(seen.requests) == []
