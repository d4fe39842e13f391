"""The permission table, walked: every RPC, called by every kind of identity, over real mutual TLS.

Expectations come from the table in docs/security.md (checked equal to the code's table), read
with this test's own interpretation of the scope words; each call must then be OK when the table
allows it (on a delegation prepared in the state that RPC needs) or PERMISSION_DENIED when it does
not, and a refused call must change nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlmodel import Session, func, select

from jiaodong.bootstrap import start_node
from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.config import Settings
from jiaodong.domain.authz import RULES, render_markdown
from jiaodong.domain.calendar import SHANGHAI
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.security.clients import ChannelPool
from jiaodong.store.tables import (
    DataReadRow,
    DeadLetterRow,
    DocumentBlobRow,
    EventRow,
    OperatorActionRow,
    OperatorNoteRow,
    RequestRow,
)
from jiaodong.v1 import audit_service_pb2 as audit_api
from jiaodong.v1 import audit_service_pb2_grpc as audit_grpc
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import coordinator_service_pb2_grpc as cgrpc
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import court_node_service_pb2_grpc as ngrpc
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import Region, eventually, shared_pki, start_region

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"
QD, QD_OTHER, YT, WF = "370202", "370203", "370602", "370702"
CITY = {"370202": "qingdao", "370203": "qingdao", "370602": "yantai", "370702": "weifang"}

CALLERS: dict[str, Identity] = {
    "requesting officer": Identity(Role.OFFICER, QD),
    "requesting clerk": Identity(Role.CLERK, QD),
    "entrusted officer": Identity(Role.OFFICER, YT),
    "entrusted clerk": Identity(Role.CLERK, YT),
    "same-city other court": Identity(Role.OFFICER, QD_OTHER),
    "unrelated court": Identity(Role.OFFICER, WF),
    "qingdao operator": Identity(Role.OPERATOR, "qingdao"),
    "yantai operator": Identity(Role.OPERATOR, "yantai"),
    "weifang operator": Identity(Role.OPERATOR, "weifang"),
    "regional operator": Identity(Role.OPERATOR, REGION),
    "auditor": Identity(Role.AUDITOR, REGION),
    "a node's service certificate": Identity(Role.NODE, "node-qingdao"),
    "the coordinator's certificate": Identity(Role.COORDINATOR, REGION),
}
ROLE_COLUMNS = ("officer", "clerk", "operator", "auditor")
LETTER = b"%PDF-1.7 entrustment letter"
LETTER_DOC = pb.Document(
    name="委托执行函.pdf",
    media_type="application/pdf",
    size_bytes=len(LETTER),
    sha256=hashlib.sha256(LETTER).hexdigest(),
)

# The status each RPC needs (as the caller's side sees it) to succeed when allowed.
NEEDS: dict[str, int] = {
    "GetDelegation": pb.STATUS_DELIVERED,
    "ListDelegations": pb.STATUS_DELIVERED,
    "WatchDelegations": pb.STATUS_DELIVERED,
    "Acknowledge": pb.STATUS_DELIVERED,
    "Accept": pb.STATUS_ACKNOWLEDGED,
    "Return": pb.STATUS_ACKNOWLEDGED,
    "Supplement": pb.STATUS_ACCEPTED,
    "ReportProgress": pb.STATUS_ACCEPTED,
    "Complete": pb.STATUS_ACCEPTED,
    "Confirm": pb.STATUS_COMPLETED,
    "Cancel": pb.STATUS_DELIVERED,
    "Urge": pb.STATUS_DELIVERED,
    "Reroute": pb.STATUS_DELIVERED,
    "Escalate": pb.STATUS_DELIVERED,
    "Annotate": pb.STATUS_DELIVERED,
    "ListRegistryRequests": pb.STATUS_DELIVERED,
    "ReleaseRegistryResult": pb.STATUS_ACCEPTED,
    "ListControls": pb.STATUS_DELIVERED,
    # On-site assistance: prepared as a request for assistance (ASSISTANCE below).
    "ProposeAssistancePlan": pb.STATUS_DELIVERED,
    "ConfirmAssistanceSupport": pb.STATUS_PROPOSED,
    "RefuseAssistance": pb.STATUS_DELIVERED,
    "AcceptAssistancePlan": pb.STATUS_PROPOSED,
    "MoveAssistance": pb.STATUS_PROPOSED,
    "RecordAssistanceOutcome": pb.STATUS_AGREED,
}
# RPCs walked on a request for on-site assistance rather than a delegation. Cancel too: either
# court may cancel one (only the requesting court a delegation, which its node says).
ASSISTANCE = {
    "ProposeAssistancePlan",
    "ConfirmAssistanceSupport",
    "RefuseAssistance",
    "AcceptAssistancePlan",
    "MoveAssistance",
    "RecordAssistanceOutcome",
    "Cancel",
}
# The prepared request's plan is event 5 (created, routed, delivered, acknowledged, plan).
PLAN_SEQ = 5
# Allowed, and answered by the handler with this code rather than OK: the walk's region links no
# registry, so no result is ever held for review (tests/handlers/test_registries.py releases one).
REACHES_HANDLER = {"ReleaseRegistryResult": grpc.StatusCode.FAILED_PRECONDITION}
# Parked messages belong to the city of the court their subject names: the walk parks messages
# from the requesting court (Qingdao) about the prepared delegation.
PARKED = ("GetParked", "RetryParked", "DiscardParked")
STEPS_TO = {  # entrusted-side steps from DELIVERED
    pb.STATUS_DELIVERED: [],
    pb.STATUS_ACKNOWLEDGED: ["ack"],
    pb.STATUS_ACCEPTED: ["ack", "accept"],
    pb.STATUS_COMPLETED: ["ack", "accept", "complete"],
}
ASSIST_STEPS_TO = {  # for a request for assistance
    pb.STATUS_DELIVERED: [],
    pb.STATUS_PROPOSED: ["ack", "plan"],
    pb.STATUS_AGREED: ["ack", "plan", "accept"],
}


def documented_table() -> dict[str, dict[str, str]]:
    """RPC -> role column -> the scope words, parsed from docs/security.md."""
    text = DOCS.read_text(encoding="utf-8")
    rows: dict[str, dict[str, str]] = {}
    header: list[str] = []
    for line in text.splitlines():
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "RPC":
            header = cells
            continue
        if header and "." in cells[0]:
            rows[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return rows


def node_called(who: Identity) -> str:
    """Courts call their own city's node, except the unrelated (Weifang) court, which tries the
    Qingdao node that holds the delegation; everyone else tries the Qingdao node."""
    city = CITY.get(who.court or "", "qingdao")
    return "qingdao" if city == "weifang" else city


BOARDS = (
    "CoordinatorService.ListDelegations",
    "CoordinatorService.WatchBoard",
    "CoordinatorService.GetBoard",
    "CoordinatorService.ListParked",
    "CoordinatorService.GetSlaReport",
    "CoordinatorService.ListControls",
)


def expected_allowed(words: str, who: Identity, service: str, method: str = "") -> bool:
    """This test's own reading of one table cell for one caller on the prepared delegation
    (requested by QD, entrusted to YT)."""
    if words == "—":
        return False
    court = who.court
    if service == "CourtNodeService" and CITY.get(court or "") != node_called(who):
        return False  # a court acts only at the node hosting it
    if f"{service}.{method}" in BOARDS and words == "its city (regional: all)":
        return True  # every operator has a board; it shows only its city (tested below)
    if method in PARKED and words == "its city (regional: all)":
        return who.scope in (REGION, "qingdao")
    return {
        "yes": True,
        "own court": True,
        "requesting or entrusted court": court in (QD, YT),
        "requesting court": court == QD,
        "entrusted court": court == YT,
        "its city (regional: all)": who.scope in (REGION, "qingdao", "yantai"),
        "regional only": who.scope == REGION,
    }[words]


def column_of(who: Identity) -> str | None:
    return who.role.value if who.role.value in ROLE_COLUMNS else None


def test_docs_show_exactly_the_enforced_table() -> None:
    assert render_markdown() in DOCS.read_text(encoding="utf-8"), (
        "docs/security.md must contain the table rendered by jiaodong.domain.authz.render_markdown"
    )
    documented = documented_table()
    assert len(documented) == len(RULES) == 43


@dataclass
class Walk:
    region: Region
    parked_id: int = 0

    def parked(self, delegation_id: str) -> int:
        """A message parked at the coordinator from Qingdao's court (a Want of the delegation:
        applying it again only re-sends it), made anew once an allowed call took the last."""
        with Session(self.region.coordinator.db.engine) as session:
            if self.parked_id and session.get(DeadLetterRow, self.parked_id) is not None:
                return self.parked_id
            envelope = bus_pb2.Envelope(
                message_id=uuid.uuid4().hex,
                court_id=QD,
                want=bus_pb2.Want(delegation_ids=[delegation_id]),
            )
            row = DeadLetterRow(
                subject=f"jd.v1.coord.{QD}.want",
                message_id=envelope.message_id,
                reason="Permanent: walk",
                payload=envelope.SerializeToString(),
                parked_at=datetime.now(UTC),
            )
            session.add(row)
            session.commit()
            assert row.id is not None
            self.parked_id = row.id
            return row.id

    def node_for(self, who: Identity) -> str:
        return node_called(who)

    def node(self, city: str, who: Identity) -> ngrpc.CourtNodeServiceStub:
        return ngrpc.CourtNodeServiceStub(self.region.channel(self.region.nodes[city].address, who))

    def coordinator(self, who: Identity) -> cgrpc.CoordinatorServiceStub:
        return cgrpc.CoordinatorServiceStub(self.region.coordinator_channel(who))

    async def status_at(self, city: str, court: str, delegation_id: str) -> int:
        stub = self.node(city, Identity(Role.OFFICER, court))
        try:
            got = await stub.GetDelegation(api.GetDelegationRequest(id=delegation_id))
        except grpc.aio.AioRpcError:
            return 0
        return got.delegation.status

    async def letter_at_yantai(self, delegation_id: str) -> str:
        stub = self.node("yantai", Identity(Role.CLERK, YT))
        got = await stub.GetDelegation(api.GetDelegationRequest(id=delegation_id))
        return next((x.state for x in got.delegation.document_states), "")

    async def prepare(self, status: int, assistance: bool = False) -> str:
        """A fresh delegation QD -> YT in ``status``, seen so by both nodes and the coordinator
        (``assistance``: a request for on-site assistance)."""
        qd = self.node("qingdao", CALLERS["requesting officer"])
        yt = self.node("yantai", CALLERS["entrusted officer"])
        await qd.UploadDocument(iter([api.UploadDocumentRequest(data=LETTER)]))
        if assistance:
            d = (await qd.RequestAssistance(assist_for(CALLERS["requesting officer"]))).delegation
        else:
            d = (await qd.CreateDelegation(create_request(documents=[LETTER_DOC]))).delegation
        await eventually(
            lambda: self.status_at("yantai", YT, d.id), lambda s: s == pb.STATUS_DELIVERED
        )
        if assistance:
            for step in ASSIST_STEPS_TO[status]:
                if step == "ack":
                    await yt.Acknowledge(api.AcknowledgeRequest(id=d.id))
                elif step == "plan":
                    await yt.ProposeAssistancePlan(
                        api.ProposeAssistancePlanRequest(id=d.id, plan=assist_plan())
                    )
                    await eventually(
                        lambda: self.status_at("qingdao", QD, d.id),
                        lambda s: s == pb.STATUS_PROPOSED,
                    )
                else:
                    await qd.AcceptAssistancePlan(
                        api.AcceptAssistancePlanRequest(id=d.id, request_id="p", plan_seq=PLAN_SEQ)
                    )
            return await self.seen_everywhere(d.id, status)
        await eventually(lambda: self.letter_at_yantai(d.id), lambda s: s == "verified")
        for step in STEPS_TO[status]:
            if step == "ack":
                await yt.Acknowledge(api.AcknowledgeRequest(id=d.id))
            elif step == "accept":
                await yt.Accept(api.AcceptRequest(id=d.id))
            else:
                await yt.Complete(
                    api.CompleteRequest(id=d.id, result=pb.COMPLETION_RESULT_DONE, text="已扣押")
                )
        return await self.seen_everywhere(d.id, status)

    async def seen_everywhere(self, delegation_id: str, status: int) -> str:
        await eventually(
            lambda: self.status_at("qingdao", QD, delegation_id), lambda s: s == status
        )
        await eventually(lambda: self.status_at("yantai", YT, delegation_id), lambda s: s == status)
        admin = self.coordinator(CALLERS["regional operator"])

        async def at_coordinator() -> int:
            request = capi.CoordinatorGetDelegationRequest(id=delegation_id)
            return (await admin.GetDelegation(request)).delegation.status

        await eventually(at_coordinator, lambda s: s == status)
        return delegation_id

    def footprint(self, delegation_id: str) -> tuple[int, ...]:
        """Events and requests of one delegation, and all document contents, in every database."""
        out = []
        for svc in [self.region.coordinator, *self.region.nodes.values()]:
            with Session(svc.db.engine) as session:
                blobs = select(func.count()).select_from(DocumentBlobRow)
                out.append(int(session.exec(blobs).one()))
                for table in (EventRow, RequestRow):
                    query = select(func.count()).select_from(table)
                    query = query.where(table.delegation_id == delegation_id)  # type: ignore[attr-defined]
                    out.append(int(session.exec(query).one()))
                for kept in (OperatorNoteRow, OperatorActionRow, DeadLetterRow):
                    out.append(int(session.exec(select(func.count()).select_from(kept)).one()))
        return tuple(out)

    def request_for(self, method: str, delegation_id: str, who: Identity) -> Any:
        rid = uuid.uuid4().hex
        return {
            "CreateDelegation": lambda: create_for(who),
            "GetDelegation": lambda: api.GetDelegationRequest(id=delegation_id),
            "ListDelegations": lambda: api.ListDelegationsRequest(),
            "WatchDelegations": lambda: api.WatchDelegationsRequest(),
            "Acknowledge": lambda: api.AcknowledgeRequest(id=delegation_id),
            "Accept": lambda: api.AcceptRequest(id=delegation_id),
            "Return": lambda: api.ReturnRequest(
                id=delegation_id, reason=pb.RETURN_REASON_OTHER, text="材料不全"
            ),
            "Supplement": lambda: api.SupplementRequest(
                id=delegation_id, request_id=rid, text="补充材料"
            ),
            "ReportProgress": lambda: api.ReportProgressRequest(id=delegation_id, text="进行中"),
            "Complete": lambda: api.CompleteRequest(
                id=delegation_id, result=pb.COMPLETION_RESULT_DONE, text="完成"
            ),
            "Confirm": lambda: api.ConfirmRequest(id=delegation_id, request_id=rid),
            "Cancel": lambda: api.CancelRequest(id=delegation_id, request_id=rid, text="撤回"),
            "Urge": lambda: api.UrgeRequest(id=delegation_id, request_id=rid),
            "ListRegistryRequests": lambda: api.ListRegistryRequestsRequest(id=delegation_id),
            "ReleaseRegistryResult": lambda: api.ReleaseRegistryResultRequest(id=delegation_id),
            "ListControls": lambda: pb.ListControlsRequest(),
            "RequestAssistance": lambda: assist_for(who),
            "ProposeAssistancePlan": lambda: api.ProposeAssistancePlanRequest(
                id=delegation_id, plan=assist_plan()
            ),
            "ConfirmAssistanceSupport": lambda: api.ConfirmAssistanceSupportRequest(
                id=delegation_id, support=pb.SUPPORT_KIND_PUBLIC_POLICE
            ),
            "RefuseAssistance": lambda: api.RefuseAssistanceRequest(
                id=delegation_id, text="警力不足"
            ),
            "AcceptAssistancePlan": lambda: api.AcceptAssistancePlanRequest(
                id=delegation_id, request_id=rid, plan_seq=PLAN_SEQ
            ),
            "MoveAssistance": lambda: api.MoveAssistanceRequest(
                id=delegation_id, request_id=rid, window=today_window(), text="改期"
            ),
            "RecordAssistanceOutcome": lambda: api.RecordAssistanceOutcomeRequest(
                id=delegation_id, request_id=rid, result=pb.COMPLETION_RESULT_DONE, text="完成"
            ),
            "ListCourts": lambda: capi.ListCourtsRequest(),
            "WatchBoard": lambda: capi.WatchBoardRequest(),
            "Reroute": lambda: capi.RerouteRequest(
                id=delegation_id, request_id=rid, text="改派", court_id="370611"
            ),
            "Escalate": lambda: capi.EscalateRequest(id=delegation_id, request_id=rid, text="督办"),
            "ExplainSla": lambda: capi.ExplainSlaRequest(id=delegation_id),
            "GetBoard": lambda: capi.GetBoardRequest(),
            "GetSlaReport": lambda: capi.GetSlaReportRequest(
                from_date="2025-01-01", to_date="2025-12-31"
            ),
            "Annotate": lambda: capi.AnnotateRequest(
                id=delegation_id, request_id=rid, text="已电话催促"
            ),
            "ListParked": lambda: capi.ListParkedRequest(),
            "GetParked": lambda: capi.GetParkedRequest(id=self.parked(delegation_id)),
            "RetryParked": lambda: capi.RetryParkedRequest(
                id=self.parked(delegation_id), reason="重试"
            ),
            "DiscardParked": lambda: capi.DiscardParkedRequest(
                id=self.parked(delegation_id), reason="丢弃"
            ),
            "RecomputeSla": lambda: capi.RecomputeSlaRequest(dry_run=True),
            "ListDataReads": lambda: audit_api.ListDataReadsRequest(),
            "UploadDocument": lambda: iter(
                [api.UploadDocumentRequest(data=f"upload by {who.label}".encode())]
            ),
            "GetDocument": lambda: api.GetDocumentRequest(
                delegation_id=delegation_id, sha256=LETTER_DOC.sha256
            ),
        }[method]()

    def call(self, service: str, method: str, who: Identity, request: Any) -> Any:
        if service == "CourtNodeService":
            return getattr(self.node(self.node_for(who), who), method)(request, timeout=10)
        if service == "CoordinatorService":
            if method == "GetDelegation":
                request = capi.CoordinatorGetDelegationRequest(id=request.id)
            elif method == "ListDelegations":
                request = capi.CoordinatorListDelegationsRequest()
            elif method == "WatchBoard":
                request = capi.WatchBoardRequest()
            elif method == "Urge":
                request = capi.CoordinatorUrgeRequest(
                    id=request.id, request_id=request.request_id, text="请尽快办理"
                )
            return getattr(self.coordinator(who), method)(request, timeout=10)
        channel = self.region.channel(self.region.nodes["qingdao"].address, who)
        return audit_grpc.AuditServiceStub(channel).ListDataReads(request, timeout=10)


def today_window() -> pb.TimeWindow:
    """Today in Beijing, all day: the walk runs on the real clock, so an outcome may be recorded
    at once (a request this close goes as urgent, with its reason)."""
    today = datetime.now(SHANGHAI).date().isoformat()
    return pb.TimeWindow(day=today, start="00:00", end="23:59")


def assist_for(who: Identity) -> api.RequestAssistanceRequest:
    """A valid request for assistance from the caller's own court (to Yantai, or to Qingdao)."""
    court = who.court or QD
    to_yantai = CITY.get(court) != "yantai"
    return api.RequestAssistanceRequest(
        request_id=uuid.uuid4().hex,
        case_number=f"(2024)鲁{court[2:]}执{uuid.uuid4().int % 9000 + 1}号",
        target=pb.Target(court_id=YT if to_yantai else QD),
        place=pb.Place(address="芝罘区南大街1号" if to_yantai else "市南区香港中路1号"),
        assistance=pb.Assistance(
            basis="(2023)鲁0202民初1号民事判决书",
            measure=pb.MEASURE_EVICTION,
            subject="被执行人占用的房屋",
            proposed=today_window(),
            officers=[
                pb.VisitingOfficer(name="王执行", work_id="QD-0001", enforcement_id="ZX-0001")
            ],
            support=[pb.SUPPORT_KIND_PUBLIC_POLICE],
            urgent_reason="被执行人即将转移",
        ),
    )


def assist_plan() -> pb.AssistancePlan:
    return pb.AssistancePlan(
        window=today_window(),
        liaison="李联络 0535-1234567",
        assisting_staff=2,
        support=[pb.SupportItem(kind=pb.SUPPORT_KIND_PUBLIC_POLICE, state=pb.SUPPORT_STATE_ASKED)],
    )


def create_for(who: Identity) -> api.CreateDelegationRequest:
    """A valid new delegation from the caller's own court (to Yantai, or from Yantai to Qingdao)."""
    court = who.court or QD
    to_yantai = CITY.get(court) != "yantai"
    return create_request(
        # An inquiry: a clerk may ask for one, a seizure is an officer's (test_registries.py).
        task_type=pb.TASK_TYPE_PROPERTY_INQUIRY,
        case_number=f"(2024)鲁{court[2:]}执{uuid.uuid4().int % 9000 + 1}号",
        target=pb.Target(court_id=YT if to_yantai else QD),
        place=pb.Place(
            address="芝罘区南大街1号" if to_yantai else "市南区香港中路1号",
            district="芝罘区" if to_yantai else "市南区",
        ),
        plate="鲁F12345" if to_yantai else "鲁B12345",
    )


async def outcome(call: Any, streaming: bool) -> grpc.StatusCode:
    """OK or the error code of one call; a stream that stays open 0.7 s counts as OK."""
    try:
        if streaming:
            try:
                await asyncio.wait_for(call.read(), timeout=0.7)
            except TimeoutError:
                pass
            finally:
                call.cancel()
        else:
            await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.fixture
async def walk(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Walk]:
    region = await start_region(tmp_path, nats_server, ["qingdao", "yantai", "weifang"])
    try:
        yield Walk(region)
    finally:
        await region.close()


async def test_every_rpc_with_every_identity(walk: Walk) -> None:
    documented = documented_table()
    shared = await walk.prepare(pb.STATUS_DELIVERED)
    checked: list[tuple[str, str, grpc.StatusCode]] = []
    for rule in RULES:
        service = rule.service.rsplit(".", 1)[-1]
        cells = documented[f"{service}.{rule.method}"]
        streaming = rule.method in ("WatchDelegations", "WatchBoard", "GetDocument")
        writes = rule.writes and rule.method not in (
            "CreateDelegation",
            "RequestAssistance",
            "RecomputeSla",
            "UploadDocument",
            "RetryParked",
            "DiscardParked",
        )
        # Refused callers first, all on one prepared delegation that must not change.
        assistance = rule.method in ASSISTANCE
        target = await walk.prepare(NEEDS[rule.method], assistance) if writes else shared
        if rule.method in PARKED:
            walk.parked(target)  # parked before the footprint: refused calls must keep it
        allowed: list[str] = []
        before = walk.footprint(target)
        for name, who in CALLERS.items():
            column = column_of(who)
            ok = column is not None and expected_allowed(cells[column], who, service, rule.method)
            if ok:
                allowed.append(name)
                continue
            request = walk.request_for(rule.method, target, who)
            code = await outcome(walk.call(service, rule.method, who, request), streaming)
            assert code == grpc.StatusCode.PERMISSION_DENIED, (rule.method, name, code)
            checked.append((rule.method, name, code))
        assert walk.footprint(target) == before, f"a refused {rule.method} changed something"
        # Allowed callers each get a delegation in the needed state (writes) and must succeed.
        for name in allowed:
            who = CALLERS[name]
            if writes:
                target = await walk.prepare(NEEDS[rule.method], assistance)
            request = walk.request_for(rule.method, target, who)
            code = await outcome(walk.call(service, rule.method, who, request), streaming)
            expected = REACHES_HANDLER.get(rule.method, grpc.StatusCode.OK)
            assert code == expected, (rule.method, name, code)
            checked.append((rule.method, name, code))
    assert len(checked) == len(RULES) * len(CALLERS)


async def test_a_court_of_another_city_is_refused_at_this_node(walk: Walk) -> None:
    d = await walk.prepare(pb.STATUS_DELIVERED)
    yantai_officer_at_qingdao = walk.node("qingdao", Identity(Role.OFFICER, YT))
    for call in (
        yantai_officer_at_qingdao.GetDelegation(api.GetDelegationRequest(id=d)),
        yantai_officer_at_qingdao.CreateDelegation(create_request()),
    ):
        assert await outcome(call, False) == grpc.StatusCode.PERMISSION_DENIED


async def test_city_operators_see_only_their_city_and_boards_are_masked(walk: Walk) -> None:
    d = await walk.prepare(pb.STATUS_DELIVERED)

    async def board(city: str) -> list[pb.Delegation]:
        stub = walk.coordinator(Identity(Role.OPERATOR, city))
        return list(
            (await stub.ListDelegations(capi.CoordinatorListDelegationsRequest())).delegations
        )

    assert [x.id for x in await board("qingdao")] == [d]
    assert [x.id for x in await board("yantai")] == [d]
    assert await board("weifang") == []
    shown = (await board(REGION))[0]
    assert shown.debtor.person.name == "张*"
    assert shown.debtor.person.resident_id == "3405**********001X"
    assert shown.debtor.phone == "138****8000"
    assert "南大街" not in shown.place.address and shown.plate == "鲁F*****"
    # A city operator asking for another city's board is refused, not silently widened.
    weifang = walk.coordinator(Identity(Role.OPERATOR, "weifang"))
    code = await outcome(weifang.WatchBoard(capi.WatchBoardRequest(city="qingdao")), True)
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_every_personal_data_read_is_recorded_and_listed_for_the_auditor(walk: Walk) -> None:
    d = await walk.prepare(pb.STATUS_DELIVERED)
    full = await walk.node("yantai", Identity(Role.CLERK, YT)).GetDelegation(
        api.GetDelegationRequest(id=d)
    )
    assert full.delegation.debtor.person.name == "张三"
    await walk.coordinator(Identity(Role.OPERATOR, "qingdao")).GetDelegation(
        capi.CoordinatorGetDelegationRequest(id=d)
    )
    auditor = Identity(Role.AUDITOR, REGION)

    async def reads(svc: str) -> list[audit_api.DataRead]:
        address = (
            walk.region.coordinator.address
            if svc == "coordinator"
            else walk.region.nodes[svc].address
        )
        stub = audit_grpc.AuditServiceStub(walk.region.channel(address, auditor))
        reply = await stub.ListDataReads(audit_api.ListDataReadsRequest(delegation_id=d))
        return list(reply.reads)

    at_yantai = await reads("yantai")
    # Newest first: the clerk's read just now; before it, the officer's reads while preparing.
    assert (at_yantai[0].reader, at_yantai[0].rpc) == (
        "clerk:370602",
        "CourtNodeService/GetDelegation",
    )
    assert {r.reader for r in at_yantai} == {"clerk:370602", "officer:370602"}
    assert at_yantai[0].at.seconds > 0 and at_yantai[0].service == "node-yantai"
    at_coordinator = await reads("coordinator")
    assert ("operator:qingdao", "CoordinatorService/GetDelegation") in [
        (r.reader, r.rpc) for r in at_coordinator
    ]
    # Masked views leave no record: the board read above is not personal data.
    with Session(walk.region.nodes["qingdao"].db.engine) as session:
        rows = session.exec(select(DataReadRow).where(DataReadRow.delegation_id == d)).all()
    assert all(r.reader in ("officer:370202",) for r in rows)


async def test_rate_limit_answers_resource_exhausted_and_spares_other_courts(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        nats_url=nats_server.url,
        tls_dir=shared_pki(),
        rate_limit=1.0,
        rate_burst=5.0,
    )
    node = await start_node(settings, "qingdao")
    pool = ChannelPool(settings.tls_for)
    try:
        flood = ngrpc.CourtNodeServiceStub(pool.channel(node.address, Identity(Role.OFFICER, QD)))
        codes = [
            await outcome(flood.ListDelegations(api.ListDelegationsRequest()), False)
            for _ in range(12)
        ]
        assert codes[:5] == [grpc.StatusCode.OK] * 5
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes[5:]
        other = ngrpc.CourtNodeServiceStub(
            pool.channel(node.address, Identity(Role.OFFICER, QD_OTHER))
        )
        code = await outcome(other.ListDelegations(api.ListDelegationsRequest()), False)
        assert code == grpc.StatusCode.OK
    finally:
        await pool.close()
        await node.stop(0)
