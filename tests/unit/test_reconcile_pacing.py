"""The pure rules of bounded reconciliation: re-send back-off, and the pace of digests."""

from __future__ import annotations

from jiaodong.app.node.reconcile import SLOWEST, paced
from jiaodong.bus.flow import LAG_HIGH, Flow
from jiaodong.domain.backoff import resend_after

NOW = 1000.0


def test_resends_wait_two_intervals_then_double_up_to_eight() -> None:
    assert [resend_after(n) for n in range(6)] == [2, 4, 8, 8, 8, 8]


def flow(**lag: int) -> Flow:
    return Flow(lag=dict(lag), outbox_age=0.0, measured_at=NOW)


def test_a_quiet_region_keeps_the_configured_interval() -> None:
    assert paced(5.0, 5.0, flow(coordinator=3), "node-qingdao", NOW) == 5.0
    assert paced(5.0, 40.0, flow(), "node-qingdao", NOW) == 5.0  # back at once when drained


def test_lag_anywhere_doubles_the_interval_up_to_a_cap() -> None:
    behind = [
        flow(coordinator=LAG_HIGH),
        flow(**{"coordinator-digest": LAG_HIGH}),
        flow(**{"node-qingdao": LAG_HIGH}),
        Flow(outbox_age=5.0, measured_at=NOW),
    ]
    for measured in behind:
        assert paced(5.0, 5.0, measured, "node-qingdao", NOW) == 10.0
        assert paced(5.0, 40.0, measured, "node-qingdao", NOW) == 5.0 * SLOWEST
    # Another node's backlog is not ours to act on.
    assert paced(5.0, 5.0, flow(**{"node-yantai": LAG_HIGH}), "node-qingdao", NOW) == 5.0


def test_an_old_or_missing_measurement_says_nothing() -> None:
    assert paced(5.0, 20.0, None, "node-qingdao", NOW) == 5.0
    old = Flow(lag={"coordinator": 10_000}, measured_at=NOW - 16.0)
    assert paced(5.0, 20.0, old, "node-qingdao", NOW) == 5.0
