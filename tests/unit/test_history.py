"""Growing a delegation's history: who takes which step, what a step carries, sealing, merging.

The side table and the text-required set are written out by hand on purpose (not derived from
``STEPS_OF`` or ``TEXT_REQUIRED``): a change to the rules must show up as a failing test here.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from jiaodong.domain.delegation import MAX_TEXT, check_request_id
from jiaodong.domain.errors import (
    FieldViolation,
    HistoryConflict,
    IllegalTransition,
    InvalidInput,
    NotAllowed,
)
from jiaodong.domain.history import (
    STEPS_OF,
    Merged,
    RequestState,
    merge,
    seal_first,
    seal_next,
    settle,
    step_violations,
)
from jiaodong.domain.lifecycle import (
    DelegationState,
    Document,
    Event,
    EventKind,
    Side,
    Status,
    apply,
    fold,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday morning; never the wall clock
DELEGATION = "D-2026-000001"
SHINAN = "370202"  # Qingdao, the requesting court
ZHIFU = "370602"  # Yantai, the entrusted court
FUSHAN = "370611"  # Yantai, another court

REQ, ENT, COORD = Side.REQUESTING, Side.ENTRUSTED, Side.COORDINATOR
K = EventKind

# Written out by hand: the steps each side takes itself.
EXPECTED_STEPS: dict[Side, set[EventKind]] = {
    ENT: {K.ACKNOWLEDGED, K.ACCEPTED, K.RETURNED, K.PROGRESS_REPORTED, K.COMPLETED},
    REQ: {K.SUPPLEMENTED, K.CONFIRMED, K.CANCELLED, K.URGED},
    COORD: {K.URGED, K.ESCALATED, K.REROUTED},
}
# The one step two sides take: an urge, by the requesting court or by a command centre.
SHARED_STEPS = {K.URGED}
SIDE_OF_STEP: dict[EventKind, Side] = {
    kind: side for side, kinds in EXPECTED_STEPS.items() for kind in kinds
}
TEXT_NEEDED = {
    K.RETURNED,
    K.PROGRESS_REPORTED,
    K.COMPLETED,
    K.SUPPLEMENTED,
    K.CANCELLED,
    K.ESCALATED,
    K.REROUTED,
}
TEXT_OPTIONAL = {K.ACKNOWLEDGED, K.ACCEPTED, K.CONFIRMED, K.URGED}

GOOD_DOC = Document("补充材料.pdf", "application/pdf", 20480, "a" * 64)


def complete(
    kind: EventKind, side: Side, *, text: str, request_id: str | None = None
) -> list[FieldViolation]:
    """step_violations with every field a step may need besides its text (reason, result, court),
    so only the side, the text and the request id are in question."""
    return step_violations(
        kind,
        side,
        request_id=request_id,
        text=text,
        return_reason="OTHER",
        result="DONE",
        court_id=FUSHAN,
    )


def fields_of(violations: list[FieldViolation]) -> list[str]:
    return [v.field for v in violations]


# --- STEPS_OF ---------------------------------------------------------------------------------


def test_steps_of_each_side() -> None:
    assert {side: set(kinds) for side, kinds in STEPS_OF.items()} == EXPECTED_STEPS


def test_no_step_belongs_to_two_sides_but_the_urge() -> None:
    for a, b in itertools.combinations(Side, 2):
        assert STEPS_OF[a] & STEPS_OF[b] <= SHARED_STEPS, (a, b)


@pytest.mark.parametrize(
    ("kind", "side"),
    sorted(
        (kind, side)
        for kind, side in itertools.product(EventKind, Side)
        if kind not in EXPECTED_STEPS[side]
    ),
    ids=lambda v: v.value,
)
def test_a_step_outside_the_side_is_not_allowed(kind: EventKind, side: Side) -> None:
    with pytest.raises(NotAllowed) as refused:
        complete(kind, side, text="x")
    assert f"the {side.value.lower()} side cannot" in str(refused.value)


@pytest.mark.parametrize("kind", sorted(SIDE_OF_STEP), ids=lambda v: v.value)
def test_a_complete_step_of_its_own_side_has_no_violations(kind: EventKind) -> None:
    side = SIDE_OF_STEP[kind]
    assert complete(kind, side, request_id="r-1", text="说明") == []


def test_not_allowed_names_the_action() -> None:
    with pytest.raises(NotAllowed) as refused:
        step_violations(K.COMPLETED, REQ, text="x", result="DONE")
    assert str(refused.value) == "the requesting side cannot complete a delegation"


# --- step_violations: text --------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t "], ids=["empty", "spaces", "whitespace"])
@pytest.mark.parametrize("kind", sorted(TEXT_NEEDED), ids=lambda v: v.value)
def test_text_is_required(kind: EventKind, text: str) -> None:
    violations = complete(kind, SIDE_OF_STEP[kind], text=text)
    assert violations == [FieldViolation("text", "is required")]


@pytest.mark.parametrize("kind", sorted(TEXT_OPTIONAL), ids=lambda v: v.value)
def test_text_is_optional(kind: EventKind) -> None:
    assert step_violations(kind, SIDE_OF_STEP[kind], text="") == []
    assert step_violations(kind, SIDE_OF_STEP[kind], text="   ") == []


def test_text_required_and_optional_cover_every_step() -> None:
    assert set(SIDE_OF_STEP) == TEXT_NEEDED | TEXT_OPTIONAL
    assert not TEXT_NEEDED & TEXT_OPTIONAL


def test_oversize_text_is_reported() -> None:
    violations = step_violations(K.URGED, REQ, text="催" * (MAX_TEXT + 1))
    assert fields_of(violations) == ["text"]
    assert str(MAX_TEXT) in violations[0].description
    assert step_violations(K.URGED, REQ, text="催" * MAX_TEXT) == []


def test_control_characters_in_text_are_reported() -> None:
    violations = step_violations(K.PROGRESS_REPORTED, ENT, text="已联系\x00车管所")
    assert violations == [FieldViolation("text", "contains control characters")]


# --- step_violations: the other required fields -----------------------------------------------


def test_return_needs_a_reason() -> None:
    violations = step_violations(K.RETURNED, ENT, text="材料不全")
    assert violations == [FieldViolation("reason", "is required")]
    assert step_violations(K.RETURNED, ENT, text="材料不全", return_reason="OTHER") == []


def test_completion_needs_a_result() -> None:
    violations = step_violations(K.COMPLETED, ENT, text="已扣押")
    assert violations == [FieldViolation("result", "is required")]
    assert step_violations(K.COMPLETED, ENT, text="已扣押", result="DONE") == []


def test_reroute_needs_a_court() -> None:
    violations = step_violations(K.REROUTED, COORD, text="改派")
    assert violations == [FieldViolation("court_id", "is required")]
    assert step_violations(K.REROUTED, COORD, text="改派", court_id=FUSHAN) == []


def test_reason_result_and_court_are_not_asked_of_other_steps() -> None:
    assert step_violations(K.ACCEPTED, ENT) == []
    assert step_violations(K.ESCALATED, COORD, text="督办") == []
    assert step_violations(K.PROGRESS_REPORTED, ENT, text="进行中") == []


def test_every_violation_is_reported_at_once() -> None:
    violations = step_violations(
        K.RETURNED, ENT, request_id="", text="", documents=(replace(GOOD_DOC, sha256="x"),)
    )
    assert fields_of(violations) == ["request_id", "text", "documents[0].sha256", "reason"]


# --- step_violations: request_id ---------------------------------------------------------------


@pytest.mark.parametrize(
    "request_id",
    ["", "a", "r-1", "req_2026.03:01", "x" * 64, "x" * 65, "has space", "请求", "r\n", "a/b"],
)
def test_request_id_follows_the_delegation_rule(request_id: str) -> None:
    expected: list[FieldViolation] = []
    check_request_id(expected, "request_id", request_id)
    assert step_violations(K.URGED, REQ, request_id=request_id) == expected


@pytest.mark.parametrize("request_id", ["", "has space", "x" * 65, "r\n"])
def test_a_bad_request_id_is_reported(request_id: str) -> None:
    assert fields_of(step_violations(K.URGED, REQ, request_id=request_id)) == ["request_id"]


def test_request_id_is_not_checked_for_a_writers_own_step() -> None:
    assert step_violations(K.ACCEPTED, ENT, request_id=None) == []
    assert step_violations(K.ACCEPTED, ENT) == []


# --- step_violations: documents ----------------------------------------------------------------


def test_good_documents_pass() -> None:
    assert step_violations(K.SUPPLEMENTED, REQ, text="补充", documents=[GOOD_DOC, GOOD_DOC]) == []


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (replace(GOOD_DOC, name=""), "documents[1].name"),
        (replace(GOOD_DOC, media_type="application/x-msdownload"), "documents[1].media_type"),
        (replace(GOOD_DOC, media_type="pdf"), "documents[1].media_type"),
        (replace(GOOD_DOC, size_bytes=0), "documents[1].size_bytes"),
        (replace(GOOD_DOC, sha256="A" * 64), "documents[1].sha256"),
    ],
    ids=["name", "media-type-refused", "media-type-malformed", "size", "sha256"],
)
def test_a_bad_document_is_reported_by_position(document: Document, field: str) -> None:
    violations = step_violations(K.SUPPLEMENTED, REQ, text="补充", documents=[GOOD_DOC, document])
    assert fields_of(violations) == [field]


def test_too_many_documents() -> None:
    violations = step_violations(K.SUPPLEMENTED, REQ, text="补充", documents=[GOOD_DOC] * 51)
    assert fields_of(violations) == ["documents"]


# --- sealing ----------------------------------------------------------------------------------


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(kind: EventKind, side: Side, actor: str, minutes: int, **fields: object) -> Event:
    """An unsealed event: seq, prev_hash and hash are for the sealing functions to set."""
    return Event(
        event_id=f"{DELEGATION}-{kind.value}-{minutes}",
        seq=0,
        kind=kind,
        side=side,
        actor_court=actor,
        at=at(minutes),
        **fields,  # type: ignore[arg-type]
    )


def history_until_acknowledged() -> tuple[DelegationState, list[Event]]:
    """CREATED, ROUTED to Zhifu, DELIVERED, ACKNOWLEDGED: sealed with seal_first / seal_next."""
    first = seal_first(event(K.CREATED, REQ, SHINAN, 0, text="扣押车辆"))
    events = [first]
    state = fold(DELEGATION, SHINAN, events)
    for step in (
        event(K.ROUTED, COORD, "", 1, court_id=ZHIFU),
        event(K.DELIVERED, ENT, ZHIFU, 2),
        event(K.ACKNOWLEDGED, ENT, ZHIFU, 60),
    ):
        sealed = seal_next(state, step)
        state = apply(state, sealed)
        events.append(sealed)
    return state, events


def test_seal_first_numbers_one_and_links_to_nothing() -> None:
    raw = replace(event(K.CREATED, REQ, SHINAN, 0), seq=7, prev_hash="junk", hash="junk")
    first = seal_first(raw)
    assert first.seq == 1
    assert first.prev_hash == ""
    assert first.hash == first.content_hash()
    assert len(first.hash) == 64
    state = fold(DELEGATION, SHINAN, [first])
    assert state.seq == 1
    assert state.last_hash == first.hash


def test_seal_next_numbers_and_links_after_the_state() -> None:
    state, events = history_until_acknowledged()
    raw = replace(event(K.ACCEPTED, ENT, ZHIFU, 120), seq=99, prev_hash="junk", hash="junk")
    sealed = seal_next(state, raw)
    assert sealed.seq == state.seq + 1 == 5
    assert sealed.prev_hash == state.last_hash == events[-1].hash
    assert sealed.hash == sealed.content_hash()
    assert sealed.hash != raw.hash
    # Nothing else changes.
    assert replace(sealed, seq=raw.seq, prev_hash=raw.prev_hash, hash=raw.hash) == raw


def test_an_event_sealed_next_applies() -> None:
    state, _ = history_until_acknowledged()
    after = apply(state, seal_next(state, event(K.ACCEPTED, ENT, ZHIFU, 120)))
    assert after.status is Status.ACCEPTED
    assert after.seq == 5


def test_a_history_sealed_step_by_step_folds_to_the_same_state() -> None:
    state, events = history_until_acknowledged()
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert fold(DELEGATION, SHINAN, events) == state
    assert state.status is Status.ACKNOWLEDGED
    assert state.entrusted_court == ZHIFU


def test_sealing_the_same_event_after_different_states_gives_different_hashes() -> None:
    state, events = history_until_acknowledged()
    earlier = fold(DELEGATION, SHINAN, events[:3])
    step = event(K.URGED, REQ, SHINAN, 70, text="请尽快")
    assert seal_next(state, step).hash != seal_next(earlier, step).hash


# --- merge ------------------------------------------------------------------------------------


def ahead_of(state: DelegationState, *steps: Event) -> list[Event]:
    """``steps`` sealed one after another following ``state``, as the writer's node would."""
    out = []
    for step in steps:
        sealed = seal_next(state, step)
        state = apply(state, sealed)
        out.append(sealed)
    return out


def known_of(events: list[Event]) -> dict[int, str]:
    return {e.seq: e.hash for e in events}


def test_merge_skips_events_already_held() -> None:
    state, events = history_until_acknowledged()
    merged = merge(state, known_of(events), events, sender=ZHIFU)
    assert merged == Merged(state, [])


def test_merge_refuses_a_held_event_that_differs() -> None:
    state, events = history_until_acknowledged()
    other = replace(events[3], text="改过的").sealed(events[2].hash)
    assert other.hash != events[3].hash
    with pytest.raises(HistoryConflict) as conflict:
        merge(state, known_of(events), [*events[:3], other], sender=ZHIFU)
    assert "event 4" in str(conflict.value)
    assert DELEGATION in str(conflict.value)


def test_merge_refuses_a_held_event_whose_hash_is_not_known() -> None:
    state, events = history_until_acknowledged()
    with pytest.raises(HistoryConflict):
        merge(state, {}, events[-1:], sender=ZHIFU)


def test_merge_applies_new_events_in_order_and_returns_them() -> None:
    state, events = history_until_acknowledged()
    new = ahead_of(
        state,
        event(K.ACCEPTED, ENT, ZHIFU, 120),
        event(K.PROGRESS_REPORTED, ENT, ZHIFU, 600, text="已联系车管所"),
        event(K.COMPLETED, ENT, ZHIFU, 1440, text="已扣押", result="DONE"),
    )
    merged = merge(state, known_of(events), [*events[2:], *new], sender=ZHIFU)
    assert merged.new == new
    assert merged.state == fold(DELEGATION, SHINAN, [*events, *new])
    assert merged.state.status is Status.COMPLETED
    assert merged.state.seq == 7
    assert merged.state.last_hash == new[-1].hash
    assert merged.state.result == "DONE"


def test_merge_of_only_new_events() -> None:
    state, _ = history_until_acknowledged()
    new = ahead_of(state, event(K.ACCEPTED, ENT, ZHIFU, 120))
    merged = merge(state, {}, new, sender=ZHIFU)
    assert merged.new == new
    assert merged.state.status is Status.ACCEPTED


def test_merge_refuses_new_events_from_a_court_that_is_not_the_writer() -> None:
    state, events = history_until_acknowledged()
    assert state.writer_court() == ZHIFU
    new = ahead_of(state, event(K.ACCEPTED, ENT, ZHIFU, 120))
    for sender in (SHINAN, FUSHAN):
        with pytest.raises(InvalidInput) as refused:
            merge(state, known_of(events), new, sender=sender)
        assert fields_of(refused.value.violations) == ["sync"]
        assert sender in str(refused.value)


def test_merge_from_a_non_writer_may_still_repeat_what_is_held() -> None:
    state, events = history_until_acknowledged()
    merged = merge(state, known_of(events), events, sender=SHINAN)
    assert merged.new == []
    assert merged.state == state


def test_merge_refuses_a_court_sender_while_the_coordinator_writes() -> None:
    _state, events = history_until_acknowledged()
    routed = fold(DELEGATION, SHINAN, events[:2])  # ROUTED: the coordinator writes
    assert routed.writer is COORD
    with pytest.raises(InvalidInput) as refused:
        merge(routed, known_of(events[:2]), events[2:], sender=ZHIFU)
    assert fields_of(refused.value.violations) == ["sync"]


def test_merge_without_a_sender_accepts_any_writers_events() -> None:
    state, events = history_until_acknowledged()
    created = fold(DELEGATION, SHINAN, events[:1])
    # The coordinator's ROUTED and the entrusted court's DELIVERED and ACKNOWLEDGED.
    merged = merge(created, known_of(events[:1]), events, sender=None)
    assert merged.new == events[1:]
    assert merged.state == state


def test_merge_refuses_a_gap() -> None:
    state, events = history_until_acknowledged()
    _accepted, report = ahead_of(
        state,
        event(K.ACCEPTED, ENT, ZHIFU, 120),
        event(K.PROGRESS_REPORTED, ENT, ZHIFU, 600, text="进行中"),
    )
    with pytest.raises(InvalidInput) as refused:
        merge(state, known_of(events), [report], sender=ZHIFU)
    assert fields_of(refused.value.violations) == ["history"]
    assert "event 6 does not follow event 4" in str(refused.value)


def test_merge_refuses_a_broken_chain() -> None:
    state, events = history_until_acknowledged()
    accepted, report = ahead_of(
        state,
        event(K.ACCEPTED, ENT, ZHIFU, 120),
        event(K.PROGRESS_REPORTED, ENT, ZHIFU, 600, text="进行中"),
    )
    relinked = report.sealed("0" * 64)  # hash is right for its content, the link is not
    with pytest.raises(InvalidInput) as refused:
        merge(state, known_of(events), [accepted, relinked], sender=ZHIFU)
    assert "event 6 breaks the hash chain" in str(refused.value)
    tampered = replace(accepted, text="改过的")  # hash no longer matches the content
    with pytest.raises(InvalidInput) as refused:
        merge(state, known_of(events), [tampered], sender=ZHIFU)
    assert "event 5 breaks the hash chain" in str(refused.value)


def test_merge_refuses_a_step_the_state_forbids() -> None:
    state, events = history_until_acknowledged()
    completed = seal_next(state, event(K.COMPLETED, ENT, ZHIFU, 120, text="x", result="DONE"))
    with pytest.raises(IllegalTransition) as refused:
        merge(state, known_of(events), [completed], sender=ZHIFU)
    assert "cannot complete a delegation that is ACKNOWLEDGED" in str(refused.value)


# --- requests sent to the writer ---------------------------------------------------------------


def test_request_states() -> None:
    assert {s.value for s in RequestState} == {"pending", "applied", "refused"}


def test_a_pending_request_is_applied_or_refused() -> None:
    assert settle(RequestState.PENDING, applied=True) is RequestState.APPLIED
    assert settle(RequestState.PENDING, applied=False) is RequestState.REFUSED


def test_an_applied_request_stays_applied() -> None:
    assert settle(RequestState.APPLIED, applied=False) is RequestState.APPLIED
    assert settle(RequestState.APPLIED, applied=True) is RequestState.APPLIED


def test_a_refused_request_is_applied_once_the_history_holds_it() -> None:
    assert settle(RequestState.REFUSED, applied=True) is RequestState.APPLIED
    assert settle(RequestState.REFUSED, applied=False) is RequestState.REFUSED


def test_answers_in_any_order_end_applied_once_one_applied() -> None:
    for answers in itertools.product((True, False), repeat=3):
        current = RequestState.PENDING
        for applied in answers:
            current = settle(current, applied=applied)
        expected = RequestState.APPLIED if any(answers) else RequestState.REFUSED
        assert current is expected, answers
