"""The registry connector contract: what a city's node asks the registries of its own city (the
real-estate registration centre, the vehicle administration, the market regulator for equity, the
banks for deposits) over their point-to-point links, and what they answer.

Pure: the requests, acknowledgements and results as values, their wire form (JSON-ready dicts
with a schema version, the same for a file drop or an API behind an adapter), and the choice of
what a delegation asks a registry. The adapters are ``jiaodong.app.registries``; which city has
which connector is ``courts/registries.toml`` (``jiaodong.domain.registry_config``).

The exchange, for one request (docs/registries.md has the sequence diagram):

1. the node submits a ``RegistryRequest``; its ``request_id`` is the platform's and the connector
   is idempotent by it: a second submission of the same id answers the same ``Ack``;
2. the connector acknowledges with its own request number (``Ack.registry_no``) and, where it
   knows it, when an answer is expected;
3. later, one or more ``RegistryResult``s, numbered from 1; the last has ``final`` set. Each is
   ``FOUND`` (properties, each with its encumbrances and, for a control, the period it stands
   for and its place in the order of seizures), ``NOTHING_FOUND`` (an explicit empty answer) or
   ``REFUSED`` (with the registry's reason).

A connector that cannot be reached raises ``RegistryUnavailable``; the node retries with backoff
and, after a bound, hands the delegation to its officers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from jiaodong.domain.controls import MAX_TERMS, term_violations
from jiaodong.domain.delegation import AssetKind, TaskType
from jiaodong.domain.lifecycle import ControlTerm, EventKind

SCHEMA_VERSION = 1


class Action(StrEnum):
    """What is asked of a registry."""

    INQUIRE = "INQUIRE"  # 查询
    CONTROL = "CONTROL"  # 查封 (real estate, vehicles) / 冻结 (equity, deposits)
    RENEW = "RENEW"  # 续封 / 续冻
    RELEASE = "RELEASE"  # 解封 / 解冻


class Outcome(StrEnum):
    """What one result says."""

    FOUND = "FOUND"
    NOTHING_FOUND = "NOTHING_FOUND"
    REFUSED = "REFUSED"


class EncumbranceKind(StrEnum):
    MORTGAGE = "MORTGAGE"  # 抵押 (质押 for equity)
    SEIZED = "SEIZED"  # already seized or frozen by a court
    DISPUTED = "DISPUTED"  # 异议登记 / a dispute on record


# The registries a city links to, one per asset kind that has a registry.
REGISTRY_ASSETS = (AssetKind.REAL_ESTATE, AssetKind.VEHICLE, AssetKind.EQUITY, AssetKind.DEPOSIT)

REGISTRY_ZH = {
    AssetKind.REAL_ESTATE: "不动产登记中心",
    AssetKind.VEHICLE: "公安局交通警察支队车辆管理所",
    AssetKind.EQUITY: "市场监督管理局",
    AssetKind.DEPOSIT: "各银行业金融机构",
}
ASSET_ZH = {
    AssetKind.REAL_ESTATE: "不动产",
    AssetKind.VEHICLE: "机动车",
    AssetKind.EQUITY: "股权",
    AssetKind.DEPOSIT: "存款",
}
_CONTROL_ZH = {
    AssetKind.REAL_ESTATE: ("查封", "续封", "解封"),
    AssetKind.VEHICLE: ("查封", "续封", "解封"),
    AssetKind.EQUITY: ("冻结", "续冻", "解冻"),
    AssetKind.DEPOSIT: ("冻结", "续冻", "解冻"),
}
ENCUMBRANCE_ZH = {
    EncumbranceKind.MORTGAGE: "抵押",
    EncumbranceKind.SEIZED: "已被查封/冻结",
    EncumbranceKind.DISPUTED: "异议登记",
}


def action_zh(action: Action, asset: AssetKind) -> str:
    """``查询``, or the control's word for this asset kind (``冻结`` for deposits)."""
    if action is Action.INQUIRE:
        return "查询"
    control, renew, release = _CONTROL_ZH[asset]
    return {Action.CONTROL: control, Action.RENEW: renew, Action.RELEASE: release}[action]


class RegistryUnavailable(Exception):
    """The registry could not be reached or did not answer (retried; not a refusal)."""


class UnknownRequest(Exception):
    """The connector holds no request with this id (it lost it): submit it again."""


@dataclass(frozen=True)
class Subject:
    """Whose property: a person by resident ID, an organisation by unified social credit code."""

    is_person: bool
    name: str
    identifier: str


@dataclass(frozen=True)
class PropertyRef:
    """What the requesting court already knows of the property; every field is optional."""

    unit_number: str = ""  # 不动产单元号
    title_number: str = ""  # 不动产权证号
    plate: str = ""
    company: str = ""  # the company whose shares are concerned
    account: str = ""  # a bank account
    location: str = ""  # an address, as a hint


@dataclass(frozen=True)
class RegistryRequest:
    """One request to one registry, on behalf of the requesting court's case."""

    request_id: str  # the platform's; the connector is idempotent by it
    action: Action
    asset_kind: AssetKind
    subject: Subject
    ref: PropertyRef
    case_number: str  # why: the requesting court's enforcement case
    requesting_court: str
    entrusted_court: str  # whose link to the registry is used
    submitted_at: datetime
    # For RENEW and RELEASE: the controls concerned (their registry numbers, comma-separated).
    control_no: str = ""


@dataclass(frozen=True)
class Ack:
    request_id: str
    registry_no: str  # the registry's own number for the request
    expected_at: datetime | None = None  # when an answer is expected, if the registry says


@dataclass(frozen=True)
class Encumbrance:
    kind: EncumbranceKind
    holder: str  # the mortgagee, or the court that seized it
    case_number: str = ""  # the seizing court's case
    since: date | None = None


@dataclass(frozen=True)
class Control:
    """A seizure or freeze in force: for how long, and its place in the order (1: first)."""

    registry_no: str
    start: date
    end: date
    order: int


@dataclass(frozen=True)
class Property:
    asset_kind: AssetKind
    description: str  # location and area / plate and model / company and share / bank and account
    identifier: str  # title number / plate / company credit code / account number
    details: Mapping[str, str] = field(default_factory=dict)
    encumbrances: tuple[Encumbrance, ...] = ()
    control: Control | None = None


@dataclass(frozen=True)
class RegistryResult:
    request_id: str
    seq: int  # from 1
    final: bool
    outcome: Outcome
    answered_at: datetime
    properties: tuple[Property, ...] = ()
    reason: str = ""  # a refusal's reason


# -- what a delegation asks ----------------------------------------------------------------------


def action_for(task: TaskType, asset: AssetKind, renews: bool = False) -> Action | None:
    """What a delegation of this task type and asset kind asks a registry (None: nothing a
    registry can answer; officers handle it)."""
    if asset not in REGISTRY_ASSETS:
        return None
    if renews:
        # A renewal (续封/续冻) is a registration on a control the registry already holds, of
        # any asset kind: no distraint, and a freeze keeps its amount.
        return Action.RENEW if task is TaskType.SEIZURE else None
    if task is TaskType.PROPERTY_INQUIRY:
        return Action.INQUIRE
    # Real estate and equity are seized or frozen by the registration itself (查封登记, 股权冻结),
    # on everything the registry holds of the debtor, as such letters ask. Not automatic:
    # a vehicle's seizure is its distraint (扣押) too, officers' work on the street; a freeze of
    # deposits needs its amount (冻结金额: freezing every account in full would be over-seizure,
    # 超标的), and a delegation carries no amount yet.
    if task is TaskType.SEIZURE and asset in (AssetKind.REAL_ESTATE, AssetKind.EQUITY):
        return Action.CONTROL
    return None


# -- the wire form -------------------------------------------------------------------------------


class WireError(ValueError):
    """A wire document that does not follow the contract."""


def _d(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def request_to_wire(r: RegistryRequest) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "request_id": r.request_id,
        "action": r.action.value,
        "asset_kind": r.asset_kind.value,
        "subject": {
            "type": "person" if r.subject.is_person else "organisation",
            "name": r.subject.name,
            "identifier": r.subject.identifier,
        },
        "property": {k: v for k, v in vars(r.ref).items() if v},
        "case_number": r.case_number,
        "requesting_court": r.requesting_court,
        "entrusted_court": r.entrusted_court,
        "submitted_at": r.submitted_at.isoformat(),
        "control_no": r.control_no,
    }


def request_from_wire(data: Mapping[str, Any]) -> RegistryRequest:
    try:
        _version(data)
        subject = data["subject"]
        if subject["type"] not in ("person", "organisation"):
            raise ValueError(f"subject type {subject['type']!r}: person or organisation")
        request = RegistryRequest(
            request_id=str(data["request_id"]),
            action=Action(data["action"]),
            asset_kind=AssetKind(data["asset_kind"]),
            subject=Subject(
                is_person=subject["type"] == "person",
                name=str(subject["name"]),
                identifier=str(subject["identifier"]),
            ),
            ref=PropertyRef(**{k: str(v) for k, v in data.get("property", {}).items()}),
            case_number=str(data["case_number"]),
            requesting_court=str(data["requesting_court"]),
            entrusted_court=str(data["entrusted_court"]),
            submitted_at=_aware(data["submitted_at"]),
            control_no=str(data.get("control_no", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WireError(f"not a registry request: {exc}") from None
    if request.asset_kind not in REGISTRY_ASSETS:
        raise WireError(f"not a registry request: {request.asset_kind.value} has no registry")
    return request


def result_to_wire(r: RegistryResult) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "request_id": r.request_id,
        "seq": r.seq,
        "final": r.final,
        "outcome": r.outcome.value,
        "answered_at": r.answered_at.isoformat(),
        "reason": r.reason,
        "properties": [
            {
                "asset_kind": p.asset_kind.value,
                "description": p.description,
                "identifier": p.identifier,
                "details": dict(p.details),
                "encumbrances": [
                    {
                        "kind": e.kind.value,
                        "holder": e.holder,
                        "case_number": e.case_number,
                        "since": _d(e.since),
                    }
                    for e in p.encumbrances
                ],
                "control": (
                    {
                        "registry_no": p.control.registry_no,
                        "start": p.control.start.isoformat(),
                        "end": p.control.end.isoformat(),
                        "order": p.control.order,
                    }
                    if p.control is not None
                    else None
                ),
            }
            for p in r.properties
        ],
    }


def result_from_wire(data: Mapping[str, Any]) -> RegistryResult:
    try:
        _version(data)
        props = []
        for p in data.get("properties", []):
            control = p.get("control")
            props.append(
                Property(
                    asset_kind=AssetKind(p["asset_kind"]),
                    description=str(p["description"]),
                    identifier=str(p["identifier"]),
                    details={str(k): str(v) for k, v in p.get("details", {}).items()},
                    encumbrances=tuple(
                        Encumbrance(
                            kind=EncumbranceKind(e["kind"]),
                            holder=str(e["holder"]),
                            case_number=str(e.get("case_number", "")),
                            since=date.fromisoformat(e["since"]) if e.get("since") else None,
                        )
                        for e in p.get("encumbrances", [])
                    ),
                    control=(
                        Control(
                            registry_no=str(control["registry_no"]),
                            start=date.fromisoformat(control["start"]),
                            end=date.fromisoformat(control["end"]),
                            order=int(control["order"]),
                        )
                        if control
                        else None
                    ),
                )
            )
        if not isinstance(data["seq"], int) or not isinstance(data["final"], bool):
            raise ValueError("seq must be an integer and final true or false")
        result = RegistryResult(
            request_id=str(data["request_id"]),
            seq=data["seq"],
            final=data["final"],
            outcome=Outcome(data["outcome"]),
            answered_at=_aware(data["answered_at"]),
            properties=tuple(props),
            reason=str(data.get("reason", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WireError(f"not a registry result: {exc}") from None
    if result.seq < 1:
        raise WireError("not a registry result: seq counts from 1")
    if result.outcome is Outcome.FOUND and not result.properties:
        raise WireError("not a registry result: FOUND without properties (say NOTHING_FOUND)")
    if result.outcome is not Outcome.FOUND and result.properties:
        raise WireError(f"not a registry result: {result.outcome.value} with properties")
    if result.outcome is Outcome.REFUSED and not result.reason.strip():
        raise WireError("not a registry result: a refusal needs its reason")
    return result


def checked_ack(ack: Ack) -> Ack:
    """An adapter's acknowledgement, if it follows the contract (else ``WireError``)."""
    if not isinstance(ack, Ack) or not isinstance(ack.registry_no, str) or not ack.registry_no:
        raise WireError("not a registry acknowledgement: it needs the registry's number")
    if ack.expected_at is not None and ack.expected_at.tzinfo is None:
        raise WireError("not a registry acknowledgement: expected_at has no UTC offset")
    return ack


def checked_results(results: Sequence[RegistryResult]) -> list[RegistryResult]:
    """An adapter's results, each passed through the wire form (so what is stored can be read
    back), numbered 1, 2, ... without gaps, only the last final (else ``WireError``)."""
    checked = [result_from_wire(result_to_wire(r)) for r in results]
    checked.sort(key=lambda r: r.seq)
    if [r.seq for r in checked] != list(range(1, len(checked) + 1)):
        raise WireError("not registry results: they must be numbered 1, 2, ... without gaps")
    if any(r.final for r in checked[:-1]):
        raise WireError("not registry results: only the last one may be final")
    return checked


def controls_of(result: RegistryResult) -> tuple[tuple[ControlTerm, ...], int]:
    """The seizures and freezes a result says are in force, as the terms a history event carries
    (the coordinator watches their end), and how many it said that break the platform's rules
    (a term past the law's longest, a number too long): the registry registered them all the
    same, so the result is recorded and those are left out of the watch, for officers to check."""
    terms = [
        ControlTerm(p.asset_kind.value, p.control.registry_no, p.control.start, p.control.end)
        for p in result.properties
        if p.control is not None
    ]
    good = [t for t in terms if not term_violations((t,), EventKind.COMPLETED)][:MAX_TERMS]
    return tuple(good), len(terms) - len(good)


def _aware(text: Any) -> datetime:
    at = datetime.fromisoformat(str(text))
    if at.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return at


def _version(data: Mapping[str, Any]) -> None:
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"schema_version {data.get('schema_version')!r}; this platform reads {SCHEMA_VERSION}"
        )
