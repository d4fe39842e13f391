"""A freeze and its expiry warning on the working-day calendar, end to end (issue 14).

A Yantai officer freezes a Qingdao debtor's deposits for the law's longest term (one year) and
records it with the result. The coordinator watches its end on the official calendar: the
renewal limit a month before the end falls in the National Day holiday and moves back to the
working day before it; the warning comes ten working days earlier, across the Mid-autumn holiday
and a make-up Sunday. Virtual time walks there; the sweep warns once; both the command centre and
the requesting court's clerk read it, with the renewal offered; the renewal delegation's own
freeze marks the first one renewed. Real nats-server, real gRPC with certificates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.domain.clock import ManualClock
from jiaodong.domain.identity import Identity, Role
from jiaodong.store.tables import ControlWatchRow
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import (
    Region,
    as_court,
    delegation_probe,
    eventually,
    has_status,
    rpc_error,
    start_region,
)
from tests.integration.conftest import table_rows

QD, YT = "370202", "370602"
# Thursday 6 November 2025, 10:00 in Beijing.
START = datetime(2025, 11, 6, 2, 0, tzinfo=UTC)
FREEZE = pb.ControlTerm(
    asset_kind=pb.ASSET_KIND_DEPOSIT,
    reference="烟银冻字2025第0001号",
    starts_on="2025-11-06",
    ends_on="2026-11-05",
)


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


async def view(region: Region, city: str, court: str, delegation_id: str) -> pb.Delegation:
    reply = await region.node_stub(city).GetDelegation(
        api.GetDelegationRequest(id=delegation_id), metadata=as_court(court)
    )
    return reply.delegation


async def freeze_through_an_officer(
    region: Region, request: api.CreateDelegationRequest, *terms: pb.ControlTerm
) -> str:
    """Qingdao sends; Yantai's officer acknowledges, accepts and completes with the freeze."""
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    d = (await qingdao.CreateDelegation(request, metadata=as_court(QD))).delegation
    await eventually(delegation_probe(yantai, YT, d.id), has_status(pb.STATUS_DELIVERED))
    await yantai.Acknowledge(api.AcknowledgeRequest(id=d.id), metadata=as_court(YT))
    await yantai.Accept(api.AcceptRequest(id=d.id), metadata=as_court(YT))
    done = api.CompleteRequest(
        id=d.id, result=pb.COMPLETION_RESULT_DONE, text="已冻结", controls=list(terms)
    )
    await yantai.Complete(done, metadata=as_court(YT))
    # The requesting court's node holds the result (and its terms) before anything builds on it.
    await eventually(delegation_probe(qingdao, QD, d.id), has_status(pb.STATUS_COMPLETED))
    return d.id


async def coordinator_controls(region: Region, **fields: object) -> list[pb.ControlWatch]:
    reply = await region.coordinator_stub().ListControls(pb.ListControlsRequest(**fields))
    return list(reply.controls)


async def test_a_freeze_is_warned_before_it_must_be_renewed_and_renewal_ends_the_watch(
    region: Region, clock: ManualClock
) -> None:
    freeze = create_request(
        asset_kind=pb.ASSET_KIND_DEPOSIT,
        plate="",
        priority=pb.PRIORITY_NORMAL,
        requested_actions="冻结被执行人银行存款人民币十万元",
    )
    first = await freeze_through_an_officer(region, freeze, FREEZE)

    # The requesting court's node sees the term in the history, sealed with the result.
    seen = await eventually(
        delegation_probe(region.node_stub("qingdao"), QD, first),
        has_status(pb.STATUS_COMPLETED),
    )
    assert list(seen.history[-1].controls) == [FREEZE]

    watched = await eventually(lambda: coordinator_controls(region), lambda rows: len(rows) == 1)
    (w,) = watched
    assert (w.delegation_id, w.requesting_court, w.entrusted_court) == (first, QD, YT)
    assert (w.warn_on, w.renew_by, w.state) == ("2026-09-16", "2026-09-30", "STANDING")
    assert w.case_number == "(2024)鲁0202执123号"

    coordinator = region.coordinator.service
    # The evening before the warning day: nothing yet (the sweep finds nothing due).
    clock.advance(datetime(2026, 9, 15, 15, 59, tzinfo=UTC) - clock.now())
    report = await coordinator.sweep()
    assert not report.controls
    # Midnight in Beijing on Wednesday 16 September: warned, once.
    clock.advance(timedelta(minutes=2))
    report = await coordinator.sweep()
    assert dict(report.controls) == {"RENEW_SOON": 1}
    assert not (await coordinator.sweep()).controls
    (w,) = await coordinator_controls(region, states=["RENEW_SOON"])
    assert w.delegation_id == first
    # The command centre's board says so, with the command that lists them.
    board = await region.coordinator_stub().GetBoard(capi.GetBoardRequest())
    assert (
        "1 项查封、冻结应续封/续冻：jiaodong ops controls --state RENEW_SOON "
        "--state RENEW_OVERDUE" in board.notices
    )
    # A city's command centre sees its own city's; the requesting court's clerk sees it too,
    # computed from its own node's histories with the same dates.
    own = await coordinator_controls(region, city="qingdao")
    assert [x.delegation_id for x in own] == [first]
    clerk = Identity(Role.CLERK, QD)
    mine = await region.node_stub("qingdao", clerk).ListControls(pb.ListControlsRequest())
    assert [(x.delegation_id, x.state, x.renew_by) for x in mine.controls] == [
        (first, "RENEW_SOON", "2026-09-30")
    ]
    # Another court lists its own only.
    other = Identity(Role.CLERK, "370203")
    assert not (
        await region.node_stub("qingdao", other).ListControls(pb.ListControlsRequest())
    ).controls

    # The renewal: a new seizure of the same asset kind naming the first, to the same court.
    renewal = create_request(
        asset_kind=pb.ASSET_KIND_DEPOSIT,
        plate="",
        priority=pb.PRIORITY_NORMAL,
        requested_actions="续冻：原冻结 烟银冻字2025第0001号",
        target=pb.Target(court_id=YT),
        renews=first,
    )
    renewed_term = pb.ControlTerm(
        asset_kind=pb.ASSET_KIND_DEPOSIT,
        reference="烟银冻字2026第0101号",
        starts_on="2026-09-17",
        ends_on="2027-09-16",
    )
    second = await freeze_through_an_officer(region, renewal, renewed_term)
    rows = await eventually(
        lambda: coordinator_controls(region, states=["RENEWED", "STANDING"]),
        lambda rows: len(rows) == 2,
    )
    by_id = {x.delegation_id: x for x in rows}
    assert (by_id[first].state, by_id[first].renewed_by) == ("RENEWED", second)
    assert by_id[second].state == "STANDING" and by_id[second].renew_by == "2027-08-16"
    # Renewed: past the first one's limit and end nothing more is owed for it.
    clock.advance(datetime(2026, 11, 10, tzinfo=UTC) - clock.now())
    assert not (await coordinator.sweep()).controls
    stored = {r.delegation_id: r.state for r in table_rows(region.coordinator, ControlWatchRow)}
    assert stored == {first: "RENEWED", second: "STANDING"}
    mine = await region.node_stub("qingdao", clerk).ListControls(pb.ListControlsRequest())
    assert [x.delegation_id for x in mine.controls] == [second]  # default: all but renewed
    # Renewing the first again is refused: the chain goes on from the renewal.
    again = create_request(
        asset_kind=pb.ASSET_KIND_DEPOSIT,
        plate="",
        target=pb.Target(court_id=YT),
        renews=first,
    )
    err = await rpc_error(qingdao_stub(region).CreateDelegation(again, metadata=as_court(QD)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"was renewed by {second}: renew that one" in (err.details() or "")


def qingdao_stub(region: Region) -> Any:
    return region.node_stub("qingdao")


async def test_a_renewal_of_one_account_leaves_the_others_to_renew(
    region: Region, clock: ManualClock
) -> None:
    """Two accounts frozen in one result; the renewal covers the second only (the bank renewed
    it under its number): only that one is renewed, on the coordinator and on the node alike."""
    second_account = pb.ControlTerm()
    second_account.CopyFrom(FREEZE)
    second_account.reference = "烟银冻字2025第0002号"
    freeze = create_request(asset_kind=pb.ASSET_KIND_DEPOSIT, plate="", priority=pb.PRIORITY_NORMAL)
    first = await freeze_through_an_officer(region, freeze, FREEZE, second_account)
    await eventually(lambda: coordinator_controls(region), lambda rows: len(rows) == 2)
    renewal = create_request(
        asset_kind=pb.ASSET_KIND_DEPOSIT,
        plate="",
        priority=pb.PRIORITY_NORMAL,
        target=pb.Target(court_id=YT),
        renews=first,
    )
    renewed = pb.ControlTerm()
    renewed.CopyFrom(second_account)
    renewed.starts_on, renewed.ends_on = "2026-09-20", "2027-09-19"
    second = await freeze_through_an_officer(region, renewal, renewed)
    rows = await eventually(
        lambda: coordinator_controls(region, states=["RENEWED"]), lambda rows: len(rows) == 1
    )
    assert (rows[0].term.reference, rows[0].renewed_by) == ("烟银冻字2025第0002号", second)
    standing = {(x.delegation_id, x.term.reference) for x in await coordinator_controls(region)}
    assert standing == {(first, "烟银冻字2025第0001号"), (second, "烟银冻字2025第0002号")}
    clerk = Identity(Role.CLERK, QD)
    mine = await region.node_stub("qingdao", clerk).ListControls(pb.ListControlsRequest())
    assert {(x.delegation_id, x.term.reference) for x in mine.controls} == standing


async def test_an_unrenewed_freeze_becomes_overdue_then_lapses(
    region: Region, clock: ManualClock
) -> None:
    freeze = create_request(asset_kind=pb.ASSET_KIND_DEPOSIT, plate="", priority=pb.PRIORITY_NORMAL)
    first = await freeze_through_an_officer(region, freeze, FREEZE)
    await eventually(lambda: coordinator_controls(region), lambda rows: len(rows) == 1)
    coordinator = region.coordinator.service
    # After a week down, the first sweep moves straight to what holds now, once.
    clock.advance(datetime(2026, 10, 9, 2, tzinfo=UTC) - clock.now())
    assert dict((await coordinator.sweep()).controls) == {"RENEW_OVERDUE": 1}
    clock.advance(datetime(2026, 11, 6, 2, tzinfo=UTC) - clock.now())
    assert dict((await coordinator.sweep()).controls) == {"LAPSED": 1}
    (w,) = await coordinator_controls(region)
    assert (w.delegation_id, w.state) == (first, "LAPSED")
    (stored,) = table_rows(region.coordinator, ControlWatchRow)
    assert stored.next_at is None


async def test_bad_terms_are_refused_and_change_nothing(region: Region) -> None:
    freeze = create_request(asset_kind=pb.ASSET_KIND_DEPOSIT, plate="", priority=pb.PRIORITY_NORMAL)
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    d = (await qingdao.CreateDelegation(freeze, metadata=as_court(QD))).delegation
    await eventually(delegation_probe(yantai, YT, d.id), has_status(pb.STATUS_DELIVERED))
    await yantai.Acknowledge(api.AcknowledgeRequest(id=d.id), metadata=as_court(YT))
    await yantai.Accept(api.AcceptRequest(id=d.id), metadata=as_court(YT))
    before = await view(region, "yantai", YT, d.id)
    two_years = pb.ControlTerm()
    two_years.CopyFrom(FREEZE)
    two_years.ends_on = "2027-11-05"
    err = await rpc_error(
        yantai.Complete(
            api.CompleteRequest(
                id=d.id, result=pb.COMPLETION_RESULT_DONE, text="已冻结", controls=[two_years]
            ),
            metadata=as_court(YT),
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "stands at most 1 year" in (err.details() or "")
    not_a_date = pb.ControlTerm()
    not_a_date.CopyFrom(FREEZE)
    not_a_date.starts_on = "6 Nov"
    err = await rpc_error(
        yantai.ReportProgress(
            api.ReportProgressRequest(id=d.id, text="冻结中", controls=[not_a_date]),
            metadata=as_court(YT),
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    after = await view(region, "yantai", YT, d.id)
    assert after.seq == before.seq and after.last_hash == before.last_hash

    # A renewal must name a delegation this court sent that froze something.
    err = await rpc_error(
        qingdao.CreateDelegation(
            create_request(asset_kind=pb.ASSET_KIND_DEPOSIT, plate="", renews=d.id),
            metadata=as_court(QD),
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "put no seizure or freeze of deposit in force" in (err.details() or "")
    err = await rpc_error(
        qingdao.CreateDelegation(
            create_request(asset_kind=pb.ASSET_KIND_DEPOSIT, plate="", renews="0" * 32),
            metadata=as_court(QD),
        )
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await rpc_error(
        qingdao.CreateDelegation(
            create_request(
                task_type=pb.TASK_TYPE_PROPERTY_INQUIRY,
                asset_kind=pb.ASSET_KIND_DEPOSIT,
                plate="",
                renews=d.id,
            ),
            metadata=as_court(QD),
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "task_type" in (err.details() or "")
