"""How long to wait before re-sending a message that may have been lost, in reconciliation
intervals: two after it was sent (an answer usually arrives within one), then doubling after
each re-send, at most eight. A message lost by the broker is repaired within a few intervals;
one that is merely late (a receiver behind on its backlog) is not copied every round."""

from __future__ import annotations

FIRST = 2  # intervals after the message itself was sent
CAP = 8  # intervals between re-sends, at most


def resend_after(attempts: int) -> int:
    """Intervals to wait after the ``attempts``-th re-send (0: after the message was sent)."""
    return min(FIRST << max(attempts, 0), CAP)
