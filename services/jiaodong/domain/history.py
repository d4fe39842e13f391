"""Growing a delegation's history: which side asks for which step, what a step must carry, sealing
the next event, and merging events that another side sent (the single-writer rule).

Pure: the unit of work reads the stored state and hashes, these functions decide, the unit of work
writes what they return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from jiaodong.domain import assistance as assist
from jiaodong.domain.controls import term_violations
from jiaodong.domain.delegation import check_documents, check_request_id, check_text
from jiaodong.domain.errors import (
    FieldViolation,
    HistoryConflict,
    InvalidInput,
    NotAllowed,
)
from jiaodong.domain.lifecycle import (
    ControlTerm,
    DelegationState,
    Document,
    Event,
    EventKind,
    Side,
    Status,
    action_word,
    apply,
    check_allowed,
)

# The steps a court takes itself on its own node, by side. The entrusted court writes its steps
# into the history directly; the requesting court's wishes travel as requests to the writer.
STEPS_OF: Mapping[Side, frozenset[EventKind]] = {
    Side.ENTRUSTED: frozenset(
        {
            EventKind.ACKNOWLEDGED,
            EventKind.ACCEPTED,
            EventKind.RETURNED,
            EventKind.PROGRESS_REPORTED,
            EventKind.COMPLETED,
        }
    ),
    Side.REQUESTING: frozenset(
        {EventKind.SUPPLEMENTED, EventKind.CONFIRMED, EventKind.CANCELLED, EventKind.URGED}
    ),
    # A command centre's urge (催办) is the one the SLA engine sends at a deadline, on demand.
    Side.COORDINATOR: frozenset({EventKind.URGED, EventKind.ESCALATED, EventKind.REROUTED}),
}

# Steps that must say something: a return, a report, a result, a supplement, a withdrawal by the
# requesting court, and every operator's intervention.
TEXT_REQUIRED = frozenset(
    {
        EventKind.RETURNED,
        EventKind.PROGRESS_REPORTED,
        EventKind.COMPLETED,
        EventKind.SUPPLEMENTED,
        EventKind.CANCELLED,
        EventKind.ESCALATED,
        EventKind.REROUTED,
    }
)


class RequestState(StrEnum):
    """Where a request sent to the writer stands."""

    PENDING = "pending"
    APPLIED = "applied"
    REFUSED = "refused"


def settle(current: RequestState, *, applied: bool) -> RequestState:
    """A request's state after the writer's answer. An applied request stays applied: a refusal
    of a re-sent copy can never undo what the history already holds."""
    if current is RequestState.APPLIED:
        return current
    return RequestState.APPLIED if applied else RequestState.REFUSED


def step_violations(
    kind: EventKind,
    side: Side,
    *,
    request_id: str | None = None,
    text: str = "",
    documents: Sequence[Document] = (),
    return_reason: str = "",
    result: str = "",
    court_id: str = "",
    controls: Sequence[ControlTerm] = (),
    assistance: bool = False,
) -> list[FieldViolation]:
    """What is wrong with the fields of a step of ``kind`` taken by ``side`` (empty: nothing).
    ``request_id`` is checked when the step travels as a request (None: a writer's own step).
    An assistance request has its own steps (domain/assistance.py)."""
    steps, needs_text = (
        (assist.STEPS_OF, assist.TEXT_REQUIRED) if assistance else (STEPS_OF, TEXT_REQUIRED)
    )
    if kind not in steps[side]:
        what = "request for assistance" if assistance else "delegation"
        raise NotAllowed(f"the {side.value.lower()} side cannot {action_word(kind)} a {what}")
    out: list[FieldViolation] = []
    if request_id is not None:
        check_request_id(out, "request_id", request_id)
    check_text(out, "text", text, required=kind in needs_text)
    check_documents(out, "documents", tuple(documents))
    if kind is EventKind.RETURNED and not return_reason:
        out.append(FieldViolation("reason", "is required"))
    if kind is EventKind.COMPLETED and not result:
        out.append(FieldViolation("result", "is required"))
    if kind is EventKind.REROUTED and not court_id:
        out.append(FieldViolation("court_id", "is required"))
    out += term_violations(tuple(controls), kind)
    return out


def check_before_delivery(
    state: DelegationState, waiting: Sequence[EventKind], kind: EventKind
) -> None:
    """An entrusted court's step on an offer its node holds, before the coordinator has recorded
    the delivery (the receipt's round trip): allowed if it would be once DELIVERED and the steps
    already waiting are applied. Raises NotAllowed / IllegalTransition otherwise."""
    if state.status is not Status.ROUTED:
        raise NotAllowed("only an offer not yet recorded as delivered takes a waiting step")
    status = check_allowed(state, EventKind.DELIVERED, Side.ENTRUSTED)
    for earlier in waiting:
        status = check_allowed(replace(state, status=status), earlier, Side.ENTRUSTED)
    check_allowed(replace(state, status=status), kind, Side.ENTRUSTED)


def seal_first(event: Event) -> Event:
    """Event 1 of a new history (CREATED): numbered 1, linked to nothing."""
    return replace(event, seq=1).sealed("")


def seal_next(state: DelegationState, event: Event) -> Event:
    """Number ``event`` after ``state`` and link it to the last hash."""
    return replace(event, seq=state.seq + 1).sealed(state.last_hash)


@dataclass(frozen=True)
class Merged:
    """What merging another side's events gives: the new state and the events to append."""

    state: DelegationState
    new: list[Event]


def merge(
    state: DelegationState,
    known: Mapping[int, str],
    incoming: Sequence[Event],
    *,
    sender: str | None,
) -> Merged:
    """Merge ``incoming`` (a run of events from another side) into the history that ``state``
    folds, where ``known`` holds the hashes of the stored events that ``incoming`` overlaps.

    Events already held must be byte-identical (same hash): a difference is a broken single-writer
    rule and raises HistoryConflict. Every new event must have been ``sender``'s to write (the
    court whose node sent them; None when the coordinator sent them, which relays any writer's
    events) and must follow by the state machine."""
    new: list[Event] = []
    for event in incoming:
        if event.seq <= state.seq:
            if known.get(event.seq) != event.hash:
                raise HistoryConflict(
                    f"delegation {state.delegation_id}: event {event.seq} differs from the one "
                    "stored here"
                )
            continue
        if sender is not None and state.writer_court() != sender:
            raise InvalidInput.one(
                "sync", f"court {sender} may not write event {event.seq} of {state.delegation_id}"
            )
        state = apply(state, event)
        new.append(event)
    return Merged(state, new)
