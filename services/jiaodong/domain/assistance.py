"""Cross-city on-site assistance (异地执行协助): the requesting court's own officers act in another
city, and the local court there assists. Pure: no I/O.

This is the exchange's domain core (issue 15): what a request holds and the checks it must pass,
its lifecycle (who may take which step in which state), and its time limits on the working-day
calendar. It follows the delegation's rules of the road: after delivery the local court's node is
the single writer, and the requesting court's steps (accepting the plan, asking to move the date,
cancelling, recording what its officers did) travel to it as requests.

The path of one request::

    CREATED -> ROUTED -> DELIVERED -> ACKNOWLEDGED -> PROPOSED -> AGREED -> DONE -> CLOSED
                                          ^              |  ^        |
                                          +-- MOVE_ASKED +  +--------+ (the local court
                                                                       proposes again)
    REFUSED (by the local court, with a reason), CANCELLED (either court, with a reason) and
    ROUTING_FAILED end it early.

- PLAN_PROPOSED (local court): the date and time window it confirms (the one asked or another),
  the liaison, the assisting staff, and the state of each support item asked for.
- SUPPORT_CONFIRMED (local court): one support item booked (police, locksmith, ...).
- PLAN_ACCEPTED (requesting court): the plan is agreed; the operation is on.
- MOVE_ASKED (requesting court, with a reason and the window it asks for): the local court
  proposes again.
- OUTCOME_RECORDED (each court once, from the start of the operation day): done, partly done or
  not possible, with a short record; DONE after the first, CLOSED after both.

Time limits (``[assistance]`` in courts/sla.toml, ``AssistancePolicy``): the request at least
``advance_working_days`` working days before the operation day (one court's rule asks police
support three working days ahead); the local court's plan within ``confirm_working_days`` working
days of delivery; a reminder on the working day before the operation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from enum import StrEnum

from jiaodong.domain.calendar import WorkCalendar, deadline, local_day, working_days_before
from jiaodong.domain.delegation import MAX_NAME, MAX_TEXT, check_documents, check_text
from jiaodong.domain.errors import (
    DomainError,
    FieldViolation,
    IllegalTransition,
    InvalidInput,
    NotAllowed,
    RoutingRefused,
)
from jiaodong.domain.identifiers import mask_name, normalize_case_number, validate_plate
from jiaodong.domain.lifecycle import CompletionResult, Document, Side
from jiaodong.domain.periods import Period, Unit
from jiaodong.domain.registry import Registry
from jiaodong.domain.routing import Target, route

MAX_OFFICERS = 20
MAX_ALTERNATIVES = 5
MAX_VEHICLES = 10
STAFF_ID = re.compile(r"[A-Za-z0-9\-]{4,30}")


class Measure(StrEnum):
    """What the visiting officers do on site."""

    EVICTION = "EVICTION"  # 强制迁出
    INSPECTION = "INSPECTION"  # 现场勘验
    VEHICLE_SEIZURE = "VEHICLE_SEIZURE"  # 扣押车辆
    HANDOVER = "HANDOVER"  # 交付
    DETENTION = "DETENTION"  # 司法拘留
    SEARCH = "SEARCH"  # 搜查


class Support(StrEnum):
    """What the local court is asked to provide."""

    ASSISTING_OFFICERS = "ASSISTING_OFFICERS"  # 协助执行人员
    COURT_POLICE = "COURT_POLICE"  # 司法警察
    PUBLIC_POLICE = "PUBLIC_POLICE"  # 公安警务保障
    LOCKSMITH = "LOCKSMITH"  # 开锁
    MEDICAL = "MEDICAL"  # 医疗保障
    DETENTION_CENTRE = "DETENTION_CENTRE"  # 拘留所


class SupportState(StrEnum):
    ASKED = "ASKED"
    CONFIRMED = "CONFIRMED"  # booked
    DECLINED = "DECLINED"  # the local court cannot provide it (the plan says why)


@dataclass(frozen=True)
class Window:
    """A day and a time window on it (Asia/Shanghai)."""

    day: date
    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.day} {self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class VisitingOfficer:
    """One of the requesting court's officers who will act on site. Personal data: the name and
    both ID numbers are masked wherever they are shown or logged (``masked``)."""

    name: str
    court_id: str
    work_id: str  # 工作证号
    enforcement_id: str  # 执行公务证号

    def masked(self) -> VisitingOfficer:
        return VisitingOfficer(
            mask_name(self.name),
            self.court_id,
            mask_id(self.work_id),
            mask_id(self.enforcement_id),
        )


def mask_id(value: str) -> str:
    """A staff ID number with all but its last 2 characters hidden."""
    text = value.strip()
    return "*" * max(len(text) - 2, 2) + text[-2:] if len(text) > 2 else "*" * len(text)


@dataclass(frozen=True)
class AssistanceDraft:
    """A request for assistance as the requesting court submits it."""

    request_id: str
    case_number: str
    basis: str  # the enforcement basis, e.g. the judgment: (2024)鲁0202民初100号民事判决书
    measure: Measure | None
    target: Target  # routed like a delegation: the local court with jurisdiction
    subject: str  # the person or property the operation concerns (personal data)
    address: str  # where (personal data)
    district: str
    proposed: Window | None
    alternatives: tuple[Window, ...] = ()
    officers: tuple[VisitingOfficer, ...] = ()
    vehicles: tuple[str, ...] = ()  # plates of the visitors' vehicles
    support: tuple[Support, ...] = ()
    risk_notes: str = ""
    documents: tuple[Document, ...] = ()
    # A date closer than the notice allows: only with a reason, which the local court reads.
    urgent_reason: str = ""


@dataclass(frozen=True)
class AssistancePolicy:
    """``[assistance]`` in courts/sla.toml."""

    advance_working_days: int = 3
    confirm_working_days: int = 2
    advance_source: str = (
        "local court rule: police support (警务保障) is asked for three working days before the "
        "operation; adopted as platform default, operators should confirm"
    )
    confirm_source: str = (
        "PLATFORM DEFAULT: the local court confirms the plan within 2 working days of delivery; "
        "the law says the local court shall assist but gives no day limit"
    )


@dataclass(frozen=True)
class CheckedAssistance:
    draft: AssistanceDraft
    local_court: str
    latest_request_day: date
    warnings: tuple[str, ...] = field(default=())


def latest_request_day(cal: WorkCalendar, operation: date, policy: AssistancePolicy) -> date:
    """The last day a request for an operation on ``operation`` is in time: ``advance`` working
    days lie between it and the operation day, the operation day itself not counted."""
    return working_days_before(cal, operation, policy.advance_working_days)


def reminder_day(cal: WorkCalendar, operation: date) -> date:
    """The working day before the operation, when both courts are reminded."""
    return working_days_before(cal, operation, 1)


def confirm_due(cal: WorkCalendar, delivered_at: datetime, policy: AssistancePolicy) -> datetime:
    """When the local court's plan is due (exclusive): working days counted after delivery."""
    return deadline(cal, delivered_at, Period(policy.confirm_working_days, Unit.WORKING_DAYS)).due


def _check_window(out: list[FieldViolation], where: str, w: Window | None, today: date) -> None:
    if w is None:
        out.append(FieldViolation(where, "is required (day and time window)"))
        return
    if w.end <= w.start:
        out.append(FieldViolation(f"{where}.end", "the window must end after it starts"))
    if w.day < today:
        out.append(FieldViolation(f"{where}.day", f"{w.day} is in the past"))


def check_assistance(
    registry: Registry,
    requesting_court: str,
    draft: AssistanceDraft,
    cal: WorkCalendar,
    now: datetime,
    policy: AssistancePolicy,
) -> CheckedAssistance:
    """Every check a new request must pass, with its normal form and the local court; raises
    ``InvalidInput`` listing each bad field (nothing is written)."""
    out: list[FieldViolation] = []
    warnings: list[str] = []
    today = local_day(now)
    case_number = draft.case_number
    try:
        case_number = normalize_case_number(draft.case_number)
    except InvalidInput as exc:
        out += exc.violations
    check_text(out, "basis", draft.basis, required=True, limit=MAX_NAME)
    if draft.measure is None:
        out.append(FieldViolation("measure", "is required"))
    check_text(out, "subject", draft.subject, required=True, limit=MAX_NAME)
    check_text(out, "place.address", draft.address, required=True, limit=MAX_NAME)
    check_text(out, "place.district", draft.district, required=False, limit=50)
    _check_window(out, "proposed", draft.proposed, today)
    if len(draft.alternatives) > MAX_ALTERNATIVES:
        out.append(FieldViolation("alternatives", f"at most {MAX_ALTERNATIVES}"))
    for i, alt in enumerate(draft.alternatives):
        _check_window(out, f"alternatives[{i}]", alt, today)
    if not draft.officers:
        out.append(FieldViolation("officers", "name at least one visiting officer"))
    if len(draft.officers) > MAX_OFFICERS:
        out.append(FieldViolation("officers", f"at most {MAX_OFFICERS}"))
    officers = []
    for i, o in enumerate(draft.officers):
        where = f"officers[{i}]"
        check_text(out, f"{where}.name", o.name, required=True, limit=50)
        court = o.court_id.strip() or requesting_court
        if court != requesting_court:
            out.append(
                FieldViolation(f"{where}.court_id", "visiting officers are the requesting court's")
            )
        for name, value in (("work_id", o.work_id), ("enforcement_id", o.enforcement_id)):
            if not STAFF_ID.fullmatch(value.strip()):
                out.append(FieldViolation(f"{where}.{name}", "4 to 30 letters, digits or hyphens"))
        officers.append(replace(o, court_id=court, work_id=o.work_id.strip()))
    plates = []
    if len(draft.vehicles) > MAX_VEHICLES:
        out.append(FieldViolation("vehicles", f"at most {MAX_VEHICLES}"))
    for i, plate in enumerate(draft.vehicles):
        try:
            plates.append(validate_plate(plate, f"vehicles[{i}]"))
        except InvalidInput as exc:
            out += exc.violations
    if len(set(draft.support)) != len(draft.support):
        out.append(FieldViolation("support", "each kind of support once"))
    check_text(out, "risk_notes", draft.risk_notes, required=False, limit=MAX_TEXT)
    check_text(out, "urgent_reason", draft.urgent_reason, required=False, limit=MAX_TEXT)
    check_documents(out, "documents", draft.documents)
    latest = today
    if draft.proposed is not None:
        latest = latest_request_day(cal, draft.proposed.day, policy)
        if today > latest:
            late = (
                f"{policy.advance_working_days} working days' notice: for {draft.proposed.day} "
                f"ask by {latest} ({policy.advance_source})"
            )
            if draft.urgent_reason.strip():
                warnings.append(f"less than {late}; sent as urgent")
            else:
                out.append(
                    FieldViolation("proposed.day", f"less than {late}, or say why it is urgent")
                )
    local = ""
    try:
        local = route(registry, requesting_court, draft.target).court_id
    except RoutingRefused as exc:
        out.append(FieldViolation(exc.field, exc.reason))
    except DomainError as exc:
        out.append(FieldViolation("target", str(exc)))
    if out:
        raise InvalidInput(out)
    normal = replace(
        draft, case_number=case_number, officers=tuple(officers), vehicles=tuple(plates)
    )
    return CheckedAssistance(normal, local, latest, tuple(warnings))


# -- the lifecycle -------------------------------------------------------------------------------


class AssistStatus(StrEnum):
    CREATED = "CREATED"
    ROUTED = "ROUTED"
    DELIVERED = "DELIVERED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    PROPOSED = "PROPOSED"  # the local court's plan, awaiting the requesting court
    AGREED = "AGREED"  # the operation is on
    DONE = "DONE"  # one court recorded the outcome
    CLOSED = "CLOSED"  # both did
    REFUSED = "REFUSED"
    CANCELLED = "CANCELLED"
    ROUTING_FAILED = "ROUTING_FAILED"

    @property
    def closed(self) -> bool:
        return self in (
            AssistStatus.CLOSED,
            AssistStatus.REFUSED,
            AssistStatus.CANCELLED,
            AssistStatus.ROUTING_FAILED,
        )


class AssistStep(StrEnum):
    CREATED = "CREATED"
    ROUTED = "ROUTED"
    ROUTING_FAILED = "ROUTING_FAILED"
    DELIVERED = "DELIVERED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    PLAN_PROPOSED = "PLAN_PROPOSED"
    SUPPORT_CONFIRMED = "SUPPORT_CONFIRMED"
    PLAN_ACCEPTED = "PLAN_ACCEPTED"
    MOVE_ASKED = "MOVE_ASKED"
    REFUSED = "REFUSED"
    CANCELLED = "CANCELLED"
    OUTCOME_RECORDED = "OUTCOME_RECORDED"


S, L, R, C = AssistStatus, Side.ENTRUSTED, Side.REQUESTING, Side.COORDINATOR
_BEFORE_OPERATION = (S.DELIVERED, S.ACKNOWLEDGED, S.PROPOSED, S.AGREED)

# step -> (who may take it, {from status: to status}); OUTCOME_RECORDED is decided in ``apply``.
RULES: dict[AssistStep, tuple[frozenset[Side], dict[AssistStatus, AssistStatus]]] = {
    AssistStep.ROUTED: (frozenset({C}), {S.CREATED: S.ROUTED}),
    AssistStep.ROUTING_FAILED: (frozenset({C}), {S.CREATED: S.ROUTING_FAILED}),
    AssistStep.DELIVERED: (frozenset({L}), {S.ROUTED: S.DELIVERED}),
    AssistStep.ACKNOWLEDGED: (frozenset({L}), {S.DELIVERED: S.ACKNOWLEDGED}),
    AssistStep.PLAN_PROPOSED: (
        frozenset({L}),
        {S.DELIVERED: S.PROPOSED, S.ACKNOWLEDGED: S.PROPOSED, S.PROPOSED: S.PROPOSED},
    ),
    AssistStep.SUPPORT_CONFIRMED: (frozenset({L}), {S.PROPOSED: S.PROPOSED, S.AGREED: S.AGREED}),
    AssistStep.PLAN_ACCEPTED: (frozenset({R}), {S.PROPOSED: S.AGREED}),
    AssistStep.MOVE_ASKED: (
        frozenset({R}),
        {S.PROPOSED: S.ACKNOWLEDGED, S.AGREED: S.ACKNOWLEDGED},
    ),
    AssistStep.REFUSED: (
        frozenset({L}),
        {s: S.REFUSED for s in (S.DELIVERED, S.ACKNOWLEDGED, S.PROPOSED)},
    ),
    AssistStep.CANCELLED: (
        frozenset({L, R}),
        {s: S.CANCELLED for s in (S.ROUTED, *_BEFORE_OPERATION)},
    ),
    AssistStep.OUTCOME_RECORDED: (frozenset({L, R}), {S.AGREED: S.DONE, S.DONE: S.CLOSED}),
}
# Steps that say why: a refusal, a cancellation, a move.
NEEDS_REASON = frozenset({AssistStep.REFUSED, AssistStep.CANCELLED, AssistStep.MOVE_ASKED})


@dataclass(frozen=True)
class Plan:
    """What the local court proposes: when, who is the liaison, how many assist, and the state
    of each support item."""

    window: Window
    liaison: str  # name and phone of the local court's liaison (personal data)
    assisting_staff: int
    support: tuple[tuple[Support, SupportState], ...] = ()
    note: str = ""


@dataclass(frozen=True)
class AssistEvent:
    """One step of an assistance request's history (the fields a step of its kind carries)."""

    step: AssistStep
    side: Side
    at: datetime
    reason: str = ""
    plan: Plan | None = None
    support: Support | None = None
    window: Window | None = None  # the window a move asks for
    outcome: str = ""  # a CompletionResult value
    record: str = ""


@dataclass(frozen=True)
class AssistState:
    status: AssistStatus = AssistStatus.CREATED
    plan: Plan | None = None
    asked: tuple[Support, ...] = ()
    outcomes: tuple[tuple[Side, str], ...] = ()
    reason: str = ""


def _check_fields(state: AssistState, e: AssistEvent) -> None:
    if e.step in NEEDS_REASON and not e.reason.strip():
        raise InvalidInput.one("reason", "is required")
    if e.step is AssistStep.PLAN_PROPOSED:
        if e.plan is None:
            raise InvalidInput.one("plan", "is required")
        if not e.plan.liaison.strip():
            raise InvalidInput.one("plan.liaison", "is required")
        if e.plan.assisting_staff < 0:
            raise InvalidInput.one("plan.assisting_staff", "cannot be negative")
        listed = [s for s, _ in e.plan.support]
        if sorted(listed) != sorted(state.asked):
            raise InvalidInput.one("plan.support", "give the state of each support item asked for")
        if e.plan.window.end <= e.plan.window.start:
            raise InvalidInput.one("plan.window.end", "the window must end after it starts")
    if e.step is AssistStep.SUPPORT_CONFIRMED and e.support not in state.asked:
        raise InvalidInput.one("support", "confirm only support that was asked for")
    if e.step is AssistStep.MOVE_ASKED and e.window is None:
        raise InvalidInput.one("window", "say which day and window to move to")
    if e.step is AssistStep.OUTCOME_RECORDED:
        if e.outcome not in {r.value for r in CompletionResult}:
            raise InvalidInput.one("outcome", "DONE, PARTLY_DONE or NOT_POSSIBLE")
        if not e.record.strip():
            raise InvalidInput.one("record", "a short record of the operation is required")


def apply(state: AssistState, e: AssistEvent) -> AssistState:
    """The state after step ``e``; NotAllowed for the wrong court, IllegalTransition for the wrong
    state, InvalidInput for missing or wrong fields."""
    sides, moves = RULES[e.step]
    word = e.step.value.lower().replace("_", " ")
    if e.side not in sides:
        raise NotAllowed(f"the {e.side.value.lower()} court may not take the step {word}")
    to = moves.get(state.status)
    if to is None:
        allowed = ", ".join(s.value for s in moves)
        raise IllegalTransition(state.status.value, word, f"allowed only when it is {allowed}")
    _check_fields(state, e)
    out = replace(state, status=to)
    if e.step is AssistStep.PLAN_PROPOSED:
        out = replace(out, plan=e.plan)
    elif e.step is AssistStep.SUPPORT_CONFIRMED and state.plan is not None:
        items = tuple(
            (s, SupportState.CONFIRMED if s is e.support else st) for s, st in state.plan.support
        )
        out = replace(out, plan=replace(state.plan, support=items))
    elif e.step is AssistStep.OUTCOME_RECORDED:
        if any(side is e.side for side, _ in state.outcomes):
            raise IllegalTransition(state.status.value, word, "this court recorded it already")
        if state.plan is not None and local_day(e.at) < state.plan.window.day:
            raise IllegalTransition(
                state.status.value, word, f"the operation is on {state.plan.window.day}"
            )
        out = replace(out, outcomes=(*state.outcomes, (e.side, e.outcome)))
    elif e.step in NEEDS_REASON:
        out = replace(out, reason=e.reason)
    return out


def fold(asked: Sequence[Support], history: Iterable[AssistEvent]) -> AssistState:
    """The state a history leads to (the first step must be CREATED)."""
    events = list(history)
    if not events or events[0].step is not AssistStep.CREATED:
        raise InvalidInput.one("history", "a history starts with CREATED")
    state = AssistState(asked=tuple(asked))
    for e in events[1:]:
        state = apply(state, e)
    return state
