"""Wire forms of on-site assistance (异地执行协助): the request's content, the plan, windows, and
the progress a view shows. The domain values are in domain/assistance.py."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from jiaodong.domain.assistance import (
    AssistanceDraft,
    AssistancePolicy,
    AssistState,
    Measure,
    Plan,
    Support,
    SupportState,
    VisitingOfficer,
    Window,
    latest_request_day,
    parse_window,
    reminder_day,
)
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.lifecycle import ASSISTANCE_TASK
from jiaodong.v1 import court_node_service_pb2 as node_pb
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import (
    document_from_pb,
    document_pb,
    optional_enum,
    side_pb,
    target_from_pb,
    target_pb,
)

ASSISTANCE_TASK_PB = pb.TaskType.Value(f"TASK_TYPE_{ASSISTANCE_TASK}")


def is_assistance(content: pb.Delegation) -> bool:
    return content.task_type == ASSISTANCE_TASK_PB


def window_pb(w: Window | None) -> pb.TimeWindow:
    if w is None:
        return pb.TimeWindow()
    return pb.TimeWindow(day=w.day.isoformat(), start=f"{w.start:%H:%M}", end=f"{w.end:%H:%M}")


def window_from_pb(msg: pb.TimeWindow, where: str) -> Window | None:
    """None when no day is given (the checks then say it is required)."""
    if not (msg.day or msg.start or msg.end):
        return None
    return parse_window({"day": msg.day, "start": msg.start, "end": msg.end}, where)


def support_from_pb(value: int, where: str) -> Support:
    name = optional_enum(pb.SupportKind, "SUPPORT_KIND", value, where)
    if not name:
        raise InvalidInput.one(where, "is required")
    return Support(name)


def support_pb(item: Support) -> pb.SupportKind.ValueType:
    return pb.SupportKind.Value(f"SUPPORT_KIND_{item.value}")


def draft_from_pb(req: node_pb.RequestAssistanceRequest | pb.Delegation) -> AssistanceDraft:
    """A domain draft from the API request, or from the content of a request first seen on the
    bus (the same checks either way)."""
    a = req.assistance
    measure = optional_enum(pb.Measure, "MEASURE", a.measure, "assistance.measure")
    errors: list[InvalidInput] = []

    def window(msg: pb.TimeWindow, where: str) -> Window | None:
        try:
            return window_from_pb(msg, where)
        except InvalidInput as exc:
            errors.append(exc)
            return None

    proposed = window(a.proposed, "assistance.proposed")
    alternatives = [
        window(w, f"assistance.alternatives[{i}]") for i, w in enumerate(a.alternatives)
    ]
    support = []
    for i, k in enumerate(a.support):
        try:
            support.append(support_from_pb(k, f"assistance.support[{i}]"))
        except InvalidInput as exc:
            errors.append(exc)
    if errors:
        raise InvalidInput([v for e in errors for v in e.violations])
    return AssistanceDraft(
        request_id=req.request_id,
        case_number=req.case_number,
        basis=a.basis,
        measure=Measure(measure) if measure else None,
        target=target_from_pb(req.target),
        subject=a.subject,
        address=req.place.address,
        district=req.place.district,
        proposed=proposed,
        alternatives=tuple(w for w in alternatives if w is not None),
        officers=tuple(
            VisitingOfficer(o.name, o.court_id, o.work_id, o.enforcement_id) for o in a.officers
        ),
        vehicles=tuple(a.vehicles),
        support=tuple(support),
        risk_notes=a.risk_notes,
        documents=tuple(document_from_pb(d) for d in req.documents),
        urgent_reason=a.urgent_reason,
    )


def content_pb(delegation_id: str, requesting_court: str, draft: AssistanceDraft) -> pb.Delegation:
    """The fixed content of an assistance request, as carried on the bus and stored."""
    assert draft.measure is not None
    return pb.Delegation(
        id=delegation_id,
        request_id=draft.request_id,
        case_number=draft.case_number,
        requesting_court=requesting_court,
        target=target_pb(draft.target),
        task_type=ASSISTANCE_TASK_PB,
        place=pb.Place(address=draft.address, district=draft.district),
        documents=[document_pb(d) for d in draft.documents],
        priority=pb.PRIORITY_URGENT if draft.urgent_reason.strip() else pb.PRIORITY_NORMAL,
        assistance=pb.Assistance(
            basis=draft.basis,
            measure=pb.Measure.Value(f"MEASURE_{draft.measure.value}"),
            subject=draft.subject,
            proposed=window_pb(draft.proposed),
            alternatives=[window_pb(w) for w in draft.alternatives],
            officers=[
                pb.VisitingOfficer(
                    name=o.name,
                    court_id=o.court_id,
                    work_id=o.work_id,
                    enforcement_id=o.enforcement_id,
                )
                for o in draft.officers
            ],
            vehicles=list(draft.vehicles),
            support=[support_pb(s) for s in draft.support],
            risk_notes=draft.risk_notes,
            urgent_reason=draft.urgent_reason,
        ),
    )


def plan_from_pb(msg: pb.AssistancePlan) -> Plan:
    window = window_from_pb(msg.window, "plan.window")
    if window is None:
        raise InvalidInput.one("plan.window", "is required (day and time window)")
    items = []
    for i, item in enumerate(msg.support):
        kind = support_from_pb(item.kind, f"plan.support[{i}].kind")
        state = optional_enum(pb.SupportState, "SUPPORT_STATE", item.state, "state")
        items.append((kind, SupportState(state or "ASKED")))
    return Plan(window, msg.liaison, msg.assisting_staff, tuple(items), msg.note)


def support_items_pb(
    items: Iterable[tuple[Support, SupportState]],
) -> list[pb.SupportItem]:
    return [
        pb.SupportItem(kind=support_pb(k), state=pb.SupportState.Value(f"SUPPORT_STATE_{st.value}"))
        for k, st in items
    ]


def plan_pb(plan: Plan) -> pb.AssistancePlan:
    return pb.AssistancePlan(
        window=window_pb(plan.window),
        liaison=plan.liaison,
        assisting_staff=plan.assisting_staff,
        support=support_items_pb(plan.support),
        note=plan.note,
        seq=plan.seq,
    )


def proposed_of(content: pb.Delegation) -> Window | None:
    return window_from_pb(content.assistance.proposed, "assistance.proposed")


def progress_pb(state: AssistState) -> pb.AssistanceProgress:
    """Where a request stands, from its history (the operation day is the row's, the notice
    days the node's, which knows the calendar: ``store.mapper.view``, ``notice_days``)."""
    out = pb.AssistanceProgress()
    if state.plan is not None:
        out.plan.CopyFrom(plan_pb(state.plan))
    for o in state.outcomes:
        out.outcomes.append(
            pb.AssistanceOutcome(
                side=side_pb(o.side),  # type: ignore[arg-type]
                result=pb.CompletionResult.Value(f"COMPLETION_RESULT_{o.result}"),
                record=o.record,
            )
        )
    if state.asked_window is not None:
        out.asked_window.CopyFrom(window_pb(state.asked_window))
    return out


def notice_days(out: pb.Delegation, calendar: WorkCalendar, policy: AssistancePolicy) -> None:
    """The last day the request was in time for its asked day, and the reminder day of the
    operation day now, on ``calendar``."""
    progress = out.assistance_progress
    asked = proposed_of(out)
    if asked is not None:
        progress.latest_request_day = latest_request_day(calendar, asked.day, policy).isoformat()
    if progress.operation_day:
        day = date.fromisoformat(progress.operation_day)
        progress.reminder_day = reminder_day(calendar, day).isoformat()


def asked_support(content: pb.Delegation) -> tuple[Support, ...]:
    """The support items an assistance request asks for (none for a delegation)."""
    return tuple(
        Support(pb.SupportKind.Name(k).removeprefix("SUPPORT_KIND_"))
        for k in content.assistance.support
        if k != pb.SUPPORT_KIND_UNSPECIFIED
    )
