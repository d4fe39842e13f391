"""Routing a delegation to the entrusted court, on the real registry files."""

from __future__ import annotations

import pytest

from jiaodong.domain.errors import NotFound, RoutingRefused
from jiaodong.domain.registry import Registry
from jiaodong.domain.routing import Target, route
from jiaodong.files.registry import load_registry

SHINAN = "370202"  # a Qingdao basic court, the requesting court in most tests


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def refused(registry: Registry, target: Target, requesting: str = SHINAN) -> RoutingRefused:
    with pytest.raises(RoutingRefused) as caught:
        route(registry, requesting, target)
    return caught.value


# --- routes -----------------------------------------------------------------------------------


def test_explicit_court_in_another_city(registry: Registry) -> None:
    assert route(registry, SHINAN, Target(court_id="370602")).court_id == "370602"
    assert route(registry, SHINAN, Target(court_id=" 371100 ")).court_id == "371100"


def test_explicit_court_agreeing_with_city_and_district(registry: Registry) -> None:
    target = Target(court_id="370602", city="yantai", district="芝罘区")
    assert route(registry, SHINAN, target).court_id == "370602"
    # The intermediate court covers every district of its city.
    target = Target(court_id="370600", city="Yantai", district="芝罘")
    assert route(registry, SHINAN, target).court_id == "370600"


@pytest.mark.parametrize(
    ("city", "district", "court_id"),
    [
        ("yantai", "蓬莱区", "370614"),
        ("yantai", "牟平区", "370612"),
        ("weifang", "临朐县", "370724"),
        ("weihai", "荣成市", "371082"),
        ("rizhao", "莒县", "371122"),
    ],
)
def test_city_and_district(registry: Registry, city: str, district: str, court_id: str) -> None:
    assert route(registry, SHINAN, Target(city=city, district=district)).court_id == court_id


@pytest.mark.parametrize(
    ("city", "district", "court_id"),
    [
        ("yantai", "蓬莱", "370614"),
        ("weifang", "寿光", "370783"),
        ("rizhao", "莒", "371122"),
        ("烟台", "烟台市芝罘区", "370602"),
    ],
)
def test_district_without_its_suffix(
    registry: Registry, city: str, district: str, court_id: str
) -> None:
    assert route(registry, SHINAN, Target(city=city, district=district)).court_id == court_id


def test_from_another_city_into_qingdao(registry: Registry) -> None:
    assert route(registry, "370602", Target(city="qingdao", district="黄岛")).court_id == "370211"
    assert route(registry, "371122", Target(city="青岛")).court_id == "370200"


@pytest.mark.parametrize(
    ("city", "court_id"),
    [
        ("yantai", "370600"),
        ("weifang", "370700"),
        ("Weihai", "371000"),
        ("日照市", "371100"),
    ],
)
def test_city_only_goes_to_the_intermediate_court(
    registry: Registry, city: str, court_id: str
) -> None:
    court = route(registry, SHINAN, Target(city=city))
    assert (court.court_id, court.level) == (court_id, "intermediate")


# --- refusals ---------------------------------------------------------------------------------


def test_unknown_requesting_court(registry: Registry) -> None:
    with pytest.raises(NotFound, match="370299"):
        route(registry, "370299", Target(city="yantai"))


def test_no_target(registry: Registry) -> None:
    error = refused(registry, Target())
    assert error.field == "target"
    assert "name the target court" in error.reason
    error = refused(registry, Target(district="芝罘区"))
    assert error.field == "target"
    assert "needs its city" in error.reason


def test_unknown_target_court(registry: Registry) -> None:
    error = refused(registry, Target(court_id="370699"))
    assert error.field == "target.court_id"
    assert "no court 370699" in error.reason


def test_target_court_is_the_requesting_court(registry: Registry) -> None:
    error = refused(registry, Target(court_id=SHINAN))
    assert error.field == "target.court_id"
    assert "is the requesting court itself" in error.reason


def test_target_court_in_the_same_city(registry: Registry) -> None:
    error = refused(registry, Target(court_id="370203"))
    assert error.field == "target.court_id"
    assert error.reason == (
        "the target court 370203 is in Qingdao, the same city as the requesting court 370202; "
        "delegations go to another city"
    )
    assert refused(registry, Target(court_id="370200")).field == "target.court_id"


def test_unknown_city(registry: Registry) -> None:
    error = refused(registry, Target(city="jinan", district="历下区"))
    assert error.field == "target.city"
    assert "no city 'jinan'" in error.reason
    assert "yantai (烟台市)" in error.reason


def test_same_city(registry: Registry) -> None:
    error = refused(registry, Target(city="qingdao"))
    assert error.field == "target.city"
    assert "Qingdao is the city of the requesting court 370202" in error.reason
    assert "another city" in error.reason
    assert refused(registry, Target(city="青岛", district="黄岛")).field == "target.city"


def test_unknown_district_lists_the_citys_districts(registry: Registry) -> None:
    error = refused(registry, Target(city="weihai", district="黄岛区"))
    assert error.field == "target.district"
    assert "Weihai (威海市) has no district '黄岛区'" in error.reason
    assert "its districts are 环翠区, 文登区, 荣成市, 乳山市" in error.reason


def test_court_and_city_must_agree(registry: Registry) -> None:
    error = refused(registry, Target(court_id="370602", city="weihai"))
    assert error.field == "target.city"
    assert "is in Yantai, not in Weihai" in error.reason
    assert refused(registry, Target(court_id="370602", city="nowhere")).field == "target.city"


def test_court_and_district_must_agree(registry: Registry) -> None:
    error = refused(registry, Target(court_id="370602", district="福山区"))
    assert error.field == "target.district"
    assert "served by 370611" in error.reason
    error = refused(registry, Target(court_id="370602", district="黄岛区"))
    assert error.field == "target.district"
    assert "Yantai (烟台市) has no district '黄岛区'" in error.reason


def test_refusal_beats_a_same_city_court_even_with_a_good_city(registry: Registry) -> None:
    error = refused(registry, Target(court_id="370211", city="yantai"))
    assert error.field == "target.court_id"
    assert "same city" in error.reason
