"""The record of every unmasked read of personal data (who, when, which delegation, which RPC)
and the AuditService that lists it to an auditor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

import grpc
from sqlmodel import Session, col, select

from jiaodong.api.errors import handles_domain_errors
from jiaodong.api.paging import next_page, page_of
from jiaodong.domain.clock import Clock
from jiaodong.domain.errors import InvalidInput
from jiaodong.security.grpc_auth import caller
from jiaodong.store.database import Database
from jiaodong.store.tables import DataReadRow
from jiaodong.v1 import audit_service_pb2 as audit_api
from jiaodong.v1 import audit_service_pb2_grpc as audit_grpc
from jiaodong.wire import to_stored, ts

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]


async def record_reads(
    db: Database,
    clock: Clock,
    rpc: str,
    delegation_ids: Iterable[str],
    reader: str | None = None,
) -> None:
    """Record that the current caller (or ``reader``: a signed-in person on the web board) is
    about to receive these delegations' personal data. Committed before the data leaves: a read
    that cannot be recorded is not served."""
    ids = list(dict.fromkeys(delegation_ids))
    if not ids:
        return
    reader = reader or caller().label
    at = to_stored(clock.now())

    def work(session: Session) -> None:
        session.add_all(DataReadRow(at=at, reader=reader, delegation_id=i, rpc=rpc) for i in ids)

    await db.run(work)


def list_reads(
    session: Session, delegation_id: str, reader: str, offset: int, size: int
) -> list[DataReadRow]:
    query = select(DataReadRow)
    if delegation_id:
        query = query.where(DataReadRow.delegation_id == delegation_id)
    if reader:
        query = query.where(DataReadRow.reader == reader)
    query = query.order_by(col(DataReadRow.id).desc()).offset(offset).limit(size + 1)
    return list(session.exec(query).all())


class AuditServicer(audit_grpc.AuditServiceServicer):
    """ListDataReads on one service's own record (the auditor asks each service)."""

    def __init__(self, db: Database, service_name: str) -> None:
        self.db = db
        self.service_name = service_name

    @handles_domain_errors
    async def ListDataReads(
        self, request: audit_api.ListDataReadsRequest, context: Ctx
    ) -> audit_api.ListDataReadsResponse:
        if len(request.delegation_id) > 40:
            raise InvalidInput.one("delegation_id", "is at most 40 characters")
        if len(request.reader) > 60:
            raise InvalidInput.one("reader", "is at most 60 characters")
        offset, size = page_of(request.page_size, request.page_token)
        rows = await self.db.run(
            lambda s: list_reads(s, request.delegation_id, request.reader, offset, size)
        )
        out = audit_api.ListDataReadsResponse(
            next_page_token=next_page(offset, size, len(rows) > size)
        )
        for row in rows[:size]:
            out.reads.add(
                at=ts(row.at),
                reader=row.reader,
                delegation_id=row.delegation_id,
                rpc=row.rpc,
                service=self.service_name,
            )
        return out
