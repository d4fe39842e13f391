"""A city node's parked messages (dead letters), handled by the command centres through the
coordinator on a running region (real NATS, real gRPC with mutual TLS, the Qingdao, Yantai and
Weifang nodes): the coordinator asks the node over NATS request/reply; the node answers from its
own database, applies a retry through its own inbound handler and records every retry and discard
with the operator identity. Scopes are the coordinator's: a city's centre sees its own city's node
only, the auditor reads only. Bad input changes nothing; a node that does not answer is
UNAVAILABLE, named, within the bound."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import grpc
import nats
from nats.aio.msg import Msg
from sqlmodel import Session, select

from jiaodong.api.web.access import SESSION_COOKIE, DevLogin
from jiaodong.api.web.app import BoardSettings, create_board
from jiaodong.bus.subjects import Kind, ops_subject, to_court
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.store.tables import DeadLetterRow, OperatorActionRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import coordinator_service_pb2 as capi
from tests.helpers.network import Region, eventually, field_violations, rpc_error
from tests.integration.conftest import table_rows
from tests.integration.test_operator_api import YT, delivered, park_in

YANTAI = Identity(Role.OPERATOR, "yantai")
QINGDAO = Identity(Role.OPERATOR, "qingdao")
AUDITOR = Identity(Role.AUDITOR, REGION)
INVALID = grpc.StatusCode.INVALID_ARGUMENT
DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


def node_parked(region: Region, city: str) -> list[DeadLetterRow]:
    with Session(region.nodes[city].db.engine) as session:
        return list(session.exec(select(DeadLetterRow)).all())


def park_at_node(region: Region, city: str, court: str, payload: bytes, kind: str) -> int:
    """Park a message at a node as its transport would."""
    return park_in(region.nodes[city], to_court(court, Kind(kind)), payload)


async def test_a_nodes_parked_messages_through_the_coordinator(region: Region) -> None:
    d = await delivered(region)
    # A poison message on the bus: the Yantai node parks it at once (it cannot be decoded).
    nc = await nats.connect(region.settings.nats_url)
    try:
        await nc.jetstream().publish(to_court(YT, Kind.SYNC), b"\xff\xffnot an envelope")
    finally:
        await nc.close()
    rows = await eventually(lambda: _rows(region, "yantai"), lambda rows: len(rows) == 1)
    poison = rows[0].id
    assert poison is not None
    # And one that applies when retried: the coordinator's Want for the delegation.
    want = bus_pb2.Envelope(
        message_id=uuid.uuid4().hex, court_id=YT, want=bus_pb2.Want(delegation_ids=[d])
    )
    good = park_at_node(region, "yantai", YT, want.SerializeToString(), "want")

    stub = region.coordinator_stub()
    listed = (await stub.ListParked(capi.ListParkedRequest(city="yantai"))).parked
    assert [p.id for p in listed] == [good, poison]
    assert {p.city for p in listed} == {"yantai"}
    shown = {p.id: p for p in listed}
    assert shown[poison].summary.startswith("unreadable")
    assert shown[poison].subject == to_court(YT, Kind.SYNC) and shown[poison].court_id == YT
    assert shown[good].summary.startswith(f"want, delegation {d}")
    # The coordinator's own list is another one: nothing of the node's.
    assert not (await stub.ListParked(capi.ListParkedRequest())).parked
    # Paging goes through the node too.
    first = await stub.ListParked(capi.ListParkedRequest(city="yantai", page_size=1))
    assert [p.id for p in first.parked] == [good] and first.next_page_token
    second = await stub.ListParked(
        capi.ListParkedRequest(city="yantai", page_size=1, page_token=first.next_page_token)
    )
    assert [p.id for p in second.parked] == [poison] and not second.next_page_token

    yantai = region.coordinator_stub(YANTAI)
    detail = await yantai.GetParked(capi.GetParkedRequest(id=poison, city="yantai"))
    assert detail.parked.reason and not detail.actions

    retried = await yantai.RetryParked(
        capi.RetryParkedRequest(id=good, reason="节点已恢复", city="yantai")
    )
    assert retried.applied and retried.action.operator == "operator:yantai"
    failed = await stub.RetryParked(
        capi.RetryParkedRequest(id=poison, reason="再试一次", city="yantai")
    )
    assert not failed.applied and failed.action.outcome.startswith("failed:")
    detail = await stub.GetParked(capi.GetParkedRequest(id=poison, city="yantai"))
    assert [(a.action, a.reason) for a in detail.actions] == [("retry", "再试一次")]
    dropped = await yantai.DiscardParked(
        capi.DiscardParkedRequest(id=poison, reason="无法解析", city="yantai")
    )
    assert dropped.action.outcome.startswith("discarded (unreadable")

    assert node_parked(region, "yantai") == []
    assert not (await stub.ListParked(capi.ListParkedRequest(city="yantai"))).parked
    # Recorded in the node's own database, with the operator identity and the reason.
    actions = table_rows(region.nodes["yantai"], OperatorActionRow)
    assert [(a.action, a.operator, a.target, a.reason) for a in actions] == [
        ("retry", "operator:yantai", f"parked:{good}", "节点已恢复"),
        ("retry", "operator:region", f"parked:{poison}", "再试一次"),
        ("discard", "operator:yantai", f"parked:{poison}", "无法解析"),
    ]
    assert not table_rows(region.coordinator, OperatorActionRow)

    # The node's next digest tells the board: none parked.
    async def yantai_count() -> int | None:
        board = await stub.GetBoard(capi.GetBoardRequest())
        node = {n.city: n for n in board.nodes}["yantai"]
        return node.parked if node.HasField("parked") else None

    await eventually(yantai_count, lambda n: n == 0)


async def _rows(region: Region, city: str) -> list[DeadLetterRow]:
    return node_parked(region, city)


async def test_scopes_and_bad_input_change_nothing(region: Region) -> None:
    parked = park_at_node(region, "yantai", YT, b"\xff", "sync")
    qingdao = region.coordinator_stub(QINGDAO)
    # A city's centre: its own city's node only.
    err = await rpc_error(qingdao.ListParked(capi.ListParkedRequest(city="yantai")))
    assert err.code() == DENIED
    err = await rpc_error(
        qingdao.DiscardParked(capi.DiscardParkedRequest(id=parked, reason="x", city="yantai"))
    )
    assert err.code() == DENIED
    assert not (await qingdao.ListParked(capi.ListParkedRequest(city="qingdao"))).parked
    # The auditor reads, never acts.
    auditor = region.coordinator_stub(AUDITOR)
    assert len((await auditor.ListParked(capi.ListParkedRequest(city="yantai"))).parked) == 1
    err = await rpc_error(
        auditor.RetryParked(capi.RetryParkedRequest(id=parked, reason="x", city="yantai"))
    )
    assert err.code() == DENIED
    stub = region.coordinator_stub()
    err = await rpc_error(stub.ListParked(capi.ListParkedRequest(city="atlantis")))
    assert err.code() == INVALID and field_violations(err) == ["city"]
    err = await rpc_error(stub.RetryParked(capi.RetryParkedRequest(id=parked, city="yantai")))
    assert err.code() == INVALID and field_violations(err) == ["reason"]
    err = await rpc_error(stub.GetParked(capi.GetParkedRequest(id=99999, city="yantai")))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert [r.id for r in node_parked(region, "yantai")] == [parked]
    assert not table_rows(region.nodes["yantai"], OperatorActionRow)


async def test_a_node_that_does_not_answer_is_unavailable_within_the_bound(
    region: Region,
) -> None:
    stub = region.coordinator_stub()
    # Weihai's node is not running here: nobody answers on its subject.
    err = await rpc_error(stub.ListParked(capi.ListParkedRequest(city="weihai")))
    assert err.code() == UNAVAILABLE and "威海" in (err.details() or "")
    # Rizhao's "node" hears the question and never answers: the bound runs out.
    region.coordinator.service.node_ask_seconds = 1.0
    nc = await nats.connect(region.settings.nats_url)
    heard: list[bytes] = []

    async def silent(msg: Msg) -> None:
        heard.append(msg.data)

    try:
        await nc.subscribe(ops_subject("rizhao"), cb=silent)
        await nc.flush()
        started = time.monotonic()
        err = await rpc_error(
            stub.DiscardParked(capi.DiscardParkedRequest(id=1, reason="x", city="rizhao"))
        )
        assert time.monotonic() - started < 4
        assert err.code() == UNAVAILABLE and "日照" in (err.details() or "")
        await asyncio.sleep(0)
        assert len(heard) == 1
    finally:
        await nc.close()


async def asgi(
    app: Any, method: str, path: str, identity: Identity, body: bytes = b""
) -> tuple[int, str]:
    """One HTTP exchange with the board's ASGI app in this event loop: (status, body)."""
    target, _, query = path.partition("?")
    cookie = f"{SESSION_COOKIE}={BOARD_LOGIN.cookie_for(identity)}"
    headers = [(b"cookie", cookie.encode()), (b"host", b"board")]
    if method == "POST":
        headers += [
            (b"x-jd-board-action", b"1"),
            (b"content-type", b"application/x-www-form-urlencoded"),
        ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("board", 80),
    }
    sent: list[dict[str, Any]] = []
    request = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return request.pop(0) if request else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, text.decode()


BOARD_LOGIN = DevLogin("board-test-token")


async def test_the_board_links_a_nodes_count_to_its_parked_page(region: Region) -> None:
    parked = park_at_node(region, "yantai", YT, b"\xff\xffnot an envelope", "sync")
    board = create_board(region.coordinator.service, None, BoardSettings(dev_login=BOARD_LOGIN))
    regional = Identity(Role.OPERATOR, REGION)

    async def yantai_link() -> str:
        return (await asgi(board, "GET", "/fragment/board", regional))[1]

    status, page = await asgi(board, "GET", "/parked?city=yantai", regional)
    assert status == 200, page
    assert "烟台市节点" in page and f'data-parked="{parked}"' in page
    assert 'data-city="yantai"' in page and "unreadable" in page
    # Another city's centre may not open it; an unknown city is a bad request.
    status, _ = await asgi(board, "GET", "/parked?city=yantai", QINGDAO)
    assert status == 403
    status, _ = await asgi(board, "GET", "/parked?city=atlantis", regional)
    assert status == 400
    # Discarded from the page, with the reason, recorded at the node.
    status, answer = await asgi(
        board, "POST", f"/parked/{parked}/discard?city=yantai", YANTAI, "text=无法解析".encode()
    )
    assert status == 200 and '"ok":true' in answer.replace(" ", ""), answer
    assert node_parked(region, "yantai") == []
    actions = table_rows(region.nodes["yantai"], OperatorActionRow)
    assert [(a.action, a.operator, a.reason) for a in actions] == [
        ("discard", "operator:yantai", "无法解析")
    ]
    # The board's node row links its count to that page, once the node has reported one.
    await eventually(yantai_link, lambda html: "/parked?city=yantai" in html)
