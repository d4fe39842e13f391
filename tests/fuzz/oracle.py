"""What the fuzz expects of a message on the bus: whether the transport must park it at once, and
which delegation (if any) it may introduce. The region it is delivered into is
tests/helpers/region.py."""

from __future__ import annotations

from collections.abc import Collection

from google.protobuf.message import DecodeError

from jiaodong.bus.subjects import court_of
from jiaodong.domain.errors import DomainError
from jiaodong.domain.lifecycle import start
from jiaodong.v1 import bus_pb2
from jiaodong.wire import event_from_pb


def must_park(subject: str, data: bytes, hosted: Collection[str] | None) -> str:
    """Why the transport rules say this message is parked at its first delivery, or "".
    ``hosted``: the courts of the consuming node (None: the coordinator, any court)."""
    envelope = bus_pb2.Envelope()
    try:
        envelope.ParseFromString(data)
    except DecodeError:
        return "DecodeError"
    if not envelope.message_id or envelope.WhichOneof("body") is None:
        return "without message id or body"
    try:
        court = court_of(subject)
    except ValueError:
        return ""  # not a jd.v1 subject: the handler fails and is retried, then parked
    if envelope.court_id != court or (hosted is not None and envelope.court_id not in hosted):
        return "Permanent"
    return ""


def may_create(data: bytes) -> str | None:
    """The id of the delegation a message could introduce: a sync whose history starts with a
    correctly sealed CREATED event may introduce its delegation's id. Nothing else may add one
    (None)."""
    envelope = bus_pb2.Envelope()
    try:
        envelope.ParseFromString(data)
    except DecodeError:
        return None
    if envelope.WhichOneof("body") != "sync" or not envelope.sync.history:
        return None
    sync = envelope.sync
    try:
        start(event_from_pb(sync.history[0]), sync.delegation.requesting_court, sync.delegation.id)
    except (DomainError, ValueError):
        return None
    return sync.delegation.id
