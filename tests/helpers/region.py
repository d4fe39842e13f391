"""The socket-free region, and the one test module that reaches past the handlers' facade.

The coordinator's and the city nodes' handlers (``Coordinator``, ``CourtNode``), each over its own
SQLite file, on a clock the test moves. No broker, no gRPC: the test carries the outbox.
``settle()`` takes every committed, unpublished outbox message, marks it published (it reached
"the broker"), and hands it to the service whose durable consumer would receive it (subject
``jd.v1.coord.<court>.<kind>``: the coordinator; ``jd.v1.court.<court>.<kind>``: the node hosting
that court), until nothing is left. By default each message goes through the transport's own
delivery code (decode, dispatch, ack; nak and redeliver later; park), as the broker would deliver
it; with ``via_transport=False`` it goes straight to ``on_message`` and a handler's exception
reaches the test. A node that is ``down()`` keeps its messages waiting in its stream until
``up()``.

Tests drive the handlers through their facade (``CourtNode.create/act/request/get/list``,
``Coordinator.steer/get/list/sweep``) and read what only the databases know through the methods
here. When these internals are renamed, this file is the one to change:

- ``jiaodong.store.ledger``: ``get_row``, ``require_row``, ``history``, ``requests``;
  ``jiaodong.store.outbox``: ``unpublished``, ``mark_published``, ``DatabaseOutbox``;
  ``jiaodong.store.mapper``: ``view``, ``content_of``; ``jiaodong.bus.envelopes``: ``sync``;
  ``jiaodong.domain.ids``: ``new_id``
- ``jiaodong.store.tables``: ``OutboxRow`` (``id``, ``subject``, ``payload``, ``message_id``),
  ``InboxRow`` (``subject``), ``DeadLetterRow`` (``id``, ``reason``), ``DelegationRow`` (``id``)
- ``jiaodong.store.database``: ``Database`` (``run``, ``transaction``, ``create_schema``,
  ``close``), ``sqlite_url``
- ``jiaodong.bus.transport``: ``Transport``, ``BusSettings``, ``Handler``, and the private
  ``Transport._deliver(msg, handler)``, which reads ``msg.subject``, ``msg.data``,
  ``msg.headers``, ``msg.metadata.num_delivered`` and answers ``ack()`` or ``nak(delay)``
- ``jiaodong.bus.subjects``: ``MAX_DELIVER``
- ``jiaodong.api.errors``: ``status_for`` (the gRPC status a domain error becomes)

and, to wire the services as ``jiaodong.bootstrap`` does: ``Coordinator(registry, db, clock,
SlaEngine(policy, calendar, clock))``, ``CourtNode(node_id, registry, db, clock, sla=(policy,
calendar))``, ``jiaodong.files.{registry,policy,calendar}.load_*(None)``, and the registry's
``city(c).node``, ``courts[c].node`` and ``court(c).city``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from google.rpc import code_pb2
from sqlmodel import Session, col, select

from jiaodong.api.errors import status_for
from jiaodong.app.coordinator import Coordinator
from jiaodong.app.node import CourtNode
from jiaodong.app.sla import SlaEngine
from jiaodong.bus import envelopes
from jiaodong.bus.subjects import MAX_DELIVER
from jiaodong.bus.transport import BusSettings, Handler, Transport
from jiaodong.domain.clock import Clock, ManualClock
from jiaodong.domain.delegation import Draft
from jiaodong.domain.errors import DomainError, InvalidInput
from jiaodong.domain.ids import new_id
from jiaodong.files.calendar import load_calendar
from jiaodong.files.policy import load_policy
from jiaodong.files.registry import load_registry
from jiaodong.store import ledger, outbox
from jiaodong.store.database import Database, sqlite_url
from jiaodong.store.mapper import content_of, view
from jiaodong.store.outbox import DatabaseOutbox
from jiaodong.store.tables import DeadLetterRow, DelegationRow, InboxRow, OutboxRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import draft as factory_draft

CITIES = ("qingdao", "yantai", "weifang")
COORDINATOR = "coordinator"
QD = "370202"  # Qingdao Shinan, the factory's requesting court
# Tuesday 4 March 2025, 09:00 in Shandong: a working day, inside the official calendar.
START = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


class FakeMsg:
    """What ``Transport._deliver`` reads of a JetStream message, and what it answered."""

    def __init__(self, subject: str, data: bytes, header_id: str, delivered: int) -> None:
        self.subject = subject
        self.data = data
        self.headers = {"Nats-Msg-Id": header_id} if header_id else None
        self.metadata = SimpleNamespace(num_delivered=delivered)
        self.answers: list[str] = []

    async def ack(self) -> None:
        self.answers.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.answers.append("nak")


@dataclass(frozen=True)
class Message:
    """One message on the bus: who wrote it to its outbox (or published it directly)."""

    sender: str
    subject: str
    data: bytes
    message_id: str

    def envelope(self) -> bus_pb2.Envelope:
        out = bus_pb2.Envelope()
        out.ParseFromString(self.data)
        return out


@dataclass
class Service:
    name: str
    db: Database
    transport: Transport
    handler: Handler
    service: Any


@dataclass
class Delivery:
    """How one message ended: acked after ``attempts`` deliveries; parked or applied."""

    attempts: int
    parked: bool
    reason: str = ""


@dataclass
class _InFlight:
    message: Message
    header_id: str
    attempts: int = 0


@dataclass(frozen=True)
class Refusal:
    """What a domain error would be over gRPC: the status code's name and the fields named."""

    code: str
    fields: list[str]
    message: str


def refusal(exc: DomainError) -> Refusal:
    """The gRPC status a handler's domain error becomes (``jiaodong.api.errors``)."""
    status = status_for(exc)
    fields = [v.field for v in exc.violations] if isinstance(exc, InvalidInput) else []
    return Refusal(code_pb2.Code.Name(status.code), fields, status.message)


class InProcessRegion:
    """The coordinator and the nodes of ``cities``, wired by the test instead of a broker."""

    def __init__(
        self,
        root: Path,
        cities: Sequence[str] = CITIES,
        *,
        clock: Clock | None = None,
        coordinator_url: str = "",
        via_transport: bool = True,
    ) -> None:
        self.root = root
        self.registry = load_registry(None)
        self.clock = clock or ManualClock(START)
        self.via_transport = via_transport
        self.services: dict[str, Service] = {}
        # Delegations delivered at set-up, to aim hostile messages at (the fuzz suite).
        self.seeds: list[str] = []
        self._queue: list[_InFlight] = []
        self._held: dict[str, list[_InFlight]] = {}  # a down service's stream
        self._forget: list[Callable[[Message], bool]] = []  # what the broker will lose
        self.lost: list[Message] = []
        self.retried: list[Message] = []  # nak'ed by the transport, delivered again later
        self._carried: list[Message] = []
        policy, calendar = load_policy(None), load_calendar(None)

        db = self._database(COORDINATOR, coordinator_url)
        coordinator = Coordinator(
            self.registry, db, self.clock, SlaEngine(policy, calendar, self.clock)
        )
        self._add(COORDINATOR, db, coordinator.on_message, coordinator)
        for city in cities:
            node_id = self.registry.city(city).node
            db = self._database(node_id)
            node = CourtNode(node_id, self.registry, db, self.clock, sla=(policy, calendar))
            self._add(node_id, db, node.on_message, node)

    def _database(self, name: str, url: str = "") -> Database:
        db = Database(url or sqlite_url(self.root / f"{name}.db"))
        db.create_schema()
        return db

    def _add(self, name: str, db: Database, handler: Handler, service: Any) -> None:
        # Never connected: only its delivery code (and parking) is used.
        transport = Transport(
            BusSettings(url="nats://127.0.0.1:1", name=name), DatabaseOutbox(db), self.clock
        )
        self.services[name] = Service(name, db, transport, handler, service)

    def close(self) -> None:
        for service in self.services.values():
            service.db.close()

    # -- the services ----------------------------------------------------------------------------

    @property
    def coordinator(self) -> Coordinator:
        coordinator: Coordinator = self.services[COORDINATOR].service
        return coordinator

    def node(self, city: str) -> CourtNode:
        node: CourtNode = self.services[self.registry.city(city).node].service
        return node

    def service(self, name: str) -> Service:
        """A service by city (``"qingdao"``), node id or ``"coordinator"``."""
        if name in self.services:
            return self.services[name]
        return self.services[self.registry.city(name).node]

    def consumer(self, subject: str) -> Service | None:
        """The service whose durable consumer a subject's message reaches (None: no one)."""
        if subject.startswith(("jd.v1.coord.", "jd.v1.digest.")):
            return self.services[COORDINATOR]
        if not subject.startswith("jd.v1.court."):
            return None
        court = subject.split(".")[3]
        found = self.registry.courts.get(court)
        if found is None or found.node not in self.services:
            return None
        return self.services[found.node]

    def down(self, name: str) -> None:
        """The service stops consuming: what is sent to it waits in its stream."""
        self._held.setdefault(self.service(name).name, [])

    def up(self, name: str) -> None:
        """The service consumes again, starting with what waited for it (the next ``settle``)."""
        self._queue[:0] = self._held.pop(self.service(name).name, [])

    async def delivered(self, draft: Draft | None = None, court: str = QD) -> str:
        """A delegation created by ``court`` (Qingdao Shinan) from ``draft`` (the factory's, to
        Yantai) and carried until the entrusted node, the requesting node and the coordinator
        all hold it DELIVERED; its id."""
        created, _ = await self.node(self.registry.court(court).city).create(
            court, draft or factory_draft()
        )
        await self.settle()
        entrusted = self.stored(COORDINATOR, created.id)
        assert entrusted is not None and entrusted.entrusted_court, entrusted
        views = {
            "requesting": await self.node(self.registry.court(court).city).get(court, created.id),
            "entrusted": await self.node(self.registry.court(entrusted.entrusted_court).city).get(
                entrusted.entrusted_court, created.id
            ),
            "coordinator": await self.coordinator.get(created.id),
        }
        for side, seen in views.items():
            assert seen.status == pb.STATUS_DELIVERED, (side, seen.status)
        return created.id

    # -- carrying messages -----------------------------------------------------------------------

    async def settle(self, limit: int = 500) -> int:
        """Carry every committed outbox message (and everything it causes) to its consumer,
        until none is left; returns how many deliveries were made. A message nak'ed by the
        transport is delivered again after the others, as after the nak's delay."""
        carried = 0
        while True:
            await self._take_outboxes()
            if not self._queue:
                return carried
            batch, self._queue = self._queue, []
            for flight in batch:
                if self._lose(flight.message):
                    continue
                target = self.consumer(flight.message.subject)
                if target is None:
                    continue  # no stream or no consumer takes it
                if target.name in self._held:
                    self._held[target.name].append(flight)
                    continue
                flight.attempts += 1
                carried += 1
                if not await self._deliver_once(target, flight):
                    self.retried.append(flight.message)
                    self._queue.append(flight)
            if carried > limit:
                raise AssertionError(f"the outbox keeps growing: {carried} deliveries")

    pump = settle

    def forget_next(self, which: Callable[[Message], bool]) -> None:
        """The broker will lose the next message for which ``which`` holds (acknowledged to its
        publisher, never delivered: what JetStream may do, see RULES.md)."""
        self._forget.append(which)

    def _lose(self, message: Message) -> bool:
        for which in self._forget:
            if which(message):
                self._forget.remove(which)
                self.lost.append(message)
                return True
        return False

    async def redeliver(self, messages: Sequence[Message]) -> None:
        """Deliver messages again (as a broker would under new Nats-Msg-Ids), then settle."""
        self._queue.extend(_InFlight(m, new_id()) for m in messages)
        await self.settle()

    async def publish(self, sender: str, subject: str, envelope: bus_pb2.Envelope) -> None:
        """Publish without an outbox (what ``Transport.publish_direct`` does for digests)."""
        if not envelope.message_id:
            envelope.message_id = new_id()
        message = Message(
            sender, subject, envelope.SerializeToString(deterministic=True), envelope.message_id
        )
        self._carried.append(message)
        self._queue.append(_InFlight(message, message.message_id))

    async def reconcile(self, city: str, interval: float = 30.0) -> int:
        """One reconciliation round of a node at the region's clock, every ``interval`` seconds
        (its digests go straight to the bus)."""
        name = self.service(city).name

        async def publish(subject: str, envelope: bus_pb2.Envelope) -> None:
            await self.publish(name, subject, envelope)

        return await self.node(city).reconcile(publish, interval)

    async def _take_outboxes(self) -> None:
        now = self.clock.now()
        for service in self.services.values():

            def take(session: Session, name: str = service.name) -> list[Message]:
                rows = outbox.unpublished(session, 10_000)
                outbox.mark_published(session, [r.id for r in rows if r.id is not None], now)
                return [Message(name, r.subject, bytes(r.payload), r.message_id) for r in rows]

            for message in await service.db.run(take):
                self._carried.append(message)
                self._queue.append(_InFlight(message, message.message_id))

    async def _deliver_once(self, target: Service, flight: _InFlight) -> bool:
        """One delivery; True when it is done with (acked, or applied without the transport)."""
        message = flight.message
        if not self.via_transport:
            await target.handler(message.subject, message.envelope())
            return True
        msg = FakeMsg(message.subject, message.data, flight.header_id, flight.attempts)
        await target.transport._deliver(msg, target.handler)  # type: ignore[arg-type]
        assert msg.answers in (["ack"], ["nak"]), (message.subject, msg.answers)
        if msg.answers == ["nak"] and flight.attempts >= MAX_DELIVER:
            raise AssertionError(f"{message.subject}: nak'ed at delivery {flight.attempts}")
        return msg.answers == ["ack"]

    async def deliver(self, subject: str, data: bytes, header_id: str) -> Delivery | None:
        """Deliver one message at once as JetStream would: again after each nak, until acked.
        The transport must neither raise nor leave the message unanswered, and must park it by
        MAX_DELIVER. None: no consumer takes the subject."""
        target = self.consumer(subject)
        if target is None:
            return None
        before = len(self.dead_letters(target.name))
        for attempt in range(1, MAX_DELIVER + 1):
            msg = FakeMsg(subject, data, header_id, attempt)
            await target.transport._deliver(msg, target.handler)  # type: ignore[arg-type]
            assert msg.answers in (["ack"], ["nak"]), (subject, attempt, msg.answers)
            if msg.answers == ["ack"]:
                parked = self.dead_letters(target.name)[before:]
                assert len(parked) in (0, 1), parked
                return Delivery(attempt, bool(parked), parked[0] if parked else "")
        raise AssertionError(f"{subject}: still not acked after {MAX_DELIVER} deliveries")

    def carried(self, sender: str = "", prefix: str = "jd.v1.") -> list[Message]:
        """Every message taken to the bus so far (from ``sender``, under ``prefix``), in order."""
        name = self.service(sender).name if sender else ""
        return [
            m
            for m in self._carried
            if (not name or m.sender == name) and m.subject.startswith(prefix)
        ]

    # -- what only the databases know -----------------------------------------------------------

    def outbox(self, name: str) -> list[Message]:
        """Every message a service wrote to its outbox, published or not, in order."""
        service = self.service(name)

        def read(session: Session) -> list[Message]:
            rows = session.exec(select(OutboxRow).order_by(col(OutboxRow.id))).all()
            return [Message(service.name, r.subject, bytes(r.payload), r.message_id) for r in rows]

        return service.db.transaction(read)

    def unpublished(self, name: str) -> int:
        """How many outbox messages of a service have not reached the bus yet."""
        service = self.service(name)
        return service.db.transaction(lambda s: len(outbox.unpublished(s, 10_000)))

    def inbox(self, name: str) -> list[str]:
        """The subjects of the messages a service has applied (its inbox marks)."""
        rows = self.service(name).db.transaction(lambda s: s.exec(select(InboxRow)).all())
        return [r.subject for r in rows]

    def applied(self, name: str, message_id: str) -> bool:
        """Whether a service's inbox marks the message as applied."""
        return self.service(name).db.transaction(lambda s: outbox.seen(s, message_id))

    def dead_letters(self, name: str) -> list[str]:
        """Why each message a service parked was parked, in order."""

        def read(session: Session) -> list[str]:
            rows = session.exec(select(DeadLetterRow).order_by(col(DeadLetterRow.id))).all()
            return [r.reason for r in rows]

        return self.service(name).db.transaction(read)

    def stored(self, name: str, delegation_id: str) -> pb.Delegation | None:
        """A service's copy of a delegation as stored, whoever may read it through the API."""

        def read(session: Session) -> pb.Delegation | None:
            row = ledger.get_row(session, delegation_id)
            return None if row is None else full_view(session, row)

        return self.service(name).db.transaction(read)

    def delegation_ids(self, name: str = "") -> set[str]:
        """Every delegation id a service (or any service) holds. Rows may be copied between
        services (a reroute, a reconciliation), but no new id may appear from anything but a
        sealed sync."""
        out: set[str] = set()
        for service in [self.service(name)] if name else self.services.values():
            ids = service.db.transaction(lambda s: s.exec(select(DelegationRow.id)).all())
            out.update(ids)
        return out

    def sync_of(self, delegation_id: str) -> bus_pb2.DelegationSync:
        """The true sync of a delegation, as the coordinator would send it."""
        return self.services[COORDINATOR].db.transaction(
            lambda s: sync_of_row(s, ledger.require_row(s, delegation_id))
        )


def sync_of_row(session: Session, row: DelegationRow) -> bus_pb2.DelegationSync:
    """A delegation's whole known state as a sync message (content and history)."""
    return envelopes.sync(content_of(row), ledger.history(session, row.id))


def full_view(session: Session, row: DelegationRow) -> pb.Delegation:
    """A stored delegation as GetDelegation shows it (without the SLA and document states)."""
    return view(row, ledger.history(session, row.id), ledger.requests(session, row.id))
