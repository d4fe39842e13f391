"""What every part of a city node shares: its courts, its core (unit of work runner) and the
checks that a call acts for a hosted court that is party to the delegation."""

from __future__ import annotations

from collections.abc import Callable

from jiaodong.app.unit_of_work import Core, UnitOfWork
from jiaodong.app.watch import Broadcaster
from jiaodong.bus import envelopes
from jiaodong.bus.subjects import Kind, to_coordinator
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.clock import Clock
from jiaodong.domain.errors import InvalidInput, NotAllowed, NotFound
from jiaodong.domain.lifecycle import Event, EventKind, Side
from jiaodong.domain.registry import Registry
from jiaodong.domain.sla_policy import SlaPolicy
from jiaodong.store.database import Database
from jiaodong.store.mapper import content_of
from jiaodong.store.tables import DelegationRow


class NodeBase:
    """The node of one city: hosts that city's courts."""

    def __init__(
        self,
        node_id: str,
        registry: Registry,
        db: Database,
        clock: Clock,
        broadcaster: Broadcaster | None = None,
        sla: tuple[SlaPolicy, WorkCalendar] | None = None,
    ) -> None:
        self.node_id = node_id
        self.registry = registry
        self.db = db
        self.clock = clock
        self.sla = sla
        self.core = Core(db, registry, clock, broadcaster)
        hosted = registry.courts_of_node(node_id)
        if not hosted:
            raise NotFound(f"no court in the registry is hosted by node {node_id!r}")
        self.courts = {c.court_id for c in hosted}
        self.city = hosted[0].city
        self.parked_city = self.city  # what its parked messages are shown as held by

    def open_registry_task(self, uow: UnitOfWork, row: DelegationRow, delivered: Event) -> None:
        """A delegation was just delivered here: the registry desk (app/node/registries.py) opens
        an automatic task if a registry of this city can answer it. Nothing without a desk."""

    @property
    def broadcaster(self) -> Broadcaster:
        return self.core.broadcaster

    def set_relay_wake(self, wake: Callable[[], None]) -> None:
        self.core.set_relay_wake(wake)

    def hosted(self, court_id: str) -> None:
        if court_id not in self.courts:
            raise NotAllowed(
                f"court {court_id or '(none)'} is not hosted by this node ({self.node_id}); "
                "call your own city's node"
            )

    @staticmethod
    def party_row(uow: UnitOfWork, court: str, delegation_id: str) -> DelegationRow:
        """The delegation, if ``court`` sent or received it."""
        if not delegation_id:
            raise InvalidInput.one("id", "is required")
        row = uow.get(delegation_id)
        if row is None:
            raise NotFound(f"no delegation with id {delegation_id!r} at this node")
        if court not in (row.requesting_court, row.entrusted_court):
            raise NotAllowed(f"court {court} neither sent nor received delegation {delegation_id}")
        return row

    def acting_row(
        self, uow: UnitOfWork, court: str, delegation_id: str, side: Side, kind: EventKind
    ) -> DelegationRow:
        """The delegation, if ``court`` is its party on ``side`` (the side that takes ``kind``)."""
        row = self.party_row(uow, court, delegation_id)
        own = row.requesting_court if side is Side.REQUESTING else row.entrusted_court
        if own != court:
            raise NotAllowed(
                f"only the {side.value.lower()} court {own} may {kind.value.lower()} "
                f"delegation {row.id}"
            )
        return row

    @staticmethod
    def send_sync(
        uow: UnitOfWork, row: DelegationRow, from_court: str, *, whole: bool = False
    ) -> None:
        """Tell the coordinator, as ``from_court``, the events this transaction added (or, with
        ``whole``, the whole history: the coordinator found a gap)."""
        events = uow.history(row) if whole else uow.appended(row)
        body = envelopes.sync(content_of(row), events)
        uow.send(to_coordinator(from_court, Kind.SYNC), envelopes.envelope(from_court, body))
