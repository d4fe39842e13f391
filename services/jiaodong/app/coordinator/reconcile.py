"""Reconciliation from the coordinator's side: compare one chunk of a court's digest with the
record here, send the court what it lacks, ask it for what this side lacks, and re-send requests
of ours (an operator's, the SLA engine's) that its writer never applied.

Each chunk is applied in its own short transaction, and what it costs is bounded by the chunk:
the court's rows in the chunk's range are read as plain columns through the court indexes, and
at most ``MISSING_CAP`` rows the court lacks are answered per chunk. Nothing is answered from a
stale view: a digest older than its interval is dropped (the next is on its way), and no sync is
sent for a delegation this database changed after the digest was made (``changed_at``, the
coordinator's own clock: the transaction that changed it sent the change to both courts, after
the digest, and that sync either catches the court up or shows it a gap it asks about; a court
that sent the change holds it). A delegation never changed here since the column exists is
answered as before: the rule only ever saves a sync, it never withholds one that is owed.

Nor does it ask a court to re-send what is most likely waiting in its own backlog: while this
coordinator's consumer is behind (``flow.LAG_HIGH`` or more messages, as last measured), a court
that holds more of a delegation than the record here is ahead because its events wait in that
backlog, and the whole histories a want brings back would queue behind them, the backlog fed
by its own repair (the overload row, 2026-12-01: 484 histories re-sent into a lag of 1,200).
The want is deferred, not dropped: the next digest after the backlog drains asks for whatever
is still missing then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from jiaodong.app.coordinator.base import CoordinatorBase
from jiaodong.app.messagebus import Inbound
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.bus import envelopes
from jiaodong.bus.flow import LAG_HIGH
from jiaodong.bus.subjects import Kind
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.ids import stable_id
from jiaodong.domain.lifecycle import Side
from jiaodong.store import board, ledger, sla_clocks
from jiaodong.store.tables import DelegationRow
from jiaodong.v1 import bus_pb2
from jiaodong.wire import from_ts, to_utc

log = structlog.get_logger("jiaodong.coordinator")

# Rows a court lacks that one digest chunk answers at most (the rest: next round).
MISSING_CAP = 500
# Entries one digest chunk may carry (nodes send at most 500): more is refused, never read.
MAX_ENTRIES = 1000


def _key(key: bus_pb2.DigestKey) -> ledger.DigestKey:
    return from_ts(key.created_at), key.delegation_id


def _after_digest(changed_at: datetime | None, made_at: datetime) -> bool:
    """This database changed the delegation (and sent the change) after the digest was made."""
    return changed_at is not None and to_utc(changed_at) > made_at


class Reconciliation(CoordinatorBase):
    # The nodes' reconciliation interval (bootstrap sets the configured one): the age past which
    # a digest that does not carry its own is stale, and the unit of our re-sends' back-off.
    reconcile_interval = timedelta(seconds=30)
    # Messages waiting for this coordinator's own consumer, as last measured (bootstrap sets it
    # from the bus transport's flow); None when not measured lately: then nothing is deferred.
    inbound_backlog: Callable[[], int | None] | None = None

    def _behind(self) -> int | None:
        """The own backlog when it is high enough to defer wants (see the module's text)."""
        backlog = self.inbound_backlog() if self.inbound_backlog is not None else None
        return backlog if backlog is not None and backlog >= LAG_HIGH else None

    def on_digest(self, uow: UnitOfWork, message: Inbound, digest: bus_pb2.Digest) -> None:
        sender = message.court
        court = self.registry.courts.get(sender)
        if digest.HasField("parked") and court is not None:  # even a stale digest says this
            board.note_parked(uow.session, court.node, sender, digest.parked, uow.now)
        interval = self.reconcile_interval
        if digest.HasField("interval") and digest.interval.ToTimedelta() > timedelta(0):
            interval = digest.interval.ToTimedelta()
        made_at = from_ts(digest.made_at) if digest.HasField("made_at") else None
        if made_at is None or uow.now - made_at > interval:
            age = None if made_at is None else round((uow.now - made_at).total_seconds(), 1)
            log.info("reconcile_digest_stale", court=sender, age=age, entries=len(digest.entries))
            return
        if len(digest.entries) > MAX_ENTRIES:
            raise InvalidInput.one(
                "digest", f"carries {len(digest.entries)} entries, at most {MAX_ENTRIES}"
            )
        after = _key(digest.after) if digest.HasField("after") else None
        through = _key(digest.through) if digest.HasField("through") else None
        since = from_ts(digest.since)
        here = ledger.digest_range(
            uow.session,
            sender,
            since,
            after=after,
            through=through,
            limit=len(digest.entries) + MISSING_CAP,
        )
        mine = {r.id: r for r in here}
        want: list[str] = []
        behind = later = 0
        backlog = self._behind()
        for entry in digest.entries:
            held = mine.get(entry.delegation_id)
            row: DelegationRow | None = None
            if held is None:
                # Not in this court's scope here: unknown, closed long ago, or moved on.
                row = uow.get(entry.delegation_id)
                if row is not None and not self.was_party(uow, row, sender):
                    log.warning(
                        "reconcile_not_party", delegation_id=entry.delegation_id, court=sender
                    )
                    continue
                if row is None:
                    want.append(entry.delegation_id)
                    continue
                seq, last_hash, changed_at = row.seq, row.last_hash, row.changed_at
            else:
                seq, last_hash, changed_at = held.seq, held.last_hash, held.changed_at
            if seq < entry.seq:
                want.append(entry.delegation_id)
            elif seq > entry.seq:
                if _after_digest(changed_at, made_at):
                    later += 1
                    continue
                row = row or uow.require(entry.delegation_id)
                self.send_sync(uow, row, sender, held=entry.seq)
                behind += 1
            elif last_hash != entry.last_hash:
                log.error("reconcile_conflict", delegation_id=entry.delegation_id, court=sender)
        listed = {e.delegation_id for e in digest.entries}
        for held in here:
            if held.id in listed:
                continue
            if _after_digest(held.changed_at, made_at):
                later += 1
                continue
            self.send_sync(uow, uow.require(held.id), sender)
            behind += 1
        self._resend_own_requests(uow, sender, [r.id for r in here if r.entrusted_court == sender])
        deferred = 0
        if want and backlog is not None:
            deferred, want = len(want), []
        if want:
            self.send(uow, sender, Kind.WANT, bus_pb2.Want(delegation_ids=want))
        if want or behind or later or deferred:
            log.info(
                "reconcile",
                court=sender,
                want=len(want),
                sent=behind,
                changed_since=later,
                want_deferred=deferred,
                backlog=backlog,
            )

    def on_want(self, uow: UnitOfWork, message: Inbound, want: bus_pb2.Want) -> None:
        """A court's node found a gap in what it received: send it the whole histories."""
        sender = message.court
        for delegation_id in want.delegation_ids:
            row = uow.get(delegation_id)
            if row is not None and self.was_party(uow, row, sender):
                self.send_sync(uow, row, sender)
        log.info("reconcile_resent", court=sender, delegations=len(want.delegation_ids))

    def _resend_own_requests(self, uow: UnitOfWork, court: str, entrusted: list[str]) -> None:
        """Operators' requests and SLA actions the writer (``court``, for delegations entrusted
        to it) has not applied yet: ask again, with back-off per message. Only the delegations
        that have such a request or a fired clock are read (two queries for the chunk)."""
        pending = ledger.pending_among(uow.session, entrusted, Side.COORDINATOR.value)
        fired = sla_clocks.fired_among(uow.session, entrusted)
        for delegation_id in sorted(pending | fired):
            row = uow.require(delegation_id)
            if uow.state(row).writer_court() != court:
                continue
            history = uow.history(row)
            if delegation_id in pending:
                done = {e.request_id for e in history if e.request_id}
                requests = ledger.pending_requests(
                    uow.session, delegation_id=row.id, side=Side.COORDINATOR.value
                )
                for req in requests:
                    if req.request_id not in done:
                        message_id = envelopes.request_message_id(row.id, req.request_id)
                        uow.resend_due(message_id, self.reconcile_interval)
            if delegation_id in fired:
                key = stable_id("sla-resend", row.id)
                self.sla.resend_unapplied(
                    uow.session,
                    row,
                    history,
                    lambda key=key: uow.due(key, self.reconcile_interval),  # type: ignore[misc]
                )
