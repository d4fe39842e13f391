"""CoordinatorService: thin translation between gRPC and the coordinator's handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import grpc

from jiaodong.api.audit import record_reads
from jiaodong.api.errors import handles_domain_errors, streams_domain_errors
from jiaodong.api.masking import masked, masked_event
from jiaodong.api.paging import next_page, page_of
from jiaodong.app.coordinator import Coordinator, Guard
from jiaodong.app.leadership import Replica
from jiaodong.app.watch import Change
from jiaodong.domain.authz import check_delegation, city_filter
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.lifecycle import EventKind
from jiaodong.security.grpc_auth import caller, caller_grant
from jiaodong.store.ledger import RegionFilter
from jiaodong.v1 import coordinator_service_pb2 as api
from jiaodong.v1 import coordinator_service_pb2_grpc as api_grpc
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import optional_enum, status_from_pb

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class CoordinatorServicer(api_grpc.CoordinatorServiceServicer):
    """Operators see and steer delegations touching their city (regional: all); the auditor reads.
    Board views (List, Watch) are masked; GetDelegation is full and every such read is recorded."""

    def __init__(self, coordinator: Coordinator, replica: Replica | None = None) -> None:
        self.coordinator = coordinator
        # Replicas: reads are answered from the shared database by any of them; writes and the
        # live board only by the active one (a standby answers UNAVAILABLE naming it).
        self.replica = replica

    def _require_active(self) -> None:
        if self.replica is not None:
            self.replica.require_active()

    def _guard(self) -> Guard:
        """The caller's delegation-scope check, bound to the call's identity and grant."""
        identity, grant = caller(), caller_grant()
        registry = self.coordinator.registry

        def guard(requesting: str, entrusted: str) -> None:
            check_delegation(
                grant, identity, requesting, entrusted, lambda c: registry.court(c).city
            )

        return guard

    @handles_domain_errors
    async def ListCourts(
        self, request: api.ListCourtsRequest, context: Ctx
    ) -> api.ListCourtsResponse:
        registry = self.coordinator.registry
        if request.city and request.city not in registry.cities:
            raise InvalidInput.one("city", f"unknown city {request.city!r}")
        courts = sorted(registry.courts.values(), key=lambda c: c.court_id)
        return api.ListCourtsResponse(
            courts=[
                api.Court(
                    court_id=c.court_id,
                    case_code=c.case_code,
                    name_zh=c.name_zh,
                    name_en=c.name_en,
                    city=c.city,
                    level=c.level,
                    node=c.node,
                    districts=list(c.districts),
                )
                for c in courts
                if not request.city or c.city == request.city
            ]
        )

    @handles_domain_errors
    async def GetDelegation(
        self, request: api.CoordinatorGetDelegationRequest, context: Ctx
    ) -> api.CoordinatorGetDelegationResponse:
        delegation = await self.coordinator.get(request.id, self._guard())
        await record_reads(
            self.coordinator.db,
            self.coordinator.clock,
            "CoordinatorService/GetDelegation",
            [delegation.id],
        )
        return api.CoordinatorGetDelegationResponse(delegation=delegation)

    @handles_domain_errors
    async def ListDelegations(
        self, request: api.CoordinatorListDelegationsRequest, context: Ctx
    ) -> api.CoordinatorListDelegationsResponse:
        statuses = [status_from_pb(s) for s in request.statuses if s != pb.STATUS_UNSPECIFIED]
        tasks = [
            optional_enum(pb.TaskType, "TASK_TYPE", t, "task_types") for t in request.task_types
        ]
        offset, size = page_of(request.page_size, request.page_token)
        where = RegionFilter(
            from_city=request.from_city,
            to_city=request.to_city,
            touching=city_filter(caller(), ""),
            statuses=tuple(s.value for s in statuses),
            task_types=tuple(t for t in tasks if t),
        )
        items, more, total, capped = await self.coordinator.list(where, offset, size)
        return api.CoordinatorListDelegationsResponse(
            delegations=[masked(d) for d in items],
            next_page_token=next_page(offset, size, more),
            total=total,
            total_capped=capped,
            notices=await self.coordinator.board_notices(),
        )

    @streams_domain_errors
    async def WatchBoard(
        self, request: api.WatchBoardRequest, context: Ctx
    ) -> AsyncIterator[api.WatchBoardResponse]:
        self._require_active()  # a standby's broadcaster hears of no change
        registry = self.coordinator.registry
        if request.city and request.city not in registry.cities:
            raise InvalidInput.one("city", f"unknown city {request.city!r}")
        city = city_filter(caller(), request.city)

        def keep(change: Change) -> bool:
            if not city:
                return True
            d = change.delegation
            courts = [c for c in (d.requesting_court, d.entrusted_court) if c]
            return any(registry.court(c).city == city for c in courts)

        courts = None if not city else [c.court_id for c in registry.courts_in_city(city)]
        async for change in self.coordinator.broadcaster.watch(keep, courts=courts):
            out = api.WatchBoardResponse(delegation=masked(change.delegation))
            if change.event is not None:
                out.event.CopyFrom(masked_event(change.event))
            yield out

    @handles_domain_errors
    async def Reroute(self, request: api.RerouteRequest, context: Ctx) -> api.RerouteResponse:
        self._require_active()
        d = await self.coordinator.steer(
            request.id,
            EventKind.REROUTED,
            request.request_id,
            request.text,
            request.court_id,
            guard=self._guard(),
        )
        return api.RerouteResponse(delegation=masked(d))

    @handles_domain_errors
    async def Escalate(self, request: api.EscalateRequest, context: Ctx) -> api.EscalateResponse:
        self._require_active()
        d = await self.coordinator.steer(
            request.id, EventKind.ESCALATED, request.request_id, request.text, guard=self._guard()
        )
        return api.EscalateResponse(delegation=masked(d))

    @handles_domain_errors
    async def ExplainSla(
        self, request: api.ExplainSlaRequest, context: Ctx
    ) -> api.ExplainSlaResponse:
        goals, lines = await self.coordinator.explain(request.id, self._guard())
        return api.ExplainSlaResponse(goals=goals, lines=lines)

    @handles_domain_errors
    async def RecomputeSla(
        self, request: api.RecomputeSlaRequest, context: Ctx
    ) -> api.RecomputeSlaResponse:
        if not request.dry_run:
            self._require_active()  # the active one's SLA engine is the one that sweeps
        count, moved, warnings = await self.coordinator.recompute(request.dry_run)
        out = api.RecomputeSlaResponse(open_clocks=count, warnings=warnings)
        for delegation_id, goal, old, new in moved:
            move = out.moved.add(delegation_id=delegation_id, goal=goal)
            move.old_due_at.FromDatetime(old)
            move.new_due_at.FromDatetime(new)
        return out
