"""Translation between the wire contract (protobuf), the domain and the stored rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from jiaodong.domain.delegation import AssetKind, Debtor, Draft, Priority, TaskType
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.lifecycle import (
    DelegationState,
    Document,
    Event,
    EventKind,
    Side,
    Status,
)
from jiaodong.domain.registry import Registry
from jiaodong.domain.routing import Target
from jiaodong.store.tables import DelegationRow, EventRow, RequestRow
from jiaodong.v1 import delegation_pb2 as pb


def to_utc(value: datetime) -> datetime:
    """Attach UTC to a naive stored time; normalise an aware one."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_stored(value: datetime) -> datetime:
    """Times are stored timezone-aware in UTC (SQLite gives them back naive; see to_utc)."""
    return to_utc(value)


def ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(to_utc(value))
    return out


def from_ts(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def enum_name(prefix: str, value: str) -> str:
    return f"{prefix}_{value}"


def status_pb(status: Status | str) -> int:
    return int(pb.Status.Value(enum_name("STATUS", str(status))))


def optional_enum(enum: object, prefix: str, value: int, field: str = "") -> str:
    """A proto enum value's domain name, "" for *_UNSPECIFIED; unknown numbers are bad input."""
    try:
        name: str = enum.Name(value)  # type: ignore[attr-defined]
    except ValueError as exc:
        raise InvalidInput.one(field or prefix.lower(), f"unknown value {value}") from exc
    short = name.removeprefix(prefix + "_")
    return "" if short == "UNSPECIFIED" else short


def _required_enum(enum: object, prefix: str, value: int, field: str) -> str:
    name = optional_enum(enum, prefix, value, field)
    if not name:
        raise InvalidInput.one(field, "is required")
    return name


def status_from_pb(value: int, field: str = "statuses") -> Status:
    return Status(_required_enum(pb.Status, "STATUS", value, field))


def kind_pb(kind: EventKind | str) -> int:
    return int(pb.EventKind.Value(enum_name("EVENT_KIND", str(kind))))


def kind_from_pb(value: int, field: str = "kind") -> EventKind:
    return EventKind(_required_enum(pb.EventKind, "EVENT_KIND", value, field))


def side_pb(side: Side | str) -> int:
    return int(pb.Side.Value(enum_name("SIDE", str(side))))


def side_from_pb(value: int, field: str = "side") -> Side:
    return Side(_required_enum(pb.Side, "SIDE", value, field))


def document_from_pb(doc: pb.Document) -> Document:
    return Document(doc.name, doc.media_type, doc.size_bytes, doc.sha256.lower())


def document_pb(doc: Document) -> pb.Document:
    return pb.Document(
        name=doc.name, media_type=doc.media_type, size_bytes=doc.size_bytes, sha256=doc.sha256
    )


def event_pb(event: Event) -> pb.DelegationEvent:
    out = pb.DelegationEvent(
        event_id=event.event_id,
        seq=event.seq,
        kind=kind_pb(event.kind),  # type: ignore[arg-type]
        side=side_pb(event.side),  # type: ignore[arg-type]
        actor_court=event.actor_court,
        text=event.text,
        court_id=event.court_id,
        documents=[document_pb(d) for d in event.documents],
        request_id=event.request_id,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )
    out.at.FromDatetime(to_utc(event.at))
    if event.return_reason:
        out.return_reason = pb.ReturnReason.Value(f"RETURN_REASON_{event.return_reason}")
    if event.result:
        out.result = pb.CompletionResult.Value(f"COMPLETION_RESULT_{event.result}")
    return out


def event_from_pb(msg: pb.DelegationEvent) -> Event:
    return Event(
        event_id=msg.event_id,
        seq=msg.seq,
        kind=kind_from_pb(msg.kind),
        side=side_from_pb(msg.side),
        actor_court=msg.actor_court,
        at=from_ts(msg.at),
        text=msg.text,
        court_id=msg.court_id,
        return_reason=optional_enum(pb.ReturnReason, "RETURN_REASON", msg.return_reason),
        result=optional_enum(pb.CompletionResult, "COMPLETION_RESULT", msg.result),
        documents=tuple(document_from_pb(d) for d in msg.documents),
        request_id=msg.request_id,
        prev_hash=msg.prev_hash,
        hash=msg.hash,
    )


def event_row(delegation_id: str, event: Event) -> EventRow:
    docs = [[d.name, d.media_type, d.size_bytes, d.sha256] for d in event.documents]
    return EventRow(
        delegation_id=delegation_id,
        seq=event.seq,
        event_id=event.event_id,
        kind=event.kind.value,
        side=event.side.value,
        actor_court=event.actor_court,
        at=to_stored(event.at),
        text=event.text,
        court_id=event.court_id,
        return_reason=event.return_reason,
        result=event.result,
        documents=json.dumps(docs, ensure_ascii=False),
        request_id=event.request_id,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def event_from_row(row: EventRow) -> Event:
    return Event(
        event_id=row.event_id,
        seq=row.seq,
        kind=EventKind(row.kind),
        side=Side(row.side),
        actor_court=row.actor_court,
        at=to_utc(row.at),
        text=row.text,
        court_id=row.court_id,
        return_reason=row.return_reason,
        result=row.result,
        documents=tuple(Document(n, m, int(s), h) for n, m, s, h in json.loads(row.documents)),
        request_id=row.request_id,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


_TIME_FIELDS = (
    "created",
    "routed",
    "delivered",
    "acknowledged",
    "accepted",
    "returned",
    "completed",
    "closed",
    "updated",
)


def state_from_row(row: DelegationRow) -> DelegationState:
    times = {
        name: to_utc(value)
        for name in _TIME_FIELDS
        if (value := getattr(row, f"{name}_at")) is not None
    }
    return DelegationState(
        delegation_id=row.id,
        requesting_court=row.requesting_court,
        entrusted_court=row.entrusted_court,
        status=Status(row.status),
        seq=row.seq,
        last_hash=row.last_hash,
        result=row.result,
        cycle=row.cycle,
        step_times=times,
    )


def write_state(row: DelegationRow, state: DelegationState, entrusted_city: str) -> None:
    """Copy the state a history gives onto the row's query columns."""
    row.entrusted_court = state.entrusted_court
    row.entrusted_city = entrusted_city
    row.status = state.status.value
    row.seq = state.seq
    row.last_hash = state.last_hash
    row.result = state.result
    row.cycle = state.cycle
    for name in _TIME_FIELDS:
        value = state.step_times.get(name)
        setattr(row, f"{name}_at", to_stored(value) if value else None)


def draft_from_pb(req: object) -> Draft:
    """A domain draft from a CreateDelegationRequest."""
    from jiaodong.v1 import court_node_service_pb2 as node_pb

    assert isinstance(req, node_pb.CreateDelegationRequest)
    debtor: Debtor | None = None
    which = req.debtor.WhichOneof("kind") if req.HasField("debtor") else None
    if which == "person":
        p = req.debtor.person
        debtor = Debtor(True, p.name, p.resident_id, req.debtor.phone)
    elif which == "organisation":
        o = req.debtor.organisation
        debtor = Debtor(False, o.name, o.social_credit_code, req.debtor.phone)
    task = optional_enum(pb.TaskType, "TASK_TYPE", req.task_type, "task_type")
    asset = optional_enum(pb.AssetKind, "ASSET_KIND", req.asset_kind, "asset_kind")
    priority = optional_enum(pb.Priority, "PRIORITY", req.priority, "priority")
    return Draft(
        request_id=req.request_id,
        case_number=req.case_number,
        target=Target(
            req.target.court_id.strip(),
            req.target.city.strip().lower(),
            req.target.district.strip(),
        ),
        task_type=TaskType(task) if task else None,
        asset_kind=AssetKind(asset or "UNSPECIFIED"),
        debtor=debtor,
        address=req.place.address,
        district=req.place.district,
        requested_actions=req.requested_actions,
        documents=tuple(document_from_pb(d) for d in req.documents),
        priority=Priority(priority or "NORMAL"),
        plate=req.plate,
    )


def content_pb(delegation_id: str, requesting_court: str, draft: Draft) -> pb.Delegation:
    """The fixed content of a delegation, as carried on the bus and stored in the row."""
    debtor = pb.Party()
    if draft.debtor is not None:
        if draft.debtor.is_person:
            debtor.person.CopyFrom(
                pb.Person(name=draft.debtor.name, resident_id=draft.debtor.identifier)
            )
        else:
            debtor.organisation.CopyFrom(
                pb.Organisation(name=draft.debtor.name, social_credit_code=draft.debtor.identifier)
            )
        debtor.phone = draft.debtor.phone
    assert draft.task_type is not None
    return pb.Delegation(
        id=delegation_id,
        request_id=draft.request_id,
        case_number=draft.case_number,
        requesting_court=requesting_court,
        target=pb.Target(
            court_id=draft.target.court_id, city=draft.target.city, district=draft.target.district
        ),
        task_type=pb.TaskType.Value(f"TASK_TYPE_{draft.task_type.value}"),
        asset_kind=pb.AssetKind.Value(f"ASSET_KIND_{draft.asset_kind.value}"),
        debtor=debtor,
        place=pb.Place(address=draft.address, district=draft.district),
        requested_actions=draft.requested_actions,
        documents=[document_pb(d) for d in draft.documents],
        priority=pb.Priority.Value(f"PRIORITY_{draft.priority.value}"),
        plate=draft.plate,
    )


def delegation_pb(
    row: DelegationRow,
    history: list[Event] | None = None,
    requests: list[RequestRow] | None = None,
) -> pb.Delegation:
    """The full message for a row: content, state, timestamps, and optionally history/requests."""
    out = pb.Delegation()
    out.ParseFromString(row.content)
    out.entrusted_court = row.entrusted_court
    out.status = status_pb(row.status)  # type: ignore[assignment]
    out.seq = row.seq
    out.last_hash = row.last_hash
    if row.result:
        out.result = pb.CompletionResult.Value(f"COMPLETION_RESULT_{row.result}")
    for name in _TIME_FIELDS:
        value = getattr(row, f"{name}_at")
        if value is not None:
            getattr(out, f"{name}_at").CopyFrom(ts(value))
    if row.warnings:
        out.warnings.extend(json.loads(row.warnings))
    if history is not None:
        out.history.extend(event_pb(e) for e in history)
    for req in requests or ():
        out.requests.append(
            pb.PendingRequest(
                request_id=req.request_id,
                kind=kind_pb(req.kind),  # type: ignore[arg-type]
                state=req.state,
                reason=req.reason,
            )
        )
    return out


def check_synced_content(registry: Registry, sender: str, content: pb.Delegation) -> None:
    """A delegation first seen on the bus gets the same content checks as one created through
    the API (a faulty or hostile node cannot slip in what its own gRPC edge would refuse)."""
    from jiaodong.domain.delegation import check_draft
    from jiaodong.v1 import court_node_service_pb2 as node_pb

    if content.requesting_court != sender:
        raise InvalidInput.one("requesting_court", f"is {content.requesting_court}, not {sender}")
    request = node_pb.CreateDelegationRequest(
        request_id=content.request_id,
        case_number=content.case_number,
        target=content.target,
        task_type=content.task_type,
        asset_kind=content.asset_kind,
        debtor=content.debtor,
        place=content.place,
        requested_actions=content.requested_actions,
        documents=content.documents,
        priority=content.priority,
        plate=content.plate,
    )
    check_draft(registry, sender, draft_from_pb(request))
