"""The store's mapper: rows <-> domain values, and a stored delegation's wire view.

A delegation row keeps its fixed content as the serialized wire message (what the bus carries)
beside query columns copied from the state its history folds to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jiaodong.domain import assistance as assist
from jiaodong.domain.lifecycle import (
    ASSISTANCE_TASK,
    PLAIN_EVENT_FIELDS,
    ControlTerm,
    DelegationState,
    Document,
    Event,
    EventKind,
    Side,
    Status,
)
from jiaodong.store.tables import DelegationRow, EventRow, RequestRow, WaitingStepRow
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import event_pb, kind_pb, status_pb, to_stored, to_utc, ts
from jiaodong.wire_assistance import asked_support, progress_pb


def event_values(delegation_id: str, event: Event) -> dict[str, Any]:
    """The columns of an event's row (``delegation_event``)."""
    docs = [[d.name, d.media_type, d.size_bytes, d.sha256] for d in event.documents]
    plain = {name: getattr(event, name) for name in PLAIN_EVENT_FIELDS}
    return {
        "delegation_id": delegation_id,
        "kind": event.kind.value,
        "side": event.side.value,
        "at": to_stored(event.at),
        "return_reason": event.return_reason,
        "result": event.result,
        "documents": json.dumps(docs, ensure_ascii=False),
        "controls": controls_json(event.controls),
        **plain,
    }


def controls_json(terms: tuple[ControlTerm, ...]) -> str:
    """The controls column: JSON [asset, reference, starts_on, ends_on] lists."""
    return json.dumps([c.row() for c in terms], ensure_ascii=False)


def controls_from(text: str | None) -> tuple[ControlTerm, ...]:
    return tuple(ControlTerm.from_row(row) for row in json.loads(text or "[]"))


def documents_from(text: str) -> tuple[Document, ...]:
    """The documents column (JSON [name, media type, size, sha256] lists) as domain values."""
    return tuple(Document(n, m, int(s), h) for n, m, s, h in json.loads(text))


def event_row(delegation_id: str, event: Event) -> EventRow:
    return EventRow(**event_values(delegation_id, event))


def event_from_row(row: EventRow) -> Event:
    docs = documents_from(row.documents)
    plain = {name: getattr(row, name) for name in PLAIN_EVENT_FIELDS}
    return Event(
        kind=EventKind(row.kind),
        side=Side(row.side),
        at=to_utc(row.at),
        return_reason=row.return_reason,
        result=row.result,
        documents=docs,
        controls=controls_from(row.controls),
        **plain,
    )


def waiting_event(row: WaitingStepRow, event_id: str) -> Event:
    """The unsealed event of a waiting step (numbered and linked when it is applied)."""
    docs = documents_from(row.documents)
    return Event(
        event_id=event_id,
        seq=0,
        kind=EventKind(row.kind),
        side=Side.ENTRUSTED,
        actor_court=row.court,
        at=to_utc(row.at),
        text=row.text,
        return_reason=row.return_reason,
        result=row.result,
        documents=docs,
        controls=controls_from(row.controls),
        detail=row.detail,
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
        assistance=row.task_type == ASSISTANCE_TASK,
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


def content_of(row: DelegationRow) -> pb.Delegation:
    """The fixed content of a delegation (no state, no history)."""
    content = pb.Delegation()
    content.ParseFromString(row.content)
    return content


def asset_name(row: DelegationRow) -> str:
    """The asset kind's name without its prefix (``VEHICLE``; ``UNSPECIFIED`` when none)."""
    return pb.AssetKind.Name(content_of(row).asset_kind).removeprefix("ASSET_KIND_")


def asset_key(row: DelegationRow) -> str:
    """The asset kind as the SLA policy matches it ("*" when none is given)."""
    asset = asset_name(row)
    return "*" if asset == "UNSPECIFIED" else asset


def view(
    row: DelegationRow,
    history: list[Event] | None = None,
    requests: Sequence[RequestRow] | None = None,
    waiting: Sequence[WaitingStepRow] = (),
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
        if row.task_type == ASSISTANCE_TASK:
            state = assist.progress(asked_support(out), history)
            out.assistance_progress.CopyFrom(progress_pb(state))
    if row.operation_day is not None:  # the day as the history sets it now, also in lists
        out.assistance_progress.operation_day = row.operation_day.isoformat()
    for req in requests or ():
        out.requests.append(
            pb.PendingRequest(
                request_id=req.request_id,
                kind=kind_pb(req.kind),  # type: ignore[arg-type]
                state=req.state,
                reason=req.reason,
            )
        )
    for step in waiting:  # the entrusted court's steps waiting for the delivery to be recorded
        out.requests.append(
            pb.PendingRequest(
                request_id=f"step-{step.id}",
                kind=kind_pb(step.kind),  # type: ignore[arg-type]
                state=step.state,
                reason=step.reason,
            )
        )
    return out
