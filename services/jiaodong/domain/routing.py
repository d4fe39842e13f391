"""Routing: which court in another city receives a delegation.

A delegation names its target as a court, or as a city with an optional district:
- a court: it must exist and lie in another city than the requesting court;
- a city and a district: the court serving that district (``黄岛`` finds ``黄岛区``);
- a city alone: the city's intermediate court.
A court given together with a city or district must agree with them. Anything else is refused
with the target field at fault and a reason a clerk understands.
"""

from __future__ import annotations

from dataclasses import dataclass

from jiaodong.domain.errors import InvalidInput, RoutingRefused
from jiaodong.domain.registry import City, Court, Registry


@dataclass(frozen=True)
class Target:
    """Where the requesting court wants the delegation carried out."""

    court_id: str = ""
    city: str = ""
    district: str = ""


def route(registry: Registry, requesting_court_id: str, target: Target) -> Court:
    """The entrusted court for a delegation from ``requesting_court_id`` (NotFound if unknown)."""
    requesting = registry.court(requesting_court_id)
    court_id, city_text, district = (
        target.court_id.strip(),
        target.city.strip(),
        target.district.strip(),
    )
    if not court_id and not city_text:
        hint = f" (the district {district} needs its city)" if district else ""
        raise RoutingRefused(
            "target", f"name the target court, or the target city and district{hint}"
        )
    if court_id:
        return _named_court(registry, requesting, court_id, city_text, district)
    city = _target_city(registry, city_text)
    if city.city == requesting.city:
        raise RoutingRefused(
            "target.city",
            f"the target city {city.name_en} is the city of the requesting court "
            f"{requesting.label}; delegations go to another city",
        )
    if not district:
        return registry.intermediate_court(city.city)
    return _district_court(registry, city, district)


def check_reroute(
    registry: Registry, requesting_court_id: str, current_court_id: str, new_court_id: str
) -> Court:
    """The court a delegation may be moved to, by the same rules as its first routing; any
    refusal is bad input on ``court_id`` (the field the operator filled in)."""
    if new_court_id.strip() == current_court_id.strip():
        raise InvalidInput.one("court_id", "the delegation is already at that court")
    try:
        return route(registry, requesting_court_id, Target(court_id=new_court_id))
    except RoutingRefused as exc:
        raise InvalidInput.one("court_id", exc.reason) from exc


def _named_court(
    registry: Registry, requesting: Court, court_id: str, city_text: str, district: str
) -> Court:
    court = registry.courts.get(court_id)
    if court is None:
        raise RoutingRefused(
            "target.court_id", f"there is no court {court_id} in the court registry"
        )
    _check_other_city(registry, requesting, court)
    if city_text:
        city = _target_city(registry, city_text)
        if city.city != court.city:
            raise RoutingRefused(
                "target.city",
                f"the target court {court.label} is in {_city_name(registry, court.city)}, "
                f"not in {city.name_en}; correct the city or the court",
            )
    if district:
        _check_district_agrees(registry, court, district)
    return court


def _target_city(registry: Registry, text: str) -> City:
    city = registry.find_city(text)
    if city is None:
        known = ", ".join(f"{c.city} ({c.name_zh})" for c in registry.cities.values())
        raise RoutingRefused("target.city", f"there is no city {text!r}; cities are {known}")
    return city


def _city_name(registry: Registry, city: str) -> str:
    return registry.city(city).name_en


def _check_other_city(registry: Registry, requesting: Court, target: Court) -> None:
    if target.court_id == requesting.court_id:
        raise RoutingRefused(
            "target.court_id",
            f"the target court {target.court_id} is the requesting court itself; "
            "delegations go to a court in another city",
        )
    if target.city == requesting.city:
        raise RoutingRefused(
            "target.court_id",
            f"the target court {target.court_id} is in {_city_name(registry, target.city)}, "
            f"the same city as the requesting court {requesting.court_id}; "
            "delegations go to another city",
        )


def _district_court(registry: Registry, city: City, district: str) -> Court:
    court = registry.court_for_district(city.city, district)
    if court is None:
        known = ", ".join(registry.districts(city.city))
        raise RoutingRefused(
            "target.district",
            f"{city.name_en} ({city.name_zh}) has no district {district!r}; "
            f"its districts are {known}",
        )
    return court


def _check_district_agrees(registry: Registry, court: Court, district: str) -> None:
    """A named court and a district must agree: the district's court or the city's intermediate."""
    city = registry.city(court.city)
    serving = _district_court(registry, city, district)
    if court.court_id != serving.court_id and court.level != "intermediate":
        raise RoutingRefused(
            "target.district",
            f"the district {district} is served by {serving.label}, not by the target court "
            f"{court.label}; name {serving.court_id} or leave the court empty",
        )
