"""Per-caller token buckets (jiaodong.domain.ratelimit): the caller passes the time."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jiaodong.domain.ratelimit import RateLimiter

QD, YT = "370202", "370602"


def drain(limiter: RateLimiter, key: str, now: float) -> int:
    """Take until refused; how many were allowed."""
    allowed = 0
    while limiter.take(key, now) == 0.0:
        allowed += 1
        assert allowed <= 10_000, "never refused"
    return allowed


def test_a_burst_is_allowed_then_refused() -> None:
    limiter = RateLimiter(rate=2, burst=5)
    assert [limiter.take(QD, 10.0) for _ in range(5)] == [0.0] * 5
    assert limiter.take(QD, 10.0) > 0
    assert limiter.take(QD, 10.0) > 0


def test_refill_at_rate() -> None:
    limiter = RateLimiter(rate=4, burst=10)
    assert drain(limiter, QD, 0.0) == 10
    assert drain(limiter, QD, 0.5) == 2  # 0.5 s * 4/s
    assert drain(limiter, QD, 1.5) == 4
    assert drain(limiter, QD, 1.75) == 1


def test_refill_stops_at_burst() -> None:
    limiter = RateLimiter(rate=100, burst=3)
    assert drain(limiter, QD, 0.0) == 3
    assert drain(limiter, QD, 3600.0) == 3


def test_refused_calls_do_not_use_up_tokens() -> None:
    limiter = RateLimiter(rate=1, burst=2)
    drain(limiter, QD, 0.0)
    for i in range(100):
        assert limiter.take(QD, i / 1000) > 0
    # One second after draining exactly one token is back, as if nobody had hammered.
    assert limiter.take(QD, 1.0) == 0.0
    assert limiter.take(QD, 1.0) > 0


def test_wait_time_is_the_time_until_the_next_token() -> None:
    limiter = RateLimiter(rate=2, burst=3)
    drain(limiter, QD, 0.0)
    assert limiter.take(QD, 0.0) == pytest.approx(0.5)
    assert limiter.take(QD, 0.2) == pytest.approx(0.3)  # 0.4 token there, 0.6 to go at 2/s
    assert limiter.take(QD, 0.45) == pytest.approx(0.05)
    assert limiter.take(QD, 0.5) == 0.0


def test_slow_rate_wait() -> None:
    limiter = RateLimiter(rate=0.1, burst=1)  # one call every 10 s
    assert limiter.take(QD, 0.0) == 0.0
    assert limiter.take(QD, 0.0) == pytest.approx(10.0)
    assert limiter.take(QD, 4.0) == pytest.approx(6.0)


@given(
    rate=st.floats(min_value=0.01, max_value=1000),
    burst=st.integers(min_value=1, max_value=50),
    start=st.floats(min_value=0, max_value=1e6),
)
def test_waiting_the_returned_time_is_enough(rate: float, burst: int, start: float) -> None:
    limiter = RateLimiter(rate=rate, burst=burst)
    assert drain(limiter, QD, start) == burst
    wait = limiter.take(QD, start)
    assert wait > 0
    assert wait == pytest.approx(1 / rate)
    assert limiter.take(QD, start + wait * 1.000001 + 1e-9) == 0.0


def test_keys_are_independent() -> None:
    limiter = RateLimiter(rate=1, burst=3)
    assert drain(limiter, QD, 0.0) == 3
    wait = limiter.take(QD, 0.0)
    # Yantai's flood neither waits for Qingdao nor changes Qingdao's wait.
    assert drain(limiter, YT, 0.0) == 3
    assert drain(limiter, "operator:qingdao", 0.0) == 3
    assert limiter.take(QD, 0.0) == pytest.approx(wait)
    assert drain(limiter, QD, 1.0) == 1
    assert drain(limiter, YT, 1.0) == 1


def test_a_new_key_starts_with_a_full_burst_at_any_time() -> None:
    limiter = RateLimiter(rate=1, burst=4)
    drain(limiter, QD, 0.0)
    assert drain(limiter, YT, 1e9) == 4


def test_time_going_backwards_mints_no_tokens() -> None:
    limiter = RateLimiter(rate=1, burst=2)
    drain(limiter, QD, 100.0)
    assert limiter.take(QD, 50.0) > 0
    assert limiter.take(QD, 0.0) > 0
    assert limiter.take(QD, -1e9) > 0


def test_time_going_backwards_mid_refill_mints_no_tokens() -> None:
    limiter = RateLimiter(rate=1, burst=5)
    drain(limiter, QD, 100.0)
    assert drain(limiter, QD, 102.0) == 2
    assert limiter.take(QD, 101.0) > 0


def test_clock_back_and_forth_mints_no_tokens() -> None:
    limiter = RateLimiter(rate=1, burst=2)
    assert drain(limiter, QD, 100.0) == 2
    assert limiter.take(QD, 0.0) > 0  # the clock jumps back...
    assert limiter.take(QD, 100.0) > 0  # ...and returns: no time has passed since the drain


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(0, 1), (-1, 10), (-0.001, 10), (1, 0), (1, 0.5), (1, -5), (0, 0)],
)
def test_bad_parameters_raise(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=rate, burst=burst)


@pytest.mark.parametrize(("rate", "burst"), [(math.nan, 10), (1, math.nan)])
def test_nan_parameters_raise(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=rate, burst=burst)


def test_smallest_valid_parameters() -> None:
    limiter = RateLimiter(rate=1e-6, burst=1)
    assert limiter.take(QD, 0.0) == 0.0
    assert limiter.take(QD, 1.0) == pytest.approx(1e6 - 1)
