"""Streams, subjects and consumers, declared once, as data.

Nodes publish on ``jd.v1.coord.<court>.<kind>`` (the court is the sender); the coordinator consumes
them all. The coordinator publishes on ``jd.v1.court.<court>.<kind>`` (the court is the receiver);
each city node consumes the subjects of the courts it hosts with one durable pull consumer.
Reconciliation digests travel apart, on ``jd.v1.digest.<court>.digest`` in a stream of their own
that keeps them minutes, not days, read by a second coordinator consumer: they never queue in
front of real traffic. Operators' questions to a node (its parked messages) are no traffic to keep:
the coordinator asks on ``jd.v1.ops.<city>.parked`` with core NATS request/reply, in no stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """The last token of a subject: what the envelope carries."""

    SYNC = "sync"
    REQUEST = "request"
    REFUSED = "refused"
    RECEIPT = "receipt"
    DIGEST = "digest"
    WANT = "want"
    DOC = "doc"


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream: its subjects, how long it keeps messages, the duplicate window."""

    name: str
    subjects: tuple[str, ...]
    max_age_seconds: int  # messages older than this are dropped (the databases keep the record)
    duplicate_window_seconds: int  # a Nats-Msg-Id seen within this window is stored once


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer: what it filters, how often and how long it redelivers."""

    stream: str
    durable: str
    filter_subjects: tuple[str, ...]
    max_deliver: int  # deliveries before the broker gives up (the service parks before that)
    ack_wait_seconds: int  # unacknowledged this long: delivered again
    max_ack_pending: int  # messages out and not yet acknowledged, at most


COORD_STREAM = StreamSpec(
    name="JD_COORD",
    subjects=("jd.v1.coord.>",),
    max_age_seconds=30 * 24 * 3600,
    duplicate_window_seconds=15 * 60,
)
COURT_STREAM = StreamSpec(
    name="JD_COURT",
    subjects=("jd.v1.court.>",),
    max_age_seconds=30 * 24 * 3600,
    duplicate_window_seconds=15 * 60,
)
# Digests are rebuilt every round and stale after one interval: kept minutes, not a month.
DIGEST_STREAM = StreamSpec(
    name="JD_DIGEST",
    subjects=("jd.v1.digest.>",),
    max_age_seconds=15 * 60,
    duplicate_window_seconds=2 * 60,
)
STREAMS = (COORD_STREAM, COURT_STREAM, DIGEST_STREAM)

# A message whose handler keeps failing is parked after this many deliveries.
MAX_DELIVER = 5


def to_coordinator(court_id: str, kind: Kind) -> str:
    return f"jd.v1.coord.{court_id}.{kind.value}"


def to_court(court_id: str, kind: Kind) -> str:
    return f"jd.v1.court.{court_id}.{kind.value}"


def digest_subject(court_id: str) -> str:
    """Where a node publishes the digests of one of its courts (the court is the sender)."""
    return f"jd.v1.digest.{court_id}.{Kind.DIGEST.value}"


def ops_subject(city: str) -> str:
    """Where a city's node answers the operators' questions on its parked messages, relayed by
    the coordinator: NATS core request/reply, in no stream (an answer now or none)."""
    return f"jd.v1.ops.{city}.parked"


def court_of(subject: str) -> str:
    """The court token of a jd.v1 subject."""
    parts = subject.split(".")
    if len(parts) != 5 or parts[:2] != ["jd", "v1"]:
        raise ValueError(f"not a jd.v1 subject: {subject}")
    return parts[3]


def kind_of(subject: str) -> Kind:
    return Kind(subject.rsplit(".", 1)[-1])


def coordinator_consumer() -> ConsumerSpec:
    return ConsumerSpec(
        stream=COORD_STREAM.name,
        durable="coordinator",
        filter_subjects=("jd.v1.coord.>",),
        max_deliver=MAX_DELIVER + 5,
        ack_wait_seconds=30,
        max_ack_pending=1000,
    )


def coordinator_digest_consumer() -> ConsumerSpec:
    """The coordinator's second consumer: digests only, a few at a time (each chunk is its own
    transaction); its backlog never delays syncs, requests or receipts."""
    return ConsumerSpec(
        stream=DIGEST_STREAM.name,
        durable="coordinator-digest",
        filter_subjects=("jd.v1.digest.>",),
        max_deliver=MAX_DELIVER + 5,
        ack_wait_seconds=30,
        max_ack_pending=64,
    )


def node_consumer(node: str, court_ids: list[str]) -> ConsumerSpec:
    return ConsumerSpec(
        stream=COURT_STREAM.name,
        durable=node,
        filter_subjects=tuple(f"jd.v1.court.{c}.>" for c in sorted(court_ids)),
        max_deliver=MAX_DELIVER + 5,
        ack_wait_seconds=30,
        max_ack_pending=1000,
    )
