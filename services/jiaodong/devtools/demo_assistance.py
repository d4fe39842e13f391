"""The demo's on-site assistance (异地执行协助, issue 15): three courts ask a court in another city
to assist their own officers on site, through the nodes' gRPC API as officers, on the demo's
virtual time. The local court plans the day and books the support, the requesting court accepts,
the command centre's calendar shows the operations, the sweep reminds both courts on the working
day before, and on the day both record the outcome. Then all three sides must hold the same
history."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import grpc

from jiaodong.devtools.layout import Layout
from jiaodong.domain.assistance import AssistancePolicy, latest_request_day, reminder_day
from jiaodong.domain.calendar import SHANGHAI, WorkCalendar, local_day
from jiaodong.domain.registry import Court, Registry
from jiaodong.files.clock import FileClock
from jiaodong.security.clients import act_as
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb

WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Ask:
    """One request of the walk: from a city's first court to a district of another city."""

    from_city: str
    to_city: str
    measure: pb.Measure.ValueType
    support: tuple[pb.SupportKind.ValueType, ...]
    subject: str


ASKS = (
    Ask(
        "qingdao",
        "yantai",
        pb.MEASURE_EVICTION,
        (pb.SUPPORT_KIND_COURT_POLICE, pb.SUPPORT_KIND_PUBLIC_POLICE, pb.SUPPORT_KIND_LOCKSMITH),
        "被执行人占用的住宅（演示数据）",
    ),
    Ask(
        "weifang",
        "weihai",
        pb.MEASURE_VEHICLE_SEIZURE,
        (pb.SUPPORT_KIND_PUBLIC_POLICE,),
        "被执行人名下小型轿车（演示数据）",
    ),
    Ask(
        "rizhao",
        "qingdao",
        pb.MEASURE_INSPECTION,
        (pb.SUPPORT_KIND_ASSISTING_OFFICERS,),
        "被执行人厂房及设备（演示数据）",
    ),
)


def first_day(calendar: WorkCalendar, today: date, policy: AssistancePolicy) -> date:
    """The first working day a request made today gives enough notice for."""
    day = today + timedelta(days=1)
    while not calendar.is_working_day(day) or latest_request_day(calendar, day, policy) < today:
        day += timedelta(days=1)
    return day


async def until(probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool]) -> Any:
    """Poll ``probe`` until ``check`` holds, for at most WAIT_SECONDS (a loaded machine)."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        value = await probe()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"the demo's assistance walk waited {WAIT_SECONDS:.0f}s in vain")
        await asyncio.sleep(0.1)


async def held(
    stub: Any, delegation_id: str, court: str, check: Callable[[pb.Delegation], bool]
) -> pb.Delegation:
    """The request once ``court``'s node holds it in a state ``check`` accepts."""
    found: pb.Delegation = await until(
        partial(_get, stub, delegation_id, court), lambda x: x is not None and check(x)
    )
    return found


def beijing(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI)


async def assistance_walk(
    layout: Layout,
    registry: Registry,
    calendar: WorkCalendar,
    policy: AssistancePolicy,
    clock_file: Path,
) -> dict[str, Any]:
    """Run the walk; the figures for the demo's report."""
    clients = layout.clients()
    nodes, coordinator = clients.nodes, clients.coordinator
    today = local_day(FileClock(clock_file).now())
    day = first_day(calendar, today, policy)
    rows: list[dict[str, Any]] = []
    made: list[tuple[Ask, Court, Court, pb.Delegation]] = []
    try:
        for i, ask in enumerate(ASKS):
            court = registry.courts_in_city(ask.from_city)[0]
            local = next(c for c in registry.courts_in_city(ask.to_city) if c.districts)
            window = pb.TimeWindow(day=day.isoformat(), start="09:00", end="12:00")
            request = api.RequestAssistanceRequest(
                request_id=f"demo-assist-{i}",
                case_number=f"(2026){court.case_code}执{900 + i}号",
                target=pb.Target(city=ask.to_city, district=local.districts[0]),
                place=pb.Place(
                    address=f"{local.districts[0]}某路{i + 1}号", district=local.districts[0]
                ),
                assistance=pb.Assistance(
                    basis=f"(2025){court.case_code}民初{100 + i}号民事判决书",
                    measure=ask.measure,
                    subject=ask.subject,
                    proposed=window,
                    officers=[
                        pb.VisitingOfficer(
                            name="演示执行员",
                            work_id=f"DEMO-{i}01",
                            enforcement_id=f"ZX-DEMO-{i}01",
                        ),
                        pb.VisitingOfficer(
                            name="演示书记员",
                            work_id=f"DEMO-{i}02",
                            enforcement_id=f"ZX-DEMO-{i}02",
                        ),
                    ],
                    support=list(ask.support),
                ),
            )
            reply = await nodes[ask.from_city].RequestAssistance(
                request, metadata=act_as(court.court_id)
            )
            made.append((ask, court, local, reply.delegation))
        # The local courts acknowledge, plan the day, book every item.
        for ask, _, local, d in made:
            local_stub = nodes[ask.to_city]
            await held(local_stub, d.id, local.court_id, lambda x: x.status == pb.STATUS_DELIVERED)
            meta = act_as(local.court_id)
            await local_stub.Acknowledge(api.AcknowledgeRequest(id=d.id), metadata=meta)
            plan = pb.AssistancePlan(
                window=pb.TimeWindow(day=day.isoformat(), start="09:00", end="12:00"),
                liaison="演示联络人 0000-0000000",
                assisting_staff=3,
                support=[pb.SupportItem(kind=k, state=pb.SUPPORT_STATE_ASKED) for k in ask.support],
                note="行动当日八点半在本院执行局集合（演示数据）",
            )
            await local_stub.ProposeAssistancePlan(
                api.ProposeAssistancePlanRequest(id=d.id, plan=plan), metadata=meta
            )
            for kind in ask.support:
                await local_stub.ConfirmAssistanceSupport(
                    api.ConfirmAssistanceSupportRequest(id=d.id, support=kind), metadata=meta
                )
        # The requesting courts accept the plan they see.
        for ask, court, _, d in made:
            stub = nodes[ask.from_city]
            proposed = await held(
                stub, d.id, court.court_id, lambda x: x.status == pb.STATUS_PROPOSED
            )
            accept = api.AcceptAssistancePlanRequest(
                id=d.id, request_id="accept", plan_seq=proposed.assistance_progress.plan.seq
            )
            await stub.AcceptAssistancePlan(accept, metadata=act_as(court.court_id))
            await held(stub, d.id, court.court_id, lambda x: x.status == pb.STATUS_AGREED)
        board = await coordinator.GetBoard(capi.GetBoardRequest())
        on_calendar = sum(1 for o in board.operations if o.day == day.isoformat())
        # The working day before: the coordinator's sweeper reminds both courts.
        FileClock.write(clock_file, beijing(reminder_day(calendar, day), 9), 0.0)
        reminded = 0
        for ask, court, _, d in made:
            stub = nodes[ask.from_city]
            await held(
                stub,
                d.id,
                court.court_id,
                lambda x: any(e.kind == pb.EVENT_KIND_URGED for e in x.history),
            )
            reminded += 1
        # The day itself, in the afternoon: both courts record the outcome.
        FileClock.write(clock_file, beijing(day, 14), 0.0)
        for ask, court, local, d in made:
            local_stub, stub = nodes[ask.to_city], nodes[ask.from_city]
            await local_stub.RecordAssistanceOutcome(
                api.RecordAssistanceOutcomeRequest(
                    id=d.id, result=pb.COMPLETION_RESULT_DONE, text="协助到位，行动完成（演示）"
                ),
                metadata=act_as(local.court_id),
            )
            await stub.RecordAssistanceOutcome(
                api.RecordAssistanceOutcomeRequest(
                    id=d.id,
                    request_id="outcome",
                    result=pb.COMPLETION_RESULT_DONE,
                    text="执行完毕（演示）",
                ),
                metadata=act_as(court.court_id),
            )
        agree = 0
        for ask, court, local, d in made:
            ours = await held(
                nodes[ask.from_city],
                d.id,
                court.court_id,
                lambda x: x.status == pb.STATUS_CONFIRMED,
            )
            theirs = await held(
                nodes[ask.to_city], d.id, local.court_id, lambda x: x.status == pb.STATUS_CONFIRMED
            )
            centre = await until(
                partial(_coordinator_get, coordinator, d.id),
                lambda x: x is not None and x.status == pb.STATUS_CONFIRMED,
            )
            if ours.last_hash == theirs.last_hash == centre.last_hash:
                agree += 1
            rows.append(
                {
                    "from": court.court_id,
                    "from_name": court.name_zh,
                    "to": ours.entrusted_court,
                    "to_name": registry.court(ours.entrusted_court).name_zh,
                    "measure": pb.Measure.Name(ask.measure).removeprefix("MEASURE_"),
                    "day": day.isoformat(),
                    "support": len(ask.support),
                    "events": len(ours.history),
                }
            )
    finally:
        await clients.pool.close()
    return {
        "requested": len(made),
        "closed": len(rows),
        "agree": agree,
        "on_calendar": on_calendar,
        "reminded": reminded,
        "day": day.isoformat(),
        "rows": rows,
    }


async def fetch(stub: Any, request: Any, court: str | None) -> pb.Delegation | None:
    """A delegation as a node (acting as ``court``) or the coordinator (``court`` None) holds
    it; None when it is not there (yet)."""
    try:
        reply = await stub.GetDelegation(request, metadata=act_as(court) if court else None)
        return reply.delegation  # type: ignore[no-any-return]
    except grpc.aio.AioRpcError:
        return None


async def _get(stub: Any, delegation_id: str, court: str) -> pb.Delegation | None:
    return await fetch(stub, api.GetDelegationRequest(id=delegation_id), court)


async def _coordinator_get(stub: Any, delegation_id: str) -> pb.Delegation | None:
    return await fetch(stub, capi.CoordinatorGetDelegationRequest(id=delegation_id), None)
