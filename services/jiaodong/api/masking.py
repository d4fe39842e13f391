"""Masked views of delegations and events: what boards, change streams and step responses show.

Pure functions on the wire messages; the unmasked reads are recorded by jiaodong.api.audit."""

from __future__ import annotations

from collections.abc import Iterable

from jiaodong.domain.assistance import mask_id, masked_detail, masked_liaison
from jiaodong.domain.identifiers import mask_name, mask_phone, mask_resident_id
from jiaodong.v1 import delegation_pb2 as pb

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
    if out.HasField("assistance"):
        _mask_assistance(out, hidden)
    _mask_documents(out.documents)
    for event in out.history:
        mask_event_in_place(event)
    originals = sorted((k for k in hidden if k), key=len, reverse=True)
    for i, warning in enumerate(out.warnings):
        for value in originals:
            warning = warning.replace(value, hidden[value])
        out.warnings[i] = warning
    return out


def _mask_assistance(out: pb.Delegation, hidden: dict[str, str]) -> None:
    """The visiting officers' names and ID numbers, the subject, the visitors' plates and the
    liaison: personal data of an assistance request."""
    a = out.assistance
    if a.subject:
        hidden[a.subject] = a.subject = mask_address(a.subject)
    for officer in a.officers:
        hidden[officer.name] = officer.name = mask_name(officer.name)
        hidden[officer.work_id] = officer.work_id = mask_id(officer.work_id)
        hidden[officer.enforcement_id] = officer.enforcement_id = mask_id(officer.enforcement_id)
    for i, plate in enumerate(a.vehicles):
        hidden[plate] = a.vehicles[i] = mask_plate(plate)
    for name in ("risk_notes", "urgent_reason"):
        if getattr(a, name):
            setattr(a, name, WITHHELD)
    progress = out.assistance_progress
    if progress.HasField("plan") and progress.plan.liaison:
        progress.plan.liaison = masked_liaison(progress.plan.liaison)
    for outcome in progress.outcomes:
        outcome.record = WITHHELD


def mask_event_in_place(event: pb.DelegationEvent) -> None:
    if event.detail:
        event.detail = masked_detail(event.detail)
    if event.text:
        event.text = WITHHELD
    _mask_documents(event.documents)


def masked_event(event: pb.DelegationEvent) -> pb.DelegationEvent:
    out = pb.DelegationEvent()
    out.CopyFrom(event)
    mask_event_in_place(out)
    return out
