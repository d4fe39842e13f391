"""The registry connector contract, pure (issue 14): ``courts/registries.toml`` and each mistake in
it with its line; what a delegation asks a registry (``action_for``); the wire form of requests
and results and what it refuses; the simulated registries (deterministic holdings, answers,
refusals, partial answers, controls with their period and order, outages); the
``SimulatedConnector`` on a manual clock; and the Chinese texts and result letter the courts read.
No sockets, no database: the only files read are the court registry and ``registries.toml``."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from jiaodong.app.registries import SimulatedConnector, links_for, locale_of
from jiaodong.domain import registry_document as letter
from jiaodong.domain import registry_sim as sim
from jiaodong.domain.clock import ManualClock
from jiaodong.domain.controls import MAX_YEARS
from jiaodong.domain.delegation import AssetKind, TaskType
from jiaodong.domain.errors import RegistryError
from jiaodong.domain.identifiers import validate_social_credit_code
from jiaodong.domain.registries import (
    ASSET_ZH,
    ENCUMBRANCE_ZH,
    REGISTRY_ASSETS,
    SCHEMA_VERSION,
    Ack,
    Action,
    Control,
    Encumbrance,
    EncumbranceKind,
    Outcome,
    Property,
    PropertyRef,
    RegistryRequest,
    RegistryResult,
    RegistryUnavailable,
    Subject,
    WireError,
    action_for,
    action_zh,
    request_from_wire,
    request_to_wire,
    result_from_wire,
    result_to_wire,
)
from jiaodong.domain.registry_config import (
    ConnectorSpec,
    RegistryPlan,
    SimProfile,
    parse_registries,
)
from jiaodong.files.registry import default_courts_dir, load_registry

REGISTRY = load_registry()
CITIES = frozenset(REGISTRY.cities)
YANTAI = locale_of(REGISTRY, "yantai")
QINGDAO = locale_of(REGISTRY, "qingdao")
QD, YT = "370202", "370602"  # 青岛市市南区人民法院 asks 烟台市芝罘区人民法院
CST = timezone(timedelta(hours=8))
AT = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
NAME, RESIDENT_ID = "张三", "34052419800101001X"
CASE = "（2026）鲁0202执100号"
# A profile where every subject holds something and nothing is refused.
ALWAYS = SimProfile(nothing_found=0.0, refused=0.0)


def resident_id(body: str) -> str:
    """A resident ID with its check character (GB 11643)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


SUBJECT_IDS = [resident_id(f"37060219800101{n:03d}") for n in range(60)]


def request(
    asset: AssetKind = AssetKind.REAL_ESTATE,
    action: Action = Action.INQUIRE,
    *,
    identifier: str = RESIDENT_ID,
    request_id: str = "req-000000000001",
    case_number: str = CASE,
    submitted_at: datetime = AT,
    ref: PropertyRef | None = None,
    control_no: str = "",
) -> RegistryRequest:
    return RegistryRequest(
        request_id=request_id,
        action=action,
        asset_kind=asset,
        subject=Subject(True, NAME, identifier),
        ref=ref or PropertyRef(),
        case_number=case_number,
        requesting_court=QD,
        entrusted_court=YT,
        submitted_at=submitted_at,
        control_no=control_no,
    )


def with_holdings(asset: AssetKind, profile: SimProfile, at_least: int) -> RegistryRequest:
    """A request about the first subject Yantai's registry holds ``at_least`` properties of."""
    for identifier in SUBJECT_IDS:
        candidate = request(asset, identifier=identifier)
        if len(sim.holdings(candidate, profile, YANTAI)) >= at_least:
            return candidate
    raise AssertionError(f"no subject holds {at_least} {asset.value}")


def names(asset: AssetKind) -> letter.Names:
    return letter.Names(
        requesting_court=REGISTRY.court(QD).name_zh,
        entrusted_court=REGISTRY.court(YT).name_zh,
        registry=letter.registry_name(YANTAI.city_zh, asset),
    )


# -- courts/registries.toml ----------------------------------------------------------------------


def toml(*lines: str) -> str:
    """Lines joined, so that line N of the file is ``lines[N - 1]``."""
    return "\n".join(lines) + "\n"


CONNECTOR = ("[[connector]]", 'city = "yantai"', 'asset = "real_estate"', 'adapter = "simulated"')
REAL = ("[[connector]]", 'city = "yantai"', 'asset = "deposit"', 'adapter = "pkg.mod:Cls"')


def test_the_shipped_file_links_every_city_to_its_four_registries() -> None:
    path = default_courts_dir() / "registries.toml"
    plan = parse_registries(path.read_text(encoding="utf-8"), str(path), CITIES)
    assert len(plan.connectors) == 20
    for city in CITIES:
        assert set(plan.of_city(city)) == set(REGISTRY_ASSETS), city
        assert all(plan.has(city, asset) for asset in REGISTRY_ASSETS)
        assert plan.of_city(city)[AssetKind.DEPOSIT].sim.partial == 0.3
    assert all(c.adapter == "simulated" for c in plan.connectors)
    assert (plan.retry.attempts, plan.retry.first_minutes, plan.retry.max_minutes) == (6, 1, 60)
    assert plan.retry.poll_minutes == 10


def test_a_connector_block_is_read_into_its_spec() -> None:
    text = toml(
        "[defaults]",
        "attempts = 3",
        *CONNECTOR,
        "answer_minutes = [2, 4.5]",
        "refused = 0.5",
        'outages = [["2026-03-02T09:00+08:00", "2026-03-02T12:00+08:00"]]',
        *REAL,
        'options = { folder = "/srv/bank" }',
    )
    plan = parse_registries(text, "r.toml", CITIES)
    assert plan.retry.attempts == 3
    simulated, real = plan.connectors
    assert (simulated.city, simulated.asset) == ("yantai", AssetKind.REAL_ESTATE)
    assert simulated.sim.answer_minutes == (2.0, 4.5)
    assert simulated.sim.refused == 0.5
    assert simulated.sim.control_minutes == SimProfile().control_minutes  # the default
    assert simulated.sim.outages == ((AT, AT + timedelta(hours=3)),)
    assert (real.adapter, dict(real.options)) == ("pkg.mod:Cls", {"folder": "/srv/bank"})
    assert not plan.has("qingdao", AssetKind.REAL_ESTATE)


def test_an_empty_file_links_nothing_and_keeps_the_default_retry() -> None:
    plan = parse_registries("", "r.toml", CITIES)
    assert plan.connectors == ()
    assert plan.retry.attempts == 6


MISTAKES = [
    pytest.param(
        ('colour = "red"', "[defaults]", "attempts = 3"),
        1,
        "unknown table or key 'colour'",
        id="unknown-top-level-key",
    ),
    pytest.param(
        ("[defaults]", "attempts = 3", "retries = 2"),
        3,
        "[defaults]: unknown key 'retries'",
        id="unknown-defaults-key",
    ),
    pytest.param(
        ("# retries", "[defaults]", "first_retry_minutes = 10", "max_retry_minutes = 5"),
        2,
        "max_retry_minutes is less than first_retry_minutes",
        id="max-retry-below-first",
    ),
    pytest.param(
        ("[defaults]", "attempts = 0"), 1, "attempts = 0 is outside 1..100", id="attempts-zero"
    ),
    pytest.param((*CONNECTOR, 'colour = "red"'), 5, "unknown key 'colour'", id="connector-key"),
    pytest.param(
        ("", "[[connector]]", 'asset = "real_estate"', 'adapter = "simulated"'),
        2,
        "city is required",
        id="missing-city",
    ),
    pytest.param(
        ("[[connector]]", 'city = "yantai"', 'adapter = "simulated"'),
        1,
        "asset is required",
        id="missing-asset",
    ),
    pytest.param(
        ("[[connector]]", 'city = "yantai"', 'asset = "deposit"'),
        1,
        "adapter is required",
        id="missing-adapter",
    ),
    pytest.param(
        ("[[connector]]", 'asset = "deposit"', 'city = "dalian"', 'adapter = "simulated"'),
        3,
        "unknown city 'dalian'",
        id="unknown-city",
    ),
    pytest.param(
        ("[[connector]]", 'city = "yantai"', 'asset = "other"', 'adapter = "simulated"'),
        3,
        "asset 'other' has no registry",
        id="asset-without-registry",
    ),
    pytest.param(
        ("[[connector]]", 'city = "yantai"', 'asset = "deposit"', 'adapter = "foo"'),
        4,
        "adapter 'foo': use 'simulated' or 'package.module:Class'",
        id="bad-adapter",
    ),
    pytest.param(
        (*REAL, 'options = { folder = "x" }', "answer_minutes = [1, 3]"),
        6,
        "answer_minutes is a setting of simulated registries",
        id="simulated-key-on-real-adapter",
    ),
    pytest.param(
        (*CONNECTOR, "answer_minutes = [1]"),
        5,
        "answer_minutes must be [low, high]",
        id="range-not-a-pair",
    ),
    pytest.param(
        (*CONNECTOR, "answer_minutes = [1, 3]", "control_minutes = [10, 5]"),
        6,
        "need 0 <= low <= high",
        id="range-low-above-high",
    ),
    pytest.param(
        (*CONNECTOR, "refused = 1.5"), 5, "refused = 1.5 is outside 0..1", id="share-above-one"
    ),
    pytest.param((*CONNECTOR, "nothing_found = -0.1"), 5, "is outside 0..1", id="share-below-zero"),
    pytest.param(
        (*CONNECTOR, 'outages = [["2026-03-02T09:00", "2026-03-02T12:00"]]'),
        5,
        "give the UTC offset",
        id="outage-without-offset",
    ),
    pytest.param(
        (*CONNECTOR, 'outages = [["2026-03-02T12:00+08:00", "2026-03-02T09:00+08:00"]]'),
        5,
        "ends before it starts",
        id="outage-ends-first",
    ),
    pytest.param(
        (*CONNECTOR, 'outages = [["tomorrow", "later"]]'), 5, "outage", id="outage-not-a-time"
    ),
    pytest.param(
        (*CONNECTOR, "", *CONNECTOR),
        6,
        "a second connector for yantai real_estate (the first is at line 1)",
        id="duplicate-city-and-asset",
    ),
    pytest.param(
        ("[defaults]", "attempts = 3", "poll_minutes =", "[[connector]]"),
        3,
        "not valid TOML",
        id="invalid-toml",
    ),
]


@pytest.mark.parametrize(("lines", "line", "message"), MISTAKES)
def test_a_mistake_stops_with_its_file_and_line(
    lines: tuple[str, ...], line: int, message: str
) -> None:
    with pytest.raises(RegistryError) as caught:
        parse_registries(toml(*lines), "courts/registries.toml", CITIES)
    error = caught.value
    assert (error.file, error.line) == ("courts/registries.toml", line), error.message
    assert message in error.message
    assert str(error).startswith(f"courts/registries.toml:{line}: ")


# -- what a delegation asks ----------------------------------------------------------------------


@pytest.mark.parametrize("asset", REGISTRY_ASSETS)
def test_an_inquiry_of_a_registry_asset_is_asked_of_its_registry(asset: AssetKind) -> None:
    assert action_for(TaskType.PROPERTY_INQUIRY, asset) is Action.INQUIRE


@pytest.mark.parametrize("asset", [AssetKind.REAL_ESTATE, AssetKind.EQUITY])
def test_a_seizure_the_registration_itself_makes_is_a_control(asset: AssetKind) -> None:
    assert action_for(TaskType.SEIZURE, asset) is Action.CONTROL


@pytest.mark.parametrize("asset", [AssetKind.VEHICLE, AssetKind.DEPOSIT])
def test_a_distraint_or_a_freeze_without_its_amount_is_left_to_officers(asset: AssetKind) -> None:
    """A vehicle is seized on the street; a deposit freeze needs an amount (no over-seizure)."""
    assert action_for(TaskType.SEIZURE, asset) is None


@pytest.mark.parametrize("task", [TaskType.PROPERTY_INQUIRY, TaskType.SEIZURE])
@pytest.mark.parametrize("asset", [AssetKind.OTHER, AssetKind.UNSPECIFIED])
def test_an_asset_without_a_registry_is_left_to_officers(task: TaskType, asset: AssetKind) -> None:
    assert action_for(task, asset) is None


@pytest.mark.parametrize(
    "task", [t for t in TaskType if t not in (TaskType.PROPERTY_INQUIRY, TaskType.SEIZURE)]
)
def test_other_task_types_are_left_to_officers(task: TaskType) -> None:
    assert all(action_for(task, asset) is None for asset in AssetKind)


@pytest.mark.parametrize(
    ("action", "asset", "word"),
    [
        (Action.INQUIRE, AssetKind.DEPOSIT, "查询"),
        (Action.CONTROL, AssetKind.REAL_ESTATE, "查封"),
        (Action.CONTROL, AssetKind.DEPOSIT, "冻结"),
        (Action.RENEW, AssetKind.EQUITY, "续冻"),
        (Action.RELEASE, AssetKind.VEHICLE, "解封"),
    ],
)
def test_the_word_for_an_action_depends_on_the_asset(
    action: Action, asset: AssetKind, word: str
) -> None:
    assert action_zh(action, asset) == word


# -- the wire form -------------------------------------------------------------------------------

ENCUMBERED = Property(
    asset_kind=AssetKind.REAL_ESTATE,
    description="烟台市芝罘区长江路1号1号楼1单元101室",
    identifier="鲁（2020）烟台市不动产权第0000001号",
    details={"不动产单元号": "370600000000GB00000F00000001", "面积": "90.00平方米"},
    encumbrances=(
        Encumbrance(EncumbranceKind.MORTGAGE, "中国银行烟台市分行", since=date(2021, 5, 6)),
        Encumbrance(EncumbranceKind.SEIZED, "莱州市人民法院", "（2024）鲁0683执12号"),
    ),
    control=Control("BDC370620260302000001-1", date(2026, 3, 2), date(2029, 3, 1), 2),
)
FOUND = RegistryResult(
    "req-000000000001", 1, True, Outcome.FOUND, AT + timedelta(minutes=2), (ENCUMBERED,)
)


def test_a_request_survives_the_wire_and_json() -> None:
    original = request(
        AssetKind.EQUITY,
        Action.RENEW,
        ref=PropertyRef(company="烟台市海润贸易有限公司", location="芝罘区"),
        control_no="SJJ370620250101000001-1",
    )
    organisation = replace(original, subject=Subject(False, "某公司", "91370600MA3C000000"))
    for value in (original, organisation):
        wire = request_to_wire(value)
        assert wire["schema_version"] == SCHEMA_VERSION
        text = json.dumps(wire, ensure_ascii=False)
        assert "烟台市海润贸易有限公司" in text
        assert request_from_wire(json.loads(text)) == value
    assert request_to_wire(original)["property"] == {
        "company": "烟台市海润贸易有限公司",
        "location": "芝罘区",
    }
    assert request_to_wire(organisation)["subject"]["type"] == "organisation"


def test_a_result_survives_the_wire_and_json() -> None:
    text = json.dumps(result_to_wire(FOUND), ensure_ascii=False)
    back = result_from_wire(json.loads(text))
    assert back == FOUND
    assert back.properties[0].control == ENCUMBERED.control
    assert back.properties[0].encumbrances[1].since is None


def test_the_simulators_answers_survive_the_wire() -> None:
    profile = replace(ALWAYS, encumbered=1.0, partial=1.0)
    req = with_holdings(AssetKind.DEPOSIT, profile, at_least=2)
    results = sim.answer(replace(req, action=Action.CONTROL), profile, YANTAI)
    assert len(results) == 2
    for result in results:
        wire = json.loads(json.dumps(result_to_wire(result), ensure_ascii=False))
        assert result_from_wire(wire) == result


_DROP = object()  # a field to leave out of a wire document


def _result_wire(**changes: object) -> dict[str, object]:
    wire = result_to_wire(FOUND)
    wire.update(changes)
    return {k: v for k, v in wire.items() if v is not _DROP}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"schema_version": 2}, "schema_version 2", id="newer-schema"),
        pytest.param({"schema_version": _DROP}, "schema_version None", id="no-schema"),
        pytest.param({"request_id": _DROP}, "request_id", id="no-request-id"),
        pytest.param({"answered_at": _DROP}, "answered_at", id="no-answered-at"),
        pytest.param({"outcome": "MAYBE"}, "MAYBE", id="unknown-outcome"),
        pytest.param({"seq": 0}, "seq counts from 1", id="seq-zero"),
        pytest.param(
            {"outcome": "REFUSED", "properties": [], "reason": "  "},
            "a refusal needs its reason",
            id="refused-without-reason",
        ),
        pytest.param(
            {"outcome": "NOTHING_FOUND"}, "NOTHING_FOUND with properties", id="nothing-with-props"
        ),
        pytest.param({"properties": []}, "FOUND without properties", id="found-nothing"),
        pytest.param({"final": "false"}, "final true or false", id="final-as-text"),
        pytest.param({"seq": 1.9}, "seq must be an integer", id="seq-fraction"),
        pytest.param({"answered_at": "2025-03-04T09:00:00"}, "no UTC offset", id="naive-time"),
        pytest.param({"properties": [None]}, "", id="property-not-an-object"),
    ],
)
def test_a_result_outside_the_contract_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(WireError, match="not a registry result") as caught:
        result_from_wire(_result_wire(**changes))
    assert message in str(caught.value)


def test_a_refusal_with_its_reason_is_accepted() -> None:
    wire = _result_wire(outcome="REFUSED", properties=[], reason="请求缺少有效的电子签章")
    assert result_from_wire(wire).reason == "请求缺少有效的电子签章"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"schema_version": 0}, id="old-schema"),
        pytest.param({"subject": _DROP}, id="no-subject"),
        pytest.param({"case_number": _DROP}, id="no-case-number"),
        pytest.param({"action": "SEIZE"}, id="unknown-action"),
        pytest.param({"property": {"colour": "red"}}, id="unknown-property-field"),
        pytest.param({"submitted_at": "yesterday"}, id="bad-time"),
        pytest.param({"submitted_at": "2025-03-04T09:00:00"}, id="naive-time"),
        pytest.param({"subject": {"type": "persn", "name": "x", "identifier": "y"}}, id="typo"),
        pytest.param({"property": None}, id="property-not-an-object"),
        pytest.param({"asset_kind": "OTHER"}, id="asset-without-registry"),
    ],
)
def test_a_request_outside_the_contract_is_refused(changes: dict[str, object]) -> None:
    wire = request_to_wire(request())
    wire.update(changes)
    with pytest.raises(WireError, match="not a registry request"):
        request_from_wire({k: v for k, v in wire.items() if v is not _DROP})


# -- the simulated registries --------------------------------------------------------------------


@pytest.mark.parametrize("asset", REGISTRY_ASSETS)
def test_a_subject_holds_the_same_property_whoever_asks(asset: AssetKind) -> None:
    first = with_holdings(asset, ALWAYS, at_least=1)
    second = replace(
        first,
        request_id="req-999999999999",
        case_number="（2025）鲁0602执9号",
        submitted_at=AT + timedelta(days=40),
    )
    held = sim.holdings(first, ALWAYS, YANTAI)
    assert held
    assert sim.holdings(second, ALWAYS, YANTAI) == held
    inquiry = sim.answer(second, ALWAYS, YANTAI)
    assert tuple(p for r in inquiry for p in r.properties) == held


def test_another_city_holds_other_property() -> None:
    req = with_holdings(AssetKind.REAL_ESTATE, ALWAYS, at_least=1)
    in_yantai = sim.holdings(req, ALWAYS, YANTAI)
    in_qingdao = sim.holdings(req, ALWAYS, QINGDAO)
    assert all(p.description.startswith("烟台市") for p in in_yantai)
    assert all(p.description.startswith("青岛市") for p in in_qingdao)


def test_the_acknowledgement_depends_on_content_not_on_the_platforms_id() -> None:
    one = sim.acknowledge(request(request_id="req-a"), ALWAYS, YANTAI)
    two = sim.acknowledge(request(request_id="req-b"), ALWAYS, YANTAI)
    assert (one.request_id, two.request_id) == ("req-a", "req-b")
    assert one.registry_no == two.registry_no
    assert one.registry_no.startswith("BDC370620260302")
    later = sim.acknowledge(request(submitted_at=AT + timedelta(days=1)), ALWAYS, YANTAI)
    assert later.registry_no.startswith("BDC370620260303")


def test_the_acknowledgement_names_when_the_first_answer_comes() -> None:
    req = request(AssetKind.DEPOSIT)
    ack = sim.acknowledge(req, SimProfile(), YANTAI)
    assert ack.expected_at == sim.answer(req, SimProfile(), YANTAI)[0].answered_at


@pytest.mark.parametrize("action", [Action.INQUIRE, Action.CONTROL])
def test_an_answer_is_a_function_of_the_request(action: Action) -> None:
    profile = SimProfile(partial=0.5, refused=0.2, encumbered=0.6)
    for identifier in SUBJECT_IDS[:10]:
        req = request(AssetKind.DEPOSIT, action, identifier=identifier)
        assert sim.answer(req, profile, YANTAI) == sim.answer(req, profile, YANTAI)


def test_a_registry_that_holds_nothing_says_so() -> None:
    results = sim.answer(request(), SimProfile(nothing_found=1.0, refused=0.0), YANTAI)
    assert [(r.seq, r.final, r.outcome, r.properties) for r in results] == [
        (1, True, Outcome.NOTHING_FOUND, ())
    ]


@pytest.mark.parametrize("action", [Action.INQUIRE, Action.CONTROL])
def test_a_refusal_is_final_and_gives_a_reason(action: Action) -> None:
    results = sim.answer(request(action=action), replace(ALWAYS, refused=1.0), YANTAI)
    assert len(results) == 1
    (refusal,) = results
    assert (refusal.seq, refusal.final, refusal.outcome) == (1, True, Outcome.REFUSED)
    assert refusal.reason.strip() and not refusal.properties


def test_a_partial_answer_comes_in_two_numbered_parts() -> None:
    profile = replace(ALWAYS, partial=1.0)
    req = with_holdings(AssetKind.DEPOSIT, profile, at_least=2)
    first, second = sim.answer(req, profile, YANTAI)
    assert (first.seq, first.final, second.seq, second.final) == (1, False, 2, True)
    assert req.submitted_at < first.answered_at < second.answered_at
    assert first.properties and second.properties
    assert first.properties + second.properties == sim.holdings(req, profile, YANTAI)


def test_a_single_property_is_answered_at_once_even_when_partial() -> None:
    profile = replace(ALWAYS, partial=1.0)
    for identifier in SUBJECT_IDS:
        req = request(AssetKind.REAL_ESTATE, identifier=identifier)
        if len(sim.holdings(req, profile, YANTAI)) == 1:
            assert [r.final for r in sim.answer(req, profile, YANTAI)] == [True]
            return
    raise AssertionError("no subject holds exactly one flat")


@pytest.mark.parametrize("asset", [AssetKind.REAL_ESTATE, AssetKind.EQUITY, AssetKind.DEPOSIT])
def test_a_control_carries_its_period_and_place_in_the_order(asset: AssetKind) -> None:
    profile = replace(ALWAYS, encumbered=0.7)
    orders = []
    for identifier in SUBJECT_IDS[:20]:
        req = request(asset, Action.CONTROL, identifier=identifier)
        number = sim.acknowledge(req, profile, YANTAI).registry_no
        results = sim.answer(req, profile, YANTAI)
        controlled = [p for r in results for p in r.properties]
        assert len(controlled) == len(sim.holdings(req, profile, YANTAI))
        for i, p in enumerate(controlled, start=1):
            assert p.control is not None
            start = p.control.start
            assert start == results[-1].answered_at.date()
            years = MAX_YEARS[asset.value]
            assert p.control.end == start.replace(year=start.year + years) - timedelta(days=1)
            seized = sum(e.kind is EncumbranceKind.SEIZED for e in p.encumbrances)
            assert p.control.order == 1 + seized
            assert p.control.registry_no == f"{number}-{i}"
            orders.append(p.control.order)
    assert 1 in orders and max(orders) > 1  # both a first seizure and a waiting one were seen


def test_control_years_follow_the_supreme_courts_interpretation() -> None:
    # The simulator's terms are the law's longest (domain/controls.py), checked on every answer.
    assets = ("DEPOSIT", "VEHICLE", "REAL_ESTATE", "EQUITY")
    assert {a: MAX_YEARS[a] for a in assets} == {
        "DEPOSIT": 1,
        "VEHICLE": 2,
        "REAL_ESTATE": 3,
        "EQUITY": 3,
    }


@pytest.mark.parametrize(
    ("action", "window"), [(Action.INQUIRE, (5.0, 15.0)), (Action.CONTROL, (600.0, 2880.0))]
)
def test_answers_come_within_the_configured_minutes(
    action: Action, window: tuple[float, float]
) -> None:
    profile = SimProfile(answer_minutes=(5.0, 15.0), control_minutes=(600.0, 2880.0), partial=0.5)
    low, high = window
    for identifier in SUBJECT_IDS:
        req = request(AssetKind.DEPOSIT, action, identifier=identifier)
        results = sim.answer(req, profile, YANTAI)
        minutes = (results[-1].answered_at - req.submitted_at) / timedelta(minutes=1)
        assert low <= minutes <= high, (identifier, minutes)
        assert all(r.answered_at > req.submitted_at for r in results)


def test_generated_credit_codes_pass_the_check() -> None:
    for seed in range(200):
        code = sim.credit_code(random.Random(seed), YANTAI.area_code)
        assert code.startswith("91370600")
        assert validate_social_credit_code(code) == (code, None)
    for identifier in SUBJECT_IDS[:10]:
        req = request(AssetKind.EQUITY, identifier=identifier)
        for p in sim.holdings(req, ALWAYS, YANTAI):
            assert validate_social_credit_code(p.identifier) == (p.identifier, None)
            assert p.details["统一社会信用代码"] == p.identifier


def test_an_outage_is_half_open() -> None:
    start, end = AT, AT + timedelta(hours=3)
    profile = SimProfile(outages=((start, end),))
    tick = timedelta(microseconds=1)
    assert not sim.in_outage(profile, start - tick)
    assert sim.in_outage(profile, start)
    assert sim.in_outage(profile, start.astimezone(UTC))  # the same instant in UTC
    assert sim.in_outage(profile, end - tick)
    assert not sim.in_outage(profile, end)
    assert not sim.in_outage(SimProfile(), start)


# -- the simulated connector ---------------------------------------------------------------------


def connector(profile: SimProfile, start: datetime = AT) -> tuple[SimulatedConnector, ManualClock]:
    clock = ManualClock(start)
    spec = ConnectorSpec("yantai", AssetKind.REAL_ESTATE, "simulated", sim=profile)
    return SimulatedConnector(spec, YANTAI, clock), clock


async def test_submitting_again_answers_the_same_ack() -> None:
    registry, clock = connector(ALWAYS)
    req = request()
    first = await registry.submit(req)
    clock.advance(timedelta(minutes=5))
    again = await registry.submit(replace(req, submitted_at=clock.now()))
    assert again == first
    assert first == sim.acknowledge(req, ALWAYS, YANTAI)
    other = await registry.submit(replace(req, request_id="req-000000000002"))
    assert other.request_id == "req-000000000002"


async def test_results_come_when_the_registry_said() -> None:
    registry, clock = connector(ALWAYS)
    req = request()
    ack = await registry.submit(req)
    assert ack.expected_at is not None
    clock.advance(ack.expected_at - clock.now() - timedelta(seconds=1))
    assert await registry.results(req, ack) == []
    clock.advance(timedelta(seconds=1))
    results = await registry.results(req, ack)
    assert results == sim.answer(req, ALWAYS, YANTAI)
    assert results[-1].final


async def test_an_outage_makes_every_call_fail_until_it_ends() -> None:
    outage = (AT + timedelta(minutes=1), AT + timedelta(hours=2))
    registry, clock = connector(replace(ALWAYS, outages=(outage,)))
    req = request()
    ack = await registry.submit(req)  # before the outage
    clock.advance(timedelta(minutes=1))
    with pytest.raises(RegistryUnavailable, match="yantai real_estate"):
        await registry.submit(req)
    with pytest.raises(RegistryUnavailable):
        await registry.results(req, ack)
    clock.advance(timedelta(hours=2))
    assert await registry.submit(req) == ack
    assert (await registry.results(req, ack))[-1].final


def test_a_nodes_links_follow_the_plan() -> None:
    path = default_courts_dir() / "registries.toml"
    plan = parse_registries(path.read_text(encoding="utf-8"), str(path), CITIES)
    links = links_for(plan, REGISTRY, "yantai", ManualClock(AT))
    assert links.city_zh == "烟台市"
    assert set(links.connectors) == set(REGISTRY_ASSETS)
    assert all(isinstance(c, SimulatedConnector) for c in links.connectors.values())


def test_an_adapter_that_cannot_be_loaded_is_a_registry_error() -> None:
    spec = ConnectorSpec("yantai", AssetKind.DEPOSIT, "jiaodong_no_such_module:Bank")
    plan = RegistryPlan(parse_registries("", "r.toml", CITIES).retry, (spec,))
    with pytest.raises(RegistryError, match="cannot be loaded"):
        links_for(plan, REGISTRY, "yantai", ManualClock(AT))


def test_a_citys_locale_comes_from_the_court_registry() -> None:
    assert (YANTAI.city, YANTAI.city_zh, YANTAI.area_code) == ("yantai", "烟台市", "370600")
    assert YANTAI.plate_letter == "F" and QINGDAO.plate_letter == "B"
    assert "芝罘区" in YANTAI.districts
    assert ("莱州市人民法院", "鲁0683", "370683") in YANTAI.other_courts


# -- what the courts read ------------------------------------------------------------------------


def test_the_letter_carries_the_courts_the_case_and_every_property() -> None:
    profile = replace(ALWAYS, encumbered=1.0)
    req = replace(with_holdings(AssetKind.REAL_ESTATE, profile, at_least=1), action=Action.CONTROL)
    ack = sim.acknowledge(req, profile, YANTAI)
    results = sim.answer(req, profile, YANTAI)
    text = letter.result_document(req, ack, results, names(req.asset_kind), AT + timedelta(days=1))
    lines = text.splitlines()
    assert lines[0] == "烟台市芝罘区人民法院"
    assert "协助查封不动产结果" in lines
    assert "委托法院：青岛市市南区人民法院" in lines
    assert f"案号：{CASE}" in lines
    assert f"被执行人姓名：{NAME}" in lines
    assert f"公民身份号码：{req.subject.identifier}" in lines
    # The court seizes; the registry assists (协助执行单位), whatever the action.
    assert f"协助执行单位：烟台市不动产登记中心（受理号 {ack.registry_no}）" in lines
    for p in (p for r in results for p in r.properties):
        assert f"     标识：{p.identifier}" in lines
        for e in p.encumbrances:
            burden = f"     权利负担：{ENCUMBRANCE_ZH[e.kind]} {e.holder}"
            assert any(line.startswith(burden) and e.case_number in line for line in lines)
        assert p.control is not None
        assert any(
            line.startswith(f"     查封期限：{p.control.start} 至 {p.control.end}")
            and p.control.registry_no in line
            for line in lines
        )
    assert "以上结果由点对点网络查控系统自动取得，未经人工改动。" in lines
    assert "生成时间：2026-03-03 09:00" in lines


def test_a_freeze_letter_shows_the_waiting_order_and_an_unfinished_answer() -> None:
    control = Control("YH370620260302000001-1", date(2026, 3, 2), date(2027, 3, 1), 3)
    account = Property(AssetKind.DEPOSIT, "中国银行 账号6000", "6000", control=control)
    req = request(AssetKind.DEPOSIT, Action.CONTROL)
    part = RegistryResult(req.request_id, 1, False, Outcome.FOUND, AT, (account,))
    text = letter.result_document(
        req, Ack(req.request_id, "YH1"), [part], names(AssetKind.DEPOSIT), AT
    )
    assert "冻结期限：2026-03-02 至 2027-03-01（轮候第2位，编号 YH370620260302000001-1）" in text
    assert "答复尚未完毕，后续结果另行送达。" in text
    assert "以上结果由" not in text


def test_an_organisations_letter_names_its_credit_code() -> None:
    req = replace(request(), subject=Subject(False, "烟台某公司", "91370600MA3C00000X"))
    nothing = RegistryResult(req.request_id, 1, True, Outcome.NOTHING_FOUND, AT)
    text = letter.result_document(
        req, Ack(req.request_id, "BDC1"), [nothing], names(AssetKind.REAL_ESTATE), AT
    )
    assert "被执行人名称：烟台某公司" in text
    assert "统一社会信用代码：91370600MA3C00000X" in text
    assert "未发现被执行人名下不动产" in text


def _event_texts(asset: AssetKind, action: Action, profile: SimProfile) -> list[str]:
    req = with_holdings(asset, ALWAYS, at_least=2)
    req = replace(req, action=action)
    ack = sim.acknowledge(req, profile, YANTAI)
    results = sim.answer(req, profile, YANTAI)
    n = names(asset)
    return [
        letter.acknowledged_text(n),
        letter.accepted_text(req, n),
        letter.submitted_text(req, ack, n),
        *(letter.partial_text(r, n) for r in results if not r.final),
        letter.final_text(req, results, n),
        letter.fallback_text(n, 6),
    ]


@pytest.mark.parametrize("asset", [AssetKind.REAL_ESTATE, AssetKind.DEPOSIT])
@pytest.mark.parametrize("action", [Action.INQUIRE, Action.CONTROL])
@pytest.mark.parametrize(
    "profile",
    [
        replace(ALWAYS, partial=1.0),
        SimProfile(nothing_found=1.0, refused=0.0),
        replace(ALWAYS, refused=1.0),
    ],
    ids=["partial", "nothing", "refused"],
)
def test_event_texts_carry_no_personal_data(
    asset: AssetKind, action: Action, profile: SimProfile
) -> None:
    texts = _event_texts(asset, action, profile)
    assert len(texts) >= 5
    for text in texts:
        assert text.startswith(letter.AUTO)
        assert NAME not in text
        assert "3706021980" not in text  # no part of the subject's resident ID


@pytest.mark.parametrize(
    ("asset", "word", "other"),
    [(AssetKind.DEPOSIT, "冻结", "查封"), (AssetKind.REAL_ESTATE, "查封", "冻结")],
)
def test_a_controls_texts_use_the_assets_word(asset: AssetKind, word: str, other: str) -> None:
    texts = _event_texts(asset, Action.CONTROL, replace(ALWAYS, partial=1.0))
    accepted, submitted, final = texts[1], texts[2], texts[-2]
    assert accepted.endswith(f"{ASSET_ZH[asset]}{word}登记")
    assert f"已接收{word}请求" in submitted
    assert f"已{word}{ASSET_ZH[asset]}" in final
    assert not any(other in text for text in texts)


def test_the_final_text_says_what_was_found() -> None:
    n = names(AssetKind.DEPOSIT)
    req = request(AssetKind.DEPOSIT)
    account = Property(AssetKind.DEPOSIT, "中国银行 账号6000", "6000")
    part = RegistryResult(req.request_id, 1, False, Outcome.FOUND, AT, (account,))
    last = RegistryResult(req.request_id, 2, True, Outcome.FOUND, AT, (account, account))
    nothing = RegistryResult(req.request_id, 1, True, Outcome.NOTHING_FOUND, AT)
    refused = RegistryResult(req.request_id, 1, True, Outcome.REFUSED, AT, reason="缺少签章")
    assert letter.final_text(req, [part, last], n).endswith("查到存款3项，详见结果文书")
    assert letter.final_text(req, [nothing], n).endswith("未查询到被执行人名下存款")
    # The registry's reason may name the debtor: it is in the letter, not the history.
    assert letter.final_text(req, [refused], n).endswith("不予查询，理由详见结果文书")
    assert "缺少签章" not in letter.final_text(req, [refused], n)
    assert letter.partial_text(part, n).endswith("部分答复（第1次）：1项，详见结果文书")
    assert "烟台市各银行业金融机构" in letter.fallback_text(n, 6)


def test_review_names_cities_of_the_registry() -> None:
    cities = frozenset({"qingdao", "yantai", "weihai"})
    plan = parse_registries('[review]\ncities = ["weihai"]\n', "r.toml", cities)
    assert plan.review == frozenset({"weihai"}) and plan.connectors == ()
    with pytest.raises(RegistryError) as caught:
        parse_registries('\n[review]\ncities = ["beijing"]\n', "r.toml", cities)
    assert (caught.value.line, "unknown city 'beijing'" in caught.value.message) == (3, True)
    with pytest.raises(RegistryError, match="holds one key"):
        parse_registries('[review]\nwho = "clerks"\n', "r.toml", cities)


def test_terms_a_registry_gives_beyond_the_law_are_recorded_but_not_watched() -> None:
    from jiaodong.domain.registries import checked_results, controls_of

    def flat(number: str, years: int) -> Property:
        start = date(2026, 3, 2)
        end = start.replace(year=start.year + years) - timedelta(days=1)
        return Property(
            AssetKind.REAL_ESTATE, "芝罘区某路1号", number, {}, (), Control(number, start, end, 1)
        )

    answer = RegistryResult(
        "r", 1, True, Outcome.FOUND, datetime(2026, 3, 2, 2, tzinfo=UTC),
        (flat("N-1", 3), flat("N-2", 5)),
    )  # fmt: skip
    terms, unwatched = controls_of(answer)
    assert [t.reference for t in terms] == ["N-1"] and unwatched == 1
    assert checked_results([answer])  # the answer itself is kept: the registry registered both
