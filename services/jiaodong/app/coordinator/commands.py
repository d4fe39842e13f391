"""What command-centre operators ask of the coordinator: urge, reroute or escalate a delegation.
Each is recorded as a request (and who asked, as an operator action) and applied at once while the
coordinator is the writer (before delivery), or sent to the entrusted node, which applies or
refuses it in order."""

from __future__ import annotations

import structlog

from jiaodong.app.coordinator.base import CoordinatorBase, Guard, check_guard
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.bus import envelopes
from jiaodong.bus.subjects import Kind
from jiaodong.domain.errors import AlreadyExists, FieldViolation, InvalidInput
from jiaodong.domain.history import step_violations
from jiaodong.domain.lifecycle import EventKind, Side, check_allowed
from jiaodong.domain.routing import check_reroute
from jiaodong.store import operators
from jiaodong.v1 import delegation_pb2 as pb

log = structlog.get_logger("jiaodong.coordinator")


class Commands(CoordinatorBase):
    async def steer(
        self,
        delegation_id: str,
        kind: EventKind,
        request_id: str,
        text: str,
        court_id: str = "",
        guard: Guard | None = None,
        operator: str = "",
    ) -> pb.Delegation:
        """An operator's urge, reroute or escalation, sent to the delegation's current writer;
        ``operator``: the identity that asked, recorded with the request (operator_action)."""
        court_id = court_id.strip()
        violations = [] if delegation_id else [FieldViolation("id", "is required")]
        violations += step_violations(
            kind, Side.COORDINATOR, request_id=request_id, text=text, court_id=court_id
        )
        if violations:
            raise InvalidInput(violations)

        def work(uow: UnitOfWork) -> pb.Delegation:
            row = uow.require(delegation_id)
            check_guard(guard, row)
            known = uow.request(row, request_id)
            if known is not None:
                if known.kind != kind.value:
                    raise AlreadyExists(f"request_id {request_id!r} was used for {known.kind}")
                return uow.view(row)
            state = uow.state(row)
            check_allowed(state, kind, Side.COORDINATOR)
            if kind is EventKind.REROUTED:
                check_reroute(self.registry, row.requesting_court, state.entrusted_court, court_id)
            uow.record_request(row, request_id, kind, Side.COORDINATOR)
            if operator:
                operators.record_action(
                    uow.session,
                    at=uow.now,
                    operator=operator,
                    action=kind.value.lower(),
                    target=row.id,
                    request_id=request_id,
                    reason=text,
                )
            request = envelopes.action_request(
                row.id, request_id, kind, Side.COORDINATOR, text=text, court_id=court_id
            )
            if state.writer is Side.COORDINATOR:
                self.apply_request(uow, row, request)
            else:
                writer = state.writer_court()
                assert writer is not None
                message_id = envelopes.request_message_id(row.id, request_id)
                self.send(uow, writer, Kind.REQUEST, request, message_id)
            return uow.view(row)

        delegation = await self.core.run(work)
        log.info("operator_request", delegation_id=delegation_id, kind=kind.value)
        return delegation
