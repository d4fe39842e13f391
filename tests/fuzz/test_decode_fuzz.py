"""The decoding and validation layers, fuzzed without servers: cheap, so thousands of examples.

- A CreateDelegationRequest, however hostile, becomes a draft and is checked with nothing but
  DomainError subclasses raised (which the edge turns into clear statuses).
- Bytes from the bus either decode as an Envelope or raise DecodeError, nothing else.
- The transport's delivery of any message to the real bus handlers of the coordinator and the
  nodes (over SQLite, and PostgreSQL when reachable) never raises, always answers the broker,
  parks what the rules say to park, and adds no delegation from anything but a sealed sync;
  a normal delegation still flows afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf.message import DecodeError, Message
from hypothesis import given
from hypothesis import strategies as st

from jiaodong.domain.clock import SystemClock
from jiaodong.domain.delegation import check_draft, fingerprint
from jiaodong.domain.errors import DomainError
from jiaodong.domain.lifecycle import Event, EventKind, Side
from jiaodong.files.registry import load_registry
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import draft_from_pb, event_from_pb, event_pb
from tests.fuzz.live import postgres_database
from tests.fuzz.oracle import may_create, must_park
from tests.fuzz.strategies import (
    DELIVERY_EXAMPLES,
    LONG_RUN,
    PURE_EXAMPLES,
    TALLY,
    envelope_bases,
    envelopes,
    fuzz_settings,
    hostile_requests,
    malformed_bytes,
    subjects,
)
from tests.helpers.factory import create_request
from tests.helpers.region import InProcessRegion

pytestmark = pytest.mark.fuzz

REGISTRY = load_registry(None)
QD, YT = "370202", "370602"
ACTING = ["370202", "370203", "370602", "370702", "371002", "999999", ""]
VALID_CREATES = st.builds(lambda: create_request(request_id=uuid.uuid4().hex))


@fuzz_settings(PURE_EXAMPLES)
@given(
    hostile_requests(api.CreateDelegationRequest.DESCRIPTOR, VALID_CREATES), st.sampled_from(ACTING)
)
def test_create_request_raises_only_domain_errors(
    request: api.CreateDelegationRequest, court: str
) -> None:
    try:
        draft = draft_from_pb(request)
        checked = check_draft(REGISTRY, court, draft)
        fingerprint(checked.draft)
    except DomainError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without words"
        TALLY["create request, socket-free", type(exc).__name__] += 1
    else:
        TALLY["create request, socket-free", "valid"] += 1


@fuzz_settings(PURE_EXAMPLES)
@given(malformed_bytes(bus_pb2.Envelope.DESCRIPTOR) | st.binary(max_size=512))
def test_envelope_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    envelope = bus_pb2.Envelope()
    try:
        envelope.ParseFromString(data)
    except DecodeError:
        TALLY["envelope bytes, socket-free", "DecodeError"] += 1
        return
    TALLY["envelope bytes, socket-free", "decoded"] += 1
    envelope.WhichOneof("body")
    envelope.SerializeToString()


def _sealed_event(text: str) -> Message:
    first = Event("e1", 1, EventKind.CREATED, Side.REQUESTING, QD, datetime.now(UTC), text=text)
    return event_pb(first.sealed(""))


SEALED_EVENTS = st.builds(_sealed_event, st.sampled_from(["", "已签收", "请尽快办理"]))


@fuzz_settings(PURE_EXAMPLES)
@given(hostile_requests(pb.DelegationEvent.DESCRIPTOR, SEALED_EVENTS))
def test_history_event_converts_or_raises_a_known_error(event: Message) -> None:
    """An event from the bus becomes a domain event, or fails with InvalidInput (bad enums) or
    ValueError (a Timestamp out of range: the transport retries such a message, then parks it)."""
    try:
        event_from_pb(event)  # type: ignore[arg-type]
    except (DomainError, ValueError) as exc:
        TALLY["history event, socket-free", type(exc).__name__] += 1
    else:
        TALLY["history event, socket-free", "converted"] += 1


# -- the transport's delivery into the real handlers -----------------------------------------------


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        *([pytest.param("postgres", marks=pytest.mark.postgres)] if LONG_RUN else []),
    ],
)
def inproc(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[InProcessRegion, asyncio.AbstractEventLoop]]:
    """A socket-free region; the coordinator on SQLite, or (long runs) on PostgreSQL. The
    SQLite files live in /dev/shm when there is one (no fsync cost per message)."""
    shm = Path("/dev/shm")
    fast = shm.is_dir() and os.access(shm, os.W_OK)
    root = Path(tempfile.mkdtemp(prefix="jd-fuzz-", dir=shm)) if fast else None
    url, drop = postgres_database() if request.param == "postgres" else ("", None)
    loop = asyncio.new_event_loop()
    region = InProcessRegion(
        root or tmp_path_factory.mktemp("inproc"), coordinator_url=url, clock=SystemClock()
    )
    try:
        region.seeds = [loop.run_until_complete(_deliver_one(region)) for _ in range(2)]
        yield region, loop
    finally:
        region.close()
        loop.close()
        if drop is not None:
            drop()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


async def _deliver_one(region: InProcessRegion) -> str:
    """A valid delegation Qingdao -> Yantai carried to DELIVERED on every side."""
    created, _ = await region.node("qingdao").create(QD, draft_from_pb(create_request()))
    await region.pump()
    got = await region.node("yantai").get(YT, created.id)
    assert got.status == pb.STATUS_DELIVERED, got.status
    return created.id


def test_delivery_never_raises_and_parks_garbage(
    inproc: tuple[InProcessRegion, asyncio.AbstractEventLoop],
) -> None:
    region, loop = inproc
    seeds = region.seeds
    syncs = [region.sync_of(d) for d in seeds]
    courts = [QD, QD, YT, YT, "370203", "370702"]  # mostly the seeds' two courts
    to_nodes = subjects(courts, "jd.v1.court")
    to_coordinator = subjects([*courts, "371002", "999999", "37０２０２"], "jd.v1.coord")
    subject_st = to_nodes | to_coordinator

    @st.composite
    def traffic(draw: st.DrawFn) -> tuple[str, bytes]:
        subject = draw(subject_st)
        if draw(st.booleans()):
            return subject, draw(malformed_bytes(bus_pb2.Envelope.DESCRIPTOR, extra=seeds))
        court = subject.split(".")[3]
        envelope = draw(envelopes(court, extra=seeds, bases=envelope_bases(court, seeds, syncs)))
        return subject, envelope.SerializeToString()

    @fuzz_settings(DELIVERY_EXAMPLES)
    @given(traffic(), st.uuids().map(lambda u: u.hex))
    def one(message: tuple[str, bytes], header_id: str) -> None:
        subject, data = message
        before = region.delegation_ids()
        target = region.consumer(subject)
        outcome = loop.run_until_complete(region.deliver(subject, data, header_id))
        loop.run_until_complete(region.pump())
        if target is None:
            assert outcome is None
            return
        assert outcome is not None
        TALLY["bus, socket-free", "parked" if outcome.parked else "applied or dropped"] += 1
        hosted = None if target.name == "coordinator" else target.service.courts
        reason = must_park(subject, data, hosted)
        if reason:
            assert outcome.parked and outcome.attempts == 1, (reason, outcome)
            assert reason in outcome.reason, (reason, outcome.reason)
        new = region.delegation_ids() - before - {may_create(data)}
        assert not new, f"delegations {new} appeared from {data[:300]!r}"

    one()
    # Afterwards a normal delegation still flows, and the seeds are still readable.
    fresh = loop.run_until_complete(_deliver_one(region))
    assert fresh
    for d in seeds:  # their statuses may have moved: forged requests are well-formed input
        assert loop.run_until_complete(region.node("qingdao").get(QD, d)).id == d
