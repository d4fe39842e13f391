"""Who may call which RPC, on which delegations: the permission table, as data.

Two checks, both pure:

* ``check_call`` before the handler runs: is this role allowed this RPC at all, and (court roles
  on a node) is the caller's court hosted by the node it called?
* ``check_delegation`` once the delegation is loaded: is the caller a party, on the right side, or
  (operators) is the delegation in its city?

The node also enforces sides in its own handlers (only the entrusted court acts, only the
requesting court requests), so a slip in one layer does not open a hole. docs/security.md shows
this table, rendered by ``render_markdown``; a test checks the docs match and another calls every
RPC with every identity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from jiaodong.domain.errors import InvalidInput, NotAllowed
from jiaodong.domain.identity import COURT_ROLES, Identity, Role
from jiaodong.domain.registry import Registry

NODE_SERVICE = "jiaodong.v1.CourtNodeService"
COORDINATOR_SERVICE = "jiaodong.v1.CoordinatorService"
AUDIT_SERVICE = "jiaodong.v1.AuditService"
# Health checks and reflection: any holder of a valid certificate (nothing in them is private).
OPEN_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")


class Scope(StrEnum):
    """What a grant covers."""

    OWN_COURT = "own court"  # acts for its own court (create, list, watch)
    PARTY = "party"  # the requesting or the entrusted court
    REQUESTING = "requesting"  # the requesting court only
    ENTRUSTED = "entrusted"  # the entrusted court only
    CITY = "city"  # delegations touching its city (a regional identity: all)
    REGION = "region"  # regional identities only
    ANY = "any"  # no delegation involved


@dataclass(frozen=True)
class Grant:
    role: Role
    scope: Scope


class Data(StrEnum):
    """What a response carries of the debtor's personal data."""

    FULL = "full, every read recorded"  # names, ID numbers, phones, addresses unmasked
    MASKED = "masked"  # 张*, 3405**********001X, 138****8000; free text withheld
    NONE = "none"


@dataclass(frozen=True)
class RpcRule:
    service: str
    method: str
    grants: tuple[Grant, ...]
    data: Data = Data.MASKED
    # Changes something (the auditor never gets these).
    writes: bool = False

    @property
    def reads_personal_data(self) -> bool:
        return self.data is Data.FULL

    @property
    def full_name(self) -> str:
        return f"/{self.service}/{self.method}"


def _g(scope: Scope, *roles: Role) -> tuple[Grant, ...]:
    return tuple(Grant(r, scope) for r in roles)


OF, C, OP, AU = Role.OFFICER, Role.CLERK, Role.OPERATOR, Role.AUDITOR
N, CO = NODE_SERVICE, COORDINATOR_SERVICE

RULES: tuple[RpcRule, ...] = (
    RpcRule(N, "CreateDelegation", _g(Scope.OWN_COURT, OF, C), writes=True),
    RpcRule(N, "GetDelegation", _g(Scope.PARTY, OF, C), data=Data.FULL),
    RpcRule(N, "ListDelegations", _g(Scope.OWN_COURT, OF, C), data=Data.FULL),
    RpcRule(N, "WatchDelegations", _g(Scope.OWN_COURT, OF, C)),
    RpcRule(N, "Acknowledge", _g(Scope.ENTRUSTED, OF, C), writes=True),
    RpcRule(N, "Accept", _g(Scope.ENTRUSTED, OF), writes=True),
    RpcRule(N, "Return", _g(Scope.ENTRUSTED, OF), writes=True),
    RpcRule(N, "Supplement", _g(Scope.REQUESTING, OF, C), writes=True),
    RpcRule(N, "ReportProgress", _g(Scope.ENTRUSTED, OF), writes=True),
    RpcRule(N, "Complete", _g(Scope.ENTRUSTED, OF), writes=True),
    RpcRule(N, "Confirm", _g(Scope.REQUESTING, OF), writes=True),
    # The requesting court cancels a delegation; either court an assistance request (the node
    # checks the side).
    RpcRule(N, "Cancel", _g(Scope.PARTY, OF), writes=True),
    RpcRule(N, "Urge", _g(Scope.REQUESTING, OF, C), writes=True),
    RpcRule(N, "UploadDocument", _g(Scope.OWN_COURT, OF, C), Data.NONE, writes=True),
    RpcRule(N, "GetDocument", _g(Scope.PARTY, OF, C), data=Data.FULL),
    RpcRule(N, "ListRegistryRequests", _g(Scope.ENTRUSTED, OF, C), data=Data.FULL),
    RpcRule(N, "ReleaseRegistryResult", _g(Scope.ENTRUSTED, OF, C), writes=True),
    RpcRule(N, "ListControls", _g(Scope.OWN_COURT, OF, C), Data.NONE),
    # On-site assistance: officers act in the other city, so officers ask and agree; a clerk of
    # the local court may book the support it arranged.
    RpcRule(N, "RequestAssistance", _g(Scope.OWN_COURT, OF), writes=True),
    RpcRule(N, "ProposeAssistancePlan", _g(Scope.ENTRUSTED, OF), writes=True),
    RpcRule(N, "ConfirmAssistanceSupport", _g(Scope.ENTRUSTED, OF, C), writes=True),
    RpcRule(N, "RefuseAssistance", _g(Scope.ENTRUSTED, OF), writes=True),
    RpcRule(N, "AcceptAssistancePlan", _g(Scope.REQUESTING, OF), writes=True),
    RpcRule(N, "MoveAssistance", _g(Scope.REQUESTING, OF), writes=True),
    RpcRule(N, "RecordAssistanceOutcome", _g(Scope.PARTY, OF), writes=True),
    RpcRule(CO, "ListCourts", _g(Scope.ANY, OF, C, OP, AU), Data.NONE),
    RpcRule(CO, "GetDelegation", (*_g(Scope.CITY, OP), Grant(AU, Scope.REGION)), Data.FULL),
    RpcRule(CO, "ListDelegations", (*_g(Scope.CITY, OP), Grant(AU, Scope.REGION))),
    RpcRule(CO, "WatchBoard", (*_g(Scope.CITY, OP), Grant(AU, Scope.REGION))),
    RpcRule(CO, "Reroute", _g(Scope.CITY, OP), writes=True),
    RpcRule(CO, "Escalate", _g(Scope.CITY, OP), writes=True),
    RpcRule(CO, "ExplainSla", (*_g(Scope.CITY, OP), Grant(AU, Scope.REGION)), Data.NONE),
    RpcRule(CO, "RecomputeSla", _g(Scope.REGION, OP), Data.NONE, writes=True),
    RpcRule(CO, "GetBoard", (*_g(Scope.CITY, OP), Grant(AU, Scope.REGION)), Data.NONE),
    RpcRule(CO, "Urge", _g(Scope.CITY, OP), writes=True),
    RpcRule(CO, "Annotate", _g(Scope.CITY, OP), Data.NONE, writes=True),
    RpcRule(CO, "ListParked", (*_g(Scope.CITY, OP), Grant(AU, Scope.REGION)), Data.NONE),
    RpcRule(CO, "GetParked", (*_g(Scope.CITY, OP), Grant(AU, Scope.REGION)), Data.NONE),
    RpcRule(CO, "RetryParked", _g(Scope.CITY, OP), Data.NONE, writes=True),
    RpcRule(CO, "DiscardParked", _g(Scope.CITY, OP), Data.NONE, writes=True),
    RpcRule(CO, "GetSlaReport", (*_g(Scope.CITY, OP), Grant(AU, Scope.REGION)), Data.NONE),
    RpcRule(CO, "ListControls", (*_g(Scope.CITY, OP), Grant(AU, Scope.REGION)), Data.NONE),
    RpcRule(AUDIT_SERVICE, "ListDataReads", _g(Scope.REGION, AU), Data.NONE),
)
BY_NAME = {rule.full_name: rule for rule in RULES}


def rule_for(full_method: str) -> RpcRule | None:
    """The rule of ``/package.Service/Method``; None for an RPC nobody may call."""
    return BY_NAME.get(full_method)


def is_open(full_method: str) -> bool:
    return full_method.lstrip("/").split("/", 1)[0] in OPEN_SERVICES


def grant_for(rule: RpcRule, identity: Identity) -> Grant | None:
    for grant in rule.grants:
        if grant.role is not identity.role:
            continue
        if grant.scope is Scope.REGION and not identity.is_regional:
            continue
        return grant
    return None


def check_call(
    rule: RpcRule | None, identity: Identity, hosted_courts: Iterable[str] = ()
) -> Grant:
    """May ``identity`` call this RPC at all? ``hosted_courts``: the courts of the node called
    (empty on the coordinator). Raises NotAllowed with a reason a user can act on."""
    if rule is None:
        raise NotAllowed(f"{identity.label} may not call this method")
    grant = grant_for(rule, identity)
    if grant is None:
        who = ", ".join(sorted({_describe(g) for g in rule.grants}))
        raise NotAllowed(f"{rule.method} is for {who}; the caller is {identity.label}")
    if identity.role in COURT_ROLES and rule.service == NODE_SERVICE:
        hosted = set(hosted_courts)
        if identity.court not in hosted:
            raise NotAllowed(
                f"court {identity.court} is not hosted by this node; call its own city's node"
            )
    if rule.writes and identity.role is Role.AUDITOR:  # belt and braces: auditors read only
        raise NotAllowed("the auditor reads only")
    return grant


# Delegations that ask for a control measure (查封, 扣押, 冻结): an enforcement officer's decision,
# not a clerk's. Some are carried out by the entrusted city's registries without anyone there
# acting (docs/registries.md), so the check is where the request is made.
OFFICER_ONLY_TASKS = frozenset({"SEIZURE"})


def check_measure(identity: Identity, task_type: str) -> None:
    """May ``identity`` ask for a delegation of this task type (a value of TaskType)?"""
    if task_type in OFFICER_ONLY_TASKS and identity.role is not Role.OFFICER:
        raise NotAllowed(
            f"a seizure or freeze (查封/扣押/冻结) is asked for by an officer; the caller is "
            f"{identity.label}"
        )


def check_delegation(
    grant: Grant,
    identity: Identity,
    requesting_court: str,
    entrusted_court: str,
    city_of: Callable[[str], str],
    what: str = "this delegation",
) -> None:
    """Is the caller allowed to see or act on one delegation under ``grant``?"""
    scope = grant.scope
    if scope in (Scope.ANY, Scope.REGION, Scope.OWN_COURT):
        if scope is Scope.OWN_COURT and identity.court not in (requesting_court, entrusted_court):
            raise NotAllowed(f"court {identity.court} neither sent nor received {what}")
        return
    if scope is Scope.CITY:
        if identity.is_regional:
            return
        cities = {city_of(c) for c in (requesting_court, entrusted_court) if c}
        if identity.scope not in cities:
            raise NotAllowed(
                f"{what} does not touch {identity.scope}; the caller is {identity.label}"
            )
        return
    court = identity.court
    sides = {
        Scope.PARTY: (requesting_court, entrusted_court),
        Scope.REQUESTING: (requesting_court,),
        Scope.ENTRUSTED: (entrusted_court,),
    }[scope]
    if court not in sides:
        side = {Scope.PARTY: "a party to", Scope.REQUESTING: "the requesting court of"}.get(
            scope, "the entrusted court of"
        )
        raise NotAllowed(f"court {court} is not {side} {what}")


def city_filter(identity: Identity, requested: str) -> str:
    """The city a board view is limited to: a city operator sees its own city only (asking for
    another is refused); regional identities see what they ask for (empty: everything)."""
    if identity.is_regional or identity.role is not Role.OPERATOR:
        return requested
    if requested and requested != identity.scope:
        raise NotAllowed(f"{identity.label} sees its own city only, not {requested}")
    return identity.scope


def parked_scope(identity: Identity, city: str, registry: Registry) -> frozenset[str] | None:
    """The courts whose parked messages ``identity`` may see and handle: the coordinator's
    (``city`` empty) or ``city``'s node's. None: every court (regional identities). A city's
    operator: its own city's courts, and its own city's node only (another is NotAllowed). An
    unknown ``city`` is InvalidInput on the field ``city``."""
    if city and city not in registry.cities:
        raise InvalidInput.one("city", f"unknown city {city!r}")
    scope = city_filter(identity, city)
    if not scope or identity.is_regional:
        return None
    return frozenset(c.court_id for c in registry.courts_in_city(scope))


def _describe(grant: Grant) -> str:
    if grant.role in COURT_ROLES:
        return f"court {grant.role.value}s"
    if grant.scope is Scope.REGION:
        return f"the regional {grant.role.value}"
    return f"{grant.role.value}s"


SCOPE_WORDS = {
    Scope.OWN_COURT: "own court",
    Scope.PARTY: "requesting or entrusted court",
    Scope.REQUESTING: "requesting court",
    Scope.ENTRUSTED: "entrusted court",
    Scope.CITY: "its city (regional: all)",
    Scope.REGION: "regional only",
    Scope.ANY: "yes",
}
TABLE_ROLES = (Role.OFFICER, Role.CLERK, Role.OPERATOR, Role.AUDITOR)


def render_markdown(rules: Iterable[RpcRule] = RULES) -> str:
    """The permission table for docs/security.md."""
    head = "| RPC | " + " | ".join(r.value for r in TABLE_ROLES) + " | personal data |"
    lines = [head, "|" + "---|" * (len(TABLE_ROLES) + 2)]
    for rule in rules:
        cells = []
        for role in TABLE_ROLES:
            grants = [g for g in rule.grants if g.role is role]
            cells.append(SCOPE_WORDS[grants[0].scope] if grants else "—")
        service = rule.service.rsplit(".", 1)[-1]
        lines.append(f"| {service}.{rule.method} | " + " | ".join(cells) + f" | {rule.data} |")
    return "\n".join(lines) + "\n"
