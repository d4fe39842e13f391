"""CoordinatorService: thin translation between gRPC and the coordinator's handlers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any, TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from jiaodong.api.audit import record_reads
from jiaodong.api.errors import handles_domain_errors, streams_domain_errors
from jiaodong.api.masking import masked, masked_event
from jiaodong.api.paging import next_page, page_of
from jiaodong.app.controls import controls_page
from jiaodong.app.coordinator import (
    Board,
    Coordinator,
    Guard,
    Note,
    QueueItem,
)
from jiaodong.app.leadership import Replica
from jiaodong.app.parked import parked_action_pb, parked_pb
from jiaodong.app.watch import Change
from jiaodong.domain import report
from jiaodong.domain.authz import check_delegation, city_filter, parked_scope
from jiaodong.domain.errors import FieldViolation, InvalidInput
from jiaodong.domain.lifecycle import EventKind
from jiaodong.security.grpc_auth import caller, caller_grant
from jiaodong.store.board import LEVEL_BREACHED, LEVEL_HALF, LEVEL_NONE, LEVEL_THREE_QUARTERS
from jiaodong.store.ledger import RegionFilter
from jiaodong.v1 import coordinator_service_pb2 as api
from jiaodong.v1 import coordinator_service_pb2_grpc as api_grpc
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import from_ts, optional_enum, status_from_pb

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]

LEVELS = {
    api.SLA_LEVEL_UNDER_HALF: LEVEL_NONE,
    api.SLA_LEVEL_HALF: LEVEL_HALF,
    api.SLA_LEVEL_THREE_QUARTERS: LEVEL_THREE_QUARTERS,
    api.SLA_LEVEL_BREACHED: LEVEL_BREACHED,
}
LEVEL_PB = {level: value for value, level in LEVELS.items()}
SUMMARIES = {
    api.SLA_SUMMARY_RUNNING: "RUNNING",
    api.SLA_SUMMARY_BREACHED: "BREACHED",
    api.SLA_SUMMARY_PAUSED: "PAUSED",
    api.SLA_SUMMARY_NONE: "NONE",
}
ORDERS = {
    api.LIST_ORDER_UNSPECIFIED: "newest",
    api.LIST_ORDER_NEWEST: "newest",
    api.LIST_ORDER_DUE: "due",
}


def _at(field: Timestamp, value: datetime | None) -> None:
    if value is not None:
        field.FromDatetime(value)


def note_pb(note: Note) -> api.OperatorNote:
    out = api.OperatorNote(
        delegation_id=note.delegation_id,
        operator=note.operator,
        text=note.text,
        request_id=note.request_id,
    )
    out.at.FromDatetime(note.at)
    return out


def queue_entry_pb(item: QueueItem) -> api.QueueEntry:
    out = api.QueueEntry(
        delegation_id=item.delegation.id,
        goal=item.goal,
        working_days_left=-1 if item.working_days_left is None else item.working_days_left,
        seconds_left=item.seconds_left or 0,
    )
    if item.next_due is not None:
        out.next_due_at.FromDatetime(item.next_due)
        out.level = LEVEL_PB.get(item.level, api.SLA_LEVEL_UNSPECIFIED)
    return out


def board_pb(board: Board) -> api.GetBoardResponse:
    out = api.GetBoardResponse(
        city=board.city or "",
        window_days=board.window_days,
        parked=board.parked,
        notices=list(board.notices),
        operations=list(board.operations),
    )
    out.at.FromDatetime(board.at)
    out.due_soon_by.FromDatetime(board.due_soon_by)
    for c in board.cities:
        figures = out.cities.add(
            city=c.city,
            inbound_open=c.inbound_open,
            outbound_open=c.outbound_open,
            due_soon=c.due_soon,
            breached=c.breached,
            decided=c.decided,
            met_on_time=c.met_on_time,
        )
        if c.on_time_rate is not None:
            figures.on_time_rate = c.on_time_rate
    for p in board.pairs:
        out.pairs.add(from_city=p.from_city, to_city=p.to_city, open=p.open, breached=p.breached)
    for b in board.aging:
        out.aging.add(over_days=b.over_days, up_to_days=b.up_to_days or 0, count=b.count)
    for n in board.nodes:
        node = out.nodes.add(
            node=n.node,
            city=n.city,
            offline=n.offline,
            unpublished=n.unpublished,
            undelivered=n.undelivered,
        )
        _at(node.last_seen_at, n.last_seen)
        _at(node.offline_since, n.offline_since)
        if n.parked is not None:
            node.parked = n.parked
        _at(node.parked_reported_at, n.parked_at)
    return out


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
        guard = self._guard()
        delegation = await self.coordinator.get(request.id, guard)
        notes = await self.coordinator.notes(request.id, guard)
        await record_reads(
            self.coordinator.db,
            self.coordinator.clock,
            "CoordinatorService/GetDelegation",
            [delegation.id],
        )
        return api.CoordinatorGetDelegationResponse(
            delegation=delegation, notes=[note_pb(n) for n in notes]
        )

    @handles_domain_errors
    async def ListDelegations(
        self, request: api.CoordinatorListDelegationsRequest, context: Ctx
    ) -> api.CoordinatorListDelegationsResponse:
        statuses = [status_from_pb(s) for s in request.statuses if s != pb.STATUS_UNSPECIFIED]
        tasks = [
            optional_enum(pb.TaskType, "TASK_TYPE", t, "task_types") for t in request.task_types
        ]
        violations = []
        levels = []
        for value in request.sla_levels:
            if value not in LEVELS:
                violations.append(FieldViolation("sla_levels", f"unknown level {value}"))
            else:
                levels.append(LEVELS[value])
        states = []
        for state in request.sla_states:
            if state not in SUMMARIES:
                violations.append(FieldViolation("sla_states", f"unknown SLA state {state}"))
            else:
                states.append(SUMMARIES[state])
        if request.order not in ORDERS:
            violations.append(FieldViolation("order", f"unknown order {request.order}"))
        created = {}
        for name in ("created_after", "created_before"):
            if request.HasField(name):
                try:
                    created[name] = from_ts(getattr(request, name))
                except (ValueError, OverflowError):
                    violations.append(FieldViolation(name, "is not a valid time"))
        if violations:
            raise InvalidInput(violations)
        offset, size = page_of(request.page_size, request.page_token)
        where = RegionFilter(
            from_city=request.from_city,
            to_city=request.to_city,
            touching=city_filter(caller(), ""),
            statuses=tuple(s.value for s in statuses),
            task_types=tuple(t for t in tasks if t),
            court=request.court_id.strip(),
            sla_levels=tuple(levels),
            sla_states=tuple(states),
            created_from=created.get("created_after"),
            created_to=created.get("created_before"),
            case_number=request.case_number.strip(),
            order=ORDERS[request.order],
        )
        page = await self.coordinator.queue(where, offset, size)
        return api.CoordinatorListDelegationsResponse(
            delegations=[masked(i.delegation) for i in page.items],
            entries=[queue_entry_pb(i) for i in page.items],
            next_page_token=next_page(offset, size, page.more),
            total=page.total,
            total_capped=page.capped,
            notices=await self.coordinator.board_notices(),
        )

    @handles_domain_errors
    async def GetBoard(self, request: api.GetBoardRequest, context: Ctx) -> api.GetBoardResponse:
        registry = self.coordinator.registry
        if request.city and request.city not in registry.cities:
            raise InvalidInput.one("city", f"unknown city {request.city!r}")
        city = city_filter(caller(), request.city)
        board = await self.coordinator.board(city or None, request.window_days or 30)
        return board_pb(board)

    @handles_domain_errors
    async def GetSlaReport(
        self, request: api.GetSlaReportRequest, context: Ctx
    ) -> api.GetSlaReportResponse:
        first = _date("from_date", request.from_date)
        last = _date("to_date", request.to_date)
        if request.city and request.city not in self.coordinator.registry.cities:
            raise InvalidInput.one("city", f"未知城市 {request.city!r}")
        city = city_filter(caller(), request.city)
        figures = await self.coordinator.sla_report(first, last, city or None)
        return api.GetSlaReportResponse(
            report_json=json.dumps(figures, ensure_ascii=False),
            schema_version=report.SCHEMA_VERSION,
        )

    @handles_domain_errors
    async def Urge(
        self, request: api.CoordinatorUrgeRequest, context: Ctx
    ) -> api.CoordinatorUrgeResponse:
        self._require_active()
        d = await self.coordinator.steer(
            request.id,
            EventKind.URGED,
            request.request_id,
            request.text,
            guard=self._guard(),
            operator=caller().label,
        )
        return api.CoordinatorUrgeResponse(delegation=masked(d))

    @handles_domain_errors
    async def Annotate(self, request: api.AnnotateRequest, context: Ctx) -> api.AnnotateResponse:
        self._require_active()
        note = await self.coordinator.annotate(
            request.id, request.request_id, request.text, caller().label, self._guard()
        )
        return api.AnnotateResponse(note=note_pb(note))

    def _courts(self, city: str = "") -> frozenset[str] | None:
        """The courts whose parked messages the caller may see (None: all, regional): the
        coordinator's, or with ``city`` that city's node's (refused outside the caller's city)."""
        return parked_scope(caller(), city, self.coordinator.registry)

    def _parked_at(self, city: str) -> frozenset[str] | None:
        """The caller's scope for ``city``'s parked messages; a node's are asked over the active
        replica's bus link only (a standby answers UNAVAILABLE naming the active one)."""
        courts = self._courts(city)
        if city:
            self._require_active()
        return courts

    @handles_domain_errors
    async def ListParked(
        self, request: api.ListParkedRequest, context: Ctx
    ) -> api.ListParkedResponse:
        offset, size = page_of(request.page_size, request.page_token)
        courts = self._parked_at(request.city)
        items, more = await self.coordinator.parked_messages_at(request.city, courts, offset, size)
        return api.ListParkedResponse(
            parked=[parked_pb(p) for p in items], next_page_token=next_page(offset, size, more)
        )

    @handles_domain_errors
    async def GetParked(self, request: api.GetParkedRequest, context: Ctx) -> api.GetParkedResponse:
        courts = self._parked_at(request.city)
        parked, actions = await self.coordinator.parked_message_at(request.city, request.id, courts)
        return api.GetParkedResponse(
            parked=parked_pb(parked), actions=[parked_action_pb(a) for a in actions]
        )

    @handles_domain_errors
    async def RetryParked(
        self, request: api.RetryParkedRequest, context: Ctx
    ) -> api.RetryParkedResponse:
        self._require_active()
        applied, action = await self.coordinator.retry_parked_at(
            request.city, request.id, request.reason, caller().label, self._courts(request.city)
        )
        return api.RetryParkedResponse(applied=applied, action=parked_action_pb(action))

    @handles_domain_errors
    async def DiscardParked(
        self, request: api.DiscardParkedRequest, context: Ctx
    ) -> api.DiscardParkedResponse:
        self._require_active()
        action = await self.coordinator.discard_parked_at(
            request.city, request.id, request.reason, caller().label, self._courts(request.city)
        )
        return api.DiscardParkedResponse(action=parked_action_pb(action))

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
            operator=caller().label,
        )
        return api.RerouteResponse(delegation=masked(d))

    @handles_domain_errors
    async def Escalate(self, request: api.EscalateRequest, context: Ctx) -> api.EscalateResponse:
        self._require_active()
        d = await self.coordinator.steer(
            request.id,
            EventKind.ESCALATED,
            request.request_id,
            request.text,
            guard=self._guard(),
            operator=caller().label,
        )
        return api.EscalateResponse(delegation=masked(d))

    @handles_domain_errors
    async def ListControls(
        self, request: pb.ListControlsRequest, context: Ctx
    ) -> pb.ListControlsResponse:
        if request.city and request.city not in self.coordinator.registry.cities:
            raise InvalidInput.one("city", f"未知城市 {request.city!r}")
        city = city_filter(caller(), request.city)
        found = await self.coordinator.controls(
            city or None, request.court_id.strip(), list(request.states)
        )
        return controls_page(found, request.limit)

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


def _date(name: str, text: str) -> date:
    """A YYYY-MM-DD field, or InvalidInput naming it."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput.one(name, f"日期格式应为 YYYY-MM-DD，收到 {text!r}") from None
