"""The operator API over real gRPC and mutual TLS, on a running region (NATS, coordinator, the
Qingdao, Yantai and Weifang nodes): the board, the filtered queue, the detail with its clocks and
notes, urge, notes, and the coordinator's parked messages. Bad input is INVALID_ARGUMENT and
changes nothing; another city's operator is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
from sqlmodel import Session, select

from jiaodong.bootstrap import Running
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.store.tables import DeadLetterRow, OperatorActionRow, OperatorNoteRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import (
    Region,
    as_court,
    coordinator_probe,
    delegation_probe,
    eventually,
    field_violations,
    has_status,
    rpc_error,
)
from tests.integration.conftest import table_rows

QD, YT = "370202", "370602"
QINGDAO = Identity(Role.OPERATOR, "qingdao")
WEIFANG = Identity(Role.OPERATOR, "weifang")
AUDITOR = Identity(Role.AUDITOR, REGION)
INVALID = grpc.StatusCode.INVALID_ARGUMENT
DENIED = grpc.StatusCode.PERMISSION_DENIED


async def delivered(region: Region, case_number: str = "(2024)鲁0202执123号") -> str:
    """A delegation Qingdao -> Yantai, delivered and known so at the coordinator."""
    qd = region.node_stub("qingdao")
    d = (
        await qd.CreateDelegation(create_request(case_number=case_number), metadata=as_court(QD))
    ).delegation
    await eventually(
        delegation_probe(region.node_stub("yantai"), YT, d.id), has_status(pb.STATUS_DELIVERED)
    )
    await eventually(
        coordinator_probe(region.coordinator_stub(), d.id), has_status(pb.STATUS_DELIVERED)
    )
    return d.id


async def test_board_counts_and_scopes(region: Region) -> None:
    await delivered(region)
    board = await region.coordinator_stub().GetBoard(capi.GetBoardRequest())
    assert [c.city for c in board.cities] == ["qingdao", "yantai", "weifang", "weihai", "rizhao"]
    cities = {c.city: c for c in board.cities}
    assert (cities["qingdao"].outbound_open, cities["yantai"].inbound_open) == (1, 1)
    assert not cities["yantai"].HasField("on_time_rate")  # nothing decided yet
    assert [(p.from_city, p.to_city, p.open, p.breached) for p in board.pairs] == [
        ("qingdao", "yantai", 1, 0)
    ]
    assert [b.over_days for b in board.aging] == [5, 10, 15, 30]
    nodes = {n.city: n for n in board.nodes}
    assert not nodes["qingdao"].offline and nodes["qingdao"].last_seen_at.seconds > 0
    assert not nodes["yantai"].offline  # its receipt came back
    assert nodes["weihai"].offline and not nodes["weihai"].HasField("last_seen_at")
    # A node's parked count comes with its digests (none parked here), once one has arrived.
    assert nodes["qingdao"].parked == 0 or not nodes["qingdao"].HasField("parked")
    assert board.window_days == 30 and board.due_soon_by.seconds > board.at.seconds

    # A city's centre gets its own city, asked or not; another city is refused.
    own = await region.coordinator_stub(WEIFANG).GetBoard(capi.GetBoardRequest())
    assert [c.city for c in own.cities] == ["weifang"] and list(own.pairs) == []
    err = await rpc_error(
        region.coordinator_stub(WEIFANG).GetBoard(capi.GetBoardRequest(city="qingdao"))
    )
    assert err.code() == DENIED
    assert (await region.coordinator_stub(AUDITOR).GetBoard(capi.GetBoardRequest())).cities
    for bad, field in (
        (capi.GetBoardRequest(window_days=400), "window_days"),
        (capi.GetBoardRequest(city="beijing"), "city"),
    ):
        err = await rpc_error(region.coordinator_stub().GetBoard(bad))
        assert err.code() == INVALID and field_violations(err) == [field]


async def test_list_filters_sort_and_entries(region: Region) -> None:
    first = await delivered(region, "(2024)鲁0202执1号")
    second = await delivered(region, "(2024)鲁0202执22号")
    stub = region.coordinator_stub()
    page = await stub.ListDelegations(
        capi.CoordinatorListDelegationsRequest(order=capi.LIST_ORDER_DUE)
    )
    # Both clocks started at delivery with the same limits: the first delivered is due first.
    assert [d.id for d in page.delegations] == [first, second]
    entry = page.entries[0]
    assert entry.delegation_id == first and entry.goal and entry.next_due_at.seconds > 0
    assert entry.level == capi.SLA_LEVEL_UNDER_HALF and entry.seconds_left > 0
    # Newest first stays the default.
    page = await stub.ListDelegations(capi.CoordinatorListDelegationsRequest())
    assert [d.id for d in page.delegations] == [second, first]
    # Filters.
    search = capi.CoordinatorListDelegationsRequest(case_number="执22号")
    assert [d.id for d in (await stub.ListDelegations(search)).delegations] == [second]
    by_court = capi.CoordinatorListDelegationsRequest(court_id=YT)
    assert (await stub.ListDelegations(by_court)).total == 2
    late = capi.CoordinatorListDelegationsRequest(sla_levels=[capi.SLA_LEVEL_BREACHED])
    assert (await stub.ListDelegations(late)).total == 0
    running = capi.CoordinatorListDelegationsRequest(sla_states=[capi.SLA_SUMMARY_RUNNING])
    assert (await stub.ListDelegations(running)).total == 2
    after = capi.CoordinatorListDelegationsRequest()
    after.created_after.GetCurrentTime()
    assert (await stub.ListDelegations(after)).total == 0
    weifang = region.coordinator_stub(WEIFANG)
    assert (await weifang.ListDelegations(capi.CoordinatorListDelegationsRequest())).total == 0
    # Bad filters: every field named, nothing read.
    bad = capi.CoordinatorListDelegationsRequest(
        court_id="999999", sla_levels=[9], sla_states=[9], order=7, case_number="x" * 61
    )
    err = await rpc_error(stub.ListDelegations(bad))
    assert err.code() == INVALID
    assert set(field_violations(err)) == {"sla_levels", "sla_states", "order"}
    bad = capi.CoordinatorListDelegationsRequest(court_id="999999", case_number="x" * 61)
    err = await rpc_error(stub.ListDelegations(bad))
    assert set(field_violations(err)) == {"court_id", "case_number"}


async def test_detail_notes_and_urge(region: Region) -> None:
    d = await delivered(region)
    qingdao = region.coordinator_stub(QINGDAO)
    detail = await qingdao.GetDelegation(capi.CoordinatorGetDelegationRequest(id=d))
    assert {g.goal for g in detail.delegation.sla} >= {"acknowledge", "start"}
    assert list(detail.notes) == []
    events = len(detail.delegation.history)

    note = capi.AnnotateRequest(id=d, request_id="note-1", text="已电话联系烟台芝罘法院")
    added = (await qingdao.Annotate(note)).note
    assert (added.operator, added.text) == ("operator:qingdao", "已电话联系烟台芝罘法院")
    assert (await qingdao.Annotate(note)).note.at == added.at  # the same request: the same note
    for bad, field in (
        (capi.AnnotateRequest(id=d, request_id="note-2", text=" "), "text"),
        (capi.AnnotateRequest(id=d, request_id="", text="x"), "request_id"),
        (capi.AnnotateRequest(id=d, request_id="note-3", text="x" * 2001), "text"),
    ):
        err = await rpc_error(qingdao.Annotate(bad))
        assert err.code() == INVALID and field_violations(err) == [field]
    err = await rpc_error(
        region.coordinator_stub(WEIFANG).Annotate(
            capi.AnnotateRequest(id=d, request_id="note-4", text="x")
        )
    )
    assert err.code() == DENIED
    err = await rpc_error(
        region.coordinator_stub(AUDITOR).Annotate(
            capi.AnnotateRequest(id=d, request_id="note-5", text="x")
        )
    )
    assert err.code() == DENIED
    assert len(table_rows(region.coordinator, OperatorNoteRow)) == 1
    detail = await qingdao.GetDelegation(capi.CoordinatorGetDelegationRequest(id=d))
    assert [n.text for n in detail.notes] == ["已电话联系烟台芝罘法院"]
    assert len(detail.delegation.history) == events  # notes are not part of the history

    urge = capi.CoordinatorUrgeRequest(id=d, request_id="urge-1", text="请尽快签收")
    await qingdao.Urge(urge)

    async def kinds_at_yantai() -> list[int]:
        got = await delegation_probe(region.node_stub("yantai"), YT, d)()
        return [e.kind for e in got.history]

    await eventually(kinds_at_yantai, lambda kinds: pb.EVENT_KIND_URGED in kinds)
    actions = table_rows(region.coordinator, OperatorActionRow)
    assert [(a.action, a.operator, a.target) for a in actions] == [
        ("annotate", "operator:qingdao", d),
        ("urged", "operator:qingdao", d),
    ]
    err = await rpc_error(qingdao.Urge(capi.CoordinatorUrgeRequest(id=d, request_id="")))
    assert err.code() == INVALID and field_violations(err) == ["request_id"]


def park_in(service: Running, subject: str, payload: bytes) -> int:
    """Park a message in a service's database as its transport would."""
    with Session(service.db.engine) as session:
        row = DeadLetterRow(
            subject=subject,
            message_id=uuid.uuid4().hex,
            reason="Permanent: test",
            payload=payload,
            parked_at=datetime.now(UTC),
        )
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def park(region: Region, court: str, payload: bytes, kind: str = "sync") -> int:
    """Park a message at the coordinator as its transport would."""
    return park_in(region.coordinator, f"jd.v1.coord.{court}.{kind}", payload)


def parked_ids(region: Region) -> list[int]:
    with Session(region.coordinator.db.engine) as session:
        return [r.id or 0 for r in session.exec(select(DeadLetterRow)).all()]


async def test_parked_messages(region: Region) -> None:
    d = await delivered(region)
    # A Want from Qingdao's court: applying it again re-sends the delegation, harmless.
    want = bus_pb2.Envelope(
        message_id=uuid.uuid4().hex, court_id=QD, want=bus_pb2.Want(delegation_ids=[d])
    )
    good = park(region, QD, want.SerializeToString(), "want")
    # A sync naming the debtor: its summary must not.
    sync = bus_pb2.Envelope(
        message_id=uuid.uuid4().hex,
        court_id=QD,
        sync=bus_pb2.DelegationSync(
            delegation=pb.Delegation(
                id=d, debtor=pb.Party(person=pb.Person(name="张三"), phone="13800138000")
            )
        ),
    )
    named = park(region, QD, sync.SerializeToString())
    broken = park(region, YT, b"\xff\xffnot an envelope")

    stub = region.coordinator_stub()
    listed = (await stub.ListParked(capi.ListParkedRequest())).parked
    assert [p.id for p in listed] == [broken, named, good]
    shown = {p.id: p for p in listed}
    assert shown[good].summary.startswith(f"want, delegation {d}")
    assert shown[named].delegation_id == d and shown[named].court_id == QD
    assert "张三" not in str(listed) and "13800138000" not in str(listed)
    assert shown[broken].summary.startswith("unreadable")
    # Scopes: each city sees its own courts' parked messages.
    qingdao = region.coordinator_stub(QINGDAO)
    assert [p.id for p in (await qingdao.ListParked(capi.ListParkedRequest())).parked] == [
        named,
        good,
    ]
    err = await rpc_error(qingdao.GetParked(capi.GetParkedRequest(id=broken)))
    assert err.code() == DENIED
    err = await rpc_error(qingdao.DiscardParked(capi.DiscardParkedRequest(id=broken, reason="x")))
    assert err.code() == DENIED
    err = await rpc_error(
        region.coordinator_stub(AUDITOR).RetryParked(capi.RetryParkedRequest(id=good, reason="x"))
    )
    assert err.code() == DENIED
    # A reason is required; nothing changes without one.
    err = await rpc_error(qingdao.RetryParked(capi.RetryParkedRequest(id=good)))
    assert err.code() == INVALID and field_violations(err) == ["reason"]
    err = await rpc_error(stub.GetParked(capi.GetParkedRequest(id=0)))
    assert err.code() == INVALID
    err = await rpc_error(stub.GetParked(capi.GetParkedRequest(id=99999)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert sorted(parked_ids(region)) == sorted([good, named, broken])

    retried = await qingdao.RetryParked(capi.RetryParkedRequest(id=good, reason="节点已恢复"))
    assert retried.applied and retried.action.outcome == "applied"
    assert retried.action.operator == "operator:qingdao"
    failed = await stub.RetryParked(capi.RetryParkedRequest(id=broken, reason="再试一次"))
    assert not failed.applied and failed.action.outcome.startswith("failed:")
    detail = await stub.GetParked(capi.GetParkedRequest(id=broken))
    assert [(a.action, a.reason) for a in detail.actions] == [("retry", "再试一次")]
    dropped = await stub.DiscardParked(capi.DiscardParkedRequest(id=broken, reason="无法解析"))
    assert dropped.action.outcome.startswith("discarded (unreadable")
    assert parked_ids(region) == [named]
    board = await stub.GetBoard(capi.GetBoardRequest())
    assert board.parked == 1
    actions = table_rows(region.coordinator, OperatorActionRow)
    assert [(a.action, a.operator, a.target) for a in actions] == [
        ("retry", "operator:qingdao", f"parked:{good}"),
        ("retry", "operator:region", f"parked:{broken}"),
        ("discard", "operator:region", f"parked:{broken}"),
    ]
