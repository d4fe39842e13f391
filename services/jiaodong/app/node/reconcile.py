"""Reconciliation from a node's side: tell the coordinator what this node holds, and re-send what
may have been lost on the way (pending requests, receipts of undelivered offers).

Bounded by construction:

* a digest is a chunk of at most ``CHUNK`` entries of one court, read in its own short
  transaction (plain columns, through the court indexes) and paged in (created_at, id) order;
  each chunk names the range it covers, so the coordinator compares range by range;
* a re-send backs off per message (``domain.backoff``: 2, then 4, then every 8 intervals) under a
  stable id per attempt, so a message that is only late is not copied every round and copies of
  one attempt are dropped by the broker;
* the interval stretches while the region is behind (``paced``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from sqlmodel import Session

from jiaodong.app.node.base import NodeBase
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.bus import envelopes
from jiaodong.bus.flow import LAG_HIGH, Flow
from jiaodong.bus.subjects import coordinator_consumer, coordinator_digest_consumer, digest_subject
from jiaodong.store import ledger, outbox
from jiaodong.v1 import bus_pb2

log = structlog.get_logger("jiaodong.node")

Publish = Callable[[str, bus_pb2.Envelope], Awaitable[None]]

# Digests cover open delegations and those changed within this window.
RECONCILE_WINDOW = timedelta(days=30)
# Entries per digest message (and per transaction reading them): about 60 bytes each.
CHUNK = 500
# While the region is behind (flow.LAG_HIGH), the interval doubles each round, up to this many
# times the configured one.
SLOWEST = 8


def paced(base: float, current: float, flow: Flow | None, own: str, now: float) -> float:
    """The next reconciliation interval. It doubles (at most ``SLOWEST`` times ``base``) while
    the region is behind: ``LAG_HIGH`` or more messages wait for the coordinator's consumers
    (syncs and requests, or digests) or for this node's own consumer, or this node's oldest
    unpublished outbox row has waited a whole ``base`` interval. Otherwise, or when the flow was
    not measured lately (three base intervals), it is ``base``. Repair traffic thus thins out
    exactly when the region has the least room for it, and comes back once it drained."""
    if flow is None or not flow.fresh(now, 3 * base):
        return base
    coordinator = flow.lag_of(coordinator_consumer().durable, coordinator_digest_consumer().durable)
    if coordinator >= LAG_HIGH or flow.lag_of(own) >= LAG_HIGH or flow.outbox_age >= base:
        return min(current * 2, base * SLOWEST)
    return base


def _key(key: ledger.DigestKey) -> bus_pb2.DigestKey:
    out = bus_pb2.DigestKey(delegation_id=key[1])
    out.created_at.FromDatetime(key[0])
    return out


class Reconciliation(NodeBase):
    # Rounds so far: each round starts with the next court, so when the coordinator gets to the
    # last digests of a round too late (stale, dropped), it is never the same courts' every time.
    _rounds = 0

    async def reconcile(self, publish: Publish, interval: float = 30.0) -> int:
        """Tell the coordinator what this node holds, court by court in chunks (published
        directly, not through the outbox: each round rebuilds them), then re-send through the
        outbox the pending requests and receipts of undelivered offers whose back-off is due.
        ``interval``: the current reconciliation interval in seconds (a digest older than it is
        stale; back-off counts in it). Returns the digest entries sent."""
        since = self.clock.now() - RECONCILE_WINDOW
        every = timedelta(seconds=interval)
        entries = 0
        courts = sorted(self.courts)
        # What the command centre's board shows of this node's dead letters (one count a round).
        parked = await self.db.read(outbox.parked_count)
        start = self._rounds % len(courts)
        self._rounds += 1
        for court in courts[start:] + courts[:start]:
            after: ledger.DigestKey | None = None
            while True:

                def page(
                    session: Session, court: str = court, after: ledger.DigestKey | None = after
                ) -> tuple[datetime, list[bus_pb2.DigestEntry], ledger.DigestKey | None]:
                    made_at = self.clock.now()  # no later than what the read sees
                    rows = ledger.digest_range(session, court, since, after=after, limit=CHUNK)
                    found = [
                        bus_pb2.DigestEntry(delegation_id=r.id, seq=r.seq, last_hash=r.last_hash)
                        for r in rows
                    ]
                    last = (rows[-1].created_at, rows[-1].id) if len(rows) == CHUNK else None
                    return made_at, found, last

                # Read beside the writer thread: a round at 100,000 open is hundreds of chunks,
                # and creates and steps must not queue behind them (docs/benchmarks.md).
                made_at, found, through = await self.db.read(page)
                digest = bus_pb2.Digest(entries=found)
                digest.since.FromDatetime(since)
                digest.made_at.FromDatetime(made_at)
                digest.interval.FromTimedelta(every)
                digest.parked = parked
                if after is not None:
                    digest.after.CopyFrom(_key(after))
                if through is not None:
                    digest.through.CopyFrom(_key(through))
                await publish(digest_subject(court), envelopes.envelope(court, digest))
                entries += len(found)
                if through is None:
                    break
                after = through

        def resend(uow: UnitOfWork) -> int:
            courts = sorted(self.courts)
            due = 0
            for req in ledger.pending_requests(uow.session, courts=courts):
                message_id = envelopes.request_message_id(req.delegation_id, req.request_id)
                due += uow.resend_due(message_id, every)
            for row in ledger.offered_to(uow.session, courts):
                due += uow.resend_due(envelopes.receipt_message_id(row.id, row.seq), every)
            return due

        resent = await self.core.run(resend)
        if resent:
            log.info("reconcile_resent_own", node=self.node_id, messages=resent)
        return entries

    async def run_reconciler(
        self,
        publish: Publish,
        interval: float,
        reconnected: asyncio.Event,
        flow: Callable[[], Flow] | None = None,
    ) -> None:
        """Reconcile every ``interval`` seconds (stretched by ``paced`` while the region is
        behind, as ``flow`` measures it), at start, and whenever the bus reconnects."""
        loop = asyncio.get_running_loop()
        current = interval
        while True:
            try:
                entries = await self.reconcile(publish, current)
                log.info(
                    "reconcile_digest_sent", node=self.node_id, entries=entries, interval=current
                )
            except Exception as exc:  # noqa: BLE001 - e.g. a broker outage: the next round retries
                log.warning("reconcile_failed", error=str(exc))
            measured = flow() if flow is not None else None
            slower = paced(interval, current, measured, self.node_id, loop.time())
            if slower != current:
                log.info("reconcile_paced", node=self.node_id, interval=slower, was=current)
            current = slower
            reconnected.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reconnected.wait(), timeout=current)
