"""Retries and redeliveries: one request_id makes one delegation, one message applies once."""

from __future__ import annotations

import asyncio
import uuid

import grpc

from jiaodong.bootstrap import Running
from jiaodong.store.tables import DeadLetterRow, DelegationRow, InboxRow, OutboxRow
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
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

QD, QD_SHIBEI, YT = "370202", "370203", "370602"


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


async def counts_everywhere(region: Region) -> dict[str, int]:
    """How many delegations each side lists (through its API) and stores (in its database)."""
    sent = await region.node_stub("qingdao").ListDelegations(
        api.ListDelegationsRequest(direction=api.DIRECTION_SENT), metadata=as_court(QD)
    )
    received = await region.node_stub("yantai").ListDelegations(
        api.ListDelegationsRequest(direction=api.DIRECTION_RECEIVED), metadata=as_court(YT)
    )
    board = await region.coordinator_stub().ListDelegations(
        capi.CoordinatorListDelegationsRequest()
    )
    return {
        "qingdao sent": len(sent.delegations),
        "yantai received": len(received.delegations),
        "coordinator total": board.total,
        "coordinator listed": len(board.delegations),
        **{
            f"{name} rows": len(table_rows(service, DelegationRow))
            for name, service in [("coordinator", region.coordinator), *region.nodes.items()]
            if name != "weifang"
        },
    }


# -- CreateDelegation ------------------------------------------------------------------------------


async def test_same_request_id_gives_one_delegation_everywhere(region: Region) -> None:
    qingdao = region.node_stub("qingdao")
    request = create_request()
    first = await qingdao.CreateDelegation(request, metadata=as_court(QD))
    again = await qingdao.CreateDelegation(request, metadata=as_court(QD))
    assert first.created and not again.created
    assert again.delegation.id == first.delegation.id

    await wait_delivered(region, first.delegation.id)
    late = await qingdao.CreateDelegation(request, metadata=as_court(QD))
    assert not late.created and late.delegation.id == first.delegation.id
    assert late.delegation.status == pb.STATUS_DELIVERED

    await bus_idle(region)
    assert set((await counts_everywhere(region)).values()) == {1}
    own = [r for r in table_rows(region.nodes["qingdao"], OutboxRow) if f".{QD}." in r.subject]
    assert len(own) == 1, "a retry must not send the delegation again"


async def test_concurrent_retries_create_one_delegation(region: Region) -> None:
    qingdao = region.node_stub("qingdao")
    request = create_request()
    replies = await asyncio.gather(
        *(qingdao.CreateDelegation(request, metadata=as_court(QD)) for _ in range(5))
    )
    assert sorted(r.created for r in replies) == [False] * 4 + [True]
    assert len({r.delegation.id for r in replies}) == 1
    await wait_delivered(region, replies[0].delegation.id)
    await bus_idle(region)
    assert set((await counts_everywhere(region)).values()) == {1}


async def test_same_request_id_with_other_content_is_already_exists(region: Region) -> None:
    qingdao = region.node_stub("qingdao")
    request = create_request()
    first = await qingdao.CreateDelegation(request, metadata=as_court(QD))
    changed = create_request(request_id=request.request_id, requested_actions="查封被执行人房产")
    err = await rpc_error(qingdao.CreateDelegation(changed, metadata=as_court(QD)))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert first.delegation.id in (err.details() or "")

    await wait_delivered(region, first.delegation.id)
    await bus_idle(region)
    assert set((await counts_everywhere(region)).values()) == {1}
    stored = (await views(region, first.delegation.id))["yantai"]
    assert stored.requested_actions == request.requested_actions


async def test_request_id_is_scoped_to_the_requesting_court(region: Region) -> None:
    qingdao = region.node_stub("qingdao")
    request = create_request()
    shinan = await qingdao.CreateDelegation(request, metadata=as_court(QD))
    shibei = await qingdao.CreateDelegation(
        create_request(request_id=request.request_id, case_number="(2024)鲁0203执9号"),
        metadata=as_court(QD_SHIBEI),
    )
    assert shinan.created and shibei.created
    assert shinan.delegation.id != shibei.delegation.id


# -- requests (cancel) -----------------------------------------------------------------------------


async def test_cancel_twice_with_one_request_id_cancels_once(region: Region) -> None:
    qingdao = region.node_stub("qingdao")
    created = await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))
    d = created.delegation.id
    await wait_delivered(region, d)

    cancel = api.CancelRequest(id=d, request_id="cancel-1", text="已自动履行")
    await qingdao.Cancel(cancel, metadata=as_court(QD))
    await qingdao.Cancel(cancel, metadata=as_court(QD))
    cancelled = has_status(pb.STATUS_CANCELLED)
    await eventually(delegation_probe(region.node_stub("yantai"), YT, d), cancelled)
    await eventually(delegation_probe(qingdao, QD, d), cancelled)
    await eventually(coordinator_probe(region.coordinator_stub(), d), cancelled)
    retry = await qingdao.Cancel(cancel, metadata=as_court(QD))  # a retry after it took effect
    assert retry.delegation.status == pb.STATUS_CANCELLED

    await bus_idle(region)
    seen = await views(region, d)
    for side, delegation in seen.items():
        kinds = [e.kind for e in delegation.history]
        assert kinds.count(pb.EVENT_KIND_CANCELLED) == 1, (side, kinds)
        assert kinds[-1] == pb.EVENT_KIND_CANCELLED, side
    assert hashes(seen["qingdao"]) == hashes(seen["yantai"]) == hashes(seen["coordinator"])
    requests = seen["qingdao"].requests
    assert [(r.request_id, r.state) for r in requests] == [("cancel-1", "applied")]

    reused = api.UrgeRequest(id=d, request_id="cancel-1")
    err = await rpc_error(qingdao.Urge(reused, metadata=as_court(QD)))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS


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


async def test_every_message_of_a_lifecycle_delivered_twice_changes_nothing(
    region: Region,
) -> None:
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    created = await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))
    d = created.delegation.id
    await wait_delivered(region, d)
    await qingdao.Urge(api.UrgeRequest(id=d, request_id="urge-1"), metadata=as_court(QD))
    await yantai.Acknowledge(api.AcknowledgeRequest(id=d), metadata=as_court(YT))
    await yantai.Accept(api.AcceptRequest(id=d), metadata=as_court(YT))
    await eventually(
        coordinator_probe(region.coordinator_stub(), d), has_status(pb.STATUS_ACCEPTED)
    )
    await bus_idle(region)
    before = await views(region, d)
    assert pb.EVENT_KIND_URGED in [e.kind for e in before["yantai"].history]

    services = [region.coordinator, region.nodes["qingdao"], region.nodes["yantai"]]
    every = [row for service in services for row in published(service, "jd.v1.")]
    assert len(every) >= 8
    await redeliver(region, every, services)

    after = await views(region, d)
    for side in before:
        assert fingerprint(after[side]) == fingerprint(before[side]), side
    for service in services:
        assert table_rows(service, DeadLetterRow) == [], service.name
