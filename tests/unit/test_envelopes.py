"""The bus's message builders: bodies in their envelope slots, requests, receipts, message ids."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.message import Message

from jiaodong.bus import envelopes
from jiaodong.domain.lifecycle import Document, Event, EventKind, Side
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb

DELEGATION = "0123456789abcdef0123456789abcdef"
OTHER_DELEGATION = "fedcba9876543210fedcba9876543210"
SHINAN = "370202"
ZHIFU = "370602"
T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
HEX32 = re.compile(r"[0-9a-f]{32}")

DOC = Document("补充材料.pdf", "application/pdf", 20480, "a" * 64)
SCAN = Document("现场照片.jpg", "image/jpeg", 1024, "b" * 64)

BODY_FIELDS = bus_pb2.Envelope.DESCRIPTOR.oneofs_by_name["body"].fields


def sample_bodies() -> list[Message]:
    """One non-empty body of every type the envelope carries."""
    return [
        bus_pb2.DelegationSync(delegation=pb.Delegation(id=DELEGATION)),
        bus_pb2.ActionRequest(delegation_id=DELEGATION, request_id="r-1"),
        bus_pb2.RequestRefused(delegation_id=DELEGATION, reason="no"),
        bus_pb2.DeliveryReceipt(delegation_id=DELEGATION, routed_seq=2),
        bus_pb2.Digest(entries=[bus_pb2.DigestEntry(delegation_id=DELEGATION, seq=4)]),
        bus_pb2.Want(delegation_ids=[DELEGATION]),
        bus_pb2.DocumentChunk(delegation_id=DELEGATION, sha256="a" * 64, index=1, data=b"x"),
    ]


# --- envelope / body_of -----------------------------------------------------------------------


def test_the_slot_table_covers_exactly_the_body_oneof() -> None:
    expected = {}
    for f in BODY_FIELDS:
        assert f.message_type is not None
        expected[f.message_type.full_name] = f.name
    actual = {cls.DESCRIPTOR.full_name: slot for cls, slot in envelopes.SLOT.items()}
    assert actual == expected


def test_the_samples_cover_every_body_type() -> None:
    assert {type(b) for b in sample_bodies()} == set(envelopes.SLOT)


@pytest.mark.parametrize("body", sample_bodies(), ids=lambda b: type(b).__name__)
def test_envelope_puts_the_body_in_its_slot(body: envelopes.Body) -> None:
    slot = next(f.name for f in BODY_FIELDS if f.message_type is body.DESCRIPTOR)
    env = envelopes.envelope(ZHIFU, body, "m-1")
    assert env.WhichOneof("body") == slot
    assert env.court_id == ZHIFU
    assert env.message_id == "m-1"
    assert getattr(env, slot) == body


@pytest.mark.parametrize("body", sample_bodies(), ids=lambda b: type(b).__name__)
def test_body_of_gives_the_body_back_after_the_wire(body: envelopes.Body) -> None:
    env = envelopes.envelope(SHINAN, body)
    received = bus_pb2.Envelope.FromString(env.SerializeToString())
    out = envelopes.body_of(received)
    assert type(out) is type(body)
    assert out == body


@pytest.mark.parametrize("cls", list(envelopes.SLOT), ids=lambda c: c.__name__)
def test_an_empty_body_keeps_its_slot(cls: type[envelopes.Body]) -> None:
    env = envelopes.envelope(SHINAN, cls())
    received = bus_pb2.Envelope.FromString(env.SerializeToString())
    assert received.WhichOneof("body") == envelopes.SLOT[cls]
    assert type(envelopes.body_of(received)) is cls


def test_envelope_copies_the_body() -> None:
    body = bus_pb2.Want(delegation_ids=[DELEGATION])
    env = envelopes.envelope(SHINAN, body)
    body.delegation_ids.append(OTHER_DELEGATION)
    assert list(env.want.delegation_ids) == [DELEGATION]


def test_envelope_without_a_message_id() -> None:
    assert envelopes.envelope(SHINAN, bus_pb2.Want()).message_id == ""


def test_body_of_an_empty_envelope_is_none() -> None:
    assert envelopes.body_of(bus_pb2.Envelope()) is None
    assert envelopes.body_of(bus_pb2.Envelope(message_id="m", court_id=SHINAN)) is None


# --- action_request / refusal / sync / receipt -------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "side", "pb_kind", "pb_side"),
    [
        (EventKind.SUPPLEMENTED, Side.REQUESTING, "EVENT_KIND_SUPPLEMENTED", "SIDE_REQUESTING"),
        (EventKind.CANCELLED, Side.REQUESTING, "EVENT_KIND_CANCELLED", "SIDE_REQUESTING"),
        (EventKind.URGED, Side.COORDINATOR, "EVENT_KIND_URGED", "SIDE_COORDINATOR"),
        (EventKind.REROUTED, Side.COORDINATOR, "EVENT_KIND_REROUTED", "SIDE_COORDINATOR"),
        (EventKind.ACCEPTED, Side.ENTRUSTED, "EVENT_KIND_ACCEPTED", "SIDE_ENTRUSTED"),
    ],
)
def test_action_request_maps_kind_and_side(
    kind: EventKind, side: Side, pb_kind: str, pb_side: str
) -> None:
    request = envelopes.action_request(DELEGATION, "r-1", kind, side)
    assert pb.EventKind.Name(request.kind) == pb_kind
    assert pb.Side.Name(request.side) == pb_side


def test_action_request_carries_every_field() -> None:
    request = envelopes.action_request(
        DELEGATION,
        "r-7",
        EventKind.SUPPLEMENTED,
        Side.REQUESTING,
        actor_court=SHINAN,
        text="补充材料",
        court_id=ZHIFU,
        documents=[DOC, SCAN],
    )
    assert request.delegation_id == DELEGATION
    assert request.request_id == "r-7"
    assert request.actor_court == SHINAN
    assert request.text == "补充材料"
    assert request.court_id == ZHIFU
    assert [(d.name, d.media_type, d.size_bytes, d.sha256) for d in request.documents] == [
        ("补充材料.pdf", "application/pdf", 20480, "a" * 64),
        ("现场照片.jpg", "image/jpeg", 1024, "b" * 64),
    ]


def test_action_request_defaults_are_empty() -> None:
    request = envelopes.action_request(DELEGATION, "r-1", EventKind.URGED, Side.COORDINATOR)
    assert (request.actor_court, request.text, request.court_id) == ("", "", "")
    assert list(request.documents) == []


def test_refusal_answers_the_request() -> None:
    request = envelopes.action_request(
        DELEGATION, "r-9", EventKind.CANCELLED, Side.REQUESTING, actor_court=SHINAN, text="撤回"
    )
    refused = envelopes.refusal(request, "already completed", SHINAN)
    assert refused.delegation_id == DELEGATION
    assert refused.request_id == "r-9"
    assert refused.kind == request.kind
    assert pb.EventKind.Name(refused.kind) == "EVENT_KIND_CANCELLED"
    assert refused.reason == "already completed"
    assert refused.requesting_court == SHINAN


def test_sync_carries_the_content_and_the_history_in_order() -> None:
    first = Event(f"{DELEGATION}-1", 1, EventKind.CREATED, Side.REQUESTING, SHINAN, T0).sealed("")
    second = Event(
        f"{DELEGATION}-2", 2, EventKind.ROUTED, Side.COORDINATOR, "", T0, court_id=ZHIFU
    ).sealed(first.hash)
    out = envelopes.sync(pb.Delegation(id=DELEGATION), [first, second])
    assert out.delegation.id == DELEGATION
    assert [(e.seq, e.hash, e.prev_hash) for e in out.history] == [
        (1, first.hash, ""),
        (2, second.hash, first.hash),
    ]
    assert out.history[1].court_id == ZHIFU


def test_receipt_carries_the_delegation_the_routing_and_the_time() -> None:
    out = envelopes.receipt(DELEGATION, 5, T0)
    assert out.delegation_id == DELEGATION
    assert out.routed_seq == 5
    assert out.HasField("at")
    assert out.at.ToDatetime(tzinfo=UTC) == T0


def test_receipt_keeps_the_instant_of_an_aware_time_in_another_zone() -> None:
    beijing = T0.astimezone(timezone(timedelta(hours=8)))
    assert envelopes.receipt(DELEGATION, 2, beijing).at.ToDatetime(tzinfo=UTC) == T0


# --- message ids ------------------------------------------------------------------------------


def test_request_message_id_is_stable() -> None:
    made = envelopes.request_message_id(DELEGATION, "r-1")
    assert HEX32.fullmatch(made)
    assert envelopes.request_message_id(DELEGATION, "r-1") == made
    assert envelopes.request_message_id(DELEGATION, "r-2") != made
    assert envelopes.request_message_id(OTHER_DELEGATION, "r-1") != made


def test_receipt_message_id_is_stable() -> None:
    made = envelopes.receipt_message_id(DELEGATION, 2)
    assert HEX32.fullmatch(made)
    assert envelopes.receipt_message_id(DELEGATION, 2) == made
    assert envelopes.receipt_message_id(DELEGATION, 3) != made
    assert envelopes.receipt_message_id(OTHER_DELEGATION, 2) != made


def test_chunk_message_id_is_stable() -> None:
    made = envelopes.chunk_message_id(DELEGATION, "a" * 64, 0)
    assert HEX32.fullmatch(made)
    assert envelopes.chunk_message_id(DELEGATION, "a" * 64, 0) == made
    assert envelopes.chunk_message_id(DELEGATION, "a" * 64, 1) != made
    assert envelopes.chunk_message_id(DELEGATION, "b" * 64, 0) != made
    assert envelopes.chunk_message_id(OTHER_DELEGATION, "a" * 64, 0) != made


def test_message_ids_differ_across_kinds_for_the_same_delegation() -> None:
    # The same visible parts ("1") must not give the same id for a request, a receipt, a chunk.
    ids = [
        envelopes.request_message_id(DELEGATION, "1"),
        envelopes.receipt_message_id(DELEGATION, 1),
        envelopes.chunk_message_id(DELEGATION, "1", 1),
        # A request id spelling a chunk's or a receipt's parts still names another message.
        envelopes.request_message_id(DELEGATION, "1|1"),
        envelopes.receipt_message_id(DELEGATION, 11),
    ]
    assert len(set(ids)) == len(ids)


def test_message_ids_are_distinct_over_many_inputs() -> None:
    ids = [
        *(
            envelopes.request_message_id(d, f"r-{n}")
            for d, n in itertools.product((DELEGATION, OTHER_DELEGATION), range(20))
        ),
        *(
            envelopes.receipt_message_id(d, n)
            for d, n in itertools.product((DELEGATION, OTHER_DELEGATION), range(20))
        ),
        *(
            envelopes.chunk_message_id(d, "c" * 64, n)
            for d, n in itertools.product((DELEGATION, OTHER_DELEGATION), range(20))
        ),
    ]
    assert len(set(ids)) == len(ids) == 120
    assert all(HEX32.fullmatch(i) for i in ids)
