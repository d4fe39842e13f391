"""check_reroute: where an operator may move a delegation, on the real 46-court registry."""

from __future__ import annotations

import pytest

from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.registry import Registry
from jiaodong.domain.routing import check_reroute
from jiaodong.files.registry import load_registry

SHINAN = "370202"  # Qingdao, the requesting court
HUANGDAO = "370211"  # Qingdao, the requesting court's own city
QINGDAO_INTERMEDIATE = "370200"
ZHIFU = "370602"  # Yantai, where the delegation is now
FUSHAN = "370611"  # Yantai, another court of the same city
YANTAI_INTERMEDIATE = "370600"
LINQU = "370724"  # Weifang
RONGCHENG = "371082"  # Weihai
JUXIAN = "371122"  # Rizhao


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(None)


def refusal(registry: Registry, new_court_id: str, current: str = ZHIFU) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        check_reroute(registry, SHINAN, current, new_court_id)
    return refused.value


def test_the_registry_is_the_real_one(registry: Registry) -> None:
    assert len(registry.courts) == 46
    assert registry.court(SHINAN).city == "qingdao"


def test_the_same_court_is_refused(registry: Registry) -> None:
    error = refusal(registry, ZHIFU)
    assert [v.field for v in error.violations] == ["court_id"]
    assert "already at that court" in error.violations[0].description


@pytest.mark.parametrize("court_id", [FUSHAN, YANTAI_INTERMEDIATE, LINQU, RONGCHENG, JUXIAN])
def test_a_court_in_another_city_is_returned(registry: Registry, court_id: str) -> None:
    court = check_reroute(registry, SHINAN, ZHIFU, court_id)
    assert court == registry.court(court_id)
    assert court.court_id == court_id
    assert court.city != registry.court(SHINAN).city


def test_the_result_depends_on_the_requesting_court(registry: Registry) -> None:
    # Huangdao is in the requesting court's city for Shinan, but fine for a Yantai requester.
    assert check_reroute(registry, ZHIFU, LINQU, HUANGDAO).court_id == HUANGDAO
    assert [v.field for v in refusal(registry, HUANGDAO).violations] == ["court_id"]


@pytest.mark.parametrize(
    ("court_id", "words"),
    [
        (HUANGDAO, "same city"),
        (QINGDAO_INTERMEDIATE, "same city"),
        (SHINAN, "requesting court itself"),
        ("379999", "no court 379999"),
        ("", "name the target court"),
        ("yantai", "no court"),
    ],
    ids=["own-city-basic", "own-city-intermediate", "itself", "unknown", "empty", "a-city-name"],
)
def test_a_court_that_routing_refuses_is_bad_input_on_court_id(
    registry: Registry, court_id: str, words: str
) -> None:
    error = refusal(registry, court_id)  # InvalidInput, never RoutingRefused
    assert [v.field for v in error.violations] == ["court_id"]
    assert words in error.violations[0].description


def test_every_court_of_the_own_city_is_refused(registry: Registry) -> None:
    for court in registry.courts_in_city("qingdao"):
        error = refusal(registry, court.court_id)
        assert [v.field for v in error.violations] == ["court_id"], court.court_id


def test_every_court_of_the_other_cities_is_accepted_except_the_current(registry: Registry) -> None:
    others = [c for c in registry.courts.values() if c.city != "qingdao"]
    assert len(others) == 46 - len(registry.courts_in_city("qingdao"))
    for court in others:
        if court.court_id == ZHIFU:
            continue
        assert check_reroute(registry, SHINAN, ZHIFU, court.court_id) is court


def test_from_a_routing_failure_there_is_no_current_court(registry: Registry) -> None:
    assert check_reroute(registry, SHINAN, "", ZHIFU).court_id == ZHIFU


def test_the_same_court_with_padding_is_refused(registry: Registry) -> None:
    error = refusal(registry, f" {ZHIFU} ")
    assert [v.field for v in error.violations] == ["court_id"]
    assert "already at that court" in error.violations[0].description
