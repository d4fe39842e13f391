"""Reconciliation from a node's side: tell the coordinator what this node holds, and re-send what
may have been lost on the way (pending requests, receipts of undelivered offers)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from jiaodong.app.node.base import NodeBase
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.bus import envelopes
from jiaodong.bus.subjects import Kind, to_coordinator
from jiaodong.store import ledger
from jiaodong.v1 import bus_pb2

log = structlog.get_logger("jiaodong.node")

Publish = Callable[[str, bus_pb2.Envelope], Awaitable[None]]

# Digests cover open delegations and those changed within this window.
RECONCILE_WINDOW = timedelta(days=30)


class Reconciliation(NodeBase):
    async def reconcile(self, publish: Publish) -> int:
        """Tell the coordinator what this node holds (a digest per court, published directly:
        it is rebuilt every round), and re-send through the outbox what may have been lost on
        the way: pending requests and receipts of undelivered offers. Returns the entries sent."""

        def work(uow: UnitOfWork) -> list[tuple[str, bus_pb2.Envelope]]:
            since = uow.now - RECONCILE_WINDOW
            digests = []
            for court in sorted(self.courts):
                rows = ledger.digest_scope(uow.session, court, since)
                digest = bus_pb2.Digest(
                    entries=[
                        bus_pb2.DigestEntry(delegation_id=r.id, seq=r.seq, last_hash=r.last_hash)
                        for r in rows
                    ]
                )
                digest.since.FromDatetime(since)
                digests.append(
                    (to_coordinator(court, Kind.DIGEST), envelopes.envelope(court, digest))
                )
            for req in ledger.pending_requests(uow.session, courts=sorted(self.courts)):
                uow.resend(envelopes.request_message_id(req.delegation_id, req.request_id))
            for row in ledger.offered_to(uow.session, sorted(self.courts)):
                uow.resend(envelopes.receipt_message_id(row.id, row.seq))
            return digests

        digests = await self.core.run(work)
        for subject, envelope in digests:
            await publish(subject, envelope)
        return sum(len(e.digest.entries) for _, e in digests)

    async def run_reconciler(
        self, publish: Publish, interval: float, reconnected: asyncio.Event
    ) -> None:
        """Reconcile every ``interval`` seconds, at start, and whenever the bus reconnects."""
        while True:
            try:
                entries = await self.reconcile(publish)
                log.info("reconcile_digest_sent", node=self.node_id, entries=entries)
            except Exception as exc:  # noqa: BLE001 - e.g. a broker outage: the next round retries
                log.warning("reconcile_failed", error=str(exc))
            reconnected.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reconnected.wait(), timeout=interval)
