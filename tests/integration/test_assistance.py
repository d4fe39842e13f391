"""On-site assistance between two cities, end to end (issue 15).

A Qingdao officer asks the Yantai court to assist an eviction on the Monday after National Day
2021, asking on the Thursday before it (the last day the three working days' notice allows). The
coordinator routes it to the court with jurisdiction; Yantai acknowledges, proposes a plan (day,
window, liaison, staff, each support item), books the police; Qingdao accepts the plan; on the
day both courts record the outcome. The requesting node, the local node and the coordinator end
with the same hash-chained history. Bad steps are refused with the right gRPC code and change
nothing; the visiting officers' ID numbers never reach a log or a masked answer. Real
nats-server, real gRPC with certificates."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.domain.clock import ManualClock
from jiaodong.domain.identity import Identity, Role
from jiaodong.logs import configure
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.network import (
    Region,
    as_court,
    coordinator_probe,
    delegation_probe,
    eventually,
    field_violations,
    has_status,
    rpc_error,
    start_region,
)

QD, YT = "370202", "370602"
# Thursday 30 September 2021, 10:00 in Beijing: the last day to ask for Monday 11 October.
START = datetime(2021, 9, 30, 2, 0, tzinfo=UTC)
WORK_ID, ENFORCEMENT_ID = "QD-ZX-0417", "JZ2021-880417"
OFFICER = pb.VisitingOfficer(
    name="王建国", court_id=QD, work_id=WORK_ID, enforcement_id=ENFORCEMENT_ID
)
LIAISON = "李联络 0535-6668888"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def region(
    tmp_path: Path, nats_server: EmbeddedNats, clock: ManualClock
) -> AsyncIterator[Region]:
    r = await start_region(tmp_path, nats_server, ["qingdao", "yantai"], clock=clock)
    try:
        yield r
    finally:
        await r.close()


def window(day: str, start: str = "09:00", end: str = "12:00") -> pb.TimeWindow:
    return pb.TimeWindow(day=day, start=start, end=end)


def eviction(day: str = "2021-10-11", **assistance: object) -> api.RequestAssistanceRequest:
    return api.RequestAssistanceRequest(
        request_id=uuid.uuid4().hex,
        case_number="(2021)鲁0202执100号",
        target=pb.Target(city="yantai", district="芝罘区"),
        place=pb.Place(address="芝罘区南大街1号3单元502室", district="芝罘区"),
        assistance=pb.Assistance(
            **{
                "basis": "(2020)鲁0202民初88号民事判决书",
                "measure": pb.MEASURE_EVICTION,
                "subject": "被执行人赵某占用的房屋",
                "proposed": window(day),
                "alternatives": [window("2021-10-12")],
                "officers": [OFFICER],
                "vehicles": ["鲁B12345"],
                "support": [pb.SUPPORT_KIND_COURT_POLICE, pb.SUPPORT_KIND_PUBLIC_POLICE],
                "risk_notes": "被执行人曾有过激言行",
                **assistance,
            }
        ),
    )


def plan(day: str = "2021-10-11") -> pb.AssistancePlan:
    asked = pb.SUPPORT_STATE_ASKED
    return pb.AssistancePlan(
        window=window(day),
        liaison=LIAISON,
        assisting_staff=4,
        support=[
            pb.SupportItem(kind=pb.SUPPORT_KIND_COURT_POLICE, state=asked),
            pb.SupportItem(kind=pb.SUPPORT_KIND_PUBLIC_POLICE, state=asked),
        ],
        note="上午八点半在芝罘区法院执行局集合",
    )


async def test_qingdao_asks_yantai_to_assist_an_eviction_and_all_three_sides_agree(
    region: Region, clock: ManualClock
) -> None:
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    out = io.StringIO()
    configure("info", json=True, stream=out)  # every info line, rendered as in production
    try:
        made = await qingdao.RequestAssistance(eviction(), metadata=as_court(QD))
        d = made.delegation
        assert made.created and d.task_type == pb.TASK_TYPE_ON_SITE_ASSISTANCE
        # The answer is masked: the officer's ID numbers are not in it.
        assert d.assistance.officers[0].work_id.endswith("17")
        assert WORK_ID not in str(d) and ENFORCEMENT_ID not in str(d)

        # Routed to the court with jurisdiction over 芝罘区 and delivered there.
        got = await eventually(delegation_probe(yantai, YT, d.id), has_status(pb.STATUS_DELIVERED))
        assert got.entrusted_court == YT
        # Its time limits: acknowledge, and the plan within 2 working days of delivery (the
        # holiday counts for nothing: due at the end of Saturday 9 October, a make-up day).
        goals = {g.goal: g for g in got.sla}
        assert set(goals) == {"acknowledge", "plan"}
        assert goals["plan"].period == "2 working days"
        assert goals["plan"].source.startswith("PLATFORM DEFAULT")
        # The notice days on the same calendar: asked in time on the last day it could be, and
        # the reminder on the make-up Saturday.
        notice = got.assistance_progress
        assert (notice.latest_request_day, notice.reminder_day) == ("2021-09-30", "2021-10-09")
        # The local court reads the full request (a recorded read): it checks the IDs.
        assert got.assistance.officers[0].enforcement_id == ENFORCEMENT_ID

        await yantai.Acknowledge(api.AcknowledgeRequest(id=d.id), metadata=as_court(YT))
        proposed = await yantai.ProposeAssistancePlan(
            api.ProposeAssistancePlanRequest(id=d.id, plan=plan()), metadata=as_court(YT)
        )
        assert proposed.delegation.status == pb.STATUS_PROPOSED
        police = api.ConfirmAssistanceSupportRequest(
            id=d.id, support=pb.SUPPORT_KIND_PUBLIC_POLICE, text="芝罘分局已排警力6名"
        )
        await yantai.ConfirmAssistanceSupport(police, metadata=as_court(YT))

        seen = await eventually(delegation_probe(qingdao, QD, d.id), has_status(pb.STATUS_PROPOSED))
        shown = seen.assistance_progress.plan
        assert (shown.window.day, shown.liaison, shown.assisting_staff) == (
            "2021-10-11",
            LIAISON,
            4,
        )
        # A plan accepted by an older number is refused: the latest one is named.
        stale = api.AcceptAssistancePlanRequest(id=d.id, request_id="a0", plan_seq=shown.seq - 1)
        err = await rpc_error(qingdao.AcceptAssistancePlan(stale, metadata=as_court(QD)))
        assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert f"the plan to accept is event {shown.seq}" in (err.details() or "")
        accept = api.AcceptAssistancePlanRequest(id=d.id, request_id="a1", plan_seq=shown.seq)
        await qingdao.AcceptAssistancePlan(accept, metadata=as_court(QD))
        agreed = await eventually(delegation_probe(yantai, YT, d.id), has_status(pb.STATUS_AGREED))
        items = {i.kind: i.state for i in agreed.assistance_progress.plan.support}
        assert items[pb.SUPPORT_KIND_PUBLIC_POLICE] == pb.SUPPORT_STATE_CONFIRMED
        court_police = api.ConfirmAssistanceSupportRequest(
            id=d.id, support=pb.SUPPORT_KIND_COURT_POLICE
        )
        await yantai.ConfirmAssistanceSupport(court_police, metadata=as_court(YT))

        # Before the day nobody records an outcome.
        early = api.RecordAssistanceOutcomeRequest(
            id=d.id, result=pb.COMPLETION_RESULT_DONE, text="已腾空"
        )
        err = await rpc_error(yantai.RecordAssistanceOutcome(early, metadata=as_court(YT)))
        assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "the operation is on 2021-10-11" in (err.details() or "")

        # The working day before the operation is the make-up Saturday 9 October: the sweep
        # reminds both courts once, and the command centre's calendar says so.
        coordinator = region.coordinator.service
        clock.advance(datetime(2021, 10, 8, 15, 0, tzinfo=UTC) - clock.now())  # Fri 23:00
        assert (await coordinator.sweep()).reminders == 0
        clock.advance(datetime(2021, 10, 9, 1, 0, tzinfo=UTC) - clock.now())  # Sat 09:00
        assert (await coordinator.sweep()).reminders == 1
        assert (await coordinator.sweep()).reminders == 0
        reminded = await eventually(
            delegation_probe(qingdao, QD, d.id),
            lambda x: x is not None and x.history[-1].kind == pb.EVENT_KIND_URGED,
        )
        assert "2021-10-11 09:00-12:00" in reminded.history[-1].text
        board = await region.coordinator_stub().GetBoard(capi.GetBoardRequest())
        assert [o.reminder_today for o in board.operations] == [True]
        assert any("下一个工作日" in n for n in board.notices)

        # Monday 11 October, 14:00 in Beijing: both courts record it.
        clock.advance(datetime(2021, 10, 11, 6, 0, tzinfo=UTC) - clock.now())
        await yantai.RecordAssistanceOutcome(early, metadata=as_court(YT))
        ours = api.RecordAssistanceOutcomeRequest(
            id=d.id, request_id="o1", result=pb.COMPLETION_RESULT_DONE, text="房屋已腾空交付申请人"
        )
        await qingdao.RecordAssistanceOutcome(ours, metadata=as_court(QD))

        final = await eventually(
            delegation_probe(qingdao, QD, d.id), has_status(pb.STATUS_CONFIRMED)
        )
        local = await eventually(
            delegation_probe(yantai, YT, d.id), has_status(pb.STATUS_CONFIRMED)
        )
        centre = await eventually(
            coordinator_probe(region.coordinator_stub(), d.id), has_status(pb.STATUS_CONFIRMED)
        )
    finally:
        configure("warning", json=True)
    # Three sides, one history.
    assert final.last_hash == local.last_hash == centre.last_hash
    assert [e.hash for e in final.history] == [e.hash for e in local.history]
    kinds = [pb.EventKind.Name(e.kind).removeprefix("EVENT_KIND_") for e in final.history]
    assert kinds == [
        "CREATED",
        "ROUTED",
        "DELIVERED",
        "ACKNOWLEDGED",
        "PLAN_PROPOSED",
        "SUPPORT_CONFIRMED",
        "PLAN_ACCEPTED",
        "SUPPORT_CONFIRMED",
        "URGED",
        "OUTCOME_RECORDED",
        "OUTCOME_RECORDED",
    ]
    outcomes = [(o.side, o.result) for o in final.assistance_progress.outcomes]
    assert outcomes == [
        (pb.SIDE_ENTRUSTED, pb.COMPLETION_RESULT_DONE),
        (pb.SIDE_REQUESTING, pb.COMPLETION_RESULT_DONE),
    ]
    # No log line carries the officers' names or ID numbers, the subject or the liaison.
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    for secret in (WORK_ID, ENFORCEMENT_ID, "王建国", "赵某", "李联络", "0535-6668888"):
        assert secret not in out.getvalue()
    assert any(e["event"] == "assistance_requested" for e in lines)
    assert any(e["event"] == "step_taken" and e["kind"] == "PLAN_PROPOSED" for e in lines)


async def test_bad_requests_are_refused_with_the_right_code_and_change_nothing(
    region: Region,
) -> None:
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    # Friday 8 October is too close: its third working day before is Tuesday 28 September
    # (29 and 30 September, then the holiday). Refused, naming that day.
    err = await rpc_error(qingdao.RequestAssistance(eviction("2021-10-08"), metadata=as_court(QD)))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err) == ["proposed.day"]
    assert "ask by 2021-09-28" in (err.details() or "")
    # With a reason it goes as urgent, with a warning.
    urgent = eviction("2021-10-08", urgent_reason="被执行人即将转移财产")
    made = await qingdao.RequestAssistance(urgent, metadata=as_court(QD))
    assert made.delegation.priority == pb.PRIORITY_URGENT
    assert any("sent as urgent" in w for w in made.delegation.warnings)
    # A clerk does not ask for officers to act in another city.
    clerk = region.node_stub("qingdao", Identity(Role.CLERK, QD))
    err = await rpc_error(clerk.RequestAssistance(eviction()))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    # Missing officers and support listed twice: every bad field named at once.
    bad = eviction(officers=[], support=[pb.SUPPORT_KIND_LOCKSMITH, pb.SUPPORT_KIND_LOCKSMITH])
    err = await rpc_error(qingdao.RequestAssistance(bad, metadata=as_court(QD)))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert {"officers", "support"} <= set(field_violations(err))
    listed = await qingdao.ListDelegations(api.ListDelegationsRequest(), metadata=as_court(QD))
    assert [x.id for x in listed.delegations] == [made.delegation.id]

    d = made.delegation
    await eventually(delegation_probe(yantai, YT, d.id), has_status(pb.STATUS_DELIVERED))
    # The requesting court does not propose the plan; the local court does not accept it.
    err = await rpc_error(
        qingdao.ProposeAssistancePlan(
            api.ProposeAssistancePlanRequest(id=d.id, plan=plan("2021-10-08")),
            metadata=as_court(QD),
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    # A plan that leaves out an item asked for is refused.
    partial = plan("2021-10-08")
    del partial.support[1]
    err = await rpc_error(
        yantai.ProposeAssistancePlan(
            api.ProposeAssistancePlanRequest(id=d.id, plan=partial), metadata=as_court(YT)
        )
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert any(v.startswith("plan.support") for v in field_violations(err))
    # A delegation's step is not an assistance step.
    err = await rpc_error(yantai.Accept(api.AcceptRequest(id=d.id), metadata=as_court(YT)))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    unchanged = await yantai.GetDelegation(api.GetDelegationRequest(id=d.id), metadata=as_court(YT))
    assert unchanged.delegation.status == pb.STATUS_DELIVERED
    # The local court may refuse, with a reason; then it is closed for both.
    err = await rpc_error(
        yantai.RefuseAssistance(api.RefuseAssistanceRequest(id=d.id), metadata=as_court(YT))
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    await yantai.RefuseAssistance(
        api.RefuseAssistanceRequest(id=d.id, text="该地址不属本院辖区"), metadata=as_court(YT)
    )
    await eventually(delegation_probe(qingdao, QD, d.id), has_status(pb.STATUS_REFUSED))


async def test_either_court_cancels_and_the_board_shows_the_operations_calendar_masked(
    region: Region,
) -> None:
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    first = (await qingdao.RequestAssistance(eviction(), metadata=as_court(QD))).delegation
    second = (
        await qingdao.RequestAssistance(eviction("2021-10-12"), metadata=as_court(QD))
    ).delegation
    for d in (first, second):
        await eventually(delegation_probe(yantai, YT, d.id), has_status(pb.STATUS_DELIVERED))
    # The command centre's calendar: Yantai's operations of the coming two weeks, by day.
    board = await eventually(
        lambda: region.coordinator_stub().GetBoard(capi.GetBoardRequest()),
        lambda b: len(b.operations) == 2,
    )
    days = [(o.city, o.day, o.local_court) for o in board.operations]
    assert days == [("yantai", "2021-10-11", YT), ("yantai", "2021-10-12", YT)]
    assert board.operations[0].requesting_court_name.startswith("青岛")
    assert WORK_ID not in str(board) and "王建国" not in str(board)
    assert board.operations[0].officers[0].startswith("王")
    # The local court cancels one (its own step), the requesting court the other (a request).
    await yantai.Cancel(
        api.CancelRequest(id=first.id, request_id="c1", text="当日辖区有重大活动"),
        metadata=as_court(YT),
    )
    await qingdao.Cancel(
        api.CancelRequest(id=second.id, request_id="c2", text="被执行人已自动履行"),
        metadata=as_court(QD),
    )
    for d in (first, second):
        await eventually(delegation_probe(qingdao, QD, d.id), has_status(pb.STATUS_CANCELLED))
    board = await eventually(
        lambda: region.coordinator_stub().GetBoard(capi.GetBoardRequest()),
        lambda b: len(b.operations) == 0,
    )
