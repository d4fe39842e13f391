"""Document contents travel with the delegation and are checked (SHA-256 and size) on arrival."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator

import grpc

from jiaodong.domain.identity import Identity, Role
from jiaodong.store.tables import DeadLetterRow, DelegationRow, DocumentBlobRow
from jiaodong.v1 import bus_pb2
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
from tests.integration.conftest import table_rows
from tests.integration.test_bus_faults import forged_sync

QD, YT = "370202", "370602"
MiB = 1024 * 1024


def pieces(data: bytes, declare: bool = True) -> Iterator[api.UploadDocumentRequest]:
    sha = hashlib.sha256(data).hexdigest()
    for i in range(0, len(data), 3 * MiB):
        first = declare and i == 0
        yield api.UploadDocumentRequest(
            sha256=sha if first else "",
            size_bytes=len(data) if first else 0,
            data=data[i : i + 3 * MiB],
        )


def document(data: bytes, name: str = "查封裁定书.pdf") -> pb.Document:
    return pb.Document(
        name=name,
        media_type="application/pdf",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def state_of(d: pb.Delegation, sha: str) -> str:
    return next((s.state for s in d.document_states if s.sha256 == sha), "")


async def test_a_document_travels_and_is_verified_at_the_other_side(region: Region) -> None:
    content = os.urandom(2 * MiB + 12345)  # three pieces of at most 1 MiB on the bus
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    uploaded = await qingdao.UploadDocument(pieces(content), metadata=as_court(QD))
    assert uploaded.sha256 == hashlib.sha256(content).hexdigest() and not uploaded.existed
    doc = document(content)
    made = await qingdao.CreateDelegation(create_request(documents=[doc]), metadata=as_court(QD))
    d = made.delegation.id

    seen = await eventually(
        delegation_probe(yantai, YT, d),
        lambda x: x is not None and state_of(x, doc.sha256) == "verified",
    )
    assert seen.documents[0].sha256 == doc.sha256
    coordinator = await eventually(
        coordinator_probe(region.coordinator_stub(), d),
        lambda x: x is not None and state_of(x, doc.sha256) == "verified",
    )
    assert coordinator.id == d
    got = b"".join(
        [
            piece.data
            async for piece in yantai.GetDocument(
                api.GetDocumentRequest(delegation_id=d, sha256=doc.sha256), metadata=as_court(YT)
            )
        ]
    )
    assert got == content
    # A court that is no party may not read it, even at the node holding it.
    other = region.node_stub("yantai", Identity(Role.OFFICER, "370611"))
    err = await rpc_error(
        other.GetDocument(api.GetDocumentRequest(delegation_id=d, sha256=doc.sha256)).read()
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_attaching_a_document_that_was_not_uploaded_is_refused(region: Region) -> None:
    qingdao = region.node_stub("qingdao")
    doc = document(b"never uploaded")
    err = await rpc_error(
        qingdao.CreateDelegation(create_request(documents=[doc]), metadata=as_court(QD))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "UploadDocument" in (err.details() or "")
    assert table_rows(region.nodes["qingdao"], DelegationRow) == []


async def test_an_upload_that_does_not_match_its_declaration_is_refused(region: Region) -> None:
    qingdao = region.node_stub("qingdao")
    declared = api.UploadDocumentRequest(sha256="0" * 64, size_bytes=5, data=b"hello")
    err = await rpc_error(qingdao.UploadDocument(iter([declared]), metadata=as_court(QD)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "sha256" in (err.details() or "")
    short = api.UploadDocumentRequest(size_bytes=6, data=b"hello")
    err = await rpc_error(qingdao.UploadDocument(iter([short]), metadata=as_court(QD)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "size_bytes" in (err.details() or "")
    assert table_rows(region.nodes["qingdao"], DocumentBlobRow) == []


async def test_content_that_does_not_match_its_sha256_is_refused_and_reported(
    region: Region,
) -> None:
    """A faulty (or hostile) Qingdao node declares a document and sends other bytes for it."""
    real = b"%PDF-1.7 the real ruling"
    forged = b"%PDF-1.7 something else!"
    assert len(real) == len(forged)
    sync = forged_sync(QD)
    declared = document(real)
    sync.delegation.documents.append(declared)
    d = sync.delegation.id
    envelope = bus_pb2.Envelope(message_id=uuid.uuid4().hex, court_id=QD, sync=sync)
    await publish_raw(
        region.settings.nats_url, f"jd.v1.coord.{QD}.sync", envelope.SerializeToString(), "s1"
    )
    await eventually(
        coordinator_probe(region.coordinator_stub(), d), has_status(pb.STATUS_DELIVERED)
    )
    chunk = bus_pb2.DocumentChunk(
        delegation_id=d,
        sha256=declared.sha256,
        size_bytes=declared.size_bytes,
        index=0,
        count=1,
        data=forged,
        from_court=QD,
    )
    bad = bus_pb2.Envelope(message_id=uuid.uuid4().hex, court_id=QD, chunk=chunk)
    await publish_raw(
        region.settings.nats_url, f"jd.v1.coord.{QD}.doc", bad.SerializeToString(), "c1"
    )

    async def parked() -> list[DeadLetterRow]:
        return table_rows(region.coordinator, DeadLetterRow)

    [letter] = await eventually(parked, lambda rows: len(rows) == 1)
    assert "rejected" in letter.reason and declared.sha256 in letter.reason
    view = await coordinator_probe(region.coordinator_stub(), d)()
    assert state_of(view, declared.sha256) == "rejected"
    board = await region.coordinator_stub().ListDelegations(
        capi.CoordinatorListDelegationsRequest()
    )
    assert any("parked" in n for n in board.notices)
    # Never forwarded: the entrusted node holds no content for it.
    at_yantai = await eventually(
        delegation_probe(region.node_stub("yantai"), YT, d), has_status(pb.STATUS_DELIVERED)
    )
    assert state_of(at_yantai, declared.sha256) == "absent"

    # The right bytes afterwards are accepted and travel on.
    chunk.data = real
    good = bus_pb2.Envelope(message_id=uuid.uuid4().hex, court_id=QD, chunk=chunk)
    await publish_raw(
        region.settings.nats_url, f"jd.v1.coord.{QD}.doc", good.SerializeToString(), "c2"
    )
    await eventually(
        delegation_probe(region.node_stub("yantai"), YT, d),
        lambda x: x is not None and state_of(x, declared.sha256) == "verified",
    )


async def test_a_piece_of_an_undeclared_document_is_parked_at_the_node(region: Region) -> None:
    qingdao = region.node_stub("qingdao")
    made = await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))
    d = made.delegation.id
    await eventually(
        delegation_probe(region.node_stub("yantai"), YT, d), has_status(pb.STATUS_DELIVERED)
    )
    stray = b"not in the history"
    chunk = bus_pb2.DocumentChunk(
        delegation_id=d,
        sha256=hashlib.sha256(stray).hexdigest(),
        size_bytes=len(stray),
        index=0,
        count=1,
        data=stray,
        from_court=QD,
    )
    envelope = bus_pb2.Envelope(message_id=uuid.uuid4().hex, court_id=YT, chunk=chunk)
    await publish_raw(
        region.settings.nats_url, f"jd.v1.court.{YT}.doc", envelope.SerializeToString(), "c3"
    )

    async def parked() -> list[DeadLetterRow]:
        return table_rows(region.nodes["yantai"], DeadLetterRow)

    [letter] = await eventually(parked, lambda rows: len(rows) == 1)
    assert "not one the history" in letter.reason
    assert table_rows(region.nodes["yantai"], DocumentBlobRow) == []
