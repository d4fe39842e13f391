"""The delegation lifecycle: who may do what in which state, and the hash-chained history.

The table below is written out by hand from the lifecycle's docstring and DESIGN.md, on purpose not
derived from ``RULES``: a change to the rules must show up here as a failing test and a deliberate
edit of this table.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import hypothesis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jiaodong.domain.errors import IllegalTransition, InvalidInput, NotAllowed
from jiaodong.domain.lifecycle import (
    DelegationState,
    Document,
    Event,
    EventKind,
    Side,
    Status,
    apply,
    canonical_time,
    check_allowed,
    fold,
    start,
    verify_chain,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday morning; never the wall clock
DELEGATION = "D-2026-000001"
SHINAN = "370202"  # Qingdao, the requesting court
ZHIFU = "370602"  # Yantai, the first entrusted court
FUSHAN = "370611"  # Yantai, where a reroute sends it

REQ, ENT, COORD = Side.REQUESTING, Side.ENTRUSTED, Side.COORDINATOR
S = Status
K = EventKind

# kind -> (the sides that may cause it, {status before: status after})
EXPECTED: dict[EventKind, tuple[frozenset[Side], dict[Status, Status]]] = {
    K.ROUTED: (frozenset({COORD}), {S.CREATED: S.ROUTED}),
    K.ROUTING_FAILED: (frozenset({COORD}), {S.CREATED: S.ROUTING_FAILED}),
    K.DELIVERED: (frozenset({ENT}), {S.ROUTED: S.DELIVERED}),
    K.ACKNOWLEDGED: (frozenset({ENT}), {S.DELIVERED: S.ACKNOWLEDGED}),
    K.ACCEPTED: (frozenset({ENT}), {S.ACKNOWLEDGED: S.ACCEPTED}),
    K.RETURNED: (
        frozenset({ENT}),
        {S.ACKNOWLEDGED: S.RETURNED, S.ACCEPTED: S.RETURNED},
    ),
    K.SUPPLEMENTED: (
        frozenset({REQ}),
        {
            S.RETURNED: S.ACKNOWLEDGED,
            S.DELIVERED: S.DELIVERED,
            S.ACKNOWLEDGED: S.ACKNOWLEDGED,
            S.ACCEPTED: S.ACCEPTED,
        },
    ),
    K.PROGRESS_REPORTED: (frozenset({ENT}), {S.ACCEPTED: S.ACCEPTED}),
    K.COMPLETED: (frozenset({ENT}), {S.ACCEPTED: S.COMPLETED}),
    K.CONFIRMED: (frozenset({REQ}), {S.COMPLETED: S.CONFIRMED}),
    K.CANCELLED: (
        frozenset({REQ}),
        {
            S.ROUTED: S.CANCELLED,
            S.DELIVERED: S.CANCELLED,
            S.ACKNOWLEDGED: S.CANCELLED,
            S.RETURNED: S.CANCELLED,
            S.ACCEPTED: S.CANCELLED,
        },
    ),
    K.URGED: (
        frozenset({REQ, COORD}),
        {
            S.ROUTED: S.ROUTED,
            S.DELIVERED: S.DELIVERED,
            S.ACKNOWLEDGED: S.ACKNOWLEDGED,
            S.ACCEPTED: S.ACCEPTED,
        },
    ),
    K.ESCALATED: (
        frozenset({COORD}),
        {
            S.ROUTED: S.ROUTED,
            S.DELIVERED: S.DELIVERED,
            S.ACKNOWLEDGED: S.ACKNOWLEDGED,
            S.ACCEPTED: S.ACCEPTED,
            S.RETURNED: S.RETURNED,
            S.COMPLETED: S.COMPLETED,
        },
    ),
    K.REROUTED: (
        frozenset({COORD}),
        {
            S.ROUTED: S.ROUTED,
            S.DELIVERED: S.ROUTED,
            S.ACKNOWLEDGED: S.ROUTED,
            S.RETURNED: S.ROUTED,
        },
    ),
    # SLA records change no status.
    K.SLA_WARNING: (
        frozenset({COORD}),
        {
            S.ROUTED: S.ROUTED,
            S.DELIVERED: S.DELIVERED,
            S.ACKNOWLEDGED: S.ACKNOWLEDGED,
            S.ACCEPTED: S.ACCEPTED,
            S.RETURNED: S.RETURNED,
            S.COMPLETED: S.COMPLETED,
        },
    ),
    K.SLA_BREACHED: (
        frozenset({COORD}),
        {
            S.ROUTED: S.ROUTED,
            S.DELIVERED: S.DELIVERED,
            S.ACKNOWLEDGED: S.ACKNOWLEDGED,
            S.ACCEPTED: S.ACCEPTED,
            S.RETURNED: S.RETURNED,
            S.COMPLETED: S.COMPLETED,
        },
    ),
    K.WITHDRAWN: (frozenset({COORD}), {S.RETURNED: S.CANCELLED}),
}

# The words a clerk reads in "cannot <word> a delegation that is <STATE>".
ACTION_WORDS: dict[EventKind, str] = {
    K.CREATED: "create",
    K.ROUTED: "route",
    K.ROUTING_FAILED: "refuse routing of",
    K.DELIVERED: "deliver",
    K.ACKNOWLEDGED: "acknowledge",
    K.ACCEPTED: "accept",
    K.RETURNED: "return",
    K.SUPPLEMENTED: "supplement",
    K.PROGRESS_REPORTED: "report progress on",
    K.COMPLETED: "complete",
    K.CONFIRMED: "confirm",
    K.CANCELLED: "cancel",
    K.URGED: "urge",
    K.ESCALATED: "escalate",
    K.REROUTED: "reroute",
    K.SLA_WARNING: "warn about a time limit of",
    K.SLA_BREACHED: "record a missed time limit of",
    K.WITHDRAWN: "withdraw",
    K.PLAN_PROPOSED: "propose a plan for",
    K.SUPPORT_CONFIRMED: "confirm support for",
    K.PLAN_ACCEPTED: "accept the plan of",
    K.MOVE_ASKED: "ask to move",
    K.REFUSED: "refuse",
    K.OUTCOME_RECORDED: "record the outcome of",
}

# Steps of on-site assistance only (tests/unit/test_assistance.py walks its table).
ASSIST_ONLY = (
    K.PLAN_PROPOSED,
    K.SUPPORT_CONFIRMED,
    K.PLAN_ACCEPTED,
    K.MOVE_ASKED,
    K.REFUSED,
    K.OUTCOME_RECORDED,
)
STEP_KINDS = [k for k in EventKind if k is not K.CREATED and k not in ASSIST_ONLY]
CLOSED_STATES = (S.CONFIRMED, S.CANCELLED, S.ROUTING_FAILED, S.REFUSED)
OPEN_STATES = tuple(s for s in Status if s not in CLOSED_STATES)


def state_in(status: Status) -> DelegationState:
    """A delegation standing in ``status`` (only the status matters to check_allowed)."""
    entrusted = "" if status in (S.CREATED, S.ROUTING_FAILED) else ZHIFU
    return DelegationState(DELEGATION, SHINAN, entrusted_court=entrusted, status=status, seq=5)


def test_the_table_covers_every_step_kind() -> None:
    assert set(EXPECTED) == set(STEP_KINDS)
    assert set(ACTION_WORDS) == set(EventKind)


@pytest.mark.parametrize("kind", ASSIST_ONLY, ids=lambda k: k.value)
def test_an_assistance_step_is_never_a_step_of_a_delegation(kind: EventKind) -> None:
    for status in Status:
        for side in Side:
            with pytest.raises(IllegalTransition, match="not a step of a delegation"):
                check_allowed(state_in(status), kind, side)


# --- check_allowed: every (status, kind, side) ----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "side"),
    list(itertools.product(Status, STEP_KINDS, Side)),
    ids=lambda v: v.value,
)
def test_check_allowed(status: Status, kind: EventKind, side: Side) -> None:
    sides, moves = EXPECTED[kind]
    state = state_in(status)
    word = ACTION_WORDS[kind]
    if side not in sides:
        with pytest.raises(NotAllowed) as refused:
            check_allowed(state, kind, side)
        assert f"may {word} a delegation, not the {side.value.lower()}" in str(refused.value)
    elif status not in moves:
        with pytest.raises(IllegalTransition) as illegal:
            check_allowed(state, kind, side)
        assert str(illegal.value).startswith(f"cannot {word} a delegation that is {status.value}")
        assert illegal.value.state == status.value
        assert illegal.value.action == word
    else:
        assert check_allowed(state, kind, side) is moves[status]


def test_illegal_transition_message_reads_like_a_sentence() -> None:
    with pytest.raises(IllegalTransition) as illegal:
        check_allowed(state_in(S.RETURNED), K.ACKNOWLEDGED, ENT)
    assert str(illegal.value) == (
        "cannot acknowledge a delegation that is RETURNED: "
        "allowed only when the delegation is DELIVERED"
    )


def test_not_allowed_message_names_who_may() -> None:
    with pytest.raises(NotAllowed) as refused:
        check_allowed(state_in(S.ACCEPTED), K.URGED, ENT)
    assert str(refused.value) == (
        "only the coordinator, requesting side may urge a delegation, not the entrusted"
    )


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.value)
@pytest.mark.parametrize("side", list(Side), ids=lambda s: s.value)
def test_created_is_never_a_step_of_a_running_delegation(status: Status, side: Side) -> None:
    with pytest.raises(IllegalTransition, match=f"cannot create a delegation that is {status}"):
        check_allowed(state_in(status), K.CREATED, side)


# --- closed states and the writer -----------------------------------------------------------------


@pytest.mark.parametrize("status", CLOSED_STATES, ids=lambda s: s.value)
def test_closed_states_accept_nothing(status: Status) -> None:
    state = state_in(status)
    assert status.closed
    for kind, side in itertools.product(EventKind, Side):
        with pytest.raises((IllegalTransition, NotAllowed)):
            check_allowed(state, kind, side)
    assert state.writer is None
    assert state.writer_court() is None


def test_open_states_are_not_closed() -> None:
    assert [s for s in Status if s.closed] == list(CLOSED_STATES)


@pytest.mark.parametrize("status", [S.CREATED, S.ROUTED], ids=str)
def test_coordinator_writes_until_delivery(status: Status) -> None:
    state = state_in(status)
    assert state.writer is COORD
    assert state.writer_court() is None


@pytest.mark.parametrize(
    "status", [s for s in OPEN_STATES if s not in (S.CREATED, S.ROUTED)], ids=str
)
def test_entrusted_court_writes_once_delivered(status: Status) -> None:
    state = state_in(status)
    assert state.writer is ENT
    assert state.writer_court() == ZHIFU


def test_side_of_a_court() -> None:
    state = state_in(S.ACCEPTED)
    assert state.side_of(SHINAN) is REQ
    assert state.side_of(ZHIFU) is ENT
    assert state.side_of("370611") is None


# --- histories ------------------------------------------------------------------------------------


class History:
    """Builds a sealed history the way the nodes do: each event linked to the previous hash."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, kind: EventKind, side: Side, actor: str, minutes: int, **fields: object) -> Event:
        seq = len(self.events) + 1
        prev = self.events[-1].hash if self.events else ""
        event = Event(
            event_id=f"{DELEGATION}-{seq}",
            seq=seq,
            kind=kind,
            side=side,
            actor_court=actor,
            at=T0 + timedelta(minutes=minutes),
            **fields,  # type: ignore[arg-type]
        ).sealed(prev)
        self.events.append(event)
        return event

    def state(self) -> DelegationState:
        return fold(DELEGATION, SHINAN, self.events)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


RESULT_DOC = Document("扣押笔录.pdf", "application/pdf", 20480, "a" * 64)


def delivered_and_acknowledged() -> History:
    history = History()
    history.add(K.CREATED, REQ, SHINAN, 0, text="扣押车辆鲁F12345")
    history.add(K.ROUTED, COORD, "", 1, court_id=ZHIFU)
    history.add(K.DELIVERED, ENT, ZHIFU, 2)
    history.add(K.ACKNOWLEDGED, ENT, ZHIFU, 60)
    return history


def test_a_vehicle_seizure_from_creation_to_confirmation() -> None:
    history = delivered_and_acknowledged()
    history.add(K.URGED, REQ, SHINAN, 90, text="请尽快办理")
    history.add(K.ACCEPTED, ENT, ZHIFU, 120)
    history.add(K.PROGRESS_REPORTED, ENT, ZHIFU, 600, text="已联系车管所")
    history.add(K.COMPLETED, ENT, ZHIFU, 1440, result="DONE", documents=(RESULT_DOC,))
    history.add(K.CONFIRMED, REQ, SHINAN, 1500)

    state = history.state()

    assert state.status is S.CONFIRMED
    assert state.seq == 9
    assert state.last_hash == history.events[-1].hash
    assert state.entrusted_court == ZHIFU
    assert state.cycle == 1
    assert state.result == "DONE"
    assert state.writer is None
    assert state.step_times == {
        "created": at(0),
        "routed": at(1),
        "delivered": at(2),
        "acknowledged": at(60),
        "accepted": at(120),
        "completed": at(1440),
        "closed": at(1500),
        "updated": at(1500),
    }
    assert verify_chain(history.events) is None


def test_each_prefix_of_the_history_gives_its_own_state() -> None:
    history = delivered_and_acknowledged()
    expected = [S.CREATED, S.ROUTED, S.DELIVERED, S.ACKNOWLEDGED]
    for length, status in enumerate(expected, start=1):
        state = fold(DELEGATION, SHINAN, history.events[:length])
        assert (state.seq, state.status) == (length, status)


def test_returned_for_missing_materials_then_supplemented() -> None:
    history = delivered_and_acknowledged()
    history.add(K.RETURNED, ENT, ZHIFU, 120, return_reason="MATERIALS_INCOMPLETE")
    assert history.state().status is S.RETURNED
    assert history.state().step_times["returned"] == at(120)

    history.add(K.SUPPLEMENTED, REQ, SHINAN, 300, documents=(RESULT_DOC,))
    state = history.state()
    assert state.status is S.ACKNOWLEDGED
    assert state.writer_court() == ZHIFU
    # Supplementing resumes the handling; it is not a new acknowledgement of receipt.
    assert state.step_times["acknowledged"] == at(60)
    assert state.step_times["updated"] == at(300)


def test_routed_and_rerouted_set_the_entrusted_court_and_count_cycles() -> None:
    history = delivered_and_acknowledged()
    state = history.state()
    assert (state.entrusted_court, state.cycle) == (ZHIFU, 1)

    history.add(K.RETURNED, ENT, ZHIFU, 120, return_reason="NOT_OUR_JURISDICTION")
    history.add(K.REROUTED, COORD, "", 130, court_id=FUSHAN, text="福山区管辖")
    state = history.state()
    assert state.status is S.ROUTED
    assert (state.entrusted_court, state.cycle) == (FUSHAN, 2)
    assert state.writer is COORD  # the coordinator owns it again until the new court's receipt
    assert state.step_times["routed"] == at(130)

    history.add(K.DELIVERED, ENT, FUSHAN, 131)
    history.add(K.ACKNOWLEDGED, ENT, FUSHAN, 200)
    state = history.state()
    assert (state.status, state.entrusted_court, state.cycle) == (S.ACKNOWLEDGED, FUSHAN, 2)
    assert state.step_times["acknowledged"] == at(200)


def test_cancelled_records_the_closing_time() -> None:
    history = delivered_and_acknowledged()
    history.add(K.CANCELLED, REQ, SHINAN, 70, text="已自动履行")
    state = history.state()
    assert state.status is S.CANCELLED
    assert state.step_times["closed"] == at(70)
    assert "accepted" not in state.step_times
    assert state.writer is None


def test_routing_failure_closes_without_an_entrusted_court() -> None:
    history = History()
    history.add(K.CREATED, REQ, SHINAN, 0)
    history.add(K.ROUTING_FAILED, COORD, "", 1, text="no court serves that district")
    state = history.state()
    assert state.status is S.ROUTING_FAILED
    assert (state.entrusted_court, state.cycle) == ("", 0)
    assert state.step_times["closed"] == at(1)
    assert state.writer is None


def test_start_gives_the_created_state() -> None:
    history = History()
    first = history.add(K.CREATED, REQ, SHINAN, 0)
    state = start(first, SHINAN, DELEGATION)
    assert state == DelegationState(
        delegation_id=DELEGATION,
        requesting_court=SHINAN,
        status=S.CREATED,
        seq=1,
        last_hash=first.hash,
        step_times={"created": at(0), "updated": at(0)},
    )
    assert state.writer is COORD


# --- histories that do not fit --------------------------------------------------------------------


def refusal(state: DelegationState, event: Event) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        apply(state, event)
    return refused.value


def next_event(state: DelegationState, kind: EventKind, side: Side, **fields: object) -> Event:
    return Event(
        event_id=f"{DELEGATION}-{state.seq + 1}",
        seq=state.seq + 1,
        kind=kind,
        side=side,
        actor_court=ZHIFU,
        at=at(500),
        **fields,  # type: ignore[arg-type]
    ).sealed(state.last_hash)


def test_apply_refuses_a_gap_in_seq() -> None:
    state = delivered_and_acknowledged().state()
    event = replace(next_event(state, K.ACCEPTED, ENT), seq=6).sealed(state.last_hash)
    error = refusal(state, event)
    assert [v.field for v in error.violations] == ["history"]
    assert str(error) == f"history: event 6 does not follow event 4 of {DELEGATION}"


def test_apply_refuses_an_event_seen_before() -> None:
    history = delivered_and_acknowledged()
    state = history.state()
    error = refusal(state, history.events[-1])
    assert str(error) == f"history: event 4 does not follow event 4 of {DELEGATION}"


def test_apply_refuses_a_wrong_prev_hash() -> None:
    state = delivered_and_acknowledged().state()
    event = next_event(state, K.ACCEPTED, ENT).sealed("0" * 64)
    assert str(refusal(state, event)) == "history: event 5 breaks the hash chain"


def test_apply_refuses_a_tampered_event() -> None:
    state = delivered_and_acknowledged().state()
    sealed = next_event(state, K.COMPLETED, ENT, result="DONE")
    for tampered in (
        replace(sealed, result="NOT_POSSIBLE"),
        replace(sealed, actor_court="370611"),
        replace(sealed, at=at(501)),
        replace(sealed, hash="f" * 64),
    ):
        assert str(refusal(state, tampered)) == "history: event 5 breaks the hash chain"


def test_apply_refuses_an_illegal_step_and_names_it() -> None:
    state = delivered_and_acknowledged().state()
    with pytest.raises(
        IllegalTransition, match="cannot complete a delegation that is ACKNOWLEDGED"
    ):
        apply(state, next_event(state, K.COMPLETED, ENT, result="DONE"))
    with pytest.raises(NotAllowed, match="not the entrusted"):
        apply(state, next_event(state, K.CANCELLED, ENT))


def test_fold_refuses_an_empty_history() -> None:
    with pytest.raises(InvalidInput, match="a delegation has at least one event"):
        fold(DELEGATION, SHINAN, [])


def test_fold_refuses_a_history_not_starting_with_created() -> None:
    history = delivered_and_acknowledged()
    with pytest.raises(InvalidInput, match="must start with event 1, CREATED"):
        fold(DELEGATION, SHINAN, history.events[1:])


def test_fold_refuses_a_tampered_first_event() -> None:
    history = delivered_and_acknowledged()
    events = [replace(history.events[0], text="altered"), *history.events[1:]]
    with pytest.raises(InvalidInput, match=r"history\[1\]: event 1 has a wrong hash"):
        fold(DELEGATION, SHINAN, events)
    events = [history.events[0].sealed("0" * 64), *history.events[1:]]
    with pytest.raises(InvalidInput, match="event 1 has a wrong hash"):
        fold(DELEGATION, SHINAN, events)


def test_fold_stops_at_the_first_event_that_does_not_fit() -> None:
    history = delivered_and_acknowledged()
    events = list(history.events)
    events[2] = replace(events[2], actor_court="370611")
    with pytest.raises(InvalidInput, match="event 3 breaks the hash chain"):
        fold(DELEGATION, SHINAN, events)


# --- verify_chain ---------------------------------------------------------------------------------


def test_verify_chain_holds_for_a_sealed_history() -> None:
    assert verify_chain(delivered_and_acknowledged().events) is None


def test_verify_chain_names_the_altered_event() -> None:
    events = delivered_and_acknowledged().events
    events[2] = replace(events[2], at=at(3))
    assert verify_chain(events) == 3


def test_verify_chain_resealing_an_altered_event_breaks_the_next_link() -> None:
    events = delivered_and_acknowledged().events
    events[1] = replace(events[1], court_id=FUSHAN).sealed(events[0].hash)
    assert verify_chain(events) == 3


def test_verify_chain_notices_a_removed_event() -> None:
    events = delivered_and_acknowledged().events
    del events[1]
    assert verify_chain(events) == 3


def test_verify_chain_notices_a_swapped_pair() -> None:
    events = delivered_and_acknowledged().events
    events[2], events[3] = events[3], events[2]
    assert verify_chain(events) == 4


def test_verify_chain_notices_an_altered_last_event() -> None:
    events = delivered_and_acknowledged().events
    events[-1] = replace(events[-1], text="签收人: 李四")
    assert verify_chain(events) == 4


# --- the hash's canonical time -------------------------------------------------------------------

PLUS8 = timezone(timedelta(hours=8))


def hashed_pair(when: datetime) -> tuple[Event, Event]:
    """Two events sealed in a chain, the first at ``when`` (its microseconds kept)."""
    first = Event(
        "E-1",
        1,
        K.CREATED,
        REQ,
        SHINAN,
        when,
        text="委托查封",
        documents=(Document("a.pdf", "application/pdf", 10, "0" * 64),),
        request_id="r-1",
    ).sealed("")
    second = Event("E-2", 2, K.ROUTED, COORD, "", T0, court_id=ZHIFU).sealed(first.hash)
    return first, second


def test_hashes_of_utc_events_are_the_ones_sealed_before_the_canonical_form() -> None:
    """Literal hashes computed with the code before the change (``at.isoformat()``): chains
    already stored with UTC times must keep verifying."""
    first, second = hashed_pair(datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC))
    assert first.hash == "3d76977c842d79c6aef3adec42e751831f37fa05641aa92f792a3128b67882c9"
    assert second.hash == "8acc02d7485965a2d5aefda4777b29582e2f0da7c209234fe8792d6bc0e06444"


@pytest.mark.parametrize(
    "tz", [PLUS8, ZoneInfo("Asia/Shanghai"), ZoneInfo("UTC"), timezone(timedelta(0))], ids=str
)
def test_the_same_instant_with_any_offset_seals_to_the_same_hash(tz: tzinfo) -> None:
    instant = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
    local = instant.astimezone(tz)
    assert local.utcoffset() is not None
    assert hashed_pair(local)[0].hash == hashed_pair(instant)[0].hash


def test_an_event_sealed_at_plus_8_verifies_after_a_receiver_reads_it_back_in_utc() -> None:
    """What the coordinator does with a node's event: decode the time in UTC, check the hash."""
    event = hashed_pair(datetime(2026, 3, 2, 17, 30, tzinfo=PLUS8))[0]
    read_back = replace(event, at=event.at.astimezone(UTC))
    assert read_back.content_hash() == event.hash
    assert start(read_back, SHINAN, DELEGATION).last_hash == event.hash


def test_canonical_time_is_utc_with_microseconds_in_one_form() -> None:
    assert canonical_time(datetime(2026, 3, 2, 9, tzinfo=PLUS8)) == (
        "2026-03-02T01:00:00.000000+00:00"
    )
    assert canonical_time(datetime(2026, 3, 2, 1, 0, 0, 5, tzinfo=UTC)) == (
        "2026-03-02T01:00:00.000005+00:00"
    )


def test_a_naive_event_time_is_refused_not_hashed() -> None:
    naive = datetime(2026, 3, 2, 9)
    with pytest.raises(ValueError, match="timezone-aware"):
        Event("E-1", 1, K.CREATED, REQ, SHINAN, naive).sealed("")
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical_time(naive)


# --- properties -----------------------------------------------------------------------------------


def build_event(state: DelegationState, kind: EventKind, side: Side, minutes: int) -> Event:
    """The next event of ``state``, sealed onto its last hash; routing names a Yantai court."""
    court = {REQ: SHINAN, ENT: state.entrusted_court, COORD: ""}[side]
    target = FUSHAN if state.cycle % 2 else ZHIFU
    return Event(
        event_id=f"{DELEGATION}-{state.seq + 1}",
        seq=state.seq + 1,
        kind=kind,
        side=side,
        actor_court=court,
        at=at(minutes),
        court_id=target if kind in (K.ROUTED, K.REROUTED) else "",
        result="DONE" if kind is K.COMPLETED else "",
    ).sealed(state.last_hash)


def created() -> tuple[DelegationState, list[Event]]:
    history = History()
    history.add(K.CREATED, REQ, SHINAN, 0)
    return history.state(), history.events


def with_a_side(kind: EventKind) -> st.SearchStrategy[tuple[EventKind, Side]]:
    """``kind`` with any side, half the time one of the sides that may cause it."""
    permitted = st.sampled_from(sorted(EXPECTED[kind][0]))
    return st.tuples(st.just(kind), st.one_of(permitted, st.sampled_from(list(Side))))


steps = st.lists(st.sampled_from(STEP_KINDS).flatmap(with_a_side), min_size=20, max_size=80)


@settings(max_examples=200)
@given(steps)
def test_random_steps_follow_the_table_and_never_reopen(
    pairs: list[tuple[EventKind, Side]],
) -> None:
    state, events = created()
    for minutes, (kind, side) in enumerate(pairs, start=1):
        try:
            to = check_allowed(state, kind, side)
        except (IllegalTransition, NotAllowed):
            sides, moves = EXPECTED[kind]
            assert side not in sides or state.status not in moves
            continue
        assert not state.status.closed, f"{kind} by {side} was allowed on a closed delegation"
        assert to is EXPECTED[kind][1][state.status]
        event = build_event(state, kind, side, minutes)
        after = apply(state, event)
        assert after.seq == state.seq + 1
        assert after.status is to
        assert after.last_hash == event.hash
        events.append(event)
        state = after
    hypothesis.event(f"ended {state.status.value}")
    assert verify_chain(events) is None
    assert fold(DELEGATION, SHINAN, events) == state


@settings(max_examples=300)
@given(st.data())
def test_walks_through_allowed_steps_keep_a_valid_chain(data: st.DataObject) -> None:
    state, events = created()
    closed_at: int | None = None
    for minutes in range(1, data.draw(st.integers(1, 40), label="length") + 1):
        allowed = [
            (kind, side)
            for kind, (sides, moves) in EXPECTED.items()
            for side in sorted(sides)
            if state.status in moves
        ]
        if not allowed:
            assert state.status.closed
            closed_at = closed_at or state.seq
            for kind, side in itertools.product(STEP_KINDS, Side):
                with pytest.raises((IllegalTransition, NotAllowed)):
                    check_allowed(state, kind, side)
            continue
        kind, side = data.draw(st.sampled_from(allowed), label="step")
        event = build_event(state, kind, side, minutes)
        after = apply(state, event)
        assert after.seq == state.seq + 1
        assert after.step_times["updated"] == event.at
        if kind in (K.ROUTED, K.REROUTED):
            assert after.entrusted_court == event.court_id
            assert after.cycle == state.cycle + 1
        else:
            assert (after.entrusted_court, after.cycle) == (state.entrusted_court, state.cycle)
        events.append(event)
        state = after
    hypothesis.event(f"ended {state.status.value}")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert verify_chain(events) is None
    assert fold(DELEGATION, SHINAN, events) == state
    if closed_at is not None:
        assert state.seq == closed_at


@given(st.data())
def test_verify_chain_finds_any_altered_event(data: st.DataObject) -> None:
    events = delivered_and_acknowledged().events
    events.append(build_event(fold(DELEGATION, SHINAN, events), K.ACCEPTED, ENT, 100))
    index = data.draw(st.integers(0, len(events) - 1), label="index")
    text = data.draw(st.text(max_size=20).filter(lambda t: t != events[index].text), label="text")
    events[index] = replace(events[index], text=text)
    assert verify_chain(events) == index + 1
