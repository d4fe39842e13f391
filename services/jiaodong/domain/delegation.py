"""What a delegation asks for, and the checks a new one must pass before anything is written."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from enum import StrEnum

from jiaodong.domain.errors import DomainError, FieldViolation, InvalidInput, RoutingRefused
from jiaodong.domain.identifiers import (
    case_number_court_code,
    normalize_case_number,
    plate_city,
    validate_plate,
    validate_resident_id,
    validate_social_credit_code,
)
from jiaodong.domain.ids import DELEGATION_ID
from jiaodong.domain.lifecycle import Document
from jiaodong.domain.registry import Registry
from jiaodong.domain.routing import Target, route

MAX_TEXT = 4000
MAX_NAME = 200
MAX_DOCUMENTS = 50
MAX_DOCUMENT_BYTES = 200 * 1024 * 1024
# Patterns are applied with fullmatch: "$" would also accept a trailing newline.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
SHA256 = re.compile(r"[0-9a-f]{64}")
PHONE = re.compile(r"\+?[0-9][0-9\- ]{4,19}")
MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+\-]*/[a-z0-9][a-z0-9.+\-]*")
ALLOWED_CONTROL = frozenset("\n\r\t")
# Document formats courts exchange: PDF and OFD (the national e-document format), scans, Word,
# plain text, XML and JSON. Anything else (executables, archives, unknown binaries) is refused.
ACCEPTED_MEDIA_TYPES = frozenset(
    {
        "application/pdf",
        "application/ofd",
        "image/jpeg",
        "image/png",
        "image/tiff",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "text/plain",
        "application/xml",
        # Structured results (an automatic registry answer's twin of its result letter).
        "application/json",
    }
)


class TaskType(StrEnum):
    PROPERTY_INQUIRY = "PROPERTY_INQUIRY"
    SEIZURE = "SEIZURE"
    ON_SITE_INSPECTION = "ON_SITE_INSPECTION"
    HANDOVER = "HANDOVER"
    FORCED_EVICTION = "FORCED_EVICTION"
    SERVICE_OF_DOCUMENTS = "SERVICE_OF_DOCUMENTS"
    # Not a delegation but a request for on-site assistance (domain/assistance.py).
    ON_SITE_ASSISTANCE = "ON_SITE_ASSISTANCE"


class AssetKind(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    REAL_ESTATE = "REAL_ESTATE"
    VEHICLE = "VEHICLE"
    EQUITY = "EQUITY"
    DEPOSIT = "DEPOSIT"
    OTHER = "OTHER"


class Priority(StrEnum):
    NORMAL = "NORMAL"
    URGENT = "URGENT"


@dataclass(frozen=True)
class Debtor:
    """The party concerned: a person (resident ID) or an organisation (social credit code)."""

    is_person: bool
    name: str
    identifier: str
    phone: str = ""


@dataclass(frozen=True)
class Draft:
    """A new delegation as the requesting court submits it."""

    request_id: str
    case_number: str
    target: Target
    task_type: TaskType | None
    asset_kind: AssetKind
    debtor: Debtor | None
    address: str
    district: str
    requested_actions: str
    documents: tuple[Document, ...] = ()
    priority: Priority = Priority.NORMAL
    plate: str = ""
    # The delegation whose seizure or freeze this one renews (续封/续冻). Out of the repr, so
    # the fingerprints of drafts stored before it existed stay the same (see ``fingerprint``).
    renews: str = field(default="", repr=False)


@dataclass(frozen=True)
class Checked:
    """A draft that passed every check, in normal form, with the court it will go to."""

    draft: Draft
    entrusted_court: str
    warnings: tuple[str, ...] = field(default=())


def check_text(
    violations: list[FieldViolation],
    name: str,
    value: str,
    *,
    required: bool,
    limit: int = MAX_TEXT,
) -> None:
    """Record a violation for a missing, oversize or control-character text."""
    if required and not value.strip():
        violations.append(FieldViolation(name, "is required"))
    elif len(value) > limit:
        violations.append(FieldViolation(name, f"is {len(value)} characters; at most {limit}"))
    elif any(unicodedata.category(c) == "Cc" and c not in ALLOWED_CONTROL for c in value):
        violations.append(FieldViolation(name, "contains control characters"))


def check_documents(
    violations: list[FieldViolation], name: str, documents: tuple[Document, ...]
) -> None:
    if len(documents) > MAX_DOCUMENTS:
        violations.append(
            FieldViolation(name, f"{len(documents)} documents; at most {MAX_DOCUMENTS}")
        )
        return
    for i, doc in enumerate(documents):
        where = f"{name}[{i}]"
        check_text(violations, f"{where}.name", doc.name, required=True, limit=MAX_NAME)
        if not MEDIA_TYPE.fullmatch(doc.media_type):
            violations.append(
                FieldViolation(f"{where}.media_type", "is not a media type like application/pdf")
            )
        elif doc.media_type not in ACCEPTED_MEDIA_TYPES:
            violations.append(
                FieldViolation(
                    f"{where}.media_type",
                    f"{doc.media_type} is not accepted; send PDF, OFD, JPEG, PNG, TIFF, Word, "
                    "plain text, XML or JSON",
                )
            )
        if not 0 < doc.size_bytes <= MAX_DOCUMENT_BYTES:
            violations.append(
                FieldViolation(f"{where}.size_bytes", f"must be 1 to {MAX_DOCUMENT_BYTES} bytes")
            )
        if not SHA256.fullmatch(doc.sha256):
            violations.append(
                FieldViolation(f"{where}.sha256", "must be 64 lowercase hex characters")
            )


def check_request_id(violations: list[FieldViolation], name: str, value: str) -> None:
    if not REQUEST_ID.fullmatch(value):
        violations.append(
            FieldViolation(name, "must be 1-64 characters of letters, digits and - _ . :")
        )


def _collect(violations: list[FieldViolation], fn_field: str, fn: object, *args: object) -> object:
    try:
        return fn(*args)  # type: ignore[operator]
    except InvalidInput as exc:
        violations.extend(
            FieldViolation(fn_field if v.field in ("", fn_field) else v.field, v.description)
            for v in exc.violations
        )
        return None


def check_case_court(registry: Registry, requesting_court: str, case_number: str) -> str | None:
    """Why the court code of a (normalised) case number is not the requesting court's, or None.

    A delegation is about the requesting court's own enforcement case, so its case number carries
    that court's own code from the registry (RULES.md, "Case numbers"). A code naming no court of
    the registry, or another court, is refused, naming both codes. An unknown requesting court is
    left to routing, which reports it."""
    own = registry.courts.get(requesting_court.strip())
    if own is None:
        return None
    given = case_number_court_code(case_number)
    if given == own.case_code:
        return None
    expected = (
        f"a delegation is about the requesting court's own enforcement case, so its number "
        f"carries {own.case_code}, the code of {own.label}"
    )
    other = registry.court_by_case_code(given)
    if other is None:
        return f"court code {given} names no court in the court registry; {expected}"
    return (
        f"court code {given} is the code of {other.label}, not of the requesting court; "
        f"{expected} (a case designated to another court gets a new number there)"
    )


def check_draft(registry: Registry, requesting_court: str, draft: Draft) -> Checked:
    """Validate and normalise a draft; raise InvalidInput listing every bad field at once."""
    violations: list[FieldViolation] = []
    warnings: list[str] = []
    check_request_id(violations, "request_id", draft.request_id)
    case_number = _collect(violations, "case_number", normalize_case_number, draft.case_number)
    if isinstance(case_number, str):
        reason = check_case_court(registry, requesting_court, case_number)
        if reason is not None:
            violations.append(FieldViolation("case_number", reason))
    if draft.task_type is None:
        violations.append(FieldViolation("task_type", "is required"))
    elif draft.task_type is TaskType.ON_SITE_ASSISTANCE:
        violations.append(
            FieldViolation(
                "task_type",
                "on-site assistance is asked for with RequestAssistance (jiaodong assist request)",
            )
        )
    needs_asset = draft.task_type not in (None, TaskType.SERVICE_OF_DOCUMENTS)
    if needs_asset and draft.asset_kind is AssetKind.UNSPECIFIED:
        violations.append(
            FieldViolation("asset_kind", "is required except for service of documents")
        )
    debtor = draft.debtor
    if debtor is None:
        violations.append(FieldViolation("debtor", "is required (a person or an organisation)"))
    else:
        kind = "person" if debtor.is_person else "organisation"
        check_text(violations, f"debtor.{kind}.name", debtor.name, required=True, limit=MAX_NAME)
        if debtor.is_person:
            ident = _collect(
                violations,
                "debtor.person.resident_id",
                validate_resident_id,
                debtor.identifier,
                "debtor.person.resident_id",
            )
        else:
            code = _collect(
                violations,
                "debtor.organisation.social_credit_code",
                validate_social_credit_code,
                debtor.identifier,
                "debtor.organisation.social_credit_code",
            )
            ident = None
            if isinstance(code, tuple):
                ident, warning = code
                if warning:
                    warnings.append(warning)
        if debtor.phone and not PHONE.fullmatch(debtor.phone):
            violations.append(FieldViolation("debtor.phone", "is not a telephone number"))
        if isinstance(ident, str):
            debtor = replace(debtor, identifier=ident)
    check_text(violations, "place.address", draft.address, required=False, limit=MAX_NAME)
    check_text(violations, "place.district", draft.district, required=False, limit=50)
    check_text(violations, "requested_actions", draft.requested_actions, required=True)
    check_documents(violations, "documents", draft.documents)
    plate = draft.plate
    if draft.asset_kind is AssetKind.VEHICLE and draft.task_type is TaskType.SEIZURE and not plate:
        violations.append(FieldViolation("plate", "is required for a vehicle seizure"))
    if plate:
        normal = _collect(violations, "plate", validate_plate, plate, "plate")
        if isinstance(normal, str):
            plate = normal
            city = plate_city(normal)
            if city is None:
                warnings.append(f"plate {normal} is not registered in a Jiaodong city")
    if draft.renews:
        if not DELEGATION_ID.fullmatch(draft.renews):
            violations.append(FieldViolation("renews", "is not a delegation id"))
        if draft.task_type is not TaskType.SEIZURE:
            violations.append(
                FieldViolation("task_type", "a renewal (renews) is a seizure or freeze: seizure")
            )
        if draft.asset_kind is AssetKind.UNSPECIFIED:
            violations.append(FieldViolation("asset_kind", "a renewal names the asset kind"))
    entrusted = ""
    try:
        entrusted = route(registry, requesting_court, draft.target).court_id
    except RoutingRefused as exc:
        violations.append(FieldViolation(exc.field, exc.reason))
    except DomainError as exc:
        violations.append(FieldViolation("target", str(exc)))
    if violations:
        raise InvalidInput(violations)
    assert isinstance(case_number, str)
    normal_draft = replace(draft, case_number=case_number, debtor=debtor, plate=plate)
    return Checked(normal_draft, entrusted, tuple(warnings))


def fingerprint(draft: Draft) -> str:
    """A stable text of the content, to tell a retry from another use of the same request_id."""
    text = repr(replace(draft, request_id=""))
    return f"{text} renews={draft.renews}" if draft.renews else text
