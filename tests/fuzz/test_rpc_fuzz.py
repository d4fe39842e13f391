"""Every RPC of CourtNodeService and CoordinatorService, fed hostile messages and malformed bytes.

Expected of each call: a status from the allowed set (never UNKNOWN, INTERNAL, UNAVAILABLE or
DEADLINE_EXCEEDED), a message in words with every refusal, no row written by a refused call, and
after each batch every service still serving.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from hypothesis import example, given
from hypothesis import strategies as st

from jiaodong.bootstrap import Running
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.fuzz.live import (
    CALL_TIMEOUT,
    QD,
    SEED_PDF,
    YT,
    Live,
    Outcome,
    check_outcome,
    row_counts,
    short,
    streamed,
    unary,
)
from tests.fuzz.strategies import (
    SERVER_EXAMPLES,
    TALLY,
    fuzz_settings,
    hostile_requests,
    is_repeated,
    malformed_bytes,
    message_class,
)
from tests.helpers.factory import create_request
from tests.helpers.network import as_court, eventually

pytestmark = pytest.mark.fuzz

NODE = api.DESCRIPTOR.services_by_name["CourtNodeService"]
COORDINATOR = capi.DESCRIPTOR.services_by_name["CoordinatorService"]
ENTRUSTED_RPCS = {"Acknowledge", "Accept", "Return", "ReportProgress", "Complete"}
PDF = SEED_PDF

# A valid request per RPC, from a delegation id and a fresh client request id: the fuzz mutates
# these half the time, so that checks behind the first failing one are reached as well.
VALID: dict[str, Callable[[str, str], Message]] = {
    "CreateDelegation": lambda d, r: create_request(request_id=r),
    "GetDelegation": lambda d, r: api.GetDelegationRequest(id=d),
    "ListDelegations": lambda d, r: api.ListDelegationsRequest(
        direction=api.DIRECTION_SENT, statuses=[pb.STATUS_DELIVERED], page_size=10
    ),
    "WatchDelegations": lambda d, r: api.WatchDelegationsRequest(delegation_id=d),
    "Acknowledge": lambda d, r: api.AcknowledgeRequest(id=d, text="已签收"),
    "Accept": lambda d, r: api.AcceptRequest(id=d, text="开始办理"),
    "Return": lambda d, r: api.ReturnRequest(
        id=d, reason=pb.RETURN_REASON_MATERIALS_INCOMPLETE, text="缺少执行依据"
    ),
    "Supplement": lambda d, r: api.SupplementRequest(
        id=d, request_id=r, text="补充执行依据", documents=[PDF]
    ),
    "ReportProgress": lambda d, r: api.ReportProgressRequest(
        id=d, text="车辆已找到", documents=[PDF]
    ),
    "Complete": lambda d, r: api.CompleteRequest(
        id=d, result=pb.COMPLETION_RESULT_DONE, text="已扣押", documents=[PDF]
    ),
    "Confirm": lambda d, r: api.ConfirmRequest(id=d, request_id=r, text="确认"),
    "Cancel": lambda d, r: api.CancelRequest(id=d, request_id=r, text="已自行履行"),
    "Urge": lambda d, r: api.UrgeRequest(id=d, request_id=r, text="请尽快办理"),
    "UploadDocument": lambda d, r: api.UploadDocumentRequest(
        sha256=hashlib.sha256(r.encode()).hexdigest(), size_bytes=len(r), data=r.encode()
    ),
    "GetDocument": lambda d, r: api.GetDocumentRequest(delegation_id=d, sha256=PDF.sha256),
    "ListCourts": lambda d, r: capi.ListCourtsRequest(city="yantai"),
    "CoordinatorGetDelegation": lambda d, r: capi.CoordinatorGetDelegationRequest(id=d),
    "CoordinatorListDelegations": lambda d, r: capi.CoordinatorListDelegationsRequest(
        from_city="qingdao", statuses=[pb.STATUS_DELIVERED], task_types=[pb.TASK_TYPE_SEIZURE]
    ),
    "WatchBoard": lambda d, r: capi.WatchBoardRequest(city="qingdao"),
    "Reroute": lambda d, r: capi.RerouteRequest(
        id=d, request_id=r, court_id="370702", text="管辖错误"
    ),
    "Escalate": lambda d, r: capi.EscalateRequest(id=d, request_id=r, text="请限期办结"),
    "ExplainSla": lambda d, r: capi.ExplainSlaRequest(id=d),
    "RecomputeSla": lambda d, r: capi.RecomputeSlaRequest(dry_run=True),
    "GetBoard": lambda d, r: capi.GetBoardRequest(city="qingdao", window_days=30),
    "GetSlaReport": lambda d, r: capi.GetSlaReportRequest(
        from_date="2025-03-01", to_date="2025-03-31", city="qingdao"
    ),
    "CoordinatorUrge": lambda d, r: capi.CoordinatorUrgeRequest(
        id=d, request_id=r, text="请尽快办理"
    ),
    "Annotate": lambda d, r: capi.AnnotateRequest(id=d, request_id=r, text="已电话联系"),
    "ListParked": lambda d, r: capi.ListParkedRequest(page_size=10),
    "GetParked": lambda d, r: capi.GetParkedRequest(id=1),
    "RetryParked": lambda d, r: capi.RetryParkedRequest(id=1, reason="重试"),
    "DiscardParked": lambda d, r: capi.DiscardParkedRequest(id=1, reason="丢弃"),
}


@dataclass(frozen=True)
class Target:
    """One RPC as one caller: at a city node acting as a court, or at the coordinator."""

    method: MethodDescriptor
    city: str | None = None
    court: str = ""

    @property
    def id(self) -> str:
        where = f"{self.city}-as-{self.court}" if self.city else "coordinator"
        return f"{self.method.name}@{where}"

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def streams_in(self) -> bool:
        return bool(self.method.client_streaming)

    @property
    def streams_out(self) -> bool:
        return bool(self.method.server_streaming)

    def valid_maker(self) -> Callable[[str, str], Message] | None:
        """How to make a valid request for this RPC (None for an RPC added since)."""
        key = self.method.name
        if self.city is None and f"Coordinator{key}" in VALID:
            key = f"Coordinator{key}"
        return VALID.get(key)

    def service(self, live: Live) -> Running:
        return live.region.coordinator if self.city is None else live.region.nodes[self.city]

    def metadata(self) -> list[tuple[str, str]] | None:
        return as_court(self.court) if self.city else None


TARGETS = [Target(m, "qingdao", QD) for m in NODE.methods]
TARGETS += [Target(m, "yantai", YT) for m in NODE.methods if m.name in ENTRUSTED_RPCS]
TARGETS += [Target(m) for m in COORDINATOR.methods]

# A client-streaming call sends a list of messages (or of raw byte strings).
Request = Message | bytes | list[Message] | list[bytes]


async def _invoke(target: Target, method: Any, request: Request, **kwargs: Any) -> Outcome:
    """Call any of the four shapes (unary or streaming, each way) and read the outcome."""
    payload = iter(request) if target.streams_in else request  # type: ignore[arg-type]
    call = method(payload, timeout=CALL_TIMEOUT, **kwargs)
    return await (streamed(call) if target.streams_out else unary(call))


def typed_call(live: Live, target: Target, request: Request) -> Outcome:
    async def go() -> Outcome:
        stub = live.coordinator_stub() if target.city is None else live.node_stub(target.city)
        method = getattr(stub, target.method.name)
        return await _invoke(target, method, request, metadata=target.metadata())

    return live.run(go())


def raw_call(live: Live, target: Target, data: Request) -> Outcome:
    async def go() -> Outcome:
        channel = live.raw_channel(target.city, target.court)
        make = {
            (False, False): channel.unary_unary,
            (False, True): channel.unary_stream,
            (True, False): channel.stream_unary,
            (True, True): channel.stream_stream,
        }[target.streams_in, target.streams_out]
        method = make(
            target.path, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        # The channel itself acts as the court (its certificate): no marker metadata.
        return await _invoke(target, method, data)

    return live.run(go())


def exercise(live: Live, target: Target, request: Request, send: Callable[[], Outcome]) -> None:
    """One hostile call: an allowed status with words, and no row written if it was refused."""
    service = target.service(live)
    if live.dirty:
        live.run(live.settle())
    before = row_counts(service)
    outcome = send()
    what = f"{target.id} with {short(request)}"
    first = request[0] if isinstance(request, list) and request else request
    kind = "rpc, raw bytes" if isinstance(first, bytes) else "rpc, messages"
    TALLY[kind, outcome.code.name] += 1
    check_outcome(outcome, what, target.method.name)
    if outcome.code is grpc.StatusCode.RESOURCE_EXHAUSTED and "retry in" in outcome.details:
        # The per-court rate limit: wait for the bucket to refill, so later examples get through.
        time.sleep(min(5.0, float(outcome.details.rsplit("retry in", 1)[1].split()[0]) + 0.05))
    after = row_counts(service)
    if outcome.code is grpc.StatusCode.OK:
        # A call that queued messages starts bus traffic: settle before the next count.
        live.dirty = after.get("outbox") != before.get("outbox")
        return
    assert after == before, (
        f"{target.id} refused with {outcome.code.name} ({outcome.details!r}) but wrote rows: "
        f"{before} -> {after}; request {short(request)}"
    )


def requests_for(live: Live, target: Target) -> st.SearchStrategy[Request]:
    """Hostile requests for an RPC: from scratch or mutated from a valid one; a list of up to
    four of them for a client-streaming RPC."""
    make = target.valid_maker()
    bases = None
    if make is not None:
        bases = st.builds(make, st.sampled_from(live.seeds), st.builds(live.new_request_id))
    one = hostile_requests(target.method.input_type, bases, extra=tuple(live.seeds))
    return st.lists(one, max_size=4) if target.streams_in else one


def payloads_for(live: Live, target: Target) -> st.SearchStrategy[Request]:
    one = malformed_bytes(target.method.input_type, extra=tuple(live.seeds))
    return st.lists(one, min_size=1, max_size=3) if target.streams_in else one


def regressions(live: Live, target: Target) -> list[Request]:
    """Requests every run tries first, whatever Hypothesis draws: each top-level text field
    carrying a NUL (the database driver refuses it), and every one of them huge at once."""
    cls = message_class(target.method.input_type)
    texts = [
        f
        for f in target.method.input_type.fields
        if f.type == f.TYPE_STRING and not f.message_type and not is_repeated(f)
    ]
    out: list[Message] = []
    for field in texts:
        msg = cls()
        setattr(msg, field.name, f"{live.seeds[0]}\x00")
        out.append(msg)
    if texts:
        msg = cls()
        for field in texts:
            setattr(msg, field.name, "扣" * (600_000 // len(texts)))
        out.append(msg)
    return [[m] for m in out] if target.streams_in else list(out)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_hostile_messages(live: Live, target: Target) -> None:
    def one(request: Request) -> None:
        exercise(live, target, request, lambda: typed_call(live, target, request))

    for known in reversed(regressions(live, target)):
        one = example(known)(one)
    fuzz_settings(SERVER_EXAMPLES, server=True)(given(requests_for(live, target))(one))()
    live.run(live.assert_serving())
    if target.method.name in ("WatchDelegations", "WatchBoard"):
        live.run(no_watchers_left(target.service(live)))


async def no_watchers_left(service: Running) -> None:
    """Every cancelled watch stream let go of its queue (none leaks per hostile call)."""
    broadcaster = service.service.broadcaster
    await eventually(lambda: _value(broadcaster.watchers), lambda n: n == 0, timeout=10)


async def _value(value: int) -> int:
    return value


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_malformed_bytes(live: Live, target: Target) -> None:
    @fuzz_settings(SERVER_EXAMPLES, server=True)
    @given(payloads_for(live, target))
    def one(data: Request) -> None:
        exercise(live, target, data, lambda: raw_call(live, target, data))

    one()
    live.run(live.assert_serving())
