"""Coverage-guided fuzzing (atheris, libFuzzer) of the bus envelope decoder and the conversion
and validation layer, bounded by ``-runs``. `make fuzz` runs it when atheris installs.

    .venv/bin/python tests/fuzz/atheris_decoder.py -runs=200000 [libFuzzer flags] [corpus dir]

Each input is decoded as a bus Envelope and, whatever its body, pushed through the conversions
the handlers use (history events, the first event's seal, documents, enums); and decoded as a
CreateDelegationRequest and checked as a draft. Allowed: DecodeError for undecodable bytes,
DomainError for bad content, and ValueError for a Timestamp out of range (the transport retries
such a message, then parks it). Anything else is a crash, and libFuzzer stops with the input.
The protobuf runtime (upb) is C and not instrumented; coverage comes from the jiaodong code.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import atheris

# Run as a script (`python tests/fuzz/atheris_decoder.py`): the repository root on the path.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["jiaodong"]):
    from google.protobuf.message import DecodeError

    from jiaodong.domain.delegation import check_documents, check_draft, fingerprint
    from jiaodong.domain.errors import DomainError
    from jiaodong.domain.lifecycle import fold
    from jiaodong.files.registry import load_registry
    from jiaodong.v1 import bus_pb2
    from jiaodong.v1 import court_node_service_pb2 as api
    from jiaodong.v1 import delegation_pb2 as pb
    from jiaodong.wire import (
        document_from_pb,
        draft_from_pb,
        event_from_pb,
        from_ts,
        kind_from_pb,
        optional_enum,
        side_from_pb,
    )

REGISTRY = load_registry(None)
COURTS = ["370202", "370602", "370702", "999999", ""]
ALLOWED = (DomainError, ValueError)


def _envelope(envelope: bus_pb2.Envelope) -> None:
    body = envelope.WhichOneof("body")
    if body == "sync":
        sync = envelope.sync
        try:
            events = [event_from_pb(event) for event in sync.history]
        except ALLOWED:
            return
        with contextlib.suppress(DomainError):
            fold(sync.delegation.id, sync.delegation.requesting_court, events)
    elif body == "request":
        request = envelope.request
        with contextlib.suppress(DomainError):
            kind_from_pb(request.kind)
        with contextlib.suppress(DomainError):
            side_from_pb(request.side)
        docs = tuple(document_from_pb(d) for d in request.documents)
        check_documents([], "documents", docs)
    elif body == "refused":
        with contextlib.suppress(DomainError):
            optional_enum(pb.EventKind, "EVENT_KIND", envelope.refused.kind)
    elif body == "receipt" and envelope.receipt.HasField("at"):
        with contextlib.suppress(ValueError):
            from_ts(envelope.receipt.at)
    elif body == "digest":
        with contextlib.suppress(ValueError):
            from_ts(envelope.digest.since)


def test_one_input(data: bytes) -> None:
    envelope = bus_pb2.Envelope()
    try:
        envelope.ParseFromString(data)
    except DecodeError:
        pass
    else:
        _envelope(envelope)
    request = api.CreateDelegationRequest()
    try:
        request.ParseFromString(data)
    except DecodeError:
        return
    court = COURTS[len(data) % len(COURTS)]
    with contextlib.suppress(DomainError):
        checked = check_draft(REGISTRY, court, draft_from_pb(request))
        fingerprint(checked.draft)


def _seed_corpus() -> str:
    """The corpus folder, with a few valid encodings to start from (a create request, a sync, a
    request and a want)."""
    from datetime import UTC, datetime

    from jiaodong.domain.lifecycle import Event, EventKind, Side
    from jiaodong.wire import event_pb
    from tests.helpers.factory import create_request

    # libFuzzer adds what it finds to this folder, so later runs start from there (var/ is
    # ignored by git and removed by `make clean`).
    folder = ROOT / "var" / "fuzz" / "atheris-corpus"
    folder.mkdir(parents=True, exist_ok=True)
    first = Event("e1", 1, EventKind.CREATED, Side.REQUESTING, "370202", datetime.now(UTC))
    sync = bus_pb2.DelegationSync(
        delegation=pb.Delegation(id="d1", requesting_court="370202"),
        history=[event_pb(first.sealed(""))],
    )
    seeds = [
        create_request().SerializeToString(),
        bus_pb2.Envelope(message_id="m1", court_id="370202", sync=sync).SerializeToString(),
        bus_pb2.Envelope(
            message_id="m2",
            court_id="370202",
            request=bus_pb2.ActionRequest(delegation_id="d1", kind=13, side=1),
        ).SerializeToString(),
        bus_pb2.Envelope(
            message_id="m3", court_id="370602", want=bus_pb2.Want(delegation_ids=["d1"])
        ).SerializeToString(),
    ]
    for i, seed in enumerate(seeds):
        (folder / f"seed-{i}").write_bytes(seed)
    return str(folder)


def main() -> None:
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):
        argv.append(_seed_corpus())
    if not any(a.startswith("-runs=") for a in argv[1:]):
        argv.append("-runs=20000")
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
