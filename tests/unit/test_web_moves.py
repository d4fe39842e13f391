"""The board offers exactly the operator steps the lifecycle allows from a status, and only to
those whose certificate grants them."""

from __future__ import annotations

import pytest

from jiaodong.api.web.access import Viewer
from jiaodong.api.web.app import _moves
from jiaodong.domain.identity import Identity, Role
from jiaodong.domain.lifecycle import EventKind, Status

OPERATOR = Viewer(Identity(Role.OPERATOR, "region"), by_certificate=True)
AUDITOR = Viewer(Identity(Role.AUDITOR, "region"), by_certificate=True)
E, R, U = EventKind.ESCALATED, EventKind.REROUTED, EventKind.URGED


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        (Status.ROUTED, {E, R, U}),
        (Status.DELIVERED, {E, R, U}),
        (Status.ACKNOWLEDGED, {E, R, U}),
        # Accepted: the court works on it; it may be urged or escalated but no longer moved.
        (Status.ACCEPTED, {E, U}),
        (Status.RETURNED, {E, R}),
        (Status.COMPLETED, {E}),
        (Status.CREATED, set()),
        (Status.CONFIRMED, set()),
        (Status.CANCELLED, set()),
        (Status.ROUTING_FAILED, set()),
    ],
)
def test_steps_follow_the_lifecycle(status: Status, offered: set[EventKind]) -> None:
    assert _moves(OPERATOR, status.value) == offered


def test_the_auditor_is_offered_nothing() -> None:
    assert _moves(AUDITOR, Status.ROUTED.value) == frozenset()


def test_an_unknown_status_offers_nothing() -> None:
    assert _moves(OPERATOR, "STATUS_UNSPECIFIED") == frozenset()
