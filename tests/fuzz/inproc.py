"""A region without sockets: the coordinator's and the nodes' bus handlers over their own databases,
with the transport's own delivery code (``Transport._deliver``: decode, dispatch, park or retry)
and the outbox carried by hand. Thousands of hostile messages per second, no broker, no gRPC.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from google.protobuf.message import DecodeError
from sqlalchemy import text

from jiaodong.app.coordinator import Coordinator
from jiaodong.app.node import CourtNode
from jiaodong.app.sla import SlaEngine
from jiaodong.bus import envelopes
from jiaodong.bus.subjects import MAX_DELIVER, court_of
from jiaodong.bus.transport import BusSettings, Handler, Transport
from jiaodong.domain.clock import SystemClock
from jiaodong.domain.errors import DomainError
from jiaodong.domain.lifecycle import start
from jiaodong.files.calendar import load_calendar
from jiaodong.files.policy import load_policy
from jiaodong.files.registry import load_registry
from jiaodong.store import ledger
from jiaodong.store.database import Database, sqlite_url
from jiaodong.store.mapper import content_of
from jiaodong.store.outbox import DatabaseOutbox
from jiaodong.v1 import bus_pb2
from jiaodong.wire import event_from_pb

CITIES = ("qingdao", "yantai", "weifang")


def sync_of_row(session: Any, row: Any) -> bus_pb2.DelegationSync:
    """A delegation's whole known state as a sync message (content and history)."""
    return envelopes.sync(content_of(row), ledger.history(session, row.id))


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
class InProcessRegion:
    root: Path
    coordinator_url: str = ""
    services: dict[str, Service] = field(default_factory=dict)
    # Delegations delivered at set-up, to aim hostile messages at.
    seeds: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.registry = load_registry(None)
        clock = SystemClock()
        policy, calendar = load_policy(None), load_calendar(None)

        def make(name: str, url: str = "") -> Database:
            db = Database(url or sqlite_url(self.root / f"{name}.db"))
            db.create_schema()
            return db

        db = make("coordinator", self.coordinator_url)
        coordinator = Coordinator(self.registry, db, clock, SlaEngine(policy, calendar, clock))
        self.services["coordinator"] = Service(
            "coordinator", db, self._transport("coordinator", db), coordinator.on_message,
            coordinator,
        )  # fmt: skip
        for city in CITIES:
            node_id = self.registry.city(city).node
            db = make(node_id)
            node = CourtNode(node_id, self.registry, db, clock, sla=(policy, calendar))
            self.services[node_id] = Service(
                node_id, db, self._transport(node_id, db), node.on_message, node
            )

    @staticmethod
    def _transport(name: str, db: Database) -> Transport:
        return Transport(
            BusSettings(url="nats://127.0.0.1:1", name=name), DatabaseOutbox(db), SystemClock()
        )

    def node(self, city: str) -> CourtNode:
        service: CourtNode = self.services[self.registry.city(city).node].service
        return service

    def sync_of(self, delegation_id: str) -> bus_pb2.DelegationSync:
        """The true sync of a delegation, as the coordinator would send it."""
        db = self.services["coordinator"].db
        return db.transaction(lambda s: sync_of_row(s, ledger.require_row(s, delegation_id)))

    def close(self) -> None:
        for service in self.services.values():
            service.db.close()

    def consumer(self, subject: str) -> Service | None:
        """The service whose durable consumer a subject's message reaches (None: no one)."""
        if subject.startswith("jd.v1.coord."):
            return self.services["coordinator"]
        if not subject.startswith("jd.v1.court."):
            return None
        court = subject.split(".")[3]
        found = self.registry.courts.get(court)
        if found is None or found.node not in self.services:
            return None
        return self.services[found.node]

    async def deliver(self, subject: str, data: bytes, header_id: str) -> Delivery | None:
        """Deliver as JetStream would: again after each nak, until acked. The transport must
        neither raise nor leave the message unanswered, and must park it by MAX_DELIVER."""
        target = self.consumer(subject)
        if target is None:
            return None
        before = self.count(target, "dead_letter")
        for attempt in range(1, MAX_DELIVER + 1):
            msg = FakeMsg(subject, data, header_id, attempt)
            await target.transport._deliver(msg, target.handler)  # type: ignore[arg-type]
            assert msg.answers in (["ack"], ["nak"]), (subject, attempt, msg.answers)
            if msg.answers == ["ack"]:
                parked = self.count(target, "dead_letter") - before
                assert parked in (0, 1), parked
                reason = self.last_reason(target) if parked else ""
                return Delivery(attempt, bool(parked), reason)
        raise AssertionError(f"{subject}: still not acked after {MAX_DELIVER} deliveries")

    async def pump(self, limit: int = 200) -> int:
        """Carry every committed outbox message to its consumer, until none is left."""
        carried = 0
        while True:
            rows: list[tuple[int, str, bytes, str, Service]] = []
            for service in self.services.values():
                with service.db.engine.connect() as conn:
                    found = conn.execute(
                        text(
                            "SELECT id, subject, payload, message_id FROM outbox "
                            "WHERE published_at IS NULL ORDER BY id"
                        )
                    ).all()
                rows.extend((r[0], r[1], bytes(r[2]), r[3], service) for r in found)
            if not rows:
                return carried
            for row_id, subject, payload, message_id, service in rows:
                with service.db.engine.begin() as conn:
                    conn.execute(
                        text("UPDATE outbox SET published_at = CURRENT_TIMESTAMP WHERE id = :i"),
                        {"i": row_id},
                    )
                await self.deliver(subject, payload, message_id)
                carried += 1
            if carried > limit:
                raise AssertionError(f"the outbox keeps growing: {carried} messages carried")

    @staticmethod
    def count(service: Service, table: str) -> int:
        with service.db.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())

    @staticmethod
    def last_reason(service: Service) -> str:
        with service.db.engine.connect() as conn:
            query = "SELECT reason FROM dead_letter ORDER BY id DESC LIMIT 1"
            return str(conn.execute(text(query)).scalar_one())

    def delegation_ids(self) -> set[str]:
        """Every delegation id any service holds. Rows may be copied between services (a
        reroute, a reconciliation), but no new id may appear from anything but a sealed sync."""
        out: set[str] = set()
        for service in self.services.values():
            with service.db.engine.connect() as conn:
                out.update(r[0] for r in conn.execute(text("SELECT id FROM delegation")))
        return out


def must_park(subject: str, data: bytes, hosted: Collection[str] | None) -> str:
    """Why the transport rules say this message is parked at its first delivery, or "".
    ``hosted``: the courts of the consuming node (None: the coordinator, any court)."""
    envelope = bus_pb2.Envelope()
    try:
        envelope.ParseFromString(data)
    except DecodeError:
        return "DecodeError"
    if not envelope.message_id or envelope.WhichOneof("body") is None:
        return "without message id or body"
    try:
        court = court_of(subject)
    except ValueError:
        return ""  # not a jd.v1 subject: the handler fails and is retried, then parked
    if envelope.court_id != court or (hosted is not None and envelope.court_id not in hosted):
        return "Permanent"
    return ""


def may_create(data: bytes) -> str | None:
    """The id of the delegation a message could introduce: a sync whose history starts with a
    correctly sealed CREATED event may introduce its delegation's id. Nothing else may add one
    (None)."""
    envelope = bus_pb2.Envelope()
    try:
        envelope.ParseFromString(data)
    except DecodeError:
        return None
    if envelope.WhichOneof("body") != "sync" or not envelope.sync.history:
        return None
    sync = envelope.sync
    try:
        start(event_from_pb(sync.history[0]), sync.delegation.requesting_court, sync.delegation.id)
    except (DomainError, ValueError):
        return None
    return sync.delegation.id
