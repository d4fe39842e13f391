"""The wire mapping: protobuf messages of the contract <-> domain values, both ways.

One mapper for the API edge, the bus and the CLI alike; rows are mapped in ``store.mapper``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from jiaodong.domain import sla
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.delegation import AssetKind, Debtor, Draft, Priority, TaskType
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.lifecycle import (
    PLAIN_EVENT_FIELDS,
    ControlTerm,
    Document,
    Event,
    EventKind,
    Side,
    Status,
)
from jiaodong.domain.routing import Target
from jiaodong.v1 import court_node_service_pb2 as node_pb
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


def control_pb(term: ControlTerm) -> pb.ControlTerm:
    return pb.ControlTerm(
        asset_kind=pb.AssetKind.Value(f"ASSET_KIND_{term.asset}"),
        reference=term.reference,
        starts_on=term.starts_on.isoformat(),
        ends_on=term.ends_on.isoformat(),
    )


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput.one(field, "give a date as YYYY-MM-DD") from exc


def controls_from_pb(msgs: Iterable[pb.ControlTerm]) -> tuple[ControlTerm, ...]:
    """Control terms from the wire; their sense (dates in order, the law's longest term) is
    checked by ``domain.controls.term_violations`` where a step is built."""
    out = []
    for i, m in enumerate(msgs):
        where = f"controls[{i}]"
        asset = _required_enum(pb.AssetKind, "ASSET_KIND", m.asset_kind, f"{where}.asset_kind")
        out.append(
            ControlTerm(
                asset,
                m.reference,
                _day(m.starts_on, f"{where}.starts_on"),
                _day(m.ends_on, f"{where}.ends_on"),
            )
        )
    return tuple(out)


def event_pb(event: Event) -> pb.DelegationEvent:
    out = pb.DelegationEvent(
        kind=kind_pb(event.kind),  # type: ignore[arg-type]
        side=side_pb(event.side),  # type: ignore[arg-type]
        documents=[document_pb(d) for d in event.documents],
        controls=[control_pb(c) for c in event.controls],
        **{name: getattr(event, name) for name in PLAIN_EVENT_FIELDS},
    )
    out.at.FromDatetime(to_utc(event.at))
    if event.return_reason:
        out.return_reason = pb.ReturnReason.Value(f"RETURN_REASON_{event.return_reason}")
    if event.result:
        out.result = pb.CompletionResult.Value(f"COMPLETION_RESULT_{event.result}")
    return out


def event_from_pb(msg: pb.DelegationEvent) -> Event:
    return Event(
        kind=kind_from_pb(msg.kind),
        side=side_from_pb(msg.side),
        at=from_ts(msg.at),
        return_reason=optional_enum(pb.ReturnReason, "RETURN_REASON", msg.return_reason),
        result=optional_enum(pb.CompletionResult, "COMPLETION_RESULT", msg.result),
        documents=tuple(document_from_pb(d) for d in msg.documents),
        controls=controls_from_pb(msg.controls),
        **{name: getattr(msg, name) for name in PLAIN_EVENT_FIELDS},
    )


def target_from_pb(msg: pb.Target) -> Target:
    """Where a request is addressed, in normal form (the city in lower case)."""
    return Target(msg.court_id.strip(), msg.city.strip().lower(), msg.district.strip())


def target_pb(target: Target) -> pb.Target:
    return pb.Target(court_id=target.court_id, city=target.city, district=target.district)


def draft_from_pb(req: node_pb.CreateDelegationRequest | pb.Delegation) -> Draft:
    """A domain draft from a CreateDelegationRequest, or from the content of a delegation first
    seen on the bus (the same fields, so it gets the same checks as one created through the API).
    """
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
        target=target_from_pb(req.target),
        task_type=TaskType(task) if task else None,
        asset_kind=AssetKind(asset or "UNSPECIFIED"),
        debtor=debtor,
        address=req.place.address,
        district=req.place.district,
        requested_actions=req.requested_actions,
        documents=tuple(document_from_pb(d) for d in req.documents),
        priority=Priority(priority or "NORMAL"),
        plate=req.plate,
        renews=req.renews.strip(),
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
        target=target_pb(draft.target),
        task_type=pb.TaskType.Value(f"TASK_TYPE_{draft.task_type.value}"),
        asset_kind=pb.AssetKind.Value(f"ASSET_KIND_{draft.asset_kind.value}"),
        debtor=debtor,
        place=pb.Place(address=draft.address, district=draft.district),
        requested_actions=draft.requested_actions,
        documents=[document_pb(d) for d in draft.documents],
        priority=pb.Priority.Value(f"PRIORITY_{draft.priority.value}"),
        plate=draft.plate,
        renews=draft.renews,
    )


def sla_goals_pb(clocks: list[sla.Clock], now: datetime, cal: WorkCalendar) -> list[pb.SlaGoal]:
    """The current clocks of a delegation as SlaGoal messages."""
    out = []
    for clock in sla.current_clocks(clocks):
        goal = pb.SlaGoal(
            goal=clock.goal.value,
            instance=clock.instance,
            state=pb.SlaState.Value(f"SLA_STATE_{clock.state(now).value}"),
            period=str(clock.policy.period),
            remaining_seconds=int((clock.due - now).total_seconds()),
            remaining=sla.remaining_text(clock, now, cal) if clock.open else "",
            on_breach=clock.policy.on_breach.value,
            source=clock.policy.source,
            court=clock.court,
        )
        goal.started_at.FromDatetime(to_utc(clock.started_at))
        goal.due_at.FromDatetime(to_utc(clock.due))
        goal.original_due_at.FromDatetime(to_utc(clock.original_due))
        if clock.met_at is not None:
            goal.met_at.FromDatetime(to_utc(clock.met_at))
        out.append(goal)
    return out
