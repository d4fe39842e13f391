"""Inbound messages: one dispatch table per service, keyed by the type of the message's body.

``Follower.receive`` is the one place that applies a message from the bus (eventsourcing's
``Follower.process_event``): it checks the envelope against its subject, records the message id in
the inbox in the same transaction as its effects (a redelivery changes nothing), and hands the body
to the service's handler for its type. A handler raises ``OutOfOrder`` for what may still arrive
(the transport retries) and ``Permanent`` or a DomainError for what never will (parked at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from google.protobuf.message import Message

from jiaodong.app.unit_of_work import Core, UnitOfWork
from jiaodong.bus.envelopes import body_of
from jiaodong.bus.subjects import court_of
from jiaodong.bus.transport import Permanent
from jiaodong.store.tables import DelegationRow
from jiaodong.v1 import bus_pb2


class OutOfOrder(LookupError):
    """A message refers to something not known here yet; retry later (it may still arrive)."""


@dataclass(frozen=True)
class Inbound:
    """One message being applied: its subject, the court the subject names, its envelope."""

    subject: str
    court: str
    envelope: bus_pb2.Envelope


# A handler: the unit of work, the message, and its body (typed by the table's key).
Handler = Callable[[UnitOfWork, Inbound, Any], None]


class Follower:
    """Applies messages from the bus through a dispatch table."""

    # Seconds of work one transaction of a batch may take before it commits and the next begins.
    BUDGET = 0.05

    def __init__(
        self,
        core: Core,
        handlers: Mapping[type[Message], Handler],
        check: Callable[[Inbound], None],
        applied: Handler | None = None,
    ) -> None:
        self.core = core
        self.handlers = handlers
        self.check = check
        self.applied = applied

    async def receive(self, subject: str, envelope: bus_pb2.Envelope) -> None:
        """Apply one message, once, whatever the redeliveries."""
        apply = self._application(subject, envelope)
        await self.core.run(apply)

    async def receive_many(
        self, messages: Sequence[tuple[str, bus_pb2.Envelope]]
    ) -> list[BaseException | None]:
        """Apply a batch in as few transactions as the time budget allows (one commit for many:
        group commit; a transaction ends once it has run ``BUDGET`` seconds, so heavy messages
        such as digests cannot hold up reads and calls behind them for long). Each message runs
        in a savepoint of its own, so one that fails leaves no trace and the others still apply;
        returns, per message, None or why it failed."""
        outcomes: list[BaseException | None] = [None] * len(messages)
        applications: list[tuple[int, Callable[[UnitOfWork], None]]] = []
        for i, (subject, envelope) in enumerate(messages):
            try:
                applications.append((i, self._application(subject, envelope)))
            except Exception as exc:  # noqa: BLE001 - reported to the transport, per message
                outcomes[i] = exc

        def work(uow: UnitOfWork) -> int:
            """Apply messages until the budget is spent (at least one); how many were applied."""
            started = time.monotonic()
            done = 0
            for i, apply in applications:
                if done and time.monotonic() - started > self.BUDGET:
                    break
                try:
                    with uow.savepoint():
                        apply(uow)
                except Exception as exc:  # noqa: BLE001 - this message alone is rolled back
                    outcomes[i] = exc
                done += 1
            return done

        while applications:
            done = await self.core.run(work)
            applications = applications[done:]
        return outcomes

    def _application(
        self, subject: str, envelope: bus_pb2.Envelope
    ) -> Callable[[UnitOfWork], None]:
        """How to apply one message in a unit of work (the inbox mark, then its handler);
        Permanent at once if no handler here takes it or it is not addressed here."""
        message = Inbound(subject, court_of(subject), envelope)
        self.check(message)
        body = body_of(envelope)
        handler = self.handlers.get(type(body)) if body is not None else None
        if handler is None:
            raise Permanent(f"no handler here for {envelope.WhichOneof('body') or 'an empty body'}")

        def apply(uow: UnitOfWork) -> None:
            if uow.first_delivery(envelope.message_id, subject):
                handler(uow, message, body)
                if self.applied is not None:
                    self.applied(uow, message, body)

        return apply


# The one dispatch table of node and coordinator: each body type and the name of the method that
# handles it. A service handles the types it has a method for; any other is refused (parked).
HANDLERS: Mapping[type[Message], str] = {
    bus_pb2.DelegationSync: "on_sync",
    bus_pb2.ActionRequest: "on_request",
    bus_pb2.RequestRefused: "on_refused",
    bus_pb2.DeliveryReceipt: "on_receipt",
    bus_pb2.Digest: "on_digest",
    bus_pb2.Want: "on_want",
    bus_pb2.DocumentChunk: "on_chunk",
}


class Receiver:
    """A service that applies messages from the bus through the dispatch table, with its own
    check of the envelope against the subject; the follower is built once, on first use."""

    core: Core

    def check_addressed(self, message: Inbound) -> None:
        raise NotImplementedError

    def applied(self, uow: UnitOfWork, message: Inbound, body: Any) -> None:
        """After a message's handler ran, in its transaction (the coordinator notes contact)."""

    @cached_property
    def inbound(self) -> Follower:
        handlers = {
            body: getattr(self, name) for body, name in HANDLERS.items() if hasattr(self, name)
        }
        return Follower(self.core, handlers, self.check_addressed, self.applied)

    async def on_message(self, subject: str, envelope: bus_pb2.Envelope) -> None:
        """Apply one message, once, whatever the redeliveries."""
        await self.inbound.receive(subject, envelope)

    async def on_messages(
        self, messages: Sequence[tuple[str, bus_pb2.Envelope]]
    ) -> list[BaseException | None]:
        """Apply a fetched batch in one transaction; per message None or why it failed."""
        return await self.inbound.receive_many(messages)


def known(uow: UnitOfWork, delegation_id: str, what: str) -> DelegationRow:
    """The delegation a message is about; OutOfOrder (retry later) while it is unknown here."""
    row = uow.get(delegation_id)
    if row is None:
        raise OutOfOrder(f"{what} for unknown delegation {delegation_id}")
    return row
