"""The unit of work: one transaction of a handler, shared by node and coordinator.

It owns what every handler needs and none should do by hand: the inbox mark of the message being
applied, reading each delegation's history once, sealing and appending events, recording requests
and their answers, queuing outbox messages, and collecting the changes watchers hear of. After the
commit, ``Core.run`` broadcasts the changes and wakes the outbox relay (cosmicpython's
unit_of_work.py, eventsourcing's ProcessingEvent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlmodel import Session

from jiaodong.app.watch import Broadcaster, Change
from jiaodong.domain.assistance import check_received
from jiaodong.domain.clock import Clock
from jiaodong.domain.delegation import check_draft
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.history import Merged, RequestState, merge, seal_next, settle
from jiaodong.domain.ids import new_id
from jiaodong.domain.lifecycle import DelegationState, Event, EventKind, Side, Status
from jiaodong.domain.registry import Registry
from jiaodong.store import ledger, outbox
from jiaodong.store.database import Database
from jiaodong.store.mapper import state_from_row, view
from jiaodong.store.tables import DelegationRow, RequestRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import draft_from_pb, event_from_pb, event_pb, to_stored
from jiaodong.wire_assistance import draft_from_pb as assistance_draft_from_pb
from jiaodong.wire_assistance import is_assistance

T = TypeVar("T")


@dataclass
class _Watched:
    row: DelegationRow
    event: Event | None
    full: bool


@dataclass(frozen=True)
class Absorbed:
    """What taking in a sync did: the row (None: unknown and not stored), the events appended
    here, and whether the sync did not follow what is held (a gap: ask for the whole history)."""

    row: DelegationRow | None
    appended: list[Event]
    gap: bool = False


@dataclass
class UnitOfWork:
    """What one transaction reads and changes."""

    session: Session
    registry: Registry
    now: datetime
    _histories: dict[str, list[Event]] = field(default_factory=dict)
    _watched: dict[str, _Watched] = field(default_factory=dict)
    _appended: dict[str, list[Event]] = field(default_factory=dict)
    # Full views built since the delegation last changed here: the answer and the watchers'
    # change share one (a view reads the requests and serialises the history).
    _views: dict[str, pb.Delegation] = field(default_factory=dict)
    # Inside a savepoint: what was known of each delegation the work touched, before it did.
    _saved: dict[str, tuple[list[Event] | None, list[Event] | None, _Watched | None]] | None = None
    # Called on the event loop once the transaction has committed (e.g. to wake a worker that
    # must see what it wrote; a callback of work undone by a savepoint is harmless: a wake).
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Work that is undone alone if it fails (a SAVEPOINT), the rest of the transaction kept:
        one message of a batch. What this unit of work remembers about the delegations the work
        touched is undone with it (only those: a batch may have read thousands)."""
        self._saved = {}
        try:
            with self.session.begin_nested():
                yield
        except BaseException:
            for key, (history, appended, watched) in self._saved.items():
                _put(self._histories, key, history)
                _put(self._appended, key, appended)
                _put(self._watched, key, watched)
            self._views.clear()
            raise
        finally:
            self._saved = None

    def _touch(self, delegation_id: str) -> None:
        """Inside a savepoint: keep what is known of a delegation before the work changes it."""
        if self._saved is None or delegation_id in self._saved:
            return
        history = self._histories.get(delegation_id)
        appended = self._appended.get(delegation_id)
        self._saved[delegation_id] = (
            None if history is None else list(history),
            None if appended is None else list(appended),
            self._watched.get(delegation_id),
        )

    # -- the inbox -----------------------------------------------------------------------------

    def first_delivery(self, message_id: str, subject: str) -> bool:
        """Mark a message applied; False if it was applied before (a redelivery: do nothing)."""
        return outbox.first_mark(self.session, message_id, subject, self.now)

    # -- delegations and their histories -------------------------------------------------------

    def get(self, delegation_id: str) -> DelegationRow | None:
        return ledger.get_row(self.session, delegation_id)

    def require(self, delegation_id: str) -> DelegationRow:
        return ledger.require_row(self.session, delegation_id)

    def by_request_id(self, court: str, request_id: str) -> DelegationRow | None:
        return ledger.by_request_id(self.session, court, request_id)

    @staticmethod
    def state(row: DelegationRow) -> DelegationState:
        return state_from_row(row)

    def history(self, row: DelegationRow) -> list[Event]:
        """The delegation's history, read once per transaction."""
        if row.id not in self._histories:
            self._touch(row.id)
            self._histories[row.id] = ledger.history(self.session, row.id)
        return self._histories[row.id]

    def event(
        self,
        kind: EventKind,
        side: Side,
        actor_court: str = "",
        *,
        at: datetime | None = None,
        **fields: object,
    ) -> Event:
        """A new event of this transaction (at its time unless ``at`` says when it happened),
        not yet numbered or sealed."""
        return Event(
            event_id=new_id(),
            seq=0,
            kind=kind,
            side=side,
            actor_court=actor_court,
            at=at or self.now,
            **fields,  # type: ignore[arg-type]
        )

    def create(
        self,
        content: pb.Delegation,
        first: Event,
        *,
        fingerprint: str = "",
        warnings: Sequence[str] = (),
    ) -> DelegationRow:
        """Store a new delegation with its first event (already sealed)."""
        row, _ = ledger.insert_delegation(
            self.session,
            self.registry,
            content,
            first,
            fingerprint=fingerprint,
            warnings=warnings,
            changed_at=self.now,
        )
        self._views.pop(row.id, None)
        self._touch(row.id)
        self._histories[row.id] = [first]
        self._appended[row.id] = [first]
        return row

    def append(self, row: DelegationRow, event: Event) -> DelegationState:
        """Append a sealed event after checking it against the state machine."""
        history = self.history(row)
        self._touch(row.id)
        self._views.pop(row.id, None)
        state = ledger.append(self.session, self.registry, row, event)
        row.changed_at = to_stored(self.now)
        history.append(event)
        self._appended.setdefault(row.id, []).append(event)
        return state

    def seal(self, row: DelegationRow, event: Event) -> Event:
        """Number and link ``event`` after the delegation's last one, and append it."""
        sealed = seal_next(self.state(row), event)
        self.append(row, sealed)
        return sealed

    def merge(
        self, row: DelegationRow, incoming: Sequence[Event], *, sender: str | None
    ) -> list[Event]:
        """Append the events of ``incoming`` this side lacks (the domain's single-writer merge);
        returns them."""
        held = {e.seq: e.hash for e in self.history(row)}
        merged: Merged = merge(self.state(row), held, incoming, sender=sender)
        for event in merged.new:
            self.append(row, event)
        return merged.new

    def absorb(self, sync: bus_pb2.DelegationSync, *, sender: str | None) -> Absorbed:
        """Take in a sync from another side: the events it lacks, or the whole history.

        A delegation first seen here is stored once it passes the same content checks as one
        created through the API (a faulty or hostile node cannot slip in what its own gRPC edge
        would refuse); then the events this side lacks are merged (the domain's single-writer
        merge). A sync whose first event does not follow what is held here (a message lost on
        the way, or overtaken) is a gap: nothing is applied and the caller asks the sender for the
        whole history. ``sender``: the court whose node sent it (None: the coordinator)."""
        events = [event_from_pb(e) for e in sync.history]
        if not events:
            raise InvalidInput.one("history", "a sync carries at least one event")
        content = sync.delegation
        row = self.get(content.id)
        held = row.seq if row is not None else 0
        if events[0].seq > held + 1:
            return Absorbed(row, [], gap=True)
        appended: list[Event] = []
        if row is None:
            if sender is not None and sender != content.requesting_court:
                raise InvalidInput.one("sync", f"court {sender} cannot introduce {content.id}")
            if is_assistance(content):
                received = assistance_draft_from_pb(content)
                check_received(self.registry, content.requesting_court, received, events[0].at)
            else:
                check_draft(self.registry, content.requesting_court, draft_from_pb(content))
            row = self.create(content, events[0])
            appended.append(events[0])
        appended += self.merge(row, events, sender=sender)
        return Absorbed(row, appended)

    def appended(self, row: DelegationRow) -> list[Event]:
        """The events this transaction added to the delegation's history, in order."""
        return list(self._appended.get(row.id, ()))

    # -- requests sent to the writer -----------------------------------------------------------

    def request(self, row: DelegationRow, request_id: str) -> RequestRow | None:
        return self.session.get(RequestRow, (row.id, request_id))

    def record_request(
        self, row: DelegationRow, request_id: str, kind: EventKind, side: Side, actor: str = ""
    ) -> None:
        self._views.pop(row.id, None)
        self.session.add(
            RequestRow(
                delegation_id=row.id,
                request_id=request_id,
                kind=kind.value,
                side=side.value,
                actor_court=actor,
                created_at=to_stored(self.now),
            )
        )

    def mark_applied(self, row: DelegationRow, events: Sequence[Event]) -> None:
        """Requests of ours that these events carry out are applied."""
        self._views.pop(row.id, None)
        for event in events:
            req = self.request(row, event.request_id) if event.request_id else None
            if req is not None:
                req.state = settle(RequestState(req.state), applied=True).value
                self.session.add(req)

    def mark_refused(self, req: RequestRow, reason: str) -> bool:
        """The writer refused one of our requests; False if it was applied meanwhile (a refusal
        of a re-sent copy never undoes what the history holds)."""
        state = settle(RequestState(req.state), applied=False)
        if state is not RequestState.REFUSED:
            return False
        self._views.pop(req.delegation_id, None)
        req.state = state.value
        req.reason = reason
        self.session.add(req)
        return True

    def applied_request(self, row: DelegationRow, request_id: str) -> bool:
        """The history already holds the event of this request."""
        return any(e.request_id == request_id for e in self.history(row))

    # -- the outbox ----------------------------------------------------------------------------

    def send(self, subject: str, envelope: bus_pb2.Envelope) -> None:
        """Queue a message; the relay publishes it after the commit."""
        outbox.enqueue(self.session, subject, envelope, self.now)

    def ask(self, subject: str, envelope: bus_pb2.Envelope) -> bool:
        """Queue a question (a Want) once at a time: not while the same one waits unpublished;
        under a fresh id once it went out (it or its answer may have been lost)."""
        waiting = outbox.queued(self.session, envelope.message_id)
        if waiting:
            return False
        if waiting is not None:
            envelope.message_id = new_id()
        self.send(subject, envelope)
        return True

    def resend(self, message_id: str) -> bool:
        """Queue again, under a fresh id, a message sent before."""
        return outbox.resend(self.session, message_id, self.now)

    def resend_due(self, message_id: str, interval: timedelta) -> bool:
        """Queue again a message sent before, if its back-off allows (2, 4, then every 8
        ``interval``s), under a stable id per attempt (copies of one attempt are one message to
        the broker); False when not due or unknown."""
        return outbox.resend_due(self.session, message_id, self.now, interval)

    def due(self, key: str, interval: timedelta) -> bool:
        """Whether a re-send of what ``key`` names is due now, with the same back-off (counted
        from the first time it is asked about); records the attempt when it is."""
        return outbox.due(self.session, key, self.now, interval, None) > 0

    # -- what watchers hear --------------------------------------------------------------------

    def view(self, row: DelegationRow, *, full: bool = True) -> pb.Delegation:
        """The delegation as the API shows it: content and state, with history and requests
        (callers must not change it: the watchers' change may share it)."""
        if not full:
            return view(row)
        if row.id not in self._views:
            requests = ledger.requests(self.session, row.id)
            # Offered and not yet recorded as delivered: the entrusted court's steps may wait.
            waiting = (
                ledger.waiting_steps(self.session, row.id, ("waiting", "dropped"))
                if row.status == Status.ROUTED.value
                else ()
            )
            self._views[row.id] = view(row, self.history(row), requests, waiting)
        return self._views[row.id]

    def changed(self, row: DelegationRow, event: Event | None = None, *, full: bool = True) -> None:
        """Tell watchers about ``row`` after the commit (its last change in this transaction)."""
        self._touch(row.id)
        previous = self._watched.get(row.id)
        if event is None and previous is not None:
            event = previous.event
        self._watched[row.id] = _Watched(row, event, full)

    def changes(self, wanted: Callable[[DelegationRow], bool] = lambda _: True) -> list[Change]:
        """The changes for watchers, built inside the transaction (histories are at hand); only
        for delegations ``wanted`` (some watcher hears of them)."""
        self.session.flush()
        return [
            Change(self.view(w.row, full=w.full), event_pb(w.event) if w.event else None)
            for w in self._watched.values()
            if wanted(w.row)
        ]


class Core:
    """Runs units of work on a service's database; after each commit, tells watchers and wakes
    the relay. Node and coordinator each have one."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        clock: Clock,
        broadcaster: Broadcaster | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.clock = clock
        self.broadcaster = broadcaster or Broadcaster()
        self._wake: Callable[[], None] = lambda: None

    def set_relay_wake(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    async def run(self, work: Callable[[UnitOfWork], T]) -> T:
        """``work`` in one transaction on the database thread; then the watchers and the relay."""
        now = self.clock.now()

        broadcaster = self.broadcaster

        def wanted(row: DelegationRow) -> bool:
            return broadcaster.wants((row.requesting_court, row.entrusted_court or ""))

        def transaction(session: Session) -> tuple[T, list[Change], list[Callable[[], None]]]:
            uow = UnitOfWork(session, self.registry, now)
            result = work(uow)
            return result, uow.changes(wanted), uow.after_commit

        result, changes, after = await self.db.run(transaction)
        if changes:
            self.broadcaster.publish(changes)
        self._wake()  # also for rows written without the unit of work (the SLA engine's)
        for callback in after:
            callback()
        return result

    def wake(self) -> None:
        self._wake()


V = TypeVar("V")


def _put(cache: dict[str, V], key: str, value: V | None) -> None:
    """Set ``cache[key]`` to ``value``, or remove the key when ``value`` is None."""
    if value is None:
        cache.pop(key, None)
    else:
        cache[key] = value
