"""The pure parts of parked messages, shared by coordinator and nodes: the summary without
personal data, the reason check, and a node's refusal carried over the bus and raised again at the
coordinator as the same domain error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jiaodong.app.parked import (
    Parked,
    ParkedAction,
    check_reason,
    parked_action_from_pb,
    parked_action_pb,
    parked_from_pb,
    parked_pb,
    refusal_error,
    refusal_pb,
    summarise,
)
from jiaodong.domain.errors import (
    DomainError,
    FieldViolation,
    InvalidInput,
    NotAllowed,
    NotFound,
    Unreachable,
)
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import delegation_pb2 as pb


def test_summary_names_kind_delegation_and_size_but_no_person() -> None:
    envelope = bus_pb2.Envelope(
        message_id="m1",
        court_id="370602",
        sync=bus_pb2.DelegationSync(
            delegation=pb.Delegation(
                id="d1", debtor=pb.Party(person=pb.Person(name="张三"), phone="13800138000")
            ),
            history=[pb.DelegationEvent(seq=3), pb.DelegationEvent(seq=4)],
        ),
    )
    payload = envelope.SerializeToString()
    delegation_id, summary = summarise(payload)
    assert delegation_id == "d1"
    assert summary == f"sync, delegation d1, events 3-4, {len(payload)} bytes"
    assert summarise(b"\xff\xff") == ("", "unreadable (2 bytes)")


def test_reason_and_id_are_checked_together() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_reason(0, "  ")
    assert [v.field for v in caught.value.violations] == ["id", "reason"]
    check_reason(1, "节点已恢复")


@pytest.mark.parametrize(
    "error",
    [
        InvalidInput([FieldViolation("reason", "is required"), FieldViolation("id", "bad")]),
        NotFound("no parked message with id 7"),
        NotAllowed("parked message 7 came from a court of another city"),
        DomainError("something else"),
    ],
)
def test_a_refusal_crosses_the_bus_as_the_same_error(error: DomainError) -> None:
    wire = bus_pb2.ParkedRefusal()
    wire.ParseFromString(refusal_pb(error).SerializeToString())
    again = refusal_error(wire)
    assert type(again) is type(error) and str(again) == str(error)


def test_parked_and_actions_round_trip_through_the_wire() -> None:
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    parked = Parked(7, "jd.v1.court.370602.sync", "m", "why", at, "370602", "d1", "sync", "yantai")
    assert parked_from_pb(parked_pb(parked)) == parked
    action = ParkedAction("retry", "operator:yantai", at, "节点已恢复", "applied")
    assert parked_action_from_pb(parked_action_pb(action)) == action


def test_a_silent_node_is_unavailable_naming_its_city() -> None:
    from google.rpc import code_pb2

    from jiaodong.api.errors import status_for
    from jiaodong.cli.connect import silent_node

    status = status_for(Unreachable("yantai", "烟台市", "no answer within 5s"))
    assert status.code == code_pb2.UNAVAILABLE
    assert "节点 烟台市 未应答" in status.message and "yantai" in status.message
    assert silent_node(status) == "yantai"
    assert silent_node(status_for(NotFound("x"))) == ""


async def test_a_node_acts_only_for_a_named_operator() -> None:
    from jiaodong.app.parked import ParkedRecord

    record = ParkedRecord.__new__(ParkedRecord)  # refused before any database is touched
    ask = bus_pb2.ParkedAsk(discard=capi.DiscardParkedRequest(id=1, reason="x"), all_courts=True)
    answer = await record.answer_parked(ask)
    assert answer.refused.code == "INVALID_ARGUMENT" and list(answer.refused.fields) == ["operator"]
    garbage = bus_pb2.ParkedAnswer()
    garbage.ParseFromString(await record.answer_parked_request(b"\xff\xff"))
    assert garbage.refused.code == "INVALID_ARGUMENT"
