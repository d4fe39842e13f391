"""The pure parts of the NATS link: what the watchdog counts, and how a URL is shown."""

from __future__ import annotations

from jiaodong.bus.transport import NatsUnreachable, Progress, shown_url


def test_rows_waiting_count_from_when_the_relay_first_saw_them() -> None:
    p = Progress(now=0.0)
    p.waiting_rows(3, now=1.0)
    p.waiting_rows(3, now=5.0)  # the same rows again, still unpublished: still since 1.0
    assert (p.relay_stuck_since, p.waiting) == (1.0, 3)


def test_each_publish_is_progress_and_the_last_one_ends_the_wait() -> None:
    p = Progress(now=0.0)
    p.waiting_rows(2, now=1.0)
    p.published_one(now=2.0)
    assert (p.relay_stuck_since, p.waiting) == (2.0, 1)
    p.published_one(now=3.0)
    assert (p.relay_stuck_since, p.waiting) == (None, 0)


def test_nothing_to_publish_is_no_stall() -> None:
    p = Progress(now=0.0)
    p.waiting_rows(4, now=1.0)
    p.waiting_rows(0, now=9.0)  # published meanwhile by a relay round that finished
    assert p.relay_stuck_since is None


def test_the_watchdog_clocks_start_with_the_connection() -> None:
    p = Progress(now=42.0)
    assert (p.answered_at, p.idle_since, p.relay_stuck_since) == (42.0, 42.0, None)


def test_a_reconnect_restarts_every_watchdog_clock() -> None:
    """nats-py's own reconnect made a new link: a question that timed out on the old socket
    must not count against it (the fault harness saw the new link replaced 2 s after)."""
    p = Progress(now=0.0)
    p.waiting_rows(5, now=1.0)
    p.fresh_link(now=30.0)
    assert (p.answered_at, p.idle_since, p.relay_stuck_since) == (30.0, 30.0, 30.0)
    p.waiting_rows(0, now=31.0)
    p.fresh_link(now=40.0)
    assert p.relay_stuck_since is None, "nothing waits: nothing to count"


def test_passwords_are_not_shown() -> None:
    assert (
        shown_url("nats://jd:s3cret@a:4222,nats://b:4222") == "nats://jd:***@a:4222,nats://b:4222"
    )
    assert shown_url("tls://nats.court.example:4222") == "tls://nats.court.example:4222"


def test_the_start_error_names_the_url_and_what_to_check() -> None:
    err = NatsUnreachable("nats://jd:pw@10.0.0.9:4222", 30, ConnectionRefusedError("refused"))
    assert str(err).startswith("cannot connect to NATS at nats://jd:***@10.0.0.9:4222 within 30s")
    assert "refused" in str(err) and "JD_NATS_URL" in str(err)
