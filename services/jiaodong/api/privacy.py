"""Personal data at the API edge: masked views for boards and change streams, and the record of
every unmasked read (who, when, which delegation, which RPC) that an auditor can list."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

import grpc
from sqlmodel import Session, col, select

from jiaodong.api.errors import handles_domain_errors
from jiaodong.api.paging import page_offset, page_size, page_token
from jiaodong.domain.clock import Clock
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.identifiers import mask_name, mask_phone, mask_resident_id
from jiaodong.security.grpc_auth import caller
from jiaodong.store.database import Database
from jiaodong.store.tables import DataReadRow
from jiaodong.v1 import audit_service_pb2 as audit_api
from jiaodong.v1 import audit_service_pb2_grpc as audit_grpc
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import to_stored, ts

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]
WITHHELD = "(withheld on masked views; open the delegation to read it)"


def mask_address(value: str) -> str:
    """Keep the first three characters (usually the district) and hide the rest."""
    text = value.strip()
    if len(text) <= 3:
        return "*" * len(text)
    return text[:3] + "*" * min(len(text) - 3, 8)


def mask_plate(value: str) -> str:
    """``鲁F12345`` -> ``鲁F*****``: the issuing city stays visible."""
    text = value.strip()
    return text[:2] + "*" * max(len(text) - 2, 0)


def _mask_documents(docs: Iterable[pb.Document]) -> None:
    for doc in docs:
        doc.name = mask_name(doc.name) if doc.name else ""


def masked(delegation: pb.Delegation) -> pb.Delegation:
    """A copy with names, ID numbers, credit codes, phones, addresses, plates and free text
    masked or withheld: what boards, change streams and reports show."""
    out = pb.Delegation()
    out.CopyFrom(delegation)
    hidden: dict[str, str] = {}  # full value -> its mask, also applied to warnings
    if out.HasField("debtor"):
        debtor = out.debtor
        if debtor.HasField("person"):
            person = debtor.person
            hidden[person.name] = person.name = mask_name(person.name)
            hidden[person.resident_id] = mask_resident_id(person.resident_id)
            person.resident_id = hidden[person.resident_id]
        if debtor.HasField("organisation"):
            org = debtor.organisation
            hidden[org.name] = org.name = mask_name(org.name)
            code = org.social_credit_code
            hidden[code] = org.social_credit_code = mask_resident_id(code)
        if debtor.phone:
            hidden[debtor.phone] = debtor.phone = mask_phone(debtor.phone)
    if out.HasField("place") and out.place.address:
        hidden[out.place.address] = out.place.address = mask_address(out.place.address)
    if out.plate:
        hidden[out.plate] = out.plate = mask_plate(out.plate)
    if out.requested_actions:
        out.requested_actions = WITHHELD
    _mask_documents(out.documents)
    for event in out.history:
        mask_event_in_place(event)
    originals = sorted((k for k in hidden if k), key=len, reverse=True)
    for i, warning in enumerate(out.warnings):
        for value in originals:
            warning = warning.replace(value, hidden[value])
        out.warnings[i] = warning
    return out


def mask_event_in_place(event: pb.DelegationEvent) -> None:
    if event.text:
        event.text = WITHHELD
    _mask_documents(event.documents)


def masked_event(event: pb.DelegationEvent) -> pb.DelegationEvent:
    out = pb.DelegationEvent()
    out.CopyFrom(event)
    mask_event_in_place(out)
    return out


# -- the record of reads -----------------------------------------------------------------------


async def record_reads(db: Database, clock: Clock, rpc: str, delegation_ids: Iterable[str]) -> None:
    """Record that the current caller is about to receive these delegations' personal data.
    Committed before the data leaves: a read that cannot be recorded is not served."""
    ids = list(dict.fromkeys(delegation_ids))
    if not ids:
        return
    reader = caller().label
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
        size = page_size(request.page_size)
        offset = page_offset(request.page_token)
        rows = await self.db.run(
            lambda s: list_reads(s, request.delegation_id, request.reader, offset, size)
        )
        out = audit_api.ListDataReadsResponse(
            next_page_token=page_token(offset + size) if len(rows) > size else ""
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
