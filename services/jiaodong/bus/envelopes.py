"""Building the messages that travel on the bus, so no handler assembles one by hand.

Every message is an ``Envelope`` with one body; ``envelope()`` puts a body in its slot by type, and
``body_of()`` takes it out again for the receiver's dispatch table. Message ids are fresh, or
stable where a message must be found again (re-sent) or dropped as a copy by the broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf.message import Message

from jiaodong.domain.ids import stable_id
from jiaodong.domain.lifecycle import Document, Event, EventKind, Side
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import document_pb, event_pb, kind_pb, side_pb

Body = (
    bus_pb2.DelegationSync
    | bus_pb2.ActionRequest
    | bus_pb2.RequestRefused
    | bus_pb2.DeliveryReceipt
    | bus_pb2.Digest
    | bus_pb2.Want
    | bus_pb2.DocumentChunk
)

# The envelope's oneof slot of each body type (the contract's `oneof body`).
SLOT: dict[type[Message], str] = {
    bus_pb2.DelegationSync: "sync",
    bus_pb2.ActionRequest: "request",
    bus_pb2.RequestRefused: "refused",
    bus_pb2.DeliveryReceipt: "receipt",
    bus_pb2.Digest: "digest",
    bus_pb2.Want: "want",
    bus_pb2.DocumentChunk: "chunk",
}


def envelope(court: str, body: Body, message_id: str = "") -> bus_pb2.Envelope:
    """An envelope from or for ``court`` carrying ``body``."""
    out = bus_pb2.Envelope(message_id=message_id, court_id=court)
    getattr(out, SLOT[type(body)]).CopyFrom(body)
    return out


def body_of(message: bus_pb2.Envelope) -> Message | None:
    """The body an envelope carries, None if it has none."""
    slot = message.WhichOneof("body")
    return None if slot is None else getattr(message, slot)


def sync(content: pb.Delegation, history: Sequence[Event]) -> bus_pb2.DelegationSync:
    """A delegation's fixed content and its history, for the other sides."""
    return bus_pb2.DelegationSync(delegation=content, history=[event_pb(e) for e in history])


def action_request(
    delegation_id: str,
    request_id: str,
    kind: EventKind,
    side: Side,
    *,
    actor_court: str = "",
    text: str = "",
    court_id: str = "",
    documents: Sequence[Document] = (),
    detail: str = "",
    result: str = "",
) -> bus_pb2.ActionRequest:
    """A wish for the delegation's writer: a requesting court's or an operator's step."""
    out = bus_pb2.ActionRequest(
        delegation_id=delegation_id,
        request_id=request_id,
        kind=kind_pb(kind),  # type: ignore[arg-type]
        side=side_pb(side),  # type: ignore[arg-type]
        actor_court=actor_court,
        text=text,
        court_id=court_id,
        documents=[document_pb(d) for d in documents],
        detail=detail,
    )
    if result:
        out.result = pb.CompletionResult.Value(f"COMPLETION_RESULT_{result}")
    return out


def refusal(
    request: bus_pb2.ActionRequest, reason: str, requesting_court: str
) -> bus_pb2.RequestRefused:
    """The writer's answer to a request it will not apply."""
    return bus_pb2.RequestRefused(
        delegation_id=request.delegation_id,
        request_id=request.request_id,
        kind=request.kind,
        reason=reason,
        requesting_court=requesting_court,
    )


def receipt(delegation_id: str, routed_seq: int, at: datetime) -> bus_pb2.DeliveryReceipt:
    """The entrusted node holds the delegation offered at ``routed_seq``."""
    out = bus_pb2.DeliveryReceipt(delegation_id=delegation_id, routed_seq=routed_seq)
    out.at.FromDatetime(at)
    return out


def request_message_id(delegation_id: str, request_id: str) -> str:
    return stable_id("req", delegation_id, request_id)


def receipt_message_id(delegation_id: str, routed_seq: int) -> str:
    return stable_id("rcpt", delegation_id, str(routed_seq))


def want_message_id(court: str, delegation_id: str, held: int) -> str:
    """One ask per asking court, delegation and held seq (the unit of work queues it once)."""
    return stable_id("want", court, delegation_id, str(held))


def chunk_message_id(delegation_id: str, sha256: str, index: int) -> str:
    return stable_id("doc", delegation_id, sha256, str(index))
