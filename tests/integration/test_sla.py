"""SLA clocks on virtual time over real NATS and gRPC: an idle entrusted court gets the urge and
the escalation at the legal times; a coordinator back from a week of downtime acts once on each
breach; two coordinators sweeping at once act once."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from jiaodong.app.coordinator import Coordinator
from jiaodong.bootstrap import start_coordinator
from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.domain.clock import ManualClock
from jiaodong.store.database import Database
from jiaodong.store.tables import OutboxRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import Region, as_court, eventually, start_region

QD, YT = "370202", "370602"
# Friday 2025-09-26 10:00 in Shanghai. Sunday Sep 28 and Saturday Oct 11 are make-up working
# days; Oct 1-8 is the National Day holiday.
DELIVERY = datetime(2025, 9, 26, 2, 0, tzinfo=UTC)
# acknowledge: 3 working days after Sep 26 -> Sep 28 (make-up), 29, 30: due 2025-10-01 00:00 CST.
ACK_DUE = datetime(2025, 9, 30, 16, 0, tzinfo=UTC)
# start and inaction: 15 days after Sep 26 -> Oct 11, a make-up working day: due Oct 12 00:00 CST.
START_DUE = datetime(2025, 10, 11, 16, 0, tzinfo=UTC)
# progress and complete, also from delivery: 30 days after Sep 26 -> Sun Oct 26 -> Mon Oct 27.
PROGRESS_DUE = datetime(2025, 10, 27, 16, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DELIVERY)


@pytest.fixture
async def slow_region(
    tmp_path: Path, nats_server: EmbeddedNats, clock: ManualClock
) -> AsyncIterator[Region]:
    r = await start_region(tmp_path, nats_server, ["qingdao", "yantai"], clock=clock)
    try:
        yield r
    finally:
        await r.close()


def normal_real_estate_seizure() -> api.CreateDelegationRequest:
    return create_request(
        asset_kind=pb.ASSET_KIND_REAL_ESTATE, priority=pb.PRIORITY_NORMAL, plate=""
    )


async def send_and_deliver(region: Region) -> str:
    qingdao = region.node_stub("qingdao")
    d = (
        await qingdao.CreateDelegation(normal_real_estate_seizure(), metadata=as_court(QD))
    ).delegation
    await eventually(
        lambda: requester_view(region, d.id), lambda x: x.status == pb.STATUS_DELIVERED
    )
    return d.id


async def requester_view(region: Region, delegation_id: str) -> pb.Delegation:
    stub = region.node_stub("qingdao")
    return (
        await stub.GetDelegation(api.GetDelegationRequest(id=delegation_id), metadata=as_court(QD))
    ).delegation


def kinds(d: pb.Delegation) -> list[str]:
    return [pb.EventKind.Name(e.kind).removeprefix("EVENT_KIND_") for e in d.history]


def sla_events(d: pb.Delegation) -> list[tuple[str, str]]:
    return [
        (pb.EventKind.Name(e.kind).removeprefix("EVENT_KIND_"), e.request_id)
        for e in d.history
        if e.request_id.startswith("sla-")
    ]


async def test_idle_court_is_urged_and_escalated_at_the_legal_times(
    slow_region: Region, clock: ManualClock
) -> None:
    coordinator: Coordinator = slow_region.coordinator.service
    delegation_id = await send_and_deliver(slow_region)
    d = await requester_view(slow_region, delegation_id)
    goals = {g.goal: g for g in d.sla}
    assert goals["acknowledge"].due_at.ToDatetime(tzinfo=UTC) == ACK_DUE
    assert goals["start"].due_at.ToDatetime(tzinfo=UTC) == START_DUE
    assert goals["inaction"].due_at.ToDatetime(tzinfo=UTC) == START_DUE
    assert goals["progress"].due_at.ToDatetime(tzinfo=UTC) == PROGRESS_DUE
    assert goals["complete"].due_at.ToDatetime(tzinfo=UTC) == PROGRESS_DUE

    # One minute before the acknowledge limit: the warnings have fired, no breach.
    clock.advance(ACK_DUE - timedelta(minutes=1) - clock.now())
    await coordinator.sweep()
    d = await eventually(
        lambda: requester_view(slow_region, delegation_id),
        lambda x: ("SLA_WARNING", "sla-acknowledge-1-w2") in sla_events(x),
    )
    assert not any(k == "SLA_BREACHED" for k, _ in sla_events(d))

    # Just past it: breach and an automatic urge, once, recorded at the virtual time.
    clock.advance(timedelta(minutes=2))
    await coordinator.sweep()
    await coordinator.sweep()
    d = await eventually(
        lambda: requester_view(slow_region, delegation_id),
        lambda x: ("URGED", "sla-acknowledge-1-urge") in sla_events(x),
    )
    urge = next(e for e in d.history if e.request_id == "sla-acknowledge-1-urge")
    assert urge.at.ToDatetime(tzinfo=UTC) >= ACK_DUE
    assert urge.side == pb.SIDE_COORDINATOR
    assert {g.goal: g.state for g in d.sla}["acknowledge"] == pb.SLA_STATE_BREACHED

    # The legal start limit (escalated: 督辦) and the 15-day inaction reminder (urged) run out
    # together, at midnight after Oct 11; the acknowledgement-free wait was never restarted.
    clock.advance(START_DUE - timedelta(seconds=1) - clock.now())
    await coordinator.sweep()
    d = await requester_view(slow_region, delegation_id)
    assert ("ESCALATED", "sla-start-1-escalate") not in sla_events(d)
    clock.advance(timedelta(seconds=2))
    await coordinator.sweep()
    d = await eventually(
        lambda: requester_view(slow_region, delegation_id),
        lambda x: (
            {("ESCALATED", "sla-start-1-escalate"), ("URGED", "sla-inaction-1-urge")}
            <= set(sla_events(x))
        ),
    )
    events = sla_events(d)
    assert len(events) == len(set(events)), events
    assert kinds(d)[:4] == ["CREATED", "ROUTED", "DELIVERED", "SLA_WARNING"]

    # The entrusted node holds the same history.
    yantai = slow_region.node_stub("yantai")
    at_yantai = (
        await yantai.GetDelegation(
            api.GetDelegationRequest(id=delegation_id), metadata=as_court(YT)
        )
    ).delegation
    assert [e.hash for e in at_yantai.history] == [e.hash for e in d.history]

    explained = await slow_region.coordinator_stub().ExplainSla(
        capi.ExplainSlaRequest(id=delegation_id)
    )
    text = "\n".join(explained.lines)
    assert "National Day" in text and "2025-10-11" in text


async def test_restart_after_a_week_down_acts_once_on_each_breach(
    slow_region: Region, clock: ManualClock
) -> None:
    delegation_id = await send_and_deliver(slow_region)
    await slow_region.coordinator.stop(0)
    # Acknowledge, start and inaction all breached meanwhile; progress and complete (30 days from
    # delivery) passed half their time.
    clock.advance(timedelta(days=20))
    slow_region.coordinator = await start_coordinator(slow_region.settings, clock=clock)
    coordinator: Coordinator = slow_region.coordinator.service
    # The sweeper also runs once at start; whichever sweep claims a clock, it acts once.
    await coordinator.sweep()
    again = await coordinator.sweep()
    assert again.claimed == 0
    d = await eventually(
        lambda: requester_view(slow_region, delegation_id),
        lambda x: len(sla_events(x)) == 8,
    )
    # Every breach once, with its action, and no stale warnings from the downtime: only the
    # latest warning of each clock still running.
    assert sorted(sla_events(d)) == sorted(
        [
            ("SLA_BREACHED", "sla-acknowledge-1-breach"),
            ("URGED", "sla-acknowledge-1-urge"),
            ("SLA_BREACHED", "sla-start-1-breach"),
            ("ESCALATED", "sla-start-1-escalate"),
            ("SLA_BREACHED", "sla-inaction-1-breach"),
            ("URGED", "sla-inaction-1-urge"),
            ("SLA_WARNING", "sla-progress-1-w1"),
            ("SLA_WARNING", "sla-complete-1-w1"),
        ]
    )


async def test_two_coordinators_sweeping_at_once_act_once(
    slow_region: Region, clock: ManualClock
) -> None:
    delegation_id = await send_and_deliver(slow_region)
    clock.advance(timedelta(days=20))
    # A second coordinator on the same database (as a standby replica would be).
    first: Coordinator = slow_region.coordinator.service
    second = Coordinator(first.registry, Database(first.db.url), clock, first.sla)
    a, b = await asyncio.gather(first.sweep(), second.sweep())
    assert a.claimed + b.claimed == 5  # 3 breached clocks, and progress and complete warn
    rows = await first.db.run(lambda s: s.exec(select(OutboxRow)).all())
    asked = []
    for row in rows:
        env = bus_pb2.Envelope()
        env.ParseFromString(row.payload)
        if env.WhichOneof("body") == "request" and env.request.request_id.startswith("sla-"):
            asked.append(env.request.request_id)
    assert len(asked) == len(set(asked)) == 8
    second.db.close()
    d = await eventually(
        lambda: requester_view(slow_region, delegation_id),
        lambda x: len(sla_events(x)) == 8,
    )
    assert len(set(sla_events(d))) == 8


async def test_recompute_after_a_calendar_change_moves_open_clocks_once(
    tmp_path: Path, nats_server: EmbeddedNats, clock: ManualClock
) -> None:
    courts = tmp_path / "courts"
    shutil.copytree(Path(__file__).resolve().parents[2] / "courts", courts)
    region = await start_region(
        tmp_path, nats_server, ["qingdao", "yantai"], clock=clock, courts_dir=courts
    )
    try:
        await send_and_deliver(region)
        stub = region.coordinator_stub()
        unchanged = await stub.RecomputeSla(capi.RecomputeSlaRequest(dry_run=True))
        assert unchanged.open_clocks == 5 and list(unchanged.moved) == []

        # Operators declare Mon 29 and Tue 30 September days off: acknowledge moves two
        # working days later (to the end of Oct 10, after National Day); limits in days do not.
        (courts / "holidays" / "2025.toml").write_text(
            'year = 2025\n[[holiday]]\nfrom = 2025-09-29\nto = 2025-09-30\nname = "Test closure"\n',
            encoding="utf-8",
        )
        preview = await stub.RecomputeSla(capi.RecomputeSlaRequest(dry_run=True))
        assert [(m.goal, m.new_due_at.ToDatetime(tzinfo=UTC)) for m in preview.moved] == [
            ("acknowledge", datetime(2025, 10, 10, 16, 0, tzinfo=UTC))
        ]
        done = await stub.RecomputeSla(capi.RecomputeSlaRequest())
        assert [m.goal for m in done.moved] == ["acknowledge"]
        again = await stub.RecomputeSla(capi.RecomputeSlaRequest())
        assert list(again.moved) == []  # idempotent
        explained = await stub.ExplainSla(capi.ExplainSlaRequest(id=preview.moved[0].delegation_id))
        assert "Test closure" in "\n".join(explained.lines)
    finally:
        await region.close()
