"""On-site assistance (issue 15), the domain core: the request's checks, the advance-notice limit
on the working-day calendar, and every legal and illegal step of its lifecycle."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest

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
    accept_detail,
    check_assistance,
    check_step,
    confirm_due,
    latest_request_day,
    mask_id,
    masked_detail,
    move_detail,
    progress,
    reminder_day,
    support_detail,
    window_of,
)
from jiaodong.domain.calendar import SHANGHAI
from jiaodong.domain.errors import IllegalTransition, InvalidInput, NotAllowed
from jiaodong.domain.history import seal_first, seal_next
from jiaodong.domain.lifecycle import (
    DelegationState,
    Event,
    EventKind,
    Side,
    Status,
    apply,
    check_allowed,
    fold,
    start,
    verify_chain,
)
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
    liaison="李联络 0535-1234567",
    assisting_staff=4,
    support=((Support.COURT_POLICE, SupportState.ASKED), (Support.LOCKSMITH, SupportState.ASKED)),
)
ASKED = (Support.COURT_POLICE, Support.LOCKSMITH)
L, R, C = Side.ENTRUSTED, Side.REQUESTING, Side.COORDINATOR
K, S = EventKind, Status


class Walk:
    """One assistance history grown as a node grows it: the status table, the step's own
    rules, then sealed into the hash chain and folded."""

    def __init__(self) -> None:
        first = seal_first(Event("e1", 0, K.CREATED, R, QD, beijing(2021, 9, 30)))
        self.history = [first]
        self.state = start(first, QD, "d1", assistance=True)

    def progress(self) -> AssistState:
        return progress(ASKED, self.history)

    def step(self, kind: EventKind, side: Side, at: datetime | None = None, **kw: str) -> Status:
        when = at or beijing(2021, 9, 30, 11)
        check_allowed(self.state, kind, side)
        fields = {k: kw.get(k, "") for k in ("text", "detail", "result")}
        check_step(self.progress(), self.state.status, kind, side, at=when, **fields)
        event = Event(
            f"e{self.state.seq + 1}",
            0,
            kind,
            side,
            "",
            when,
            court_id=kw.get("court_id", ""),
            **fields,
        )
        sealed = seal_next(self.state, event)
        self.state = apply(self.state, sealed)
        self.history.append(sealed)
        return self.state.status


def reach(status: Status) -> Walk:
    """A history that reached ``status`` on the path below."""
    walk = Walk()
    for kind, side, at, kw, reached in PATH:
        if walk.state.status is status:
            return walk
        walk.step(kind, side, at, **kw)
        if reached is status:
            return walk
    raise AssertionError(status)


PATH: list[tuple[EventKind, Side, datetime | None, dict[str, str], Status]] = [
    (K.ROUTED, C, None, {"court_id": YT}, S.ROUTED),
    (K.DELIVERED, L, None, {}, S.DELIVERED),
    (K.ACKNOWLEDGED, L, None, {}, S.ACKNOWLEDGED),
    (K.PLAN_PROPOSED, L, None, {"detail": PLAN.detail()}, S.PROPOSED),
    (
        K.MOVE_ASKED,
        R,
        None,
        {"text": "当日有庭审", "detail": move_detail(Window(OPERATION, time(14), time(17)))},
        S.ACKNOWLEDGED,
    ),
    (K.PLAN_PROPOSED, L, None, {"detail": PLAN.detail()}, S.PROPOSED),
    (K.PLAN_ACCEPTED, R, None, {"detail": accept_detail(7)}, S.AGREED),
    (K.SUPPORT_CONFIRMED, L, None, {"detail": support_detail(Support.COURT_POLICE)}, S.AGREED),
    (
        K.OUTCOME_RECORDED,
        L,
        beijing(2021, 10, 11, 13),
        {"result": "DONE", "text": "已腾空交付"},
        S.COMPLETED,
    ),
    (
        K.OUTCOME_RECORDED,
        R,
        beijing(2021, 10, 11, 14),
        {"result": "DONE", "text": "执行完毕"},
        S.CONFIRMED,
    ),
]


def test_the_whole_path_step_by_step_on_one_hash_chain() -> None:
    walk = Walk()
    for kind, side, at, kw, status in PATH:
        assert walk.step(kind, side, at, **kw) is status, kind
    assert verify_chain(walk.history) is None
    assert fold("d1", QD, walk.history, assistance=True) == walk.state
    shown = walk.progress()
    assert shown.plan is not None and shown.plan.seq == 7
    assert dict(shown.plan.support)[Support.COURT_POLICE] is SupportState.CONFIRMED
    assert dict(shown.plan.support)[Support.LOCKSMITH] is SupportState.ASKED
    assert [(o.side, o.result) for o in shown.outcomes] == [(L, "DONE"), (R, "DONE")]
    assert walk.state.status.closed and walk.state.writer is None
    # The move asked for is the operation window until the local court proposes again.
    moved = reach(S.ACKNOWLEDGED)
    moved.step(K.PLAN_PROPOSED, L, detail=PLAN.detail())
    moved.step(
        K.MOVE_ASKED, R, text="改期", detail=move_detail(Window(OPERATION, time(14), time(17)))
    )
    window = window_of(moved.history[-1])  # what the ledger keeps on the row for the calendar
    assert window is not None and window.start == time(14)


# Every legal step of an assistance request, written out here independently of the table in
# lifecycle.py: (step, side) -> {from: to}. Everything else is refused.
OPEN = (S.DELIVERED, S.ACKNOWLEDGED, S.PROPOSED, S.AGREED)
LEGAL: dict[tuple[EventKind, Side], dict[Status, Status]] = {
    (K.ROUTED, C): {S.CREATED: S.ROUTED},
    (K.ROUTING_FAILED, C): {S.CREATED: S.ROUTING_FAILED},
    (K.DELIVERED, L): {S.ROUTED: S.DELIVERED},
    (K.ACKNOWLEDGED, L): {S.DELIVERED: S.ACKNOWLEDGED},
    (K.PLAN_PROPOSED, L): dict.fromkeys(OPEN, S.PROPOSED),
    (K.SUPPORT_CONFIRMED, L): {S.PROPOSED: S.PROPOSED, S.AGREED: S.AGREED},
    (K.PLAN_ACCEPTED, R): {S.PROPOSED: S.AGREED},
    (K.MOVE_ASKED, R): {S.PROPOSED: S.ACKNOWLEDGED, S.AGREED: S.ACKNOWLEDGED},
    (K.REFUSED, L): dict.fromkeys((S.DELIVERED, S.ACKNOWLEDGED, S.PROPOSED), S.REFUSED),
    (K.CANCELLED, L): dict.fromkeys((S.ROUTED, *OPEN), S.CANCELLED),
    (K.CANCELLED, R): dict.fromkeys((S.ROUTED, *OPEN), S.CANCELLED),
    (K.OUTCOME_RECORDED, L): {S.AGREED: S.COMPLETED, S.COMPLETED: S.CONFIRMED},
    (K.OUTCOME_RECORDED, R): {S.AGREED: S.COMPLETED, S.COMPLETED: S.CONFIRMED},
    (K.URGED, R): {s: s for s in (S.ROUTED, *OPEN)},
    (K.URGED, C): {s: s for s in (S.ROUTED, *OPEN)},
    (K.ESCALATED, C): {s: s for s in (S.ROUTED, *OPEN)},
    (K.REROUTED, C): dict.fromkeys((S.ROUTED, S.DELIVERED, S.ACKNOWLEDGED), S.ROUTED),
    (K.SLA_WARNING, C): {s: s for s in (S.ROUTED, *OPEN)},
    (K.SLA_BREACHED, C): {s: s for s in (S.ROUTED, *OPEN)},
}


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_step_in_every_state_by_every_side(kind: EventKind) -> None:
    for status in Status:
        for side in Side:
            state = DelegationState("d1", QD, YT, status, assistance=True)
            expected = LEGAL.get((kind, side), {}).get(status)
            if expected is None:
                with pytest.raises((NotAllowed, IllegalTransition)):
                    check_allowed(state, kind, side)
            else:
                assert check_allowed(state, kind, side) is expected, (kind, status, side)


def test_a_delegation_step_is_not_a_step_of_assistance_nor_the_reverse() -> None:
    agreed = DelegationState("d1", QD, YT, S.AGREED, assistance=True)
    with pytest.raises(IllegalTransition, match="not a step of a request for assistance"):
        check_allowed(agreed, K.COMPLETED, L)
    accepted = DelegationState("d1", QD, YT, S.ACCEPTED)
    with pytest.raises(IllegalTransition, match="not a step of a delegation"):
        check_allowed(accepted, K.PLAN_PROPOSED, L)


@pytest.mark.parametrize(
    ("status", "kind", "side", "kw", "error"),
    [
        (S.PROPOSED, K.CANCELLED, R, {}, InvalidInput),
        (S.ACKNOWLEDGED, K.REFUSED, L, {}, InvalidInput),
        (S.PROPOSED, K.MOVE_ASKED, R, {"text": "x"}, InvalidInput),
        (
            S.ACKNOWLEDGED,
            K.PLAN_PROPOSED,
            L,
            {"detail": replace(PLAN, support=()).detail()},
            InvalidInput,
        ),
        (
            S.ACKNOWLEDGED,
            K.PLAN_PROPOSED,
            L,
            {"detail": replace(PLAN, liaison=" ").detail()},
            InvalidInput,
        ),
        (S.ACKNOWLEDGED, K.PLAN_PROPOSED, L, {}, InvalidInput),
        (
            S.ACKNOWLEDGED,
            K.PLAN_PROPOSED,
            L,
            {
                "detail": replace(
                    PLAN,
                    support=(
                        (Support.COURT_POLICE, SupportState.DECLINED),
                        (Support.LOCKSMITH, SupportState.ASKED),
                    ),
                ).detail()
            },
            InvalidInput,  # a declined item needs the note saying why
        ),
        (
            S.AGREED,
            K.SUPPORT_CONFIRMED,
            L,
            {"detail": support_detail(Support.MEDICAL)},
            InvalidInput,
        ),
        (S.PROPOSED, K.PLAN_ACCEPTED, R, {"detail": accept_detail(4)}, IllegalTransition),
        (S.AGREED, K.OUTCOME_RECORDED, L, {"result": "DONE"}, InvalidInput),
        (S.AGREED, K.OUTCOME_RECORDED, L, {"result": "MAYBE", "text": "x"}, InvalidInput),
    ],
)
def test_a_step_missing_or_contradicting_its_fields_is_refused(
    status: Status, kind: EventKind, side: Side, kw: dict[str, str], error: type[Exception]
) -> None:
    walk = reach(status)
    held = list(walk.history)
    with pytest.raises(error):
        walk.step(kind, side, beijing(2021, 10, 11, 15), **kw)
    assert walk.history == held


def test_the_outcome_waits_for_the_day_and_each_court_records_it_once() -> None:
    walk = reach(S.AGREED)
    walk.step(K.SUPPORT_CONFIRMED, L, detail=support_detail(Support.LOCKSMITH))
    with pytest.raises(IllegalTransition, match="LOCKSMITH is booked already"):
        walk.step(K.SUPPORT_CONFIRMED, L, detail=support_detail(Support.LOCKSMITH))
    with pytest.raises(IllegalTransition, match="the operation is on 2021-10-11"):
        walk.step(K.OUTCOME_RECORDED, L, beijing(2021, 10, 10, 20), result="DONE", text="x")
    walk.step(K.OUTCOME_RECORDED, L, beijing(2021, 10, 11, 8), result="DONE", text="x")
    with pytest.raises(IllegalTransition, match="recorded it already"):
        walk.step(K.OUTCOME_RECORDED, L, beijing(2021, 10, 11, 9), result="DONE", text="y")


def test_either_court_may_cancel_before_the_operation_and_the_local_court_may_refuse() -> None:
    for status in (S.DELIVERED, S.PROPOSED, S.AGREED):
        for side in (L, R):
            walk = reach(status)
            assert walk.step(K.CANCELLED, side, text="当事人已履行") is S.CANCELLED
            assert walk.progress().reason == "当事人已履行"
    walk = reach(S.PROPOSED)
    assert walk.step(K.REFUSED, L, text="不属本院辖区") is S.REFUSED
    assert walk.state.status.closed


def test_a_masked_plan_hides_the_liaison() -> None:
    shown = masked_detail(PLAN.detail())
    assert "李联络" not in shown and "1234567" not in shown and "李**" in shown
    assert masked_detail(support_detail(Support.LOCKSMITH)) == support_detail(Support.LOCKSMITH)


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


def test_the_sla_report_counts_a_carried_out_operation_completed_and_a_refusal_closed() -> None:
    from jiaodong.domain.report import State, fact_of

    done = Walk()
    for kind, side, at, kw, _ in PATH:
        done.step(kind, side, at, **kw)
    now = beijing(2021, 10, 12)
    fact = fact_of(done.history[0].at, done.history, [], CAL, now)
    assert fact.state is State.COMPLETED
    assert fact.closed_day == date(2021, 10, 11).toordinal()
    refused = reach(S.PROPOSED)
    refused.step(K.REFUSED, L, text="不属本院辖区")
    assert fact_of(refused.history[0].at, refused.history, [], CAL, now).state is State.CANCELLED
