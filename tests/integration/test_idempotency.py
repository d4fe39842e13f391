"""Retries and redeliveries on the wire: a reused request_id is ALREADY_EXISTS over gRPC, and a
copy of a message that JetStream delivers again (under a new Nats-Msg-Id, so the broker does not
drop it) is applied once by the real consumer.

The idempotency of the handlers themselves (request ids, cancels, every message of a lifecycle
delivered twice) is tested without sockets in tests/handlers/test_idempotency.py."""

from __future__ import annotations

import asyncio
import uuid

import grpc

from jiaodong.bootstrap import Running
from jiaodong.store.tables import DeadLetterRow, InboxRow, OutboxRow
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import (
    Region,
    as_court,
    coordinator_probe,
    delegation_probe,
    eventually,
    has_status,
    publish_raw,
    rpc_error,
)
from tests.integration.conftest import bus_idle, table_rows

QD, YT = "370202", "370602"


async def wait_delivered(region: Region, delegation_id: str) -> None:
    delivered = has_status(pb.STATUS_DELIVERED)
    await eventually(delegation_probe(region.node_stub("yantai"), YT, delegation_id), delivered)
    await eventually(delegation_probe(region.node_stub("qingdao"), QD, delegation_id), delivered)
    await eventually(coordinator_probe(region.coordinator_stub(), delegation_id), delivered)


async def views(region: Region, delegation_id: str) -> dict[str, pb.Delegation]:
    """The delegation as the requesting node, the entrusted node and the coordinator hold it."""
    return {
        "qingdao": await delegation_probe(region.node_stub("qingdao"), QD, delegation_id)(),
        "yantai": await delegation_probe(region.node_stub("yantai"), YT, delegation_id)(),
        "coordinator": await coordinator_probe(region.coordinator_stub(), delegation_id)(),
    }


def hashes(d: pb.Delegation) -> list[str]:
    return [e.hash for e in d.history]


# -- CreateDelegation ------------------------------------------------------------------------------


async def test_a_retry_and_a_reused_request_id_on_the_wire(region: Region) -> None:
    qingdao = region.node_stub("qingdao")
    request = create_request()
    first = await qingdao.CreateDelegation(request, metadata=as_court(QD))
    again = await qingdao.CreateDelegation(request, metadata=as_court(QD))
    assert first.created and not again.created
    assert again.delegation.id == first.delegation.id
    changed = create_request(request_id=request.request_id, requested_actions="查封被执行人房产")
    err = await rpc_error(qingdao.CreateDelegation(changed, metadata=as_court(QD)))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert first.delegation.id in (err.details() or "")


# -- a message delivered twice ---------------------------------------------------------------------


def published(service: Running, subject_prefix: str) -> list[OutboxRow]:
    rows = [r for r in table_rows(service, OutboxRow) if r.subject.startswith(subject_prefix)]
    assert all(r.published_at is not None for r in rows)
    return sorted(rows, key=lambda r: r.id or 0)


async def redeliver(region: Region, rows: list[OutboxRow], consumers: list[Running]) -> None:
    """Publish outbox rows again under new Nats-Msg-Ids and wait until the consumers took them."""
    before = {c.name: c.transport.consumed + c.transport.parked for c in consumers}
    for row in rows:
        await publish_raw(region.settings.nats_url, row.subject, row.payload, uuid.uuid4().hex)

    async def handled() -> int:
        return sum(c.transport.consumed + c.transport.parked - before[c.name] for c in consumers)

    await eventually(handled, lambda n: n >= len(rows))
    await bus_idle(region)
    await asyncio.sleep(0.3)  # settle: anything the duplicates caused would be in flight now


def fingerprint(d: pb.Delegation) -> tuple[object, ...]:
    requests = [(r.request_id, r.state) for r in d.requests]
    return d.status, d.seq, d.last_hash, hashes(d), requests


def applied_messages(region: Region) -> int:
    """Inbox rows at the coordinator, leaving out reconciliation digests (they arrive every
    second in these tests and are not what is counted)."""
    rows = table_rows(region.coordinator, InboxRow)
    return sum(1 for r in rows if not r.subject.endswith(".digest"))


async def test_an_envelope_delivered_twice_changes_nothing(region: Region) -> None:
    created = await region.node_stub("qingdao").CreateDelegation(
        create_request(), metadata=as_court(QD)
    )
    d = created.delegation.id
    await wait_delivered(region, d)
    await bus_idle(region)
    before = await views(region, d)
    inbox = applied_messages(region)

    first_sync = published(region.nodes["qingdao"], f"jd.v1.coord.{QD}.sync")[0]
    await redeliver(region, [first_sync], [region.coordinator])

    after = await views(region, d)
    for side in ("coordinator", "yantai"):
        assert len(after[side].history) == len(before[side].history) == 3, side
        assert fingerprint(after[side]) == fingerprint(before[side]), side
    assert applied_messages(region) == inbox
    assert table_rows(region.coordinator, DeadLetterRow) == []
