"""What every part of the coordinator shares: the region's registry, its core (unit of work
runner), the SLA engine, and relaying a delegation's history and documents to its courts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import structlog

from jiaodong.app.sla import SlaEngine
from jiaodong.app.unit_of_work import Core, UnitOfWork
from jiaodong.app.watch import Broadcaster
from jiaodong.bus import envelopes
from jiaodong.bus.subjects import Kind, to_court
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.clock import Clock
from jiaodong.domain.lifecycle import EventKind
from jiaodong.domain.registry import Registry
from jiaodong.domain.routing import check_reroute
from jiaodong.domain.sla_policy import SlaPolicy
from jiaodong.store import documents as docstore
from jiaodong.store.database import Database
from jiaodong.store.mapper import content_of
from jiaodong.store.tables import DelegationRow
from jiaodong.v1 import bus_pb2
from jiaodong.wire import document_from_pb, kind_from_pb, side_from_pb

log = structlog.get_logger("jiaodong.coordinator")

# An authorization check on one delegation: (requesting, entrusted court) -> raises NotAllowed.
Guard = Callable[[str, str], None]


def check_guard(guard: Guard | None, row: DelegationRow) -> None:
    if guard is not None:
        guard(row.requesting_court, row.entrusted_court or "")


class CoordinatorBase:
    """Region-wide routing and record."""

    def __init__(
        self,
        registry: Registry,
        db: Database,
        clock: Clock,
        sla_engine: SlaEngine,
        broadcaster: Broadcaster | None = None,
        reload: Callable[[], tuple[SlaPolicy, WorkCalendar]] | None = None,
    ) -> None:
        self.registry = registry
        self.db = db
        self.clock = clock
        self.sla = sla_engine
        self.core = Core(db, registry, clock, broadcaster)
        self._reload = reload

    @property
    def broadcaster(self) -> Broadcaster:
        return self.core.broadcaster

    def set_relay_wake(self, wake: Callable[[], None]) -> None:
        self.core.set_relay_wake(wake)

    def notices(self, calendar: WorkCalendar | None = None) -> list[str]:
        """What operators should know about the clocks: years the calendar does not cover."""
        calendar = calendar or self.sla.calendar
        now = self.clock.now()
        return [
            f"{year} is not covered by the official calendar: weekends only until "
            f"courts/holidays/{year}.toml is added"
            for year in calendar.uncovered_years(now.date(), (now + timedelta(days=400)).date())
        ]

    @staticmethod
    def send(
        uow: UnitOfWork, court: str, kind: Kind, body: envelopes.Body, message_id: str = ""
    ) -> None:
        """Queue a message for ``court``'s node."""
        uow.send(to_court(court, kind), envelopes.envelope(court, body, message_id))

    def send_sync(
        self, uow: UnitOfWork, row: DelegationRow, court: str, held: int | None = None
    ) -> None:
        """Send ``court`` the events after seq ``held``, the last it is known to hold (None: the
        whole history, for a court that may not hold the delegation at all)."""
        history = uow.history(row)
        events = history if held is None else history[held:]
        self.send(uow, court, Kind.SYNC, envelopes.sync(content_of(row), events))

    @staticmethod
    def was_party(uow: UnitOfWork, row: DelegationRow, court: str) -> bool:
        """``court`` sent the delegation, holds it now, or was offered it before a reroute (its
        node keeps the delegation and may still lack the events that moved it on)."""
        if court in (row.requesting_court, row.entrusted_court):
            return True
        moved = (EventKind.ROUTED, EventKind.REROUTED)
        return any(e.kind in moved and e.court_id == court for e in uow.history(row))

    def forward(
        self, uow: UnitOfWork, row: DelegationRow, skip: str | None, also: str = ""
    ) -> None:
        """After a history change: restart the stored SLA clocks, and send both courts (and a
        court it just left), except ``skip``, the events this transaction added; a court just
        offered the delegation gets the whole history."""
        history = uow.history(row)
        self.sla.refresh(uow.session, row, history)
        offered = bool(history) and history[-1].kind in (EventKind.ROUTED, EventKind.REROUTED)
        new = uow.appended(row)
        # Each court gets what this transaction added; a court just offered the delegation, all.
        held = new[0].seq - 1 if new else None
        for court in dict.fromkeys((row.requesting_court, row.entrusted_court, also)):
            if court and court != skip:
                whole = offered and court == row.entrusted_court
                self.send_sync(uow, row, court, None if whole else held)
        if offered:
            self._forward_requesting_documents(uow, row)

    def forward_document(
        self, uow: UnitOfWork, delegation_id: str, sha256: str, from_court: str, to: str
    ) -> None:
        for piece in docstore.chunks_of(uow.session, delegation_id, sha256, from_court):
            self.send(uow, to, Kind.DOC, piece)

    def _forward_requesting_documents(self, uow: UnitOfWork, row: DelegationRow) -> None:
        """A newly chosen entrusted court gets what the requesting court attached so far."""
        if not row.entrusted_court:
            return
        for used in docstore.uses(uow.session, row.id):
            if used.from_court == row.requesting_court:
                self.forward_document(
                    uow, row.id, used.sha256, used.from_court, row.entrusted_court
                )

    def apply_request(
        self, uow: UnitOfWork, row: DelegationRow, request: bus_pb2.ActionRequest
    ) -> None:
        """Apply a request while the coordinator is the writer (before delivery)."""
        if uow.applied_request(row, request.request_id):
            return
        kind = kind_from_pb(request.kind)
        state = uow.state(row)
        if kind is EventKind.REROUTED:
            check_reroute(
                self.registry, row.requesting_court, state.entrusted_court, request.court_id
            )
        previous = state.entrusted_court
        event = uow.seal(
            row,
            uow.event(
                kind,
                side_from_pb(request.side),
                request.actor_court,
                request_id=request.request_id,
                text=request.text,
                court_id=request.court_id,
                documents=tuple(document_from_pb(d) for d in request.documents),
            ),
        )
        uow.mark_applied(row, [event])
        self.forward(uow, row, None, also=previous)
        uow.changed(row, event, full=False)
        log.info("request_applied", delegation_id=row.id, kind=kind.value)
