"""The delegation lifecycle: one state machine every side uses.

A delegation's truth is its history: an append-only list of events numbered 1, 2, 3 ... and
hash-chained. Its state is the fold of that history through the rules below. At any moment exactly
one side may append (the *writer*): the requesting node writes event 1; the coordinator owns the
delegation until delivery (it routes, records the entrusted node's receipt as DELIVERED, and may
cancel or reroute before that); from delivery on the entrusted court's node writes every event,
applying the requesting court's and the coordinator's wishes as requests in the order they arrive.
So no two sides can both "win" a conflicting transition.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum

from jiaodong.domain.errors import IllegalTransition, InvalidInput, NotAllowed


class Status(StrEnum):
    """Where a delegation stands. Values match the proto enum names without the prefix."""

    CREATED = "CREATED"
    ROUTED = "ROUTED"
    DELIVERED = "DELIVERED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RETURNED = "RETURNED"
    ACCEPTED = "ACCEPTED"
    COMPLETED = "COMPLETED"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    ROUTING_FAILED = "ROUTING_FAILED"
    # On-site assistance only (ASSIST_RULES).
    PROPOSED = "PROPOSED"
    AGREED = "AGREED"
    REFUSED = "REFUSED"

    @property
    def closed(self) -> bool:
        return self in CLOSED


CLOSED = frozenset({Status.CONFIRMED, Status.CANCELLED, Status.ROUTING_FAILED, Status.REFUSED})


class EventKind(StrEnum):
    """What one history event records."""

    CREATED = "CREATED"
    ROUTED = "ROUTED"
    ROUTING_FAILED = "ROUTING_FAILED"
    DELIVERED = "DELIVERED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ACCEPTED = "ACCEPTED"
    RETURNED = "RETURNED"
    SUPPLEMENTED = "SUPPLEMENTED"
    PROGRESS_REPORTED = "PROGRESS_REPORTED"
    COMPLETED = "COMPLETED"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    URGED = "URGED"
    ESCALATED = "ESCALATED"
    REROUTED = "REROUTED"
    SLA_WARNING = "SLA_WARNING"
    SLA_BREACHED = "SLA_BREACHED"
    WITHDRAWN = "WITHDRAWN"
    # On-site assistance only (ASSIST_RULES).
    PLAN_PROPOSED = "PLAN_PROPOSED"
    SUPPORT_CONFIRMED = "SUPPORT_CONFIRMED"
    PLAN_ACCEPTED = "PLAN_ACCEPTED"
    MOVE_ASKED = "MOVE_ASKED"
    REFUSED = "REFUSED"
    OUTCOME_RECORDED = "OUTCOME_RECORDED"


class Side(StrEnum):
    """Who acts in a step."""

    REQUESTING = "REQUESTING"
    ENTRUSTED = "ENTRUSTED"
    COORDINATOR = "COORDINATOR"


class ReturnReason(StrEnum):
    NOT_OUR_JURISDICTION = "NOT_OUR_JURISDICTION"
    MATERIALS_INCOMPLETE = "MATERIALS_INCOMPLETE"
    REQUEST_UNCLEAR = "REQUEST_UNCLEAR"
    OTHER = "OTHER"


class CompletionResult(StrEnum):
    DONE = "DONE"
    PARTLY_DONE = "PARTLY_DONE"
    NOT_POSSIBLE = "NOT_POSSIBLE"


# Words a clerk reads in error messages.
_ACTION_WORDS: Mapping[EventKind, str] = {
    EventKind.CREATED: "create",
    EventKind.ROUTED: "route",
    EventKind.ROUTING_FAILED: "refuse routing of",
    EventKind.DELIVERED: "deliver",
    EventKind.ACKNOWLEDGED: "acknowledge",
    EventKind.ACCEPTED: "accept",
    EventKind.RETURNED: "return",
    EventKind.SUPPLEMENTED: "supplement",
    EventKind.PROGRESS_REPORTED: "report progress on",
    EventKind.COMPLETED: "complete",
    EventKind.CONFIRMED: "confirm",
    EventKind.CANCELLED: "cancel",
    EventKind.URGED: "urge",
    EventKind.ESCALATED: "escalate",
    EventKind.REROUTED: "reroute",
    EventKind.SLA_WARNING: "warn about a time limit of",
    EventKind.SLA_BREACHED: "record a missed time limit of",
    EventKind.WITHDRAWN: "withdraw",
    EventKind.PLAN_PROPOSED: "propose a plan for",
    EventKind.SUPPORT_CONFIRMED: "confirm support for",
    EventKind.PLAN_ACCEPTED: "accept the plan of",
    EventKind.MOVE_ASKED: "ask to move",
    EventKind.REFUSED: "refuse",
    EventKind.OUTCOME_RECORDED: "record the outcome of",
}


def action_word(kind: EventKind) -> str:
    return _ACTION_WORDS[kind]


@dataclass(frozen=True)
class Rule:
    """Who may cause an event and how it moves the status (from -> to)."""

    sides: frozenset[Side]
    moves: Mapping[Status, Status]


_OPEN_BEFORE_ACCEPT = (Status.ROUTED, Status.DELIVERED, Status.ACKNOWLEDGED)
_HANDLING = (Status.DELIVERED, Status.ACKNOWLEDGED, Status.ACCEPTED)
_TIMED = (*_OPEN_BEFORE_ACCEPT, Status.ACCEPTED, Status.RETURNED, Status.COMPLETED)


def _stay(*states: Status) -> dict[Status, Status]:
    return {s: s for s in states}


def _to(target: Status, *states: Status) -> dict[Status, Status]:
    return dict.fromkeys(states, target)


RULES: Mapping[EventKind, Rule] = {
    EventKind.ROUTED: Rule(frozenset({Side.COORDINATOR}), _to(Status.ROUTED, Status.CREATED)),
    EventKind.ROUTING_FAILED: Rule(
        frozenset({Side.COORDINATOR}), _to(Status.ROUTING_FAILED, Status.CREATED)
    ),
    EventKind.DELIVERED: Rule(frozenset({Side.ENTRUSTED}), _to(Status.DELIVERED, Status.ROUTED)),
    EventKind.ACKNOWLEDGED: Rule(
        frozenset({Side.ENTRUSTED}), _to(Status.ACKNOWLEDGED, Status.DELIVERED)
    ),
    EventKind.ACCEPTED: Rule(
        frozenset({Side.ENTRUSTED}), _to(Status.ACCEPTED, Status.ACKNOWLEDGED)
    ),
    EventKind.RETURNED: Rule(
        frozenset({Side.ENTRUSTED}), _to(Status.RETURNED, Status.ACKNOWLEDGED, Status.ACCEPTED)
    ),
    EventKind.SUPPLEMENTED: Rule(
        frozenset({Side.REQUESTING}),
        {Status.RETURNED: Status.ACKNOWLEDGED, **_stay(*_HANDLING)},
    ),
    EventKind.PROGRESS_REPORTED: Rule(frozenset({Side.ENTRUSTED}), _stay(Status.ACCEPTED)),
    EventKind.COMPLETED: Rule(frozenset({Side.ENTRUSTED}), _to(Status.COMPLETED, Status.ACCEPTED)),
    EventKind.CONFIRMED: Rule(
        frozenset({Side.REQUESTING}), _to(Status.CONFIRMED, Status.COMPLETED)
    ),
    EventKind.CANCELLED: Rule(
        frozenset({Side.REQUESTING}),
        _to(Status.CANCELLED, *_OPEN_BEFORE_ACCEPT, Status.RETURNED, Status.ACCEPTED),
    ),
    EventKind.URGED: Rule(
        frozenset({Side.REQUESTING, Side.COORDINATOR}), _stay(*_OPEN_BEFORE_ACCEPT, Status.ACCEPTED)
    ),
    EventKind.ESCALATED: Rule(
        frozenset({Side.COORDINATOR}),
        _stay(*_OPEN_BEFORE_ACCEPT, Status.ACCEPTED, Status.RETURNED, Status.COMPLETED),
    ),
    EventKind.REROUTED: Rule(
        frozenset({Side.COORDINATOR}), _to(Status.ROUTED, *_OPEN_BEFORE_ACCEPT, Status.RETURNED)
    ),
    # The SLA engine's records: they change no status.
    EventKind.SLA_WARNING: Rule(frozenset({Side.COORDINATOR}), _stay(*_TIMED)),
    EventKind.SLA_BREACHED: Rule(frozenset({Side.COORDINATOR}), _stay(*_TIMED)),
    # Materials not supplied within the limit: treated as withdrawn.
    EventKind.WITHDRAWN: Rule(
        frozenset({Side.COORDINATOR}), _to(Status.CANCELLED, Status.RETURNED)
    ),
}

# On-site assistance (异地执行协助, domain/assistance.py): the same nodes, coordinator, bus and
# hash-chained history, with its own steps. The coordinator routes it like a delegation; from
# delivery the local (entrusted) court's node is the single writer, and the requesting court's
# steps (accept the plan, ask to move, its outcome, cancel) travel to it as requests.
#   ... -> ACKNOWLEDGED -> PROPOSED -> AGREED -> COMPLETED (one outcome) -> CONFIRMED (both)
#   the requesting court's MOVE_ASKED sends it back to ACKNOWLEDGED (a new plan is due); the
#   local court's new plan after agreement moves the date (AGREED -> PROPOSED).
_ASSIST_OPEN = (Status.DELIVERED, Status.ACKNOWLEDGED, Status.PROPOSED, Status.AGREED)
ASSIST_RULES: Mapping[EventKind, Rule] = {
    EventKind.ROUTED: RULES[EventKind.ROUTED],
    EventKind.ROUTING_FAILED: RULES[EventKind.ROUTING_FAILED],
    EventKind.DELIVERED: RULES[EventKind.DELIVERED],
    EventKind.ACKNOWLEDGED: RULES[EventKind.ACKNOWLEDGED],
    EventKind.PLAN_PROPOSED: Rule(frozenset({Side.ENTRUSTED}), _to(Status.PROPOSED, *_ASSIST_OPEN)),
    EventKind.SUPPORT_CONFIRMED: Rule(
        frozenset({Side.ENTRUSTED}), _stay(Status.PROPOSED, Status.AGREED)
    ),
    EventKind.PLAN_ACCEPTED: Rule(
        frozenset({Side.REQUESTING}), _to(Status.AGREED, Status.PROPOSED)
    ),
    EventKind.MOVE_ASKED: Rule(
        frozenset({Side.REQUESTING}), _to(Status.ACKNOWLEDGED, Status.PROPOSED, Status.AGREED)
    ),
    EventKind.REFUSED: Rule(
        frozenset({Side.ENTRUSTED}),
        _to(Status.REFUSED, Status.DELIVERED, Status.ACKNOWLEDGED, Status.PROPOSED),
    ),
    EventKind.CANCELLED: Rule(
        frozenset({Side.REQUESTING, Side.ENTRUSTED}),
        _to(Status.CANCELLED, Status.ROUTED, *_ASSIST_OPEN),
    ),
    EventKind.OUTCOME_RECORDED: Rule(
        frozenset({Side.REQUESTING, Side.ENTRUSTED}),
        {Status.AGREED: Status.COMPLETED, Status.COMPLETED: Status.CONFIRMED},
    ),
    EventKind.URGED: Rule(
        frozenset({Side.REQUESTING, Side.COORDINATOR}), _stay(Status.ROUTED, *_ASSIST_OPEN)
    ),
    EventKind.ESCALATED: Rule(frozenset({Side.COORDINATOR}), _stay(Status.ROUTED, *_ASSIST_OPEN)),
    EventKind.REROUTED: Rule(
        frozenset({Side.COORDINATOR}),
        _to(Status.ROUTED, Status.ROUTED, Status.DELIVERED, Status.ACKNOWLEDGED),
    ),
    EventKind.SLA_WARNING: Rule(frozenset({Side.COORDINATOR}), _stay(Status.ROUTED, *_ASSIST_OPEN)),
    EventKind.SLA_BREACHED: Rule(
        frozenset({Side.COORDINATOR}), _stay(Status.ROUTED, *_ASSIST_OPEN)
    ),
}
# The task type (TaskType value) that makes a history follow ASSIST_RULES.
ASSISTANCE_TASK = "ON_SITE_ASSISTANCE"


def rules_of(assistance: bool) -> Mapping[EventKind, Rule]:
    return ASSIST_RULES if assistance else RULES


# Events the requesting court or the coordinator cannot write themselves once the delegation is
# delivered: they travel as requests to the entrusted court's node, which applies them in order.
REQUESTED_KINDS = frozenset(
    {
        EventKind.SUPPLEMENTED,
        EventKind.CONFIRMED,
        EventKind.CANCELLED,
        EventKind.URGED,
        EventKind.ESCALATED,
        EventKind.REROUTED,
        EventKind.SLA_WARNING,
        EventKind.SLA_BREACHED,
        EventKind.WITHDRAWN,
        EventKind.PLAN_ACCEPTED,
        EventKind.MOVE_ASKED,
        EventKind.OUTCOME_RECORDED,
    }
)


@dataclass(frozen=True)
class Document:
    """Evidence of a document: its name, media type, size and SHA-256."""

    name: str
    media_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class ControlTerm:
    """A seizure or freeze that a step put in force: the asset kind (an ``AssetKind`` value), the
    registry's or court's number for it (no personal data), and the dates it stands, both
    inclusive (Asia/Shanghai). The SLA engine watches its end (domain/controls.py)."""

    asset: str
    reference: str
    starts_on: date
    ends_on: date

    def row(self) -> list[str]:
        """Its fixed form, ``[asset, reference, starts_on, ends_on]`` with ISO dates: what the
        event hash covers and what the store keeps."""
        return [self.asset, self.reference, self.starts_on.isoformat(), self.ends_on.isoformat()]

    @classmethod
    def from_row(cls, row: list[str]) -> ControlTerm:
        asset, reference, first, last = row
        return cls(asset, reference, date.fromisoformat(first), date.fromisoformat(last))


def canonical_time(at: datetime) -> str:
    """How an event's time enters its hash: the instant in UTC to the microsecond, in one fixed
    form, e.g. ``2026-03-02T01:00:00.000000+00:00`` for 09:00 +08:00 that day.

    The same instant gives the same text whatever offset it carries (+08:00, UTC, or a zone), so a
    receiver that reads the time back in UTC computes the same hash. This is the text that UTC
    times always gave, so chains sealed with UTC times keep their hashes. A naive datetime names
    no instant: it is refused with ``ValueError`` (every clock and every decoder gives aware
    times; the store attaches UTC to what it reads back)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"an event time must be timezone-aware, got {at!r}")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


# Fields of an event that every boundary (wire, rows) carries as they are; the others (kind, side,
# time, reasons, documents) each mapper converts.
PLAIN_EVENT_FIELDS = (
    "detail",
    "event_id",
    "seq",
    "actor_court",
    "text",
    "court_id",
    "request_id",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class Event:
    """One entry of a delegation's history."""

    event_id: str
    seq: int
    kind: EventKind
    side: Side
    actor_court: str
    at: datetime
    text: str = ""
    court_id: str = ""
    return_reason: str = ""
    result: str = ""
    documents: tuple[Document, ...] = ()
    request_id: str = ""
    prev_hash: str = ""
    hash: str = ""
    controls: tuple[ControlTerm, ...] = ()
    # An assistance step's payload (a plan, a window, ...) as canonical JSON; empty otherwise.
    detail: str = ""

    def content_hash(self) -> str:
        """SHA-256 over the event's content and the previous hash (canonical JSON).

        The time is hashed as the instant in UTC (``canonical_time``), so the same event hashes
        the same whatever offset its ``at`` was written with; a naive ``at`` is refused."""
        body = {
            "event_id": self.event_id,
            "seq": self.seq,
            "kind": self.kind.value,
            "side": self.side.value,
            "actor_court": self.actor_court,
            "at": canonical_time(self.at),
            "text": self.text,
            "court_id": self.court_id,
            "return_reason": self.return_reason,
            "result": self.result,
            "documents": [[d.name, d.media_type, d.size_bytes, d.sha256] for d in self.documents],
            "request_id": self.request_id,
            "prev_hash": self.prev_hash,
        }
        if self.controls:  # absent when empty, so histories sealed before controls keep hashes
            body["controls"] = [c.row() for c in self.controls]
        if self.detail:  # likewise: only assistance steps carry it
            body["detail"] = self.detail
        raw = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def sealed(self, prev_hash: str) -> Event:
        """This event linked to its predecessor, with its own hash."""
        linked = replace(self, prev_hash=prev_hash, hash="")
        return replace(linked, hash=linked.content_hash())


@dataclass(frozen=True)
class DelegationState:
    """What the history says about a delegation now."""

    delegation_id: str
    requesting_court: str
    entrusted_court: str = ""
    status: Status = Status.CREATED
    seq: int = 0
    last_hash: str = ""
    result: str = ""
    cycle: int = 0
    step_times: Mapping[str, datetime] = field(default_factory=dict)
    # An on-site assistance request (ASSIST_RULES) rather than a delegation (RULES).
    assistance: bool = False

    @property
    def rules(self) -> Mapping[EventKind, Rule]:
        return rules_of(self.assistance)

    @property
    def writer(self) -> Side | None:
        """Which side may append the next event; None once closed."""
        if self.status.closed:
            return None
        if self.status in (Status.CREATED, Status.ROUTED):
            return Side.COORDINATOR
        return Side.ENTRUSTED

    def writer_court(self) -> str | None:
        """The court whose node appends next (None for the coordinator or when closed)."""
        return self.entrusted_court if self.writer is Side.ENTRUSTED else None

    def side_of(self, court_id: str) -> Side | None:
        if court_id == self.requesting_court:
            return Side.REQUESTING
        if court_id == self.entrusted_court:
            return Side.ENTRUSTED
        return None


def check_allowed(state: DelegationState, kind: EventKind, side: Side) -> Status:
    """The status after ``kind`` by ``side``; raises if the side may not or the state forbids it."""
    rule = state.rules.get(kind)
    word = action_word(kind)
    what = "request for assistance" if state.assistance else "delegation"
    if rule is None:
        raise IllegalTransition(state.status.value, word, f"this is not a step of a {what}")
    if side not in rule.sides:
        who = ", ".join(sorted(s.value.lower() for s in rule.sides))
        raise NotAllowed(f"only the {who} side may {word} a {what}, not the {side.value.lower()}")
    to = rule.moves.get(state.status)
    if to is None:
        allowed = ", ".join(s.value for s in rule.moves) or "no state"
        raise IllegalTransition(
            state.status.value, word, f"allowed only when the {what} is {allowed}"
        )
    return to


_STEP_TIME = {
    EventKind.CREATED: "created",
    EventKind.ROUTED: "routed",
    EventKind.REROUTED: "routed",
    EventKind.DELIVERED: "delivered",
    EventKind.ACKNOWLEDGED: "acknowledged",
    EventKind.ACCEPTED: "accepted",
    EventKind.RETURNED: "returned",
    EventKind.COMPLETED: "completed",
    EventKind.CONFIRMED: "closed",
    EventKind.CANCELLED: "closed",
    EventKind.ROUTING_FAILED: "closed",
    EventKind.WITHDRAWN: "closed",
    EventKind.PLAN_ACCEPTED: "accepted",
    EventKind.REFUSED: "closed",
    EventKind.OUTCOME_RECORDED: "completed",
}


def start(
    event: Event, requesting_court: str, delegation_id: str, *, assistance: bool = False
) -> DelegationState:
    """The state after event 1 (CREATED)."""
    if event.kind is not EventKind.CREATED or event.seq != 1:
        raise InvalidInput.one("history", "a history must start with event 1, CREATED")
    if event.prev_hash != "" or event.hash != event.content_hash():
        raise InvalidInput.one("history[1]", "event 1 has a wrong hash")
    return DelegationState(
        delegation_id=delegation_id,
        requesting_court=requesting_court,
        status=Status.CREATED,
        seq=1,
        last_hash=event.hash,
        step_times={"created": event.at, "updated": event.at},
        assistance=assistance,
    )


def apply(state: DelegationState, event: Event) -> DelegationState:
    """The state after ``event``; raises if the event does not follow or is not allowed."""
    if event.seq != state.seq + 1:
        raise InvalidInput.one(
            "history",
            f"event {event.seq} does not follow event {state.seq} of {state.delegation_id}",
        )
    if event.prev_hash != state.last_hash or event.hash != event.content_hash():
        raise InvalidInput.one("history", f"event {event.seq} breaks the hash chain")
    to = check_allowed(state, event.kind, event.side)
    if event.kind in (EventKind.ROUTED, EventKind.REROUTED) and not event.court_id:
        raise InvalidInput.one("history", f"event {event.seq} routes to no court")
    times = dict(state.step_times)
    if key := _STEP_TIME.get(event.kind):
        times["closed" if to.closed else key] = event.at
    times["updated"] = event.at
    entrusted = state.entrusted_court
    cycle = state.cycle
    if event.kind in (EventKind.ROUTED, EventKind.REROUTED):
        entrusted = event.court_id
        cycle += 1
    return replace(
        state,
        status=to,
        seq=event.seq,
        last_hash=event.hash,
        entrusted_court=entrusted,
        cycle=cycle,
        result=event.result or state.result,
        step_times=times,
    )


def fold(
    delegation_id: str,
    requesting_court: str,
    history: Iterable[Event],
    *,
    assistance: bool = False,
) -> DelegationState:
    """The state a whole history leads to; raises on the first event that does not fit."""
    events = iter(history)
    first = next(events, None)
    if first is None:
        raise InvalidInput.one("history", "a delegation has at least one event")
    state = start(first, requesting_court, delegation_id, assistance=assistance)
    for event in events:
        state = apply(state, event)
    return state


def verify_chain(history: Iterable[Event]) -> int | None:
    """The seq of the first event whose link or hash is wrong, or None if the chain holds."""
    prev = ""
    expected = 1
    for event in history:
        if event.seq != expected or event.prev_hash != prev or event.hash != event.content_hash():
            return event.seq
        prev = event.hash
        expected += 1
    return None
