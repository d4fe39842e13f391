"""The command centres' own record at the coordinator: notes on delegations, and the parked
messages (dead letters) they inspect, apply again or drop: the coordinator's own
(jiaodong.app.parked), or a city node's, asked of that node over the bus (``ParkedAsk`` on
``jd.v1.ops.<city>.parked``, request/reply with a bound: a node that does not answer is
``Unreachable``, naming it). Every change is recorded with the operator identity that asked for it
(``operator_action``), in the database of the service that holds the message.

Notes are the centres' own: not events of the delegation, not part of the courts' hash-chained
history, never sent to the courts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from google.protobuf.message import DecodeError
from sqlmodel import Session

from jiaodong.app.coordinator.base import Guard, check_guard
from jiaodong.app.coordinator.inbound import InboundHandlers
from jiaodong.app.parked import (
    Courts,
    Parked,
    ParkedAction,
    ParkedRecord,
    check_id,
    check_reason,
    parked_action_from_pb,
    parked_from_pb,
    refusal_error,
)
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.bus.subjects import ops_subject
from jiaodong.bus.transport import NoAnswer
from jiaodong.domain.delegation import check_request_id, check_text
from jiaodong.domain.errors import FieldViolation, InvalidInput, Unreachable
from jiaodong.store import ledger
from jiaodong.store import operators as record
from jiaodong.store.tables import OperatorNoteRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.wire import to_utc

log = structlog.get_logger("jiaodong.coordinator")

MAX_NOTE = 2000
# Asks a node on the bus: subject, payload, seconds to wait; the answer (NoAnswer: none in time).
NodeAsk = Callable[[str, bytes, float], Awaitable[bytes]]


@dataclass(frozen=True)
class Note:
    """An operator's note on a delegation: who (the certificate's operator identity), when."""

    delegation_id: str
    operator: str
    at: datetime
    text: str
    request_id: str


def _note(row: OperatorNoteRow) -> Note:
    return Note(row.delegation_id, row.operator, to_utc(row.at), row.text, row.request_id)


class OperatorRecord(ParkedRecord, InboundHandlers):
    # How long an operator's question to a node may wait for its answer, in seconds.
    node_ask_seconds = 5.0
    _node_ask: NodeAsk | None = None

    # -- notes ---------------------------------------------------------------------------------

    async def annotate(
        self, delegation_id: str, request_id: str, text: str, operator: str, guard: Guard | None
    ) -> Note:
        """Add an operator's note (the same ``request_id`` again: the note already added)."""
        violations: list[FieldViolation] = []
        if not delegation_id:
            violations.append(FieldViolation("id", "is required"))
        check_request_id(violations, "request_id", request_id)
        check_text(violations, "text", text, required=True, limit=MAX_NOTE)
        if violations:
            raise InvalidInput(violations)

        def work(uow: UnitOfWork) -> Note:
            row = uow.require(delegation_id)
            check_guard(guard, row)
            known = record.note(uow.session, row.id, request_id)
            if known is not None:
                return _note(known)
            note = record.add_note(uow.session, row.id, request_id, operator, text, uow.now)
            record.record_action(
                uow.session,
                at=uow.now,
                operator=operator,
                action="annotate",
                target=row.id,
                request_id=request_id,
            )
            return _note(note)

        note = await self.core.run(work)
        log.info("operator_note", delegation_id=delegation_id, operator=operator)
        return note

    async def notes(self, delegation_id: str, guard: Guard | None = None) -> list[Note]:
        """The operators' notes on a delegation, oldest first."""
        if not delegation_id:
            raise InvalidInput.one("id", "is required")

        def work(session: Session) -> list[Note]:
            row = ledger.require_row(session, delegation_id)
            check_guard(guard, row)
            return [_note(n) for n in record.notes_of(session, row.id)]

        return await self.db.read(work)

    # -- a city node's parked messages ------------------------------------------------------------

    def set_node_link(self, ask: NodeAsk | None) -> None:
        """How to ask a node (the active replica's bus link; None: no link, this is a standby)."""
        self._node_ask = ask

    def _check_city(self, city: str) -> str:
        if city not in self.registry.cities:
            raise InvalidInput.one("city", f"unknown city {city!r}")
        return city

    async def _ask_node(
        self, city: str, courts: Courts, ask: bus_pb2.ParkedAsk
    ) -> bus_pb2.ParkedAnswer:
        """Ask ``city``'s node; its refusal raised as the domain error it stands for."""
        info = self.registry.city(city)
        ask.all_courts = courts is None
        ask.courts.extend(sorted(courts or ()))
        link = self._node_ask
        if link is None:
            raise Unreachable(city, info.name_zh, "this coordinator has no bus link")
        try:
            payload = await link(ops_subject(city), ask.SerializeToString(), self.node_ask_seconds)
        except NoAnswer as exc:
            # Why: nobody listens (the node is down or off the bus), or no answer in time.
            log.warning("node_ask_unanswered", city=city, reason=str(exc))
            raise Unreachable(city, info.name_zh, str(exc)) from None
        answer = bus_pb2.ParkedAnswer()
        try:
            answer.ParseFromString(payload)
        except DecodeError:
            raise Unreachable(city, info.name_zh, "its answer could not be read") from None
        if answer.WhichOneof("answer") == "refused":
            raise refusal_error(answer.refused)
        return answer

    async def parked_messages_at(
        self, city: str, courts: Courts, offset: int = 0, size: int = 50
    ) -> tuple[list[Parked], bool]:
        """A page of ``city``'s node's parked messages (empty ``city``: the coordinator's),
        newest first, and whether more follow."""
        if not city:
            return await self.parked_messages(courts, offset, size)
        self._check_city(city)
        request = capi.ListParkedRequest(page_size=size, page_token=str(offset) if offset else "")
        answer = await self._ask_node(city, courts, bus_pb2.ParkedAsk(list=request))
        return [parked_from_pb(p) for p in answer.list.parked], bool(answer.list.next_page_token)

    async def parked_message_at(
        self, city: str, parked_id: int, courts: Courts
    ) -> tuple[Parked, list[ParkedAction]]:
        """One of ``city``'s node's parked messages (empty ``city``: the coordinator's) and the
        operators' attempts on it."""
        if not city:
            return await self.parked_message(parked_id, courts)
        self._check_city(city)
        check_id(parked_id)
        ask = bus_pb2.ParkedAsk(get=capi.GetParkedRequest(id=parked_id))
        answer = await self._ask_node(city, courts, ask)
        return parked_from_pb(answer.get.parked), [
            parked_action_from_pb(a) for a in answer.get.actions
        ]

    async def retry_parked_at(
        self, city: str, parked_id: int, reason: str, operator: str, courts: Courts
    ) -> tuple[bool, ParkedAction]:
        """Have ``city``'s node apply one of its parked messages again, recorded there (empty
        ``city``: the coordinator's own)."""
        if not city:
            return await self.retry_parked(parked_id, reason, operator, courts)
        self._check_city(city)
        check_reason(parked_id, reason)
        retry = capi.RetryParkedRequest(id=parked_id, reason=reason)
        answer = await self._ask_node(
            city, courts, bus_pb2.ParkedAsk(operator=operator, retry=retry)
        )
        log.info("node_parked_retried", city=city, parked_id=parked_id, operator=operator)
        return answer.retry.applied, parked_action_from_pb(answer.retry.action)

    async def discard_parked_at(
        self, city: str, parked_id: int, reason: str, operator: str, courts: Courts
    ) -> ParkedAction:
        """Have ``city``'s node drop one of its parked messages, recorded there (empty ``city``:
        the coordinator's own)."""
        if not city:
            return await self.discard_parked(parked_id, reason, operator, courts)
        self._check_city(city)
        check_reason(parked_id, reason)
        discard = capi.DiscardParkedRequest(id=parked_id, reason=reason)
        answer = await self._ask_node(
            city, courts, bus_pb2.ParkedAsk(operator=operator, discard=discard)
        )
        log.info("node_parked_discarded", city=city, parked_id=parked_id, operator=operator)
        return parked_action_from_pb(answer.discard.action)
