"""The permission table and its checks (jiaodong.domain.authz), against docs/security.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiaodong.domain.authz import (
    BY_NAME,
    COORDINATOR_SERVICE,
    NODE_SERVICE,
    RULES,
    Data,
    Grant,
    RpcRule,
    Scope,
    check_call,
    check_delegation,
    check_measure,
    city_filter,
    is_open,
    render_markdown,
    rule_for,
)
from jiaodong.domain.errors import NotAllowed
from jiaodong.domain.identity import Identity, Role

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"

# Courts of a small world: two in Qingdao, one in Yantai, one in Weihai.
SHINAN, SHIBEI, ZHIFU, HUANCUI = "370202", "370203", "370602", "371002"
CITY_OF = {SHINAN: "qingdao", SHIBEI: "qingdao", ZHIFU: "yantai", HUANCUI: "weihai"}


def city_of(court: str) -> str:
    return CITY_OF[court]


OFFICER = Identity(Role.OFFICER, SHINAN)
CLERK = Identity(Role.CLERK, SHINAN)
OP_QD = Identity(Role.OPERATOR, "qingdao")
OP_REGION = Identity(Role.OPERATOR, "region")
AUDITOR = Identity(Role.AUDITOR, "region")
SERVICES = [
    Identity(Role.NODE, "node-qingdao"),
    Identity(Role.NODE, "region"),  # a syntactically valid node identity that looks regional
    Identity(Role.COORDINATOR, "region"),
]
PEOPLE = [OFFICER, CLERK, OP_QD, OP_REGION, AUDITOR]
HOSTED = {SHINAN, SHIBEI}  # the Qingdao node

OWN, PARTY, REQ, ENT = Scope.OWN_COURT, Scope.PARTY, Scope.REQUESTING, Scope.ENTRUSTED
CITY, REGION, ANY = Scope.CITY, Scope.REGION, Scope.ANY

# Written out from the table in docs/security.md: who passes check_call, with which scope.
# Everyone not listed for a method must get NotAllowed.
EXPECTED: dict[str, dict[Identity, Scope]] = {
    "CourtNodeService/CreateDelegation": {OFFICER: OWN, CLERK: OWN},
    "CourtNodeService/GetDelegation": {OFFICER: PARTY, CLERK: PARTY},
    "CourtNodeService/ListDelegations": {OFFICER: OWN, CLERK: OWN},
    "CourtNodeService/WatchDelegations": {OFFICER: OWN, CLERK: OWN},
    "CourtNodeService/Acknowledge": {OFFICER: ENT, CLERK: ENT},
    "CourtNodeService/Accept": {OFFICER: ENT},
    "CourtNodeService/Return": {OFFICER: ENT},
    "CourtNodeService/Supplement": {OFFICER: REQ, CLERK: REQ},
    "CourtNodeService/ReportProgress": {OFFICER: ENT},
    "CourtNodeService/Complete": {OFFICER: ENT},
    "CourtNodeService/Confirm": {OFFICER: REQ},
    "CourtNodeService/Cancel": {OFFICER: PARTY},
    "CourtNodeService/Urge": {OFFICER: REQ, CLERK: REQ},
    "CourtNodeService/UploadDocument": {OFFICER: OWN, CLERK: OWN},
    "CourtNodeService/GetDocument": {OFFICER: PARTY, CLERK: PARTY},
    "CourtNodeService/ListRegistryRequests": {OFFICER: ENT, CLERK: ENT},
    "CourtNodeService/ReleaseRegistryResult": {OFFICER: ENT, CLERK: ENT},
    "CourtNodeService/ListControls": {OFFICER: OWN, CLERK: OWN},
    "CourtNodeService/RequestAssistance": {OFFICER: OWN},
    "CourtNodeService/ProposeAssistancePlan": {OFFICER: ENT},
    "CourtNodeService/ConfirmAssistanceSupport": {OFFICER: ENT, CLERK: ENT},
    "CourtNodeService/RefuseAssistance": {OFFICER: ENT},
    "CourtNodeService/AcceptAssistancePlan": {OFFICER: REQ},
    "CourtNodeService/MoveAssistance": {OFFICER: REQ},
    "CourtNodeService/RecordAssistanceOutcome": {OFFICER: PARTY},
    "CoordinatorService/ListCourts": {
        OFFICER: ANY,
        CLERK: ANY,
        OP_QD: ANY,
        OP_REGION: ANY,
        AUDITOR: ANY,
    },
    "CoordinatorService/GetDelegation": {OP_QD: CITY, OP_REGION: CITY, AUDITOR: REGION},
    "CoordinatorService/ListDelegations": {OP_QD: CITY, OP_REGION: CITY, AUDITOR: REGION},
    "CoordinatorService/WatchBoard": {OP_QD: CITY, OP_REGION: CITY, AUDITOR: REGION},
    "CoordinatorService/Reroute": {OP_QD: CITY, OP_REGION: CITY},
    "CoordinatorService/Escalate": {OP_QD: CITY, OP_REGION: CITY},
    "CoordinatorService/ExplainSla": {OP_QD: CITY, OP_REGION: CITY, AUDITOR: REGION},
    "CoordinatorService/RecomputeSla": {OP_REGION: REGION},
    "CoordinatorService/GetBoard": {OP_QD: CITY, OP_REGION: CITY, AUDITOR: REGION},
    "CoordinatorService/Urge": {OP_QD: CITY, OP_REGION: CITY},
    "CoordinatorService/Annotate": {OP_QD: CITY, OP_REGION: CITY},
    "CoordinatorService/ListParked": {OP_QD: CITY, OP_REGION: CITY, AUDITOR: REGION},
    "CoordinatorService/GetParked": {OP_QD: CITY, OP_REGION: CITY, AUDITOR: REGION},
    "CoordinatorService/RetryParked": {OP_QD: CITY, OP_REGION: CITY},
    "CoordinatorService/DiscardParked": {OP_QD: CITY, OP_REGION: CITY},
    "CoordinatorService/GetSlaReport": {OP_QD: CITY, OP_REGION: CITY, AUDITOR: REGION},
    "CoordinatorService/ListControls": {OP_QD: CITY, OP_REGION: CITY, AUDITOR: REGION},
    "AuditService/ListDataReads": {AUDITOR: REGION},
}


def full(short: str) -> str:
    return f"/jiaodong.v1.{short}"


def refused(rule: RpcRule | None, identity: Identity, hosted: set[str] | None = None) -> str:
    with pytest.raises(NotAllowed) as caught:
        check_call(rule, identity, HOSTED if hosted is None else hosted)
    assert str(caught.value)  # a reason to show the caller
    return str(caught.value)


def test_expected_table_covers_every_rule() -> None:
    assert {full(name) for name in EXPECTED} == {rule.full_name for rule in RULES}
    assert len(BY_NAME) == len(RULES), "two rules share an RPC name"


@pytest.mark.parametrize("method", sorted(EXPECTED))
def test_check_call_follows_the_table(method: str) -> None:
    rule = rule_for(full(method))
    assert rule is not None
    allowed = EXPECTED[method]
    for identity in PEOPLE:
        if identity in allowed:
            grant = check_call(rule, identity, HOSTED)
            assert grant == Grant(identity.role, allowed[identity]), identity.label
        else:
            refused(rule, identity)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.full_name)
@pytest.mark.parametrize("service", SERVICES, ids=lambda i: i.label)
def test_service_identities_may_call_nothing(rule: RpcRule, service: Identity) -> None:
    refused(rule, service, hosted=set(CITY_OF))


@pytest.mark.parametrize("identity", [*PEOPLE, *SERVICES], ids=lambda i: i.label)
def test_unknown_method_is_refused(identity: Identity) -> None:
    assert rule_for("/jiaodong.v1.CourtNodeService/DropAllTables") is None
    assert rule_for("/jiaodong.v1.CoordinatorService/getdelegation") is None
    refused(None, identity)


def test_health_and_reflection_are_open_and_rpcs_are_not() -> None:
    assert is_open("/grpc.health.v1.Health/Check")
    assert is_open("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    assert not any(is_open(rule.full_name) for rule in RULES)


# --- the auditor reads only -----------------------------------------------------------------------


@pytest.mark.parametrize("rule", [r for r in RULES if r.writes], ids=lambda r: r.full_name)
def test_auditor_never_passes_a_writing_rule(rule: RpcRule) -> None:
    refused(rule, AUDITOR, hosted=set(CITY_OF))


@pytest.mark.parametrize("scope", list(Scope))
def test_auditor_is_refused_writes_even_when_granted_by_mistake(scope: Scope) -> None:
    mistake = RpcRule(COORDINATOR_SERVICE, "Purge", (Grant(Role.AUDITOR, scope),), writes=True)
    refused(mistake, AUDITOR)
    # The same grant on a read passes: the refusal is about writing.
    harmless = RpcRule(COORDINATOR_SERVICE, "Peek", (Grant(Role.AUDITOR, scope),))
    assert check_call(harmless, AUDITOR) == Grant(Role.AUDITOR, scope)


# --- court roles on nodes -------------------------------------------------------------------------


COURT_ON_NODE = [
    (rule, role)
    for rule in RULES
    if rule.service == NODE_SERVICE
    for role in (Role.OFFICER, Role.CLERK)
    if any(g.role is role for g in rule.grants)
]


@pytest.mark.parametrize(
    ("rule", "role"), COURT_ON_NODE, ids=lambda x: getattr(x, "full_name", str(x))
)
def test_court_roles_need_their_court_hosted_by_the_node(rule: RpcRule, role: Role) -> None:
    identity = Identity(role, SHINAN)
    assert check_call(rule, identity, {SHINAN, SHIBEI}).role is role
    assert check_call(rule, identity, iter([SHIBEI, SHINAN])).role is role  # any iterable
    refused(rule, identity, hosted={ZHIFU})  # the Yantai node
    refused(rule, identity, hosted=set())  # hosted courts unknown: refuse
    refused(rule, Identity(role, HUANCUI), hosted={SHINAN, SHIBEI})


def test_court_roles_on_the_coordinator_need_no_hosted_court() -> None:
    rule = rule_for(full("CoordinatorService/ListCourts"))
    assert check_call(rule, Identity(Role.OFFICER, ZHIFU), ()).scope is ANY
    assert check_call(rule, Identity(Role.CLERK, HUANCUI)).scope is ANY


# --- regional-only grants -------------------------------------------------------------------------

REGIONAL_ONLY = [
    (rule, grant.role)
    for rule in RULES
    for grant in rule.grants
    if grant.scope is REGION
    and not any(g.role is grant.role and g.scope is not REGION for g in rule.grants)
]


def test_there_are_regional_only_grants_for_operators() -> None:
    assert (BY_NAME[full("CoordinatorService/RecomputeSla")], Role.OPERATOR) in REGIONAL_ONLY


@pytest.mark.parametrize(
    ("rule", "role"), REGIONAL_ONLY, ids=lambda x: getattr(x, "full_name", str(x))
)
def test_regional_only_grants_refuse_city_identities(rule: RpcRule, role: Role) -> None:
    if role is Role.OPERATOR:
        for city in ("qingdao", "yantai", "weihai"):
            refused(rule, Identity(role, city))
    regional = Identity(role, "region")
    assert check_call(rule, regional, HOSTED).scope is REGION


def test_a_regional_grant_to_operators_refuses_city_operators() -> None:
    rule = RpcRule(COORDINATOR_SERVICE, "Rebuild", (Grant(Role.OPERATOR, REGION),))
    refused(rule, OP_QD)
    assert check_call(rule, OP_REGION).scope is REGION


# --- check_delegation -----------------------------------------------------------------------------


def delegation_check(
    grant: Grant, identity: Identity, requesting: str = SHINAN, entrusted: str = ZHIFU
) -> bool:
    """May ``identity`` see or act on a delegation from ``requesting`` to ``entrusted``?"""
    try:
        check_delegation(grant, identity, requesting, entrusted, city_of)
    except NotAllowed as exc:
        assert str(exc)
        return False
    return True


def courts(role: Role, *ids: str) -> list[Identity]:
    return [Identity(role, i) for i in ids]


@pytest.mark.parametrize("role", [Role.OFFICER, Role.CLERK])
def test_party_scope_admits_both_courts_and_nobody_else(role: Role) -> None:
    grant = check_call(
        BY_NAME[full("CourtNodeService/GetDelegation")], Identity(role, SHINAN), {SHINAN}
    )
    assert grant.scope is PARTY
    for identity in courts(role, SHINAN, ZHIFU):
        assert delegation_check(Grant(role, PARTY), identity)
    for identity in courts(role, SHIBEI, HUANCUI):
        assert not delegation_check(Grant(role, PARTY), identity)


def test_requesting_scope_admits_the_requesting_court_only() -> None:
    rule = BY_NAME[full("CourtNodeService/Confirm")]
    # The entrusted court's officer passes check_call on its own node...
    grant = check_call(rule, Identity(Role.OFFICER, ZHIFU), {ZHIFU})
    assert grant.scope is REQ
    # ... but may not confirm a delegation it was entrusted with.
    assert not delegation_check(grant, Identity(Role.OFFICER, ZHIFU))
    assert delegation_check(grant, Identity(Role.OFFICER, SHINAN))
    assert not delegation_check(grant, Identity(Role.OFFICER, SHIBEI))  # same city, not a party
    assert not delegation_check(grant, Identity(Role.OFFICER, HUANCUI))


def test_entrusted_scope_admits_the_entrusted_court_only() -> None:
    grant = check_call(BY_NAME[full("CourtNodeService/Accept")], OFFICER, {SHINAN})
    assert grant.scope is ENT
    assert delegation_check(grant, Identity(Role.OFFICER, ZHIFU))
    assert not delegation_check(grant, Identity(Role.OFFICER, SHINAN))  # the requesting court
    assert not delegation_check(grant, Identity(Role.OFFICER, HUANCUI))
    # Not routed yet: nobody is the entrusted court.
    assert not delegation_check(grant, Identity(Role.OFFICER, SHINAN), entrusted="")


def test_a_court_that_is_both_sides_passes_either_side_check() -> None:
    for scope in (PARTY, REQ, ENT, OWN):
        assert delegation_check(Grant(Role.OFFICER, scope), OFFICER, SHINAN, SHINAN)


def test_own_court_scope_admits_a_party() -> None:
    grant = Grant(Role.CLERK, OWN)
    assert delegation_check(grant, Identity(Role.CLERK, SHINAN))
    assert delegation_check(grant, Identity(Role.CLERK, ZHIFU))
    assert not delegation_check(grant, Identity(Role.CLERK, SHIBEI))


def test_city_scope_admits_operators_of_either_city_and_the_region() -> None:
    grant = check_call(BY_NAME[full("CoordinatorService/Reroute")], OP_QD)
    assert grant.scope is CITY
    assert delegation_check(grant, OP_QD)  # requesting court's city
    assert delegation_check(grant, Identity(Role.OPERATOR, "yantai"))  # entrusted court's city
    assert not delegation_check(grant, Identity(Role.OPERATOR, "weihai"))
    assert not delegation_check(grant, Identity(Role.OPERATOR, "rizhao"))
    assert delegation_check(grant, OP_REGION)
    # Within one city.
    assert delegation_check(grant, OP_QD, SHINAN, SHIBEI)
    assert not delegation_check(grant, Identity(Role.OPERATOR, "yantai"), SHINAN, SHIBEI)


def test_city_scope_before_routing_uses_the_requesting_court() -> None:
    grant = Grant(Role.OPERATOR, CITY)
    assert delegation_check(grant, OP_QD, SHINAN, "")
    assert not delegation_check(grant, Identity(Role.OPERATOR, "yantai"), SHINAN, "")
    assert delegation_check(grant, OP_REGION, SHINAN, "")


def test_region_and_any_scopes_involve_no_delegation_check() -> None:
    assert delegation_check(Grant(Role.AUDITOR, REGION), AUDITOR, HUANCUI, ZHIFU)
    assert delegation_check(Grant(Role.OPERATOR, ANY), OP_QD, HUANCUI, ZHIFU)


# --- city_filter ----------------------------------------------------------------------------------


def test_city_operator_board_defaults_to_its_own_city() -> None:
    assert city_filter(OP_QD, "") == "qingdao"
    assert city_filter(OP_QD, "qingdao") == "qingdao"


@pytest.mark.parametrize("other", ["yantai", "region", "Qingdao", "weihai"])
def test_city_operator_asking_for_another_city_is_refused(other: str) -> None:
    with pytest.raises(NotAllowed):
        city_filter(OP_QD, other)


@pytest.mark.parametrize("identity", [OP_REGION, AUDITOR], ids=lambda i: i.label)
@pytest.mark.parametrize("requested", ["", "qingdao", "yantai"])
def test_regional_identities_see_what_they_ask_for(identity: Identity, requested: str) -> None:
    assert city_filter(identity, requested) == requested


# --- render_markdown and the docs -----------------------------------------------------------------

HEADER = "| RPC | officer | clerk | operator | auditor | personal data |"


def test_rendered_table_has_the_header_and_one_row_per_rule() -> None:
    lines = render_markdown().splitlines()
    assert lines[0] == HEADER
    assert lines[1] == "|---|---|---|---|---|---|"
    rows = lines[2:]
    assert len(rows) == len(RULES)
    for row, rule in zip(rows, RULES, strict=True):
        service = rule.service.rsplit(".", 1)[-1]
        assert row.startswith(f"| {service}.{rule.method} | ")
        assert row.count("|") == 7
        assert row.endswith(f" | {rule.data} |")


def test_rendered_rows_use_the_documented_words() -> None:
    rows = {line.split(" | ")[0][2:]: line for line in render_markdown().splitlines()[2:]}
    assert rows["CourtNodeService.Accept"] == (
        "| CourtNodeService.Accept | entrusted court | — | — | — | masked |"
    )
    assert rows["CoordinatorService.ListCourts"] == (
        "| CoordinatorService.ListCourts | yes | yes | yes | yes | none |"
    )
    assert rows["CoordinatorService.GetDelegation"] == (
        "| CoordinatorService.GetDelegation | — | — | its city (regional: all) | regional only "
        "| full, every read recorded |"
    )


def test_render_of_a_custom_rule_list() -> None:
    rules = [RpcRule(NODE_SERVICE, "Ping", (Grant(Role.CLERK, ANY),), Data.NONE)]
    assert render_markdown(rules) == (
        f"{HEADER}\n|---|---|---|---|---|---|\n| CourtNodeService.Ping | — | yes | — | — | none |\n"
    )
    assert render_markdown([]).splitlines() == [HEADER, "|---|---|---|---|---|---|"]


def test_docs_show_the_rendered_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("<!-- permission-table:start -->\n") + len(
        "<!-- permission-table:start -->\n"
    )
    end = text.index("<!-- permission-table:end -->")
    assert text[start:end] == render_markdown()


def test_full_personal_data_leaves_only_through_the_documented_rpcs() -> None:
    # docs/security.md, "Recorded reads": GetDelegation (node, coordinator), node ListDelegations.
    assert {r.full_name for r in RULES if r.reads_personal_data} == {
        full("CourtNodeService/GetDelegation"),
        full("CourtNodeService/ListDelegations"),
        full("CourtNodeService/GetDocument"),  # document content
        full("CourtNodeService/ListRegistryRequests"),  # a registry's result letter
        full("CoordinatorService/GetDelegation"),
    }


def test_enforcement_steps_are_for_officers_only() -> None:
    # docs/security.md: accept, return, report, complete, confirm, cancel are officers'.
    for method in ("Accept", "Return", "ReportProgress", "Complete", "Confirm", "Cancel"):
        rule = BY_NAME[f"/{NODE_SERVICE}/{method}"]
        assert {g.role for g in rule.grants} == {Role.OFFICER}, method
        assert rule.writes


@pytest.mark.parametrize("role", [Role.CLERK, Role.OPERATOR, Role.AUDITOR])
def test_only_an_officer_asks_for_a_seizure(role: Role) -> None:
    check_measure(Identity(Role.OFFICER, "370202"), "SEIZURE")
    with pytest.raises(NotAllowed, match="seizure or freeze"):
        check_measure(Identity(role, "370202" if role is Role.CLERK else "region"), "SEIZURE")
    check_measure(Identity(Role.CLERK, "370202"), "PROPERTY_INQUIRY")
