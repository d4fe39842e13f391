"""The web board in a real browser against a real region (see conftest.py)."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest

from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.browser.conftest import Board
from tests.helpers.factory import create_request
from tests.helpers.network import as_court, eventually

pytestmark = pytest.mark.browser

QD, YT, WH, RZ = "370202", "370602", "371002", "371102"
LIVE = 2_000  # ms: a change is on the board within 2 s
REGIONAL = Identity(Role.OPERATOR, REGION)
WEIHAI = Identity(Role.OPERATOR, "weihai")


async def signed_in(browser: Any, board: Board, identity: Identity | None = None) -> Any:
    """A page signed in with ``identity``'s client certificate, or with the development login
    as the regional operator."""
    options: dict[str, Any] = {"ignore_https_errors": True}
    if identity is not None:
        options["client_certificates"] = [board.certificate(identity)]
    context = await browser.new_context(**options)
    page = await context.new_page()
    await page.goto(board.url + "/" if identity is not None else board.login_url())
    await page.wait_for_selector("#live-state.on", timeout=5_000)  # the live stream is open
    return page


async def delivered(board: Board, court: str, to: str, district: str) -> pb.Delegation:
    """A delegation from ``court`` to ``to``'s ``district``, delivered there."""
    region = board.region
    city = region.settings and board.region.coordinator.service.registry.court(court).city
    stub = region.node_stub(city)
    d = (
        await stub.CreateDelegation(
            create_request(target=pb.Target(city=to, district=district)), metadata=as_court(court)
        )
    ).delegation
    coordinator = region.coordinator_stub()

    async def status() -> int:
        try:
            reply = await coordinator.GetDelegation(capi.CoordinatorGetDelegationRequest(id=d.id))
        except grpc.aio.AioRpcError:
            return 0
        return reply.delegation.status

    await eventually(status, lambda s: s == pb.STATUS_DELIVERED)
    return d


async def test_never_open_without_a_certificate_or_the_login(browser: Any, board: Board) -> None:
    context = await browser.new_context(ignore_https_errors=True)
    page = await context.new_page()
    reply = await page.goto(board.url + "/")
    assert reply is not None and reply.status == 401
    assert "请使用操作员证书或开发登录令牌登录" in await page.inner_text("#sign-in")
    reply = await page.goto(f"{board.url}/login?token=wrong")
    assert reply is not None and reply.status == 401
    events = await page.request.get(board.url + "/events")
    assert events.status == 401


async def test_board_shows_live_data_in_chinese(browser: Any, board: Board) -> None:
    page = await signed_in(browser, board)
    assert "胶东跨域委托执行指挥看板" in await page.title()
    assert await page.inner_text("#cities tr[data-city=qingdao] th") == "青岛市"
    assert "烟台市" in await page.inner_text("#matrix")

    qingdao = board.region.node_stub("qingdao")
    d = (await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))).delegation
    created = time.monotonic()
    # Routed at the coordinator: Qingdao's open-out count moves, without a reload.
    await page.wait_for_function(
        "document.querySelector('#cities tr[data-city=qingdao] .open-out').textContent === '1'",
        timeout=LIVE,
    )
    routed = time.monotonic() - created
    row = page.locator(f"#at-risk tr[data-id='{d.id}']")
    await row.wait_for(timeout=LIVE)  # delivered: its limits run, it joins the at-risk queue
    assert "已送达" in await row.inner_text()
    assert "烟台市芝罘区人民法院" in await row.inner_text()
    assert "查封/扣押/冻结" in await row.inner_text()
    # Masked list: the debtor's name is nowhere on the board.
    assert "张三" not in await page.content()

    yantai = board.region.node_stub("yantai")
    await yantai.Acknowledge(api.AcknowledgeRequest(id=d.id), metadata=as_court(YT))
    acknowledged = time.monotonic()
    await page.wait_for_selector(
        f"#at-risk tr[data-id='{d.id}'][data-status=ACKNOWLEDGED]", timeout=LIVE
    )
    assert "已受理" in await page.locator(f"#at-risk tr[data-id='{d.id}'] .status").inner_text()
    print(
        f"on the board {routed:.2f} s after the create, "
        f"{time.monotonic() - acknowledged:.2f} s after the acknowledgement"
    )

    # The queue narrowed on the server: by pair, task and case number it stays; breached only,
    # it goes (its limits have just started).
    await page.select_option("#filter select[name=from]", "qingdao")
    await page.select_option("#filter select[name=task]", "SEIZURE")
    await page.fill("#filter input[name=case]", "鲁0202执123")
    await page.click("#filter button[type=submit]")
    await row.wait_for(timeout=LIVE)
    assert "case=" in page.url and "task=SEIZURE" in page.url
    await page.select_option("#filter select[name=sla]", "BREACHED")
    await page.click("#filter button[type=submit]")
    await page.wait_for_url("**sla=BREACHED**")
    assert await row.count() == 0


async def test_operator_escalates_from_the_page(browser: Any, board: Board) -> None:
    d = await delivered(board, QD, "yantai", "芝罘区")
    page = await signed_in(browser, board, REGIONAL)  # the operator's client certificate
    assert await page.inner_text("#viewer") == "operator:region"
    await page.click(f"#at-risk tr[data-id='{d.id}'] a")
    await page.wait_for_selector("#escalate")
    await page.wait_for_selector("#live-state.on", timeout=5_000)
    # The detail shows personal data, and the read is recorded for the auditor.
    assert "张三" in await page.inner_text("#live")
    assert "13800138000" in await page.inner_text("#live")
    assert "working day" in (await page.text_content("#explain") or "")  # day by day

    await page.fill("form[data-action=escalate] input[name=text]", "超期未签收，请即办理")
    await page.click("#escalate")
    assert await page.is_visible("#confirm")  # asks before it acts
    assert "确认对该事项督办" in await page.inner_text("#confirm-text")
    await page.click("#confirm-yes")
    await page.wait_for_selector("#action-result.arrived", timeout=10_000)
    await page.wait_for_selector("#history li[data-kind=ESCALATED]", timeout=LIVE)

    yantai = board.region.node_stub("yantai")

    async def at_yantai() -> pb.Delegation:
        reply = await yantai.GetDelegation(api.GetDelegationRequest(id=d.id), metadata=as_court(YT))
        return reply.delegation

    seen = await eventually(
        at_yantai, lambda x: any(e.kind == pb.EVENT_KIND_ESCALATED for e in x.history)
    )
    escalation = next(e for e in seen.history if e.kind == pb.EVENT_KIND_ESCALATED)
    assert escalation.text == "超期未签收，请即办理"
    assert escalation.side == pb.SIDE_COORDINATOR

    # A note (the coordinator's own record) and an urge (to the entrusted court), each confirmed.
    await page.fill("form[data-action=annotate] input[name=text]", "已电话联系受托法院")
    await page.click("#annotate")
    await page.click("#confirm-yes")
    await page.wait_for_selector("#notes li:has-text('已电话联系受托法院')", timeout=LIVE)
    assert "operator:region" in await page.inner_text("#notes")
    await page.click("#urge")
    assert "催办" in await page.inner_text("#confirm-text")
    await page.click("#confirm-yes")
    await page.wait_for_selector("#history li[data-kind=URGED]", timeout=10_000)
    await page.wait_for_selector("#action-result.arrived")

    from sqlmodel import Session, select

    from jiaodong.store.tables import DataReadRow

    with Session(board.region.coordinator.db.engine) as session:
        reads = session.exec(select(DataReadRow).where(DataReadRow.delegation_id == d.id)).all()
    assert reads and all(r.reader == "operator:region" for r in reads)


async def test_weihai_sees_only_weihai_and_may_not_escalate_elsewhere(
    browser: Any, board: Board
) -> None:
    other = await delivered(board, QD, "rizhao", "东港区")  # Qingdao -> Rizhao
    page = await signed_in(browser, board, WEIHAI)
    assert await page.inner_text("#viewer") == "operator:weihai"
    ours = await delivered(board, QD, "weihai", "环翠区")  # Qingdao -> Weihai: on its board
    await page.wait_for_selector(f"#at-risk tr[data-id='{ours.id}']", timeout=LIVE)
    # A later change of the other one reaches no Weihai screen either.
    rizhao = board.region.node_stub("rizhao")
    await rizhao.Acknowledge(api.AcknowledgeRequest(id=other.id), metadata=as_court(RZ))
    weihai = board.region.node_stub("weihai")
    await weihai.Acknowledge(api.AcknowledgeRequest(id=ours.id), metadata=as_court(WH))
    await page.wait_for_selector(
        f"#at-risk tr[data-id='{ours.id}'][data-status=ACKNOWLEDGED]", timeout=LIVE
    )
    assert other.id not in await page.content()
    assert "日照市东港区人民法院" not in await page.inner_text("#at-risk")

    reply = await page.goto(f"{board.url}/d/{other.id}")
    assert reply is not None and reply.status == 403
    assert other.id not in await page.inner_text("main") or "weihai" in await page.inner_text(
        "#refusal"
    )
    refused = await page.request.post(
        f"{board.url}/d/{other.id}/escalate",
        form={"request_id": "wh-1", "text": "越权督办"},
        headers={"x-jd-board-action": "1"},
    )
    assert refused.status == 403
    assert "weihai" in (await refused.json())["error"]
    detail = await board.region.coordinator.service.get(other.id)
    assert not any(e.kind == pb.EVENT_KIND_ESCALATED for e in detail.history)


async def test_english_switch(browser: Any, board: Board) -> None:
    page = await signed_in(browser, board)
    await page.click("#lang-switch")
    await page.wait_for_selector("text=Jiaodong cross-court delegation board")
    assert await page.inner_text("#cities tr[data-city=qingdao] th") == "Qingdao"
    assert "On-time rate" in await page.inner_text("#cities")
    await page.goto(board.url + "/")  # the choice is kept
    assert await page.inner_text("#cities tr[data-city=weihai] th") == "Weihai"
    await page.click("#lang-switch")
    await page.wait_for_selector("text=胶东跨域委托执行指挥看板")
    assert await page.inner_text("#cities tr[data-city=weihai] th") == "威海市"


async def test_operator_reroutes_to_a_court_from_the_list(browser: Any, board: Board) -> None:
    d = await delivered(board, QD, "yantai", "芝罘区")
    page = await signed_in(browser, board)
    await page.goto(f"{board.url}/d/{d.id}")
    await page.wait_for_selector("#live-state.on", timeout=5_000)
    choices = await page.eval_on_selector_all(
        "#reroute-court option", "options => options.map(o => o.value)"
    )
    # Only courts the routing rules accept: not the current one, none of the requesting city.
    assert "370611" in choices and YT not in choices
    assert not any(c.startswith("3702") for c in choices)
    assert choices[0].startswith("3706")  # the entrusted court's city first
    await page.select_option("#reroute-court", "370611")
    await page.fill("form[data-action=reroute] input[name=text]", "标的物位于福山区")
    await page.click("#reroute")
    assert "确认改派" in await page.inner_text("#confirm-text")
    await page.click("#confirm-no")  # cancelled: nothing is sent
    assert not await page.is_visible("#confirm")
    assert await page.inner_text("#action-result") == ""
    await page.click("#reroute")
    await page.click("#confirm-yes")
    await page.wait_for_selector("#action-result.arrived", timeout=10_000)
    await page.wait_for_selector("#history li[data-kind=REROUTED]", timeout=LIVE)
    await page.wait_for_function(
        "document.querySelector('#entrusted').textContent.includes('370611')", timeout=LIVE
    )
    coordinator = board.region.coordinator.service
    moved = await eventually(lambda: coordinator.get(d.id), lambda x: x.entrusted_court == "370611")
    assert moved.entrusted_court == "370611"


async def test_the_auditor_reads_without_actions(browser: Any, board: Board) -> None:
    d = await delivered(board, QD, "yantai", "芝罘区")
    page = await signed_in(browser, board, Identity(Role.AUDITOR, REGION))
    await page.wait_for_selector(f"#at-risk tr[data-id='{d.id}']", timeout=LIVE)
    await page.goto(f"{board.url}/d/{d.id}")
    assert "张三" in await page.inner_text("#live")  # a recorded read, as GetDelegation
    assert await page.locator("#actions").count() == 0
    refused = await page.request.post(
        f"{board.url}/d/{d.id}/escalate",
        form={"request_id": "au-1", "text": "审计员不得督办"},
        headers={"x-jd-board-action": "1"},
    )
    assert refused.status == 403


async def test_parked_messages_listed_and_discarded_with_a_reason(
    browser: Any, board: Board
) -> None:
    from tests.helpers.network import publish_raw

    # A message no one can read, from a Qingdao court: the coordinator parks it.
    await publish_raw(
        board.region.settings.nats_url, "jd.v1.coord.370202.sync", b"\xff not protobuf", "poison-1"
    )
    page = await signed_in(browser, board)
    deadline = time.monotonic() + 15  # parking sends no change event: reload until it is in
    while "协调中心死信 1 条" not in await page.inner_text("#parked"):
        assert time.monotonic() < deadline, await page.inner_text("#parked")
        await page.reload()
    await page.click("#parked a")
    row = page.locator("#parked-list tr[data-parked]")
    await row.wait_for()
    assert "青岛市市南区人民法院" in await row.inner_text()
    await row.locator("input[name=text]").fill("无法解析，已通知青岛节点")
    page.once("dialog", lambda dialog: dialog.accept())  # the confirmation
    await row.locator("button[data-action=discard]").click()
    await page.wait_for_selector("#action-result.arrived", timeout=10_000)
