"""Faulty messages on the bus are parked as dead letters and never block the traffic behind them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from jiaodong.bootstrap import Running
from jiaodong.bus.subjects import court_of
from jiaodong.domain.lifecycle import Event, EventKind, Side
from jiaodong.store.tables import DeadLetterRow, OutboxRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import event_pb
from tests.helpers.factory import create_request
from tests.helpers.network import (
    Region,
    as_court,
    coordinator_probe,
    delegation_probe,
    eventually,
    has_status,
    publish_raw,
)
from tests.integration.conftest import bus_idle, table_rows

QD, QD_SHIBEI, YT = "370202", "370203", "370602"
TO_YANTAI_NODE = f"jd.v1.court.{YT}.sync"
TO_COORDINATOR = f"jd.v1.coord.{QD}.sync"

UNDECODABLE = b"\xff\xff\xff\xff\xff not a protobuf message"


def bodiless(court: str) -> bytes:
    return bus_pb2.Envelope(message_id=uuid.uuid4().hex, court_id=court).SerializeToString()


async def dead_letters(service: Running, count: int) -> list[DeadLetterRow]:
    async def probe() -> list[DeadLetterRow]:
        return table_rows(service, DeadLetterRow)

    return await eventually(probe, lambda rows: len(rows) >= count)


async def flows_to_delivered(region: Region) -> pb.Delegation:
    """A normal delegation created now reaches DELIVERED on all three sides."""
    qingdao = region.node_stub("qingdao")
    created = await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))
    d = created.delegation.id
    delivered = has_status(pb.STATUS_DELIVERED)
    await eventually(coordinator_probe(region.coordinator_stub(), d), delivered)
    await eventually(delegation_probe(qingdao, QD, d), delivered)
    return await eventually(delegation_probe(region.node_stub("yantai"), YT, d), delivered)


@pytest.mark.parametrize(
    ("payload_for", "reason"),
    [(lambda court: UNDECODABLE, "DecodeError"), (bodiless, "without message id or body")],
    ids=["undecodable", "no body"],
)
async def test_bad_message_is_parked_and_does_not_block_the_next(
    region: Region, payload_for: Callable[[str], bytes], reason: str
) -> None:
    to_node, to_coord = payload_for(YT), payload_for(QD)
    node_msg_id, coord_msg_id = uuid.uuid4().hex, uuid.uuid4().hex
    await publish_raw(region.settings.nats_url, TO_YANTAI_NODE, to_node, node_msg_id)
    await publish_raw(region.settings.nats_url, TO_COORDINATOR, to_coord, coord_msg_id)

    got = await flows_to_delivered(region)
    assert got.entrusted_court == YT

    for service, subject, payload, msg_id in [
        (region.nodes["yantai"], TO_YANTAI_NODE, to_node, node_msg_id),
        (region.coordinator, TO_COORDINATOR, to_coord, coord_msg_id),
    ]:
        [parked] = await dead_letters(service, 1)
        assert (parked.subject, parked.message_id, parked.payload) == (subject, msg_id, payload)
        assert reason in parked.reason, parked.reason
    await bus_idle(region)
    for service in region.nodes.values():
        assert len(table_rows(service, DeadLetterRow)) == (service.name == "node-yantai")


# -- a sender that claims to be another court -----------------------------------------------------


def forged_sync(requesting_court: str) -> bus_pb2.DelegationSync:
    """A well-formed first sync of a new delegation, as the requesting node would send it."""
    request = create_request()
    content = pb.Delegation(
        id=uuid.uuid4().hex,
        request_id=request.request_id,
        case_number=request.case_number,
        requesting_court=requesting_court,
        target=request.target,
        task_type=request.task_type,
        asset_kind=request.asset_kind,
        debtor=request.debtor,
        place=request.place,
        requested_actions=request.requested_actions,
        priority=request.priority,
        plate=request.plate,
    )
    first = Event(
        event_id=uuid.uuid4().hex,
        seq=1,
        kind=EventKind.CREATED,
        side=Side.REQUESTING,
        actor_court=requesting_court,
        at=datetime.now(UTC),
    ).sealed("")
    return bus_pb2.DelegationSync(delegation=content, history=[event_pb(first)])


async def test_envelope_whose_court_differs_from_its_subject_is_parked(region: Region) -> None:
    sync = forged_sync(QD)
    d = sync.delegation.id
    payload = bus_pb2.Envelope(message_id=uuid.uuid4().hex, court_id=QD, sync=sync)
    wrong_subject = f"jd.v1.coord.{QD_SHIBEI}.sync"
    await publish_raw(region.settings.nats_url, wrong_subject, payload.SerializeToString(), "m1")

    [parked] = await dead_letters(region.coordinator, 1)
    assert parked.subject == wrong_subject
    assert "Permanent" in parked.reason and QD in parked.reason and QD_SHIBEI in parked.reason
    # Operators see it on the board.
    board = await region.coordinator_stub().ListDelegations(
        capi.CoordinatorListDelegationsRequest()
    )
    assert any("1 message(s) parked as dead letters" in n for n in board.notices)
    await bus_idle(region)
    assert await coordinator_probe(region.coordinator_stub(), d)() is None
    assert await delegation_probe(region.node_stub("yantai"), YT, d)() is None

    # The control: the very same bytes on the subject of the court they name are applied.
    await publish_raw(region.settings.nats_url, TO_COORDINATOR, payload.SerializeToString(), "m2")
    delivered = has_status(pb.STATUS_DELIVERED)
    await eventually(delegation_probe(region.node_stub("yantai"), YT, d), delivered)
    assert len(table_rows(region.coordinator, DeadLetterRow)) == 1


# -- what each service puts on the bus ------------------------------------------------------------


async def test_each_service_publishes_only_on_its_own_subjects(region: Region) -> None:
    """A node publishes only on jd.v1.coord.<court it hosts>.*; each envelope names that court."""
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    d = (await flows_to_delivered(region)).id
    await yantai.Acknowledge(api.AcknowledgeRequest(id=d), metadata=as_court(YT))
    await bus_idle(region)

    for name, service in region.nodes.items():
        hosted = service.service.courts
        for row in table_rows(service, OutboxRow):
            envelope = bus_pb2.Envelope.FromString(row.payload)
            assert row.subject.startswith("jd.v1.coord."), (name, row.subject)
            assert court_of(row.subject) in hosted, (name, row.subject)
            assert envelope.court_id == court_of(row.subject), (name, row.subject)
    for row in table_rows(region.coordinator, OutboxRow):
        assert row.subject.startswith("jd.v1.court."), row.subject
        assert bus_pb2.Envelope.FromString(row.payload).court_id == court_of(row.subject)
    assert (await delegation_probe(qingdao, QD, d)()).status == pb.STATUS_ACKNOWLEDGED
