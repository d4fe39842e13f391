"""CourtNodeService: thin translation between gRPC and the node's handlers."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import grpc

from jiaodong.api.audit import record_reads
from jiaodong.api.errors import handles_domain_errors, streams_domain_errors
from jiaodong.api.masking import masked, masked_event
from jiaodong.api.paging import next_page, page_of
from jiaodong.app.controls import controls_page
from jiaodong.app.node import CourtNode, Step
from jiaodong.app.watch import Change
from jiaodong.domain.assistance import accept_detail, move_detail, support_detail
from jiaodong.domain.authz import check_measure
from jiaodong.domain.delegation import MAX_DOCUMENT_BYTES, SHA256
from jiaodong.domain.errors import InvalidInput, NotAllowed
from jiaodong.domain.lifecycle import EventKind
from jiaodong.security.grpc_auth import caller
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import court_node_service_pb2_grpc as api_grpc
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import (
    controls_from_pb,
    document_from_pb,
    draft_from_pb,
    optional_enum,
    status_from_pb,
)
from jiaodong.wire_assistance import draft_from_pb as assistance_draft_from_pb
from jiaodong.wire_assistance import plan_from_pb, support_from_pb, window_from_pb

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]


def acting_court(_context: Ctx) -> str:
    """The court a call acts for: the court in the caller's verified client certificate (the
    security gate has already checked the role may call this RPC and the court is hosted here)."""
    court = caller().court
    if court is None:
        raise NotAllowed(f"{caller().label} does not act for a court")
    return court


class CourtNodeServicer(api_grpc.CourtNodeServiceServicer):
    def __init__(self, node: CourtNode) -> None:
        self.node = node

    @handles_domain_errors
    async def CreateDelegation(
        self, request: api.CreateDelegationRequest, context: Ctx
    ) -> api.CreateDelegationResponse:
        draft = draft_from_pb(request)
        if draft.task_type is not None:
            check_measure(caller(), draft.task_type.value)
        delegation, created = await self.node.create(acting_court(context), draft)
        return api.CreateDelegationResponse(delegation=masked(delegation), created=created)

    @handles_domain_errors
    async def GetDelegation(
        self, request: api.GetDelegationRequest, context: Ctx
    ) -> api.GetDelegationResponse:
        delegation = await self.node.get(acting_court(context), request.id)
        await self._record(context, "CourtNodeService/GetDelegation", [delegation.id])
        return api.GetDelegationResponse(delegation=delegation)

    async def _record(self, context: Ctx, rpc: str, ids: list[str]) -> None:
        await record_reads(self.node.db, self.node.clock, rpc, ids)

    @handles_domain_errors
    async def ListDelegations(
        self, request: api.ListDelegationsRequest, context: Ctx
    ) -> api.ListDelegationsResponse:
        direction = optional_enum(
            api.Direction, "DIRECTION", request.direction, "direction"
        ).lower()
        statuses = [status_from_pb(s) for s in request.statuses if s != pb.STATUS_UNSPECIFIED]
        court = acting_court(context)
        offset, size = page_of(request.page_size, request.page_token)
        items, more = await self.node.list(court, direction, statuses, offset, size)
        await self._record(context, "CourtNodeService/ListDelegations", [d.id for d in items])
        return api.ListDelegationsResponse(
            delegations=items, next_page_token=next_page(offset, size, more)
        )

    @streams_domain_errors
    async def WatchDelegations(
        self, request: api.WatchDelegationsRequest, context: Ctx
    ) -> AsyncIterator[api.WatchDelegationsResponse]:
        court = acting_court(context)
        self.node.hosted(court)
        if request.delegation_id:
            await self.node.get(court, request.delegation_id)

        def keep(change: Change) -> bool:
            d = change.delegation
            if request.delegation_id and d.id != request.delegation_id:
                return False
            return court in (d.requesting_court, d.entrusted_court)

        # A change stream is masked (it would otherwise be an unrecorded feed of personal data);
        # GetDelegation gives the full record, and records the read.
        async for change in self.node.broadcaster.watch(keep, courts=[court]):
            out = api.WatchDelegationsResponse(delegation=masked(change.delegation))
            if change.event is not None:
                out.event.CopyFrom(masked_event(change.event))
            yield out

    # Steps and requests answer with the delegation masked: personal data leaves the node in full
    # only through GetDelegation and ListDelegations, and every such read is recorded.
    async def _step(self, context: Ctx, delegation_id: str, step: Step) -> pb.Delegation:
        return masked(await self.node.act(acting_court(context), delegation_id, step))

    @handles_domain_errors
    async def Acknowledge(
        self, request: api.AcknowledgeRequest, context: Ctx
    ) -> api.AcknowledgeResponse:
        d = await self._step(context, request.id, Step(EventKind.ACKNOWLEDGED, request.text))
        return api.AcknowledgeResponse(delegation=d)

    @handles_domain_errors
    async def Accept(self, request: api.AcceptRequest, context: Ctx) -> api.AcceptResponse:
        d = await self._step(context, request.id, Step(EventKind.ACCEPTED, request.text))
        return api.AcceptResponse(delegation=d)

    @handles_domain_errors
    async def Return(self, request: api.ReturnRequest, context: Ctx) -> api.ReturnResponse:
        reason = optional_enum(pb.ReturnReason, "RETURN_REASON", request.reason, "reason")
        d = await self._step(
            context, request.id, Step(EventKind.RETURNED, request.text, return_reason=reason)
        )
        return api.ReturnResponse(delegation=d)

    @handles_domain_errors
    async def ReportProgress(
        self, request: api.ReportProgressRequest, context: Ctx
    ) -> api.ReportProgressResponse:
        docs = tuple(document_from_pb(x) for x in request.documents)
        step = Step(
            EventKind.PROGRESS_REPORTED,
            request.text,
            documents=docs,
            controls=controls_from_pb(request.controls),
        )
        d = await self._step(context, request.id, step)
        return api.ReportProgressResponse(delegation=d)

    @handles_domain_errors
    async def Complete(self, request: api.CompleteRequest, context: Ctx) -> api.CompleteResponse:
        result = optional_enum(pb.CompletionResult, "COMPLETION_RESULT", request.result, "result")
        docs = tuple(document_from_pb(x) for x in request.documents)
        d = await self._step(
            context,
            request.id,
            Step(
                EventKind.COMPLETED,
                request.text,
                result=result,
                documents=docs,
                controls=controls_from_pb(request.controls),
            ),
        )
        return api.CompleteResponse(delegation=d)

    async def _request(self, context: Ctx, request: Any, kind: EventKind) -> pb.Delegation:
        if not request.id:
            raise InvalidInput.one("id", "is required")
        docs = tuple(document_from_pb(x) for x in getattr(request, "documents", ()))
        delegation = await self.node.request(
            acting_court(context),
            request.id,
            kind,
            request.request_id,
            request.text,
            docs,
        )
        return masked(delegation)

    @handles_domain_errors
    async def Supplement(
        self, request: api.SupplementRequest, context: Ctx
    ) -> api.SupplementResponse:
        d = await self._request(context, request, EventKind.SUPPLEMENTED)
        return api.SupplementResponse(delegation=d)

    @handles_domain_errors
    async def Confirm(self, request: api.ConfirmRequest, context: Ctx) -> api.ConfirmResponse:
        return api.ConfirmResponse(
            delegation=await self._request(context, request, EventKind.CONFIRMED)
        )

    @handles_domain_errors
    async def Cancel(self, request: api.CancelRequest, context: Ctx) -> api.CancelResponse:
        if not request.id:
            raise InvalidInput.one("id", "is required")
        d = await self.node.either_side(
            acting_court(context), request.id, EventKind.CANCELLED, request.request_id, request.text
        )
        return api.CancelResponse(delegation=masked(d))

    @handles_domain_errors
    async def Urge(self, request: api.UrgeRequest, context: Ctx) -> api.UrgeResponse:
        return api.UrgeResponse(delegation=await self._request(context, request, EventKind.URGED))

    @handles_domain_errors
    async def UploadDocument(
        self, request_iterator: AsyncIterator[api.UploadDocumentRequest], context: Ctx
    ) -> api.UploadDocumentResponse:
        court = acting_court(context)
        parts: list[bytes] = []
        size = 0
        declared_sha, declared_size = "", 0
        async for piece in request_iterator:
            declared_sha = declared_sha or piece.sha256
            declared_size = declared_size or piece.size_bytes
            size += len(piece.data)
            if size > MAX_DOCUMENT_BYTES:
                raise InvalidInput.one("data", f"a document is at most {MAX_DOCUMENT_BYTES} bytes")
            parts.append(piece.data)
        if size == 0:
            raise InvalidInput.one("data", "is empty: send the document's bytes")
        data = b"".join(parts)
        if declared_size and declared_size != size:
            raise InvalidInput.one("size_bytes", f"declared {declared_size}, received {size}")
        if declared_sha and declared_sha != hashlib.sha256(data).hexdigest():
            raise InvalidInput.one("sha256", "does not match the bytes received")
        sha, stored, existed = await self.node.upload(court, data)
        return api.UploadDocumentResponse(sha256=sha, size_bytes=stored, existed=existed)

    @streams_domain_errors
    async def GetDocument(
        self, request: api.GetDocumentRequest, context: Ctx
    ) -> AsyncIterator[api.GetDocumentResponse]:
        court = acting_court(context)
        if not request.delegation_id or not SHA256.fullmatch(request.sha256):
            raise InvalidInput.one("sha256", "give the delegation id and a 64-hex SHA-256")
        pieces = await self.node.read_document(court, request.delegation_id, request.sha256)
        await self._record(context, "CourtNodeService/GetDocument", [request.delegation_id])
        for piece in pieces:
            yield api.GetDocumentResponse(data=piece)

    @handles_domain_errors
    async def ListControls(
        self, request: pb.ListControlsRequest, context: Ctx
    ) -> pb.ListControlsResponse:
        court = acting_court(context)
        if request.court_id.strip() and request.court_id.strip() != court:
            raise InvalidInput.one("court_id", f"a court lists its own controls only ({court})")
        found = await self.node.controls(court, list(request.states))
        return controls_page(found, request.limit)

    @handles_domain_errors
    async def ListRegistryRequests(
        self, request: api.ListRegistryRequestsRequest, context: Ctx
    ) -> api.ListRegistryRequestsResponse:
        if not request.id:
            raise InvalidInput.one("id", "is required")
        views = await self.node.registry_requests(
            acting_court(context), request.id, request.letters
        )
        if any(v.letter for v in views):  # a result letter names the debtor and what they own
            await self._record(context, "CourtNodeService/ListRegistryRequests", [request.id])
        return api.ListRegistryRequestsResponse(
            requests=[
                api.RegistryRequestState(
                    request_id=v.request_id,
                    asset_kind=pb.AssetKind.Value(f"ASSET_KIND_{v.asset_kind}"),
                    action=v.action,
                    state=v.state,
                    registry=v.registry,
                    registry_no=v.registry_no,
                    attempts=v.attempts,
                    last_error=v.last_error,
                    results=v.results,
                    letter=v.letter,
                    reviewed_by=v.reviewed_by,
                )
                for v in views
            ]
        )

    @handles_domain_errors
    async def ReleaseRegistryResult(
        self, request: api.ReleaseRegistryResultRequest, context: Ctx
    ) -> api.ReleaseRegistryResultResponse:
        if not request.id:
            raise InvalidInput.one("id", "is required")
        if len(request.text) > 500:
            raise InvalidInput.one("text", "is at most 500 characters")
        delegation = await self.node.release_registry_result(
            acting_court(context), request.id, caller().label, request.text.strip()
        )
        return api.ReleaseRegistryResultResponse(delegation=masked(delegation))

    # -- on-site assistance (异地执行协助) ----------------------------------------------------

    @handles_domain_errors
    async def RequestAssistance(
        self, request: api.RequestAssistanceRequest, context: Ctx
    ) -> api.RequestAssistanceResponse:
        draft = assistance_draft_from_pb(request)
        delegation, created = await self.node.request_assistance(acting_court(context), draft)
        return api.RequestAssistanceResponse(delegation=masked(delegation), created=created)

    async def _assist_step(self, context: Ctx, delegation_id: str, step: Step) -> Any:
        if not delegation_id:
            raise InvalidInput.one("id", "is required")
        return api.AssistanceStepResponse(delegation=await self._step(context, delegation_id, step))

    async def _assist_request(
        self,
        context: Ctx,
        delegation_id: str,
        kind: EventKind,
        request_id: str,
        text: str,
        detail: str,
    ) -> Any:
        if not delegation_id:
            raise InvalidInput.one("id", "is required")
        d = await self.node.request(
            acting_court(context), delegation_id, kind, request_id, text, detail=detail
        )
        return api.AssistanceStepResponse(delegation=masked(d))

    @handles_domain_errors
    async def ProposeAssistancePlan(
        self, request: api.ProposeAssistancePlanRequest, context: Ctx
    ) -> api.AssistanceStepResponse:
        plan = plan_from_pb(request.plan)
        step = Step(EventKind.PLAN_PROPOSED, detail=plan.detail())
        return await self._assist_step(context, request.id, step)  # type: ignore[no-any-return]

    @handles_domain_errors
    async def ConfirmAssistanceSupport(
        self, request: api.ConfirmAssistanceSupportRequest, context: Ctx
    ) -> api.AssistanceStepResponse:
        item = support_from_pb(request.support, "support")
        step = Step(EventKind.SUPPORT_CONFIRMED, request.text, detail=support_detail(item))
        return await self._assist_step(context, request.id, step)  # type: ignore[no-any-return]

    @handles_domain_errors
    async def RefuseAssistance(
        self, request: api.RefuseAssistanceRequest, context: Ctx
    ) -> api.AssistanceStepResponse:
        step = Step(EventKind.REFUSED, request.text)
        return await self._assist_step(context, request.id, step)  # type: ignore[no-any-return]

    @handles_domain_errors
    async def AcceptAssistancePlan(
        self, request: api.AcceptAssistancePlanRequest, context: Ctx
    ) -> api.AssistanceStepResponse:
        if request.plan_seq <= 0:
            raise InvalidInput.one("plan_seq", "name the plan accepted (its event number)")
        return await self._assist_request(  # type: ignore[no-any-return]
            context,
            request.id,
            EventKind.PLAN_ACCEPTED,
            request.request_id,
            request.text,
            accept_detail(request.plan_seq),
        )

    @handles_domain_errors
    async def MoveAssistance(
        self, request: api.MoveAssistanceRequest, context: Ctx
    ) -> api.AssistanceStepResponse:
        window = window_from_pb(request.window, "window")
        if window is None:
            raise InvalidInput.one("window", "say which day and window to move to")
        return await self._assist_request(  # type: ignore[no-any-return]
            context,
            request.id,
            EventKind.MOVE_ASKED,
            request.request_id,
            request.text,
            move_detail(window),
        )

    @handles_domain_errors
    async def RecordAssistanceOutcome(
        self, request: api.RecordAssistanceOutcomeRequest, context: Ctx
    ) -> api.AssistanceStepResponse:
        if not request.id:
            raise InvalidInput.one("id", "is required")
        result = optional_enum(pb.CompletionResult, "COMPLETION_RESULT", request.result, "result")
        if not result:
            raise InvalidInput.one("result", "DONE, PARTLY_DONE or NOT_POSSIBLE")
        d = await self.node.either_side(
            acting_court(context),
            request.id,
            EventKind.OUTCOME_RECORDED,
            request.request_id,
            request.text,
            result=result,
            documents=tuple(document_from_pb(x) for x in request.documents),
        )
        return api.AssistanceStepResponse(delegation=masked(d))
