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

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from jiaodong.domain.calendar import WorkCalendar, deadline, local_day, working_days_before
from jiaodong.domain.delegation import MAX_NAME, MAX_TEXT, check_documents, check_text
from jiaodong.domain.errors import (
    DomainError,
    FieldViolation,
    IllegalTransition,
    InvalidInput,
    RoutingRefused,
)
from jiaodong.domain.identifiers import mask_name, normalize_case_number, validate_plate
from jiaodong.domain.lifecycle import CompletionResult, Document, Event, EventKind, Side, Status
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


def check_received(
    registry: Registry, requesting_court: str, draft: AssistanceDraft, created_at: datetime
) -> CheckedAssistance:
    """The checks a request first seen on the bus passes (a faulty or hostile node cannot slip
    in what its own gRPC edge would refuse): all but the notice, which the requesting node
    checked against its calendar when the request was made (the message may arrive later)."""
    no_notice = AssistancePolicy(advance_working_days=0)
    calendar = WorkCalendar({}, {}, frozenset())
    return check_assistance(registry, requesting_court, draft, calendar, created_at, no_notice)


# -- the steps on the history ---------------------------------------------------------------------
#
# An assistance request lives on the delegation's machinery: its history is the same hash-chained
# list of events, its status moves by ``lifecycle.ASSIST_RULES``, and what a step carries beyond
# its text travels in ``Event.detail`` as canonical JSON (sealed in the hash). The functions below
# read that detail back (``progress``) and hold the rules the status table cannot express
# (``check_step``): a plan gives the state of each item asked for, support is confirmed only if
# asked, the plan accepted is the latest, each court records the outcome once and not before the
# operation day.

# The steps each court takes on its own node, and those that must say why.
STEPS_OF: Mapping[Side, frozenset[EventKind]] = {
    Side.ENTRUSTED: frozenset(
        {
            EventKind.ACKNOWLEDGED,
            EventKind.PLAN_PROPOSED,
            EventKind.SUPPORT_CONFIRMED,
            EventKind.REFUSED,
            EventKind.CANCELLED,
            EventKind.OUTCOME_RECORDED,
        }
    ),
    Side.REQUESTING: frozenset(
        {
            EventKind.PLAN_ACCEPTED,
            EventKind.MOVE_ASKED,
            EventKind.CANCELLED,
            EventKind.OUTCOME_RECORDED,
            EventKind.URGED,
        }
    ),
    Side.COORDINATOR: frozenset({EventKind.URGED, EventKind.ESCALATED, EventKind.REROUTED}),
}
TEXT_REQUIRED = frozenset(
    {
        EventKind.REFUSED,
        EventKind.CANCELLED,
        EventKind.MOVE_ASKED,
        EventKind.OUTCOME_RECORDED,
        EventKind.ESCALATED,
        EventKind.REROUTED,
    }
)
MAX_STAFF = 200


def canonical(body: Mapping[str, Any]) -> str:
    """The fixed text of a detail: sorted keys, no spaces, UTF-8 as is (what the hash seals)."""
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def window_row(w: Window) -> dict[str, str]:
    return {"day": w.day.isoformat(), "start": f"{w.start:%H:%M}", "end": f"{w.end:%H:%M}"}


def parse_window(value: Mapping[str, str], where: str) -> Window:
    """A window from its row form (ISO day, HH:MM times); InvalidInput naming ``where``."""
    try:
        day = date.fromisoformat(value.get("day", ""))
    except ValueError:
        raise InvalidInput.one(f"{where}.day", "is not a date like 2026-12-07") from None
    times = []
    for key in ("start", "end"):
        text = value.get(key, "")
        try:
            if not re.fullmatch(r"\d{2}:\d{2}", text):
                raise ValueError(text)
            times.append(time.fromisoformat(text))
        except ValueError:
            raise InvalidInput.one(f"{where}.{key}", "is not a time like 09:00") from None
    return Window(day, times[0], times[1])


@dataclass(frozen=True)
class Plan:
    """What the local court proposes: when, who is the liaison, how many assist, and the state
    of each support item asked for. ``seq`` is the event that proposed it."""

    window: Window
    liaison: str  # name and phone of the local court's liaison (personal data)
    assisting_staff: int
    support: tuple[tuple[Support, SupportState], ...] = ()
    note: str = ""
    seq: int = 0

    def detail(self) -> str:
        return canonical(
            {
                "plan": {
                    "window": window_row(self.window),
                    "liaison": self.liaison,
                    "assisting_staff": self.assisting_staff,
                    "support": [[k.value, st.value] for k, st in self.support],
                    "note": self.note,
                }
            }
        )


def support_detail(item: Support) -> str:
    return canonical({"support": item.value})


def accept_detail(plan_seq: int) -> str:
    return canonical({"plan_seq": plan_seq})


def move_detail(window: Window) -> str:
    return canonical({"window": window_row(window)})


def _body(event: Event) -> dict[str, Any]:
    return json.loads(event.detail) if event.detail else {}


def _plan_of(event: Event) -> Plan:
    return _plan(_body(event)["plan"], event.seq)


def _plan(raw: dict[str, Any], seq: int) -> Plan:
    return Plan(
        parse_window(raw["window"], "plan.window"),
        raw["liaison"],
        int(raw["assisting_staff"]),
        tuple((Support(k), SupportState(st)) for k, st in raw["support"]),
        raw.get("note", ""),
        seq,
    )


def window_of(event: Event) -> Window | None:
    """The operation window a step sets: a plan's, or the one a move asks for."""
    if event.kind is EventKind.PLAN_PROPOSED:
        return _plan_of(event).window
    if event.kind is EventKind.MOVE_ASKED:
        return parse_window(_body(event)["window"], "window")
    return None


@dataclass(frozen=True)
class Outcome:
    side: Side
    result: str  # a CompletionResult value
    record: str


@dataclass(frozen=True)
class AssistState:
    """What an assistance history says beyond its status."""

    asked: tuple[Support, ...] = ()
    plan: Plan | None = None
    asked_window: Window | None = None  # the requesting court's last wish to move
    outcomes: tuple[Outcome, ...] = ()
    reason: str = ""  # of the last refusal, cancellation or move

    def outcome_of(self, side: Side) -> Outcome | None:
        return next((o for o in self.outcomes if o.side is side), None)


def progress(asked: Sequence[Support], history: Iterable[Event]) -> AssistState:
    """Fold the details of an assistance history (its status is the lifecycle's fold)."""
    state = AssistState(asked=tuple(asked))
    for e in history:
        if e.kind is EventKind.PLAN_PROPOSED:
            state = replace(state, plan=_plan_of(e), asked_window=None)
        elif e.kind is EventKind.SUPPORT_CONFIRMED and state.plan is not None:
            item = Support(_body(e)["support"])
            booked = tuple(
                (k, SupportState.CONFIRMED if k is item else st) for k, st in state.plan.support
            )
            state = replace(state, plan=replace(state.plan, support=booked))
        elif e.kind is EventKind.MOVE_ASKED:
            state = replace(state, asked_window=window_of(e), reason=e.text)
        elif e.kind in (EventKind.REFUSED, EventKind.CANCELLED):
            state = replace(state, reason=e.text)
        elif e.kind is EventKind.OUTCOME_RECORDED:
            state = replace(state, outcomes=(*state.outcomes, Outcome(e.side, e.result, e.text)))
    return state


def _check_plan(out: list[FieldViolation], state: AssistState, plan: Plan, today: date) -> None:
    _check_window(out, "plan.window", plan.window, today)
    check_text(out, "plan.liaison", plan.liaison, required=True, limit=MAX_NAME)
    check_text(out, "plan.note", plan.note, required=False, limit=MAX_TEXT)
    if not 0 <= plan.assisting_staff <= MAX_STAFF:
        out.append(FieldViolation("plan.assisting_staff", f"0 to {MAX_STAFF}"))
    listed = [k for k, _ in plan.support]
    if sorted(listed) != sorted(state.asked) or len(set(listed)) != len(listed):
        asked = ", ".join(s.value for s in state.asked) or "none"
        out.append(
            FieldViolation("plan.support", f"give the state of each item asked for once: {asked}")
        )
    if any(st is SupportState.DECLINED for _, st in plan.support) and not plan.note.strip():
        out.append(FieldViolation("plan.note", "say why a support item is declined"))


def check_step(
    state: AssistState,
    status: Status,
    kind: EventKind,
    side: Side,
    *,
    at: datetime,
    text: str = "",
    detail: str = "",
    result: str = "",
) -> None:
    """The rules of an assistance step beyond the status table (``lifecycle.ASSIST_RULES``, which
    the caller checks): InvalidInput for a missing or wrong field, IllegalTransition when the
    request's state forbids it. Pure; nothing is written."""
    out: list[FieldViolation] = []
    check_text(out, "text", text, required=kind in TEXT_REQUIRED)
    body: dict[str, Any] = {}
    try:
        body = json.loads(detail) if detail else {}
    except ValueError:
        out.append(FieldViolation("detail", "is not JSON"))
    today = local_day(at)
    word = kind.value.lower().replace("_", " ")
    if kind is EventKind.PLAN_PROPOSED:
        raw = body.get("plan")
        if not isinstance(raw, dict):
            raise InvalidInput.one("plan", "is required")
        plan = _plan(raw, 0)
        _check_plan(out, state, plan, today)
    elif kind is EventKind.SUPPORT_CONFIRMED:
        item = body.get("support")
        if item not in {s.value for s in state.asked}:
            out.append(FieldViolation("support", "confirm only support that was asked for"))
        elif (
            state.plan is not None and (Support(item), SupportState.CONFIRMED) in state.plan.support
        ):
            raise IllegalTransition(status.value, word, f"{item} is booked already")
    elif kind is EventKind.PLAN_ACCEPTED:
        seq = body.get("plan_seq")
        if state.plan is None or seq != state.plan.seq:
            latest = state.plan.seq if state.plan is not None else "none"
            raise IllegalTransition(
                status.value, word, f"the plan to accept is event {latest}, not {seq}"
            )
    elif kind is EventKind.MOVE_ASKED:
        if not isinstance(body.get("window"), dict):
            out.append(FieldViolation("window", "say which day and window to move to"))
        else:
            _check_window(out, "window", parse_window(body["window"], "window"), today)
    elif kind is EventKind.OUTCOME_RECORDED:
        if result not in {r.value for r in CompletionResult}:
            out.append(FieldViolation("result", "DONE, PARTLY_DONE or NOT_POSSIBLE"))
        if state.outcome_of(side) is not None:
            raise IllegalTransition(status.value, word, "this court recorded it already")
        if state.plan is not None and today < state.plan.window.day:
            raise IllegalTransition(
                status.value, word, f"the operation is on {state.plan.window.day}"
            )
    if out:
        raise InvalidInput(out)


def masked_detail(detail: str) -> str:
    """A detail as masked views show it: the liaison's name and phone hidden."""
    if '"liaison"' not in detail:
        return detail
    body = json.loads(detail)
    body["plan"]["liaison"] = masked_liaison(str(body["plan"]["liaison"]))
    return canonical(body)


def masked_liaison(liaison: str) -> str:
    """``李联络 0535-1234567`` -> ``李** ***``: the surname stays, the rest and the phone go."""
    words = liaison.split()
    return mask_name(words[0]) + (" ***" if len(words) > 1 else "") if words else ""
