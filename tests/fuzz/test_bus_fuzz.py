"""Hostile traffic on the JetStream subjects the nodes and the coordinator consume.

Malformed bytes and well-formed Envelopes with hostile content (fresh, or real envelopes about
live delegations, mutated) are published from outside onto ``jd.v1.court.<court>.<kind>`` and
``jd.v1.coord.<court>.<kind>``. Expected: no service or background task dies, the consumers drain
(each message applied or parked, none stuck), what the transport rules call undecodable or
misaddressed is parked as a dead letter, no delegation appears from anything but a sealed sync,
and afterwards a normal delegation still goes from Qingdao to DELIVERED at Yantai. The nodes run
on SQLite, the coordinator on PostgreSQL when it is reachable (always in CI).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from jiaodong.bootstrap import Running
from jiaodong.v1 import bus_pb2
from tests.fuzz.live import QD, YT, Live, delegation_ids
from tests.fuzz.oracle import may_create, must_park
from tests.fuzz.strategies import (
    SERVER_EXAMPLES,
    TALLY,
    envelope_bases,
    envelopes,
    fuzz_settings,
    malformed_bytes,
    subjects,
)
from tests.helpers.network import publish_raw

pytestmark = pytest.mark.fuzz

# Messages per batch: cheap to publish, so eight per server example (at most 4000).
BUS_EXAMPLES = min(8 * SERVER_EXAMPLES, 4000)
NODE_COURTS = [QD, QD, YT, YT, "370203", "370702"]  # mostly the seeds' two courts
COORD_COURTS = [*NODE_COURTS, "371002", "999999"]


def _regressions() -> list[tuple[str, bytes]]:
    """Messages every batch starts with, whatever Hypothesis draws: ones that broke a consumer
    once (a subject longer than the dead-letter column, a NUL in the text a refusal quotes)."""
    nul_court = bus_pb2.Envelope(message_id=uuid.uuid4().hex, court_id=f"{QD}\x00")
    nul_court.want.SetInParent()
    return [
        (f"jd.v1.coord.{QD}." + "x" * 150, b""),
        (f"jd.v1.court.{YT}." + "x" * 150, b""),
        (f"jd.v1.coord.{QD}.want", nul_court.SerializeToString()),
        (f"jd.v1.court.{YT}.sync", b"\xff\xff\xff\xff not a protobuf message"),
    ]


@dataclass(frozen=True)
class Sent:
    subject: str
    data: bytes
    msg_id: str


def consumer_of(live: Live, subject: str) -> Running | None:
    """The service whose consumer reads a subject (None: a court no running node hosts)."""
    if subject.startswith("jd.v1.coord."):
        return live.region.coordinator
    court = subject.split(".")[3]
    for node in live.region.nodes.values():
        if court in node.service.courts:
            return node
    return None


def parked(service: Running) -> dict[str, str]:
    """Dead letters of a service: Nats-Msg-Id -> reason."""
    with service.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT message_id, reason FROM dead_letter")).all()
    return {r[0]: r[1] for r in rows}


def traffic(live: Live) -> st.SearchStrategy[tuple[str, bytes]]:
    """A subject, and malformed bytes or a hostile Envelope for it."""
    seeds = live.seeds
    syncs = [live.sync_of(d) for d in seeds]
    subject_st = subjects(NODE_COURTS, "jd.v1.court") | subjects(COORD_COURTS, "jd.v1.coord")
    garbage = malformed_bytes(bus_pb2.Envelope.DESCRIPTOR, extra=seeds)

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, bytes]:
        subject = draw(subject_st)
        if draw(st.booleans()):
            return subject, draw(garbage)
        court = subject.split(".")[3]
        bases = envelope_bases(court, seeds, syncs)
        envelope = draw(envelopes(court, extra=seeds, bases=bases))
        return subject, envelope.SerializeToString()

    return build()


def check_batch(live: Live, sent: list[Sent], before: set[str]) -> None:
    # Settling fails at once, naming the message, if a consumer or another task died.
    live.run(live.settle(timeout=max(90.0, 0.05 * len(sent))))
    letters = {s.name: parked(s) for s in live.services()}
    for message in sent:
        service = consumer_of(live, message.subject)
        if service is None:
            continue
        hosted = getattr(service.service, "courts", None)
        reason = must_park(message.subject, message.data, hosted)
        if reason:
            got = letters[service.name].get(message.msg_id)
            assert got is not None, (
                f"{service.name} did not park {message.subject} {message.data[:120]!r} ({reason})"
            )
            assert reason in got, (reason, got)
    sealed = {may_create(m.data) for m in sent}
    new = delegation_ids(live.services()) - before - sealed
    assert not new, f"delegations {new} appeared from garbage"
    live.run(live.assert_serving())


def test_hostile_bus_traffic_is_parked_or_applied(live: Live) -> None:
    dead = live.dead_tasks()
    assert not dead, f"background tasks ended: {dead}"
    live.run(live.settle())
    before = delegation_ids(live.services())
    sent: list[Sent] = []
    url = live.region.settings.nats_url
    for subject, data in _regressions():
        msg_id = uuid.uuid4().hex
        live.run(publish_raw(url, subject, data, msg_id))
        sent.append(Sent(subject, data, msg_id))

    @fuzz_settings(BUS_EXAMPLES, server=True)
    @given(traffic(live))
    def one(message: tuple[str, bytes]) -> None:
        subject, data = message
        msg_id = uuid.uuid4().hex
        live.run(publish_raw(url, subject, data, msg_id))
        sent.append(Sent(subject, data, msg_id))
        TALLY["bus, live", "published"] += 1

    one()
    check_batch(live, sent, before)


def test_a_normal_delegation_still_flows(live: Live) -> None:
    """After all that: Qingdao -> Yantai, DELIVERED on all three sides."""
    dead = live.dead_tasks()
    assert not dead, f"background tasks ended: {dead}"
    delegation = live.run(live.deliver_one())
    assert delegation
    live.run(live.assert_serving())
