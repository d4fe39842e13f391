"""On-site assistance (issue 15), the domain core: the request's checks, the advance-notice limit
on the working-day calendar, and every legal and illegal step of its lifecycle."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest

from jiaodong.domain.assistance import (
    AssistanceDraft,
    AssistancePolicy,
    AssistEvent,
    AssistState,
    AssistStatus,
    AssistStep,
    Measure,
    Plan,
    Support,
    SupportState,
    VisitingOfficer,
    Window,
    apply,
    check_assistance,
    confirm_due,
    fold,
    latest_request_day,
    mask_id,
    reminder_day,
)
from jiaodong.domain.calendar import SHANGHAI
from jiaodong.domain.errors import IllegalTransition, InvalidInput, NotAllowed
from jiaodong.domain.lifecycle import Side
from jiaodong.domain.routing import Target
from jiaodong.files.calendar import official_calendar
from jiaodong.files.registry import load_registry

CAL = official_calendar()
POLICY = AssistancePolicy()
REGISTRY = load_registry()
QD, YT = "370202", "370602"
# The Monday after National Day 2021 (1-7 October); Saturday 9 October was a make-up working day.
OPERATION = date(2021, 10, 11)


def beijing(y: int, m: int, d: int, hh: int = 10) -> datetime:
    return datetime(y, m, d, hh, tzinfo=SHANGHAI).astimezone(UTC)


def officer(**kw: str) -> VisitingOfficer:
    fields = {"name": "王执行", "court_id": QD, "work_id": "QD-0001", "enforcement_id": "ZX2021001"}
    return VisitingOfficer(**{**fields, **kw})


def draft(**kw: object) -> AssistanceDraft:
    base = AssistanceDraft(
        request_id="r1",
        case_number="(2021)鲁0202执100号",
        basis="(2020)鲁0202民初88号民事判决书",
        measure=Measure.EVICTION,
        target=Target(city="yantai", district="芝罘区"),
        subject="被执行人名下房屋",
        address="芝罘区南大街1号",
        district="芝罘区",
        proposed=Window(OPERATION, time(9), time(12)),
        officers=(officer(),),
        vehicles=("鲁B12345",),
        support=(Support.COURT_POLICE, Support.LOCKSMITH),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_the_thursday_before_national_day_is_the_last_day_to_ask_for_the_monday_after() -> None:
    # Eleven calendar days, but between them only Friday 8 and Saturday 9 October (a make-up
    # working day) and Thursday 30 September itself are working days.
    assert not CAL.is_working_day(date(2021, 10, 7)) and CAL.is_working_day(date(2021, 10, 9))
    assert latest_request_day(CAL, OPERATION, POLICY) == date(2021, 9, 30)
    checked = check_assistance(REGISTRY, QD, draft(), CAL, beijing(2021, 9, 30, 17), POLICY)
    assert checked.local_court == YT and checked.latest_request_day == date(2021, 9, 30)
    assert checked.warnings == ()
    with pytest.raises(InvalidInput) as late:
        check_assistance(REGISTRY, QD, draft(), CAL, beijing(2021, 10, 8), POLICY)
    (v,) = late.value.violations
    assert v.field == "proposed.day"
    assert "3 working days' notice: for 2021-10-11 ask by 2021-09-30" in v.description
    urgent = draft(urgent_reason="被执行人即将转移财产")
    checked = check_assistance(REGISTRY, QD, urgent, CAL, beijing(2021, 10, 8), POLICY)
    assert checked.warnings and "sent as urgent" in checked.warnings[0]


def test_the_reminder_and_the_local_courts_limit_on_the_same_calendar() -> None:
    assert reminder_day(CAL, OPERATION) == date(2021, 10, 9)  # the make-up Saturday
    # Delivered Thursday 30 September: two working days are 8 and 9 October.
    due = confirm_due(CAL, beijing(2021, 9, 30), POLICY)
    assert due == datetime(2021, 10, 10, tzinfo=SHANGHAI).astimezone(UTC)


def test_every_bad_field_is_named_and_nothing_is_accepted() -> None:
    bad = draft(
        measure=None,
        officers=(officer(court_id="370203", work_id="x", enforcement_id="ZX 1"),),
        vehicles=("not a plate",),
        support=(Support.LOCKSMITH, Support.LOCKSMITH),
        proposed=Window(OPERATION, time(12), time(9)),
        alternatives=(Window(date(2021, 9, 1), time(9), time(10)),),
        case_number="",
    )
    with pytest.raises(InvalidInput) as err:
        check_assistance(REGISTRY, QD, bad, CAL, beijing(2021, 9, 20), POLICY)
    fields = {v.field for v in err.value.violations}
    assert {
        "measure",
        "officers[0].court_id",
        "officers[0].work_id",
        "officers[0].enforcement_id",
        "vehicles[0]",
        "support",
        "proposed.end",
        "alternatives[0].day",
        "case_number",
    } <= fields
    with pytest.raises(InvalidInput) as err:
        check_assistance(REGISTRY, QD, draft(officers=()), CAL, beijing(2021, 9, 20), POLICY)
    assert [v.field for v in err.value.violations] == ["officers"]


def test_visiting_officers_ids_are_masked() -> None:
    shown = officer().masked()
    assert (shown.work_id, shown.enforcement_id) == ("*****01", "*******01")
    assert shown.name == "王**" and "0001" not in repr(shown)
    assert mask_id("12") == "**"


PLAN = Plan(
    Window(OPERATION, time(9), time(12)),
    liaison="烟台芝罘法院 李联络 0535-1234567",
    assisting_staff=4,
    support=((Support.COURT_POLICE, SupportState.ASKED), (Support.LOCKSMITH, SupportState.ASKED)),
)
ASKED = (Support.COURT_POLICE, Support.LOCKSMITH)


def ev(step: AssistStep, side: Side, at: datetime | None = None, **kw: object) -> AssistEvent:
    return AssistEvent(step, side, at or beijing(2021, 9, 30), **kw)  # type: ignore[arg-type]


L, R, C = Side.ENTRUSTED, Side.REQUESTING, Side.COORDINATOR
S, STEP = AssistStatus, AssistStep
HAPPY = [
    (ev(AssistStep.ROUTED, C), AssistStatus.ROUTED),
    (ev(AssistStep.DELIVERED, L), AssistStatus.DELIVERED),
    (ev(AssistStep.ACKNOWLEDGED, L), AssistStatus.ACKNOWLEDGED),
    (ev(AssistStep.PLAN_PROPOSED, L, plan=PLAN), AssistStatus.PROPOSED),
    (
        ev(AssistStep.MOVE_ASKED, R, reason="当日有庭审", window=PLAN.window),
        AssistStatus.ACKNOWLEDGED,
    ),
    (ev(AssistStep.PLAN_PROPOSED, L, plan=PLAN), AssistStatus.PROPOSED),
    (ev(AssistStep.PLAN_ACCEPTED, R), AssistStatus.AGREED),
    (ev(AssistStep.SUPPORT_CONFIRMED, L, support=Support.COURT_POLICE), AssistStatus.AGREED),
    (
        ev(
            AssistStep.OUTCOME_RECORDED,
            L,
            beijing(2021, 10, 11, 13),
            outcome="DONE",
            record="已腾空交付",
        ),
        AssistStatus.DONE,
    ),
    (
        ev(
            AssistStep.OUTCOME_RECORDED,
            R,
            beijing(2021, 10, 11, 14),
            outcome="DONE",
            record="执行完毕",
        ),
        AssistStatus.CLOSED,
    ),
]


def test_the_whole_path_step_by_step() -> None:
    state = AssistState(asked=ASKED)
    for event, status in HAPPY:
        state = apply(state, event)
        assert state.status is status, event.step
    assert state.plan is not None
    assert dict(state.plan.support)[Support.COURT_POLICE] is SupportState.CONFIRMED
    assert dict(state.plan.support)[Support.LOCKSMITH] is SupportState.ASKED
    assert state.outcomes == ((L, "DONE"), (R, "DONE"))
    history = [ev(AssistStep.CREATED, R), *(e for e, _ in HAPPY)]
    assert fold(ASKED, history).status is AssistStatus.CLOSED


def at(status: AssistStatus) -> AssistState:
    """A state reached by the happy path."""
    state = AssistState(asked=ASKED)
    for event, reached in HAPPY:
        if state.status is status:
            return state
        state = apply(state, event)
        if reached is status:
            return state
    raise AssertionError(status)


@pytest.mark.parametrize(
    ("status", "event", "error"),
    [
        # the wrong court
        (AssistStatus.ROUTED, ev(AssistStep.DELIVERED, R), NotAllowed),
        (AssistStatus.PROPOSED, ev(AssistStep.PLAN_ACCEPTED, L), NotAllowed),
        (AssistStatus.ACKNOWLEDGED, ev(AssistStep.PLAN_PROPOSED, R, plan=PLAN), NotAllowed),
        (AssistStatus.PROPOSED, ev(AssistStep.REFUSED, R, reason="x"), NotAllowed),
        # the wrong state
        (AssistStatus.ACKNOWLEDGED, ev(AssistStep.PLAN_ACCEPTED, R), IllegalTransition),
        (AssistStatus.AGREED, ev(AssistStep.REFUSED, L, reason="警力不足"), IllegalTransition),
        (AssistStatus.DONE, ev(AssistStep.CANCELLED, R, reason="x"), IllegalTransition),
        (
            AssistStatus.ACKNOWLEDGED,
            ev(AssistStep.SUPPORT_CONFIRMED, L, support=Support.LOCKSMITH),
            IllegalTransition,
        ),
        (
            AssistStatus.PROPOSED,
            ev(AssistStep.OUTCOME_RECORDED, L, outcome="DONE", record="x"),
            IllegalTransition,
        ),
        # missing or wrong fields
        (AssistStatus.PROPOSED, ev(AssistStep.CANCELLED, R), InvalidInput),
        (AssistStatus.ACKNOWLEDGED, ev(AssistStep.REFUSED, L), InvalidInput),
        (AssistStatus.PROPOSED, ev(AssistStep.MOVE_ASKED, R, reason="x"), InvalidInput),
        (
            AssistStatus.ACKNOWLEDGED,
            ev(AssistStep.PLAN_PROPOSED, L, plan=replace(PLAN, support=())),
            InvalidInput,
        ),
        (
            AssistStatus.ACKNOWLEDGED,
            ev(AssistStep.PLAN_PROPOSED, L, plan=replace(PLAN, liaison=" ")),
            InvalidInput,
        ),
        (
            AssistStatus.AGREED,
            ev(AssistStep.SUPPORT_CONFIRMED, L, support=Support.MEDICAL),
            InvalidInput,
        ),
        (
            AssistStatus.AGREED,
            ev(AssistStep.OUTCOME_RECORDED, L, beijing(2021, 10, 11), outcome="DONE"),
            InvalidInput,
        ),
    ],
)
def test_illegal_steps_are_refused(
    status: AssistStatus, event: AssistEvent, error: type[Exception]
) -> None:
    with pytest.raises(error):
        apply(at(status), event)


def test_the_outcome_waits_for_the_day_and_each_court_records_it_once() -> None:
    agreed = at(AssistStatus.AGREED)
    early = ev(
        AssistStep.OUTCOME_RECORDED, L, beijing(2021, 10, 10, 20), outcome="DONE", record="x"
    )
    with pytest.raises(IllegalTransition, match="the operation is on 2021-10-11"):
        apply(agreed, early)
    done = apply(agreed, replace(early, at=beijing(2021, 10, 11, 8)))
    with pytest.raises(IllegalTransition, match="recorded it already"):
        apply(done, replace(early, at=beijing(2021, 10, 11, 9)))


def test_either_court_may_cancel_before_the_operation_and_the_local_court_may_refuse() -> None:
    for status in (AssistStatus.DELIVERED, AssistStatus.PROPOSED, AssistStatus.AGREED):
        for side in (L, R):
            state = apply(at(status), ev(AssistStep.CANCELLED, side, reason="当事人已履行"))
            assert state.status is AssistStatus.CANCELLED and state.reason == "当事人已履行"
    refused = apply(at(AssistStatus.PROPOSED), ev(AssistStep.REFUSED, L, reason="不属本院辖区"))
    assert refused.status is AssistStatus.REFUSED and refused.status.closed


def test_the_shipped_policy_file_sets_the_assistance_limits() -> None:
    from pathlib import Path

    from jiaodong.domain.errors import RegistryError
    from jiaodong.domain.sla_policy import parse_policy
    from jiaodong.files.policy import load_policy

    shipped = load_policy(Path(__file__).resolve().parents[2] / "courts").assistance
    assert (shipped.advance_working_days, shipped.confirm_working_days) == (3, 2)
    assert "three working days" in shipped.advance_source
    text = (Path(__file__).resolve().parents[2] / "courts" / "sla.toml").read_text()
    bad = text.replace("advance_working_days = 3", "advance_working_days = -1")
    line = bad.splitlines().index("advance_working_days = -1") + 1
    with pytest.raises(RegistryError, match=f"sla.toml:{line}: .*from 0 to 30"):
        parse_policy(bad, "sla.toml")
