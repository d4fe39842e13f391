"""Document contents: stored in pieces, checked whole (SHA-256 and size) before anyone may use them.

The same code runs at every receiver. A document is ``verified`` when uploaded by a local court
(the node hashed what it received) or when every piece arrived from the bus and the whole matched
the declared SHA-256 and size; otherwise it is ``rejected`` with the reason, its pieces dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from jiaodong.domain.delegation import MAX_DOCUMENT_BYTES, SHA256
from jiaodong.domain.errors import InvalidInput, NotFound
from jiaodong.store import ledger, outbox
from jiaodong.store.mapper import content_of
from jiaodong.store.tables import (
    DelegationRow,
    DocumentBlobRow,
    DocumentChunkRow,
    DocumentUseRow,
)
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb

log = structlog.get_logger("jiaodong.documents")
CHUNK = 1024 * 1024
VERIFIED, RECEIVING, REJECTED = "verified", "receiving", "rejected"


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK))


@dataclass(frozen=True)
class Arrival:
    """What one arriving piece did: ``verdict`` is set when the document just became whole."""

    sha256: str
    verdict: str = ""  # "", VERIFIED or REJECTED
    reason: str = ""


class BadChunk(ValueError):
    """A piece that can never belong to a valid document (park it)."""


def pieces(data: bytes) -> Iterator[bytes]:
    for start in range(0, max(len(data), 1), CHUNK):
        yield data[start : start + CHUNK]


def store_upload(session: Session, data: bytes, now: datetime) -> tuple[str, bool]:
    """Store content a local court uploaded; returns (sha256, existed)."""
    sha = hashlib.sha256(data).hexdigest()
    blob = session.get(DocumentBlobRow, sha)
    if blob is not None and blob.state == VERIFIED:
        return sha, True
    if blob is not None:  # a half-arrived or rejected copy: replace it with the real one
        _drop_chunks(session, sha)
        session.delete(blob)
        session.flush()
    chunks = list(pieces(data))
    session.add(
        DocumentBlobRow(
            sha256=sha,
            size_bytes=len(data),
            chunk_count=len(chunks),
            state=VERIFIED,
            updated_at=now,
        )
    )
    session.add_all(DocumentChunkRow(sha256=sha, idx=i, data=c) for i, c in enumerate(chunks))
    return sha, False


def state_of(session: Session, sha256: str) -> tuple[str, str]:
    """(state, detail) of one document here: verified, receiving, rejected or absent."""
    blob = session.get(DocumentBlobRow, sha256)
    if blob is None:
        return "absent", "only its description is here"
    if blob.state == RECEIVING:
        have = len(_chunk_indexes(session, sha256))
        return RECEIVING, f"{have} of {blob.chunk_count} pieces"
    return blob.state, blob.reason


def require_verified(session: Session, sha256: str, size: int, where: str) -> None:
    """An attached document must have been uploaded here, whole and matching its description."""
    blob = session.get(DocumentBlobRow, sha256)
    if blob is None or blob.state != VERIFIED:
        raise InvalidInput.one(f"{where}.sha256", "upload the document (UploadDocument) first")
    if blob.size_bytes != size:
        raise InvalidInput.one(
            f"{where}.size_bytes", f"is {size}, but the uploaded content has {blob.size_bytes}"
        )


def use(session: Session, delegation_id: str, sha256: str, from_court: str) -> bool:
    """Note that a delegation uses a document; False if it already did."""
    if session.get(DocumentUseRow, (delegation_id, sha256)) is not None:
        return False
    session.add(DocumentUseRow(delegation_id=delegation_id, sha256=sha256, from_court=from_court))
    session.flush()
    return True


@dataclass(frozen=True)
class Use:
    """A document a delegation uses, and the court that attached it."""

    sha256: str
    from_court: str


def uses(session: Session, delegation_id: str) -> list[Use]:
    """Read with SQLAlchemy Core: asked on every routing, almost always empty."""
    table = DocumentUseRow.__table__  # type: ignore[attr-defined]
    query = sa_select(table.c.sha256, table.c.from_court).where(
        table.c.delegation_id == delegation_id
    )
    return [Use(r.sha256, r.from_court) for r in session.connection().execute(query)]


def chunks_of(
    session: Session, delegation_id: str, sha256: str, from_court: str
) -> list[bus_pb2.DocumentChunk]:
    """The pieces of a verified document, as bus messages."""
    blob = session.get(DocumentBlobRow, sha256)
    if blob is None or blob.state != VERIFIED:
        return []
    rows = session.exec(
        select(DocumentChunkRow)
        .where(DocumentChunkRow.sha256 == sha256)
        .order_by(col(DocumentChunkRow.idx))
    ).all()
    return [
        bus_pb2.DocumentChunk(
            delegation_id=delegation_id,
            sha256=sha256,
            size_bytes=blob.size_bytes,
            index=row.idx,
            count=blob.chunk_count,
            data=row.data,
            from_court=from_court,
        )
        for row in rows
    ]


def read(session: Session, sha256: str) -> list[bytes]:
    """The content of a verified document, piece by piece."""
    blob = session.get(DocumentBlobRow, sha256)
    if blob is None or blob.state != VERIFIED:
        state, detail = state_of(session, sha256)
        raise NotFound(f"document {sha256[:12]}… is not available here ({state}: {detail})")
    rows = session.exec(
        select(DocumentChunkRow)
        .where(DocumentChunkRow.sha256 == sha256)
        .order_by(col(DocumentChunkRow.idx))
    ).all()
    return [row.data for row in rows]


def check_chunk(chunk: bus_pb2.DocumentChunk) -> None:
    if not SHA256.fullmatch(chunk.sha256):
        raise BadChunk("sha256 is not 64 lowercase hex characters")
    if not 0 < chunk.size_bytes <= MAX_DOCUMENT_BYTES:
        raise BadChunk(f"declared size {chunk.size_bytes} is out of range")
    if chunk.count != chunk_count(chunk.size_bytes):
        raise BadChunk(f"{chunk.count} pieces cannot make {chunk.size_bytes} bytes")
    if not 0 <= chunk.index < chunk.count:
        raise BadChunk(f"piece {chunk.index} of {chunk.count}")
    if len(chunk.data) > CHUNK or not chunk.data:
        raise BadChunk(f"piece of {len(chunk.data)} bytes")


def receive(session: Session, chunk: bus_pb2.DocumentChunk, now: datetime) -> Arrival:
    """Store one arriving piece; when the last one is in, check the whole document."""
    check_chunk(chunk)
    sha = chunk.sha256
    blob = session.get(DocumentBlobRow, sha)
    if blob is not None and blob.state == VERIFIED:
        return Arrival(sha)  # already whole here (uploaded here, or an earlier copy)
    if blob is None or blob.state == REJECTED:
        if blob is not None:
            session.delete(blob)
            session.flush()
        blob = DocumentBlobRow(
            sha256=sha,
            size_bytes=chunk.size_bytes,
            chunk_count=chunk.count,
            state=RECEIVING,
            updated_at=now,
        )
        session.add(blob)
    elif (blob.size_bytes, blob.chunk_count) != (chunk.size_bytes, chunk.count):
        raise BadChunk(
            f"pieces disagree about the document: {chunk.size_bytes} bytes in {chunk.count} "
            f"pieces, earlier {blob.size_bytes} in {blob.chunk_count}"
        )
    if session.get(DocumentChunkRow, (sha, chunk.index)) is None:
        session.add(DocumentChunkRow(sha256=sha, idx=chunk.index, data=bytes(chunk.data)))
        session.flush()
    if len(_chunk_indexes(session, sha)) < blob.chunk_count:
        return Arrival(sha)
    digest = hashlib.sha256()
    size = 0
    for row in session.exec(
        select(DocumentChunkRow)
        .where(DocumentChunkRow.sha256 == sha)
        .order_by(col(DocumentChunkRow.idx))
    ).all():
        digest.update(row.data)
        size += len(row.data)
    blob.updated_at = now
    if digest.hexdigest() == sha and size == blob.size_bytes:
        blob.state = VERIFIED
        session.add(blob)
        return Arrival(sha, VERIFIED)
    blob.state = REJECTED
    blob.reason = (
        f"content is {size} bytes with SHA-256 {digest.hexdigest()[:16]}…, "
        f"declared {blob.size_bytes} bytes with {sha[:16]}…"
    )
    session.add(blob)
    _drop_chunks(session, sha)
    return Arrival(sha, REJECTED, blob.reason)


def documents_named(session: Session, delegation_id: str) -> dict[str, int]:
    """sha256 -> size of every document the delegation's content and history declare."""
    row = session.get(DelegationRow, delegation_id)
    if row is None:
        return {}
    named = {d.sha256: d.size_bytes for d in content_of(row).documents}
    for event in ledger.history(session, row.id):
        named.update({d.sha256: d.size_bytes for d in event.documents})
    return named


def states(session: Session, delegation: pb.Delegation) -> list[pb.DocumentState]:
    """The state here of every document a delegation's content and history name."""
    shas = [d.sha256 for d in delegation.documents]
    shas += [d.sha256 for e in delegation.history for d in e.documents]
    out = []
    for sha in dict.fromkeys(shas):
        state, detail = state_of(session, sha)
        out.append(pb.DocumentState(sha256=sha, state=state, detail=detail))
    return out


def report_arrival(
    session: Session, subject: str, envelope: bus_pb2.Envelope, arrival: Arrival, now: datetime
) -> None:
    """A rejected document is refused on the record: its last piece is parked as a dead letter
    with the reason (the board counts them) and an error is logged; a verified one is logged."""
    chunk = envelope.chunk
    if arrival.verdict == REJECTED:
        outbox.park(
            session,
            subject,
            envelope.message_id,
            f"document {chunk.sha256} of {chunk.delegation_id} rejected: {arrival.reason}",
            envelope.SerializeToString(),
            now,
        )
        log.error(
            "document_rejected",
            delegation_id=chunk.delegation_id,
            sha256=chunk.sha256,
            from_court=chunk.from_court,
            reason=arrival.reason,
        )
    elif arrival.verdict == VERIFIED:
        log.info(
            "document_verified",
            delegation_id=chunk.delegation_id,
            sha256=chunk.sha256,
            size=chunk.size_bytes,
        )


def _chunk_indexes(session: Session, sha256: str) -> list[int]:
    query = select(DocumentChunkRow.idx).where(DocumentChunkRow.sha256 == sha256)
    return list(session.exec(query).all())


def _drop_chunks(session: Session, sha256: str) -> None:
    for row in session.exec(select(DocumentChunkRow).where(DocumentChunkRow.sha256 == sha256)):
        session.delete(row)
