"""Quiescence of a running layout: nothing in flight anywhere, nothing owed now.

The simulator moves virtual time only when every service is quiescent. What a service still has
to do lives in one of four places, and the probe looks at all of them:

* an outbox row not yet published (each running service's database);
* a message in JetStream not yet delivered to its consumer (``num_pending``) or delivered and not
  yet acknowledged (``num_ack_pending``): a service acknowledges only after the transaction that
  applied the message committed, with the messages that transaction wrote in its outbox;
* an SLA clock due now (the coordinator's ``sla_clock.next_at <= now``): the sweep claims it and
  writes the requests in one transaction;
* a registry task due now at a running node (``registry_task.next_at <= now``): its registry desk
  works it (jiaodong.app.node.registries);
* a gRPC call of the driver still running (the driver checks only between its calls).

The consumers are read before and after the databases; the probe passes only if both readings
are all zero and equal, so a message published while the databases were read is noticed. A
stopped node (the outage) is left out: its consumer's messages wait for it by design.

The broker's consumer counts alone are not enough: ``num_pending`` is updated after the stream
has stored a message and answered the publisher (measured with this nats-server: right after a
publish's acknowledgement, a filtered consumer showed nothing pending and nothing unacknowledged
in 187 of 3,000 tries). A message could thus slip past, be applied after time moved on and get
a later time in one run than in another. So once the counts say quiet, two checks that cannot
lag follow:

* for the coordinator's two consumers (each takes all of its stream): the stream's last sequence
  (stored before the publisher hears back, so before the sender's outbox row is marked) is at
  most the consumer's acknowledgement floor;
* for the nodes' consumers (filtered, one per node, all fed from the coordinator's outbox):
  every message the coordinator's outbox published to a running node's court is in that node's
  inbox (applied) or among its parked messages.

Each place is read at its own moment, so work that moves from a place not yet read to one already
read slips past every check: a registry desk that answers after the outbox was read and before
the registry tasks were (its answer, in the outbox now, unseen), or a node that applies a message
between the outbox reading and the inbox check (its reply unseen). Under CPU load (CI,
2026-12-01; 1 run in 12 here with five busy loops on two cores) the simulator thus read the
coordinator before a registry's completion reached it, and planned the officer's confirmation
from a later instant: another trace.
So the probe brackets its checks with ``marks``, per service the last outbox row, the messages
applied and the messages parked, and passes only if nothing moved between the two readings: any
step that another service must hear of moves one of them in the transaction that takes it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
import sqlalchemy as sa
from nats.js.errors import NotFoundError

from jiaodong.bus.subjects import (
    coordinator_consumer,
    coordinator_digest_consumer,
    court_of,
    node_consumer,
)
from jiaodong.config import Settings
from jiaodong.devtools.layout import Layout
from jiaodong.domain.registry import Registry
from jiaodong.security.nats_config import client_auth
from jiaodong.store.tables import (
    DeadLetterRow,
    DelegationRow,
    InboxRow,
    OutboxRow,
    RegistryTaskRow,
    SlaClockRow,
)
from jiaodong.wire import to_stored, to_utc

_OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
_CLOCKS = SlaClockRow.__table__  # type: ignore[attr-defined]
_DELEGATIONS = DelegationRow.__table__  # type: ignore[attr-defined]
_INBOX = InboxRow.__table__  # type: ignore[attr-defined]
_PARKED = DeadLetterRow.__table__  # type: ignore[attr-defined]
_REGISTRY = RegistryTaskRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Consumer:
    stream: str
    durable: str
    service: str  # the service that reads it: coordinator or a node id


class Probe:
    """Reads the layout's databases (read-only queries) and its consumers' counts."""

    def __init__(self, layout: Layout, registry: Registry, settings: Settings) -> None:
        self.layout = layout
        self.registry = registry
        self.nodes = {city: registry.city(city).node for city in layout.nodes}
        self.engines: dict[str, sa.Engine] = {
            name: sa.create_engine(settings.database_for(name))
            for name in ["coordinator", *self.nodes.values()]
        }
        self.consumers = [
            Consumer(coordinator_consumer().stream, coordinator_consumer().durable, "coordinator"),
            Consumer(
                coordinator_digest_consumer().stream,
                coordinator_digest_consumer().durable,
                "coordinator",
            ),
        ]
        for node in self.nodes.values():
            spec = node_consumer(node, [c.court_id for c in registry.courts_of_node(node)])
            self.consumers.append(Consumer(spec.stream, spec.durable, node))
        self.settings = settings
        self._nc: Any = None
        # The coordinator's outbox rows to the nodes not yet seen applied: message id -> node;
        # rows up to ``_seen`` have been read.
        self._unapplied: dict[str, str] = {}
        self._seen = 0
        # How often every check passed but the marks moved (each one a verdict of quiet that
        # would have been wrong without them).
        self.caught_moving = 0

    async def connect(self) -> None:
        options: dict[str, Any] = {}
        if self.layout.nats_url.startswith("tls://"):
            auth = client_auth(self.layout.pki, "coordinator")
            options = {"tls": auth.ssl_context(), "inbox_prefix": auth.inbox_prefix}
        self._nc = await nats.connect(
            servers=self.layout.nats_url.split(","),
            name="simulator-probe",
            connect_timeout=5,
            **options,
        )

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
        for engine in self.engines.values():
            engine.dispose()

    async def counts(self, down: set[str]) -> dict[str, tuple[int, int, int, int]]:
        """Per running consumer: (messages pending, delivered unacknowledged, last delivered
        stream sequence, acknowledgement floor's stream sequence)."""
        js = self._nc.jetstream(timeout=5)
        running = [c for c in self.consumers if c.service not in down]

        async def one(c: Consumer) -> tuple[int, int, int, int]:
            try:
                info = await js.consumer_info(c.stream, c.durable)
            except NotFoundError:
                return (0, 0, 0, 0)
            delivered = info.delivered.stream_seq if info.delivered else 0
            floor = info.ack_floor.stream_seq if info.ack_floor else 0
            return (info.num_pending or 0, info.num_ack_pending or 0, delivered or 0, floor or 0)

        found = await asyncio.gather(*(one(c) for c in running))
        return {c.durable: counts for c, counts in zip(running, found, strict=True)}

    def _databases(self, now: datetime, down: set[str]) -> str | None:
        """What the databases still owe now (None: nothing)."""
        for name, engine in self.engines.items():
            if name in down:
                continue
            with engine.connect() as conn:
                waiting = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(_OUTBOX)
                    .where(_OUTBOX.c.published_at.is_(None))
                ).scalar_one()
                if waiting:
                    return f"{name}: {waiting} outbox rows unpublished"
        with self.engines["coordinator"].connect() as conn:
            due = conn.execute(
                sa.select(sa.func.count())
                .select_from(_CLOCKS)
                .where(_CLOCKS.c.next_at <= to_stored(now))
            ).scalar_one()
        if due:
            return f"coordinator: {due} SLA clocks due"
        for node in self.nodes.values():
            if node in down:
                continue
            with self.engines[node].connect() as conn:
                due = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(_REGISTRY)
                    .where(_REGISTRY.c.next_at <= to_stored(now))
                ).scalar_one()
            if due:
                return f"{node}: {due} registry tasks due"
        return None

    async def busy(self, now: datetime, down: set[str]) -> str | None:
        """Why the layout is not quiescent at ``now`` (None: it is)."""
        marks = await asyncio.to_thread(self.marks, down)
        reason = await self._checks(now, down)
        if reason is not None:
            return reason
        if await asyncio.to_thread(self.marks, down) != marks:
            self.caught_moving += 1
            return "work was applied or queued while the probe read"
        return None

    async def _checks(self, now: datetime, down: set[str]) -> str | None:
        before = await self.counts(down)
        for durable, (pending, unacked, _, _) in before.items():
            if pending or unacked:
                return f"{durable}: {pending} pending, {unacked} unacknowledged"
        owed = await asyncio.to_thread(self._databases, now, down)
        if owed:
            return owed
        after = await self.counts(down)
        if after != before:
            return "messages moved while the databases were read"
        return await self._applied(after, down)

    def marks(self, down: set[str]) -> dict[str, tuple[int, int, int]]:
        """Per running service: the last outbox row, how many messages it applied (inbox) and
        how many it parked. Every step a service takes that another must hear of moves one of
        them in the transaction that takes it (so does a prune of old rows, which only makes the
        probe look again)."""
        out: dict[str, tuple[int, int, int]] = {}
        for name, engine in self.engines.items():
            if name in down:
                continue
            with engine.connect() as conn:
                row = conn.execute(
                    sa.select(
                        sa.select(sa.func.coalesce(sa.func.max(_OUTBOX.c.id), 0))
                        .scalar_subquery()
                        .label("outbox"),
                        sa.select(sa.func.count()).select_from(_INBOX).scalar_subquery(),
                        sa.select(sa.func.count()).select_from(_PARKED).scalar_subquery(),
                    )
                ).one()
            out[name] = (int(row[0]), int(row[1]), int(row[2]))
        return out

    async def _applied(
        self, counts: dict[str, tuple[int, int, int, int]], down: set[str]
    ) -> str | None:
        """The checks that cannot lag (see the module's docstring)."""
        js = self._nc.jetstream(timeout=5)
        for c in self.consumers:
            if c.service != "coordinator":
                continue
            last = (await js.stream_info(c.stream)).state.last_seq or 0
            floor = counts[c.durable][3]
            if last > floor:
                return f"{c.stream}: stored up to {last}, acknowledged up to {floor}"
        missing = await asyncio.to_thread(self._unapplied_rows, down)
        if missing:
            return f"{missing} messages of the coordinator not yet applied by their node"
        return None

    def _unapplied_rows(self, down: set[str]) -> int:
        """How many messages the coordinator sent (or will send) to running nodes are not yet
        applied (in the node's inbox) or parked there."""
        with self.engines["coordinator"].connect() as conn:
            rows = conn.execute(
                sa.select(_OUTBOX.c.id, _OUTBOX.c.message_id, _OUTBOX.c.subject)
                .where(_OUTBOX.c.id > self._seen)
                .order_by(_OUTBOX.c.id)
            ).all()
        for row in rows:
            self._unapplied[row.message_id] = self.registry.court(court_of(row.subject)).node
            self._seen = row.id
        by_node: dict[str, list[str]] = {}
        for message_id, node in self._unapplied.items():
            if node not in down:
                by_node.setdefault(node, []).append(message_id)
        for node, ids in by_node.items():
            with self.engines[node].connect() as conn:
                for i in range(0, len(ids), 500):
                    chunk = ids[i : i + 500]
                    for table in (_INBOX, _PARKED):
                        for (found,) in conn.execute(
                            sa.select(table.c.message_id).where(table.c.message_id.in_(chunk))
                        ):
                            self._unapplied.pop(found, None)
        return sum(1 for node in self._unapplied.values() if node not in down)

    async def wait(self, now: datetime, down: set[str], timeout: float = 300.0) -> float:
        """Wait until quiescent (bounded); returns the seconds it took."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        pause = 0.005
        while True:
            reason = await self.busy(now, down)
            if reason is None:
                return loop.time() - started
            if loop.time() - started > timeout:
                self.layout.check_alive()
                raise TimeoutError(f"not quiescent after {timeout:.0f}s: {reason}")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)

    def next_clock(self) -> datetime | None:
        """The earliest instant an SLA clock owes something."""
        with self.engines["coordinator"].connect() as conn:
            found = conn.execute(sa.select(sa.func.min(_CLOCKS.c.next_at))).scalar_one()
        return to_utc(found) if found is not None else None

    def next_registry(self, down: set[str]) -> datetime | None:
        """The earliest instant a running node's registry desk owes something."""
        found = []
        for node in self.nodes.values():
            if node in down:
                continue
            with self.engines[node].connect() as conn:
                at = conn.execute(sa.select(sa.func.min(_REGISTRY.c.next_at))).scalar_one()
            if at is not None:
                found.append(to_utc(at))
        return min(found, default=None)

    def statuses(self, ids: list[str]) -> dict[str, tuple[str, str, datetime | None]]:
        """The coordinator's status, entrusted court and delivery time of these delegations."""
        out: dict[str, tuple[str, str, datetime | None]] = {}
        with self.engines["coordinator"].connect() as conn:
            for i in range(0, len(ids), 500):
                rows = conn.execute(
                    sa.select(
                        _DELEGATIONS.c.id,
                        _DELEGATIONS.c.status,
                        _DELEGATIONS.c.entrusted_court,
                        _DELEGATIONS.c.delivered_at,
                    ).where(_DELEGATIONS.c.id.in_(ids[i : i + 500]))
                ).all()
                for row in rows:
                    delivered = to_utc(row.delivered_at) if row.delivered_at else None
                    out[row.id] = (row.status, row.entrusted_court, delivered)
        return out

    def events(self) -> list[tuple[str, datetime, str]]:
        """Every event the coordinator holds: (delegation id, time, kind)."""
        from jiaodong.store.tables import EventRow

        table = EventRow.__table__  # type: ignore[attr-defined]
        with self.engines["coordinator"].connect() as conn:
            rows = conn.execute(sa.select(table.c.delegation_id, table.c.at, table.c.kind)).all()
        return [(r.delegation_id, to_utc(r.at), r.kind) for r in rows]


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
