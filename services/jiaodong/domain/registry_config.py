"""Which registries each city's node is linked to: ``courts/registries.toml``, checked at start
like the registry of courts (a mistake stops the node with ``file:line: message``).

Pure: ``parse_registries`` takes the text and the file's name; reading it is
``jiaodong.files.registries``. One ``[[connector]]`` block per city and asset kind::

    [[connector]]
    city = "yantai"
    asset = "real_estate"          # real_estate, vehicle, equity or deposit
    adapter = "simulated"          # or "package.module:Class", a real registry's adapter
    answer_minutes = [1, 3]        # simulated: how long an inquiry takes (a range)

``[review] cities`` lists the cities whose courts check a registry's result before it is
recorded (a clerk releases it). ``[defaults]`` holds how failures are handled: ``attempts``
before the delegation is handed to the court's officers, the backoff between them
(``first_retry_minutes`` doubling up to ``max_retry_minutes``) and how often a registry that
named no answer time is asked again (``poll_minutes``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, NoReturn

from jiaodong.domain.delegation import AssetKind
from jiaodong.domain.errors import RegistryError
from jiaodong.domain.registries import REGISTRY_ASSETS
from jiaodong.domain.sla_policy import _Lines, _toml_error  # the same file conventions

SIMULATED = "simulated"
ASSET_KEYS = {a.value.lower(): a for a in REGISTRY_ASSETS}


@dataclass(frozen=True)
class Retry:
    """How a failing connector is retried before the delegation goes to officers."""

    attempts: int = 6
    first_minutes: float = 1.0
    max_minutes: float = 60.0
    poll_minutes: float = 10.0
    call_seconds: float = 60.0  # a connector call that takes longer counts as a failure


@dataclass(frozen=True)
class SimProfile:
    """A simulated registry's behaviour (ranges in minutes; shares between 0 and 1)."""

    answer_minutes: tuple[float, float] = (1.0, 3.0)
    control_minutes: tuple[float, float] = (30.0, 240.0)
    nothing_found: float = 0.25
    encumbered: float = 0.3
    refused: float = 0.02
    partial: float = 0.0  # share of answers that come in two parts (banks answer one by one)
    outages: tuple[tuple[datetime, datetime], ...] = ()


@dataclass(frozen=True)
class ConnectorSpec:
    city: str
    asset: AssetKind
    adapter: str  # "simulated" or "package.module:Class"
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sim: SimProfile = field(default_factory=SimProfile)


@dataclass(frozen=True)
class RegistryPlan:
    """Every city's connectors, the retry rules, and the cities whose results wait for a
    clerk's release (staff review) before they are recorded."""

    retry: Retry
    connectors: tuple[ConnectorSpec, ...]
    review: frozenset[str] = frozenset()

    def of_city(self, city: str) -> dict[AssetKind, ConnectorSpec]:
        return {c.asset: c for c in self.connectors if c.city == city}

    def has(self, city: str, asset: AssetKind) -> bool:
        return any(c.city == city and c.asset is asset for c in self.connectors)


NO_REGISTRIES = RegistryPlan(Retry(), ())
Fail = Callable[[str], NoReturn]

_DEFAULT_KEYS = (
    "attempts",
    "first_retry_minutes",
    "max_retry_minutes",
    "poll_minutes",
    "call_seconds",
)
_CONNECTOR_KEYS = ("city", "asset", "adapter", "options")
_SIM_KEYS = (
    "answer_minutes",
    "control_minutes",
    "nothing_found",
    "encumbered",
    "refused",
    "partial",
    "outages",
)


def parse_registries(text: str, file: str, cities: frozenset[str]) -> RegistryPlan:
    """Parse and check the connectors file; raise ``RegistryError`` at the first problem.
    ``cities``: the city ids of the registry of courts."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, message = _toml_error(exc, text)
        raise RegistryError(file, line, f"not valid TOML: {message}") from exc
    where = _Lines(text)

    def fail(line: int, message: str) -> NoReturn:
        raise RegistryError(file, line, message)

    for key in data:
        if key not in ("defaults", "review", "connector"):
            fail(
                where.table(key),
                f"unknown table or key {key!r}; expected [defaults], [review] and [[connector]]",
            )
    defaults = data.get("defaults", {})
    top = where.table("defaults")
    if not isinstance(defaults, dict):
        fail(top, "defaults must be a [defaults] table")
    for key in defaults:
        if key not in _DEFAULT_KEYS:
            fail(where.key(top, key), f"[defaults]: unknown key {key!r}; expected {_DEFAULT_KEYS}")
    if not isinstance(defaults.get("attempts", 6), int):
        fail(where.key(top, "attempts"), "[defaults]: attempts must be a whole number")
    retry = Retry(
        attempts=int(_number(defaults, "attempts", 6, 1, 100, lambda m: fail(top, m))),
        first_minutes=_number(
            defaults, "first_retry_minutes", 1, 0.01, 1440, lambda m: fail(top, m)
        ),
        max_minutes=_number(defaults, "max_retry_minutes", 60, 0.01, 10080, lambda m: fail(top, m)),
        poll_minutes=_number(defaults, "poll_minutes", 10, 0.01, 1440, lambda m: fail(top, m)),
        call_seconds=_number(defaults, "call_seconds", 60, 0.1, 3600, lambda m: fail(top, m)),
    )
    if retry.max_minutes < retry.first_minutes:
        fail(top, "[defaults]: max_retry_minutes is less than first_retry_minutes")

    blocks = data.get("connector", [])
    if not isinstance(blocks, list):
        fail(where.table("connector"), "connector must be [[connector]] blocks")
    lines = [n for n, array, name in where.headers if array and name == "connector"]
    seen: dict[tuple[str, AssetKind], int] = {}
    specs = []
    for i, block in enumerate(blocks):
        line = lines[i] if i < len(lines) else 1
        spec = _connector(block, line, where, cities, fail)
        if (spec.city, spec.asset) in seen:
            fail(
                line,
                f"a second connector for {spec.city} {spec.asset.value.lower()} "
                f"(the first is at line {seen[(spec.city, spec.asset)]})",
            )
        seen[(spec.city, spec.asset)] = line
        specs.append(spec)
    review = data.get("review", {})
    review_line = where.table("review")
    if not isinstance(review, dict) or set(review) - {"cities"}:
        fail(review_line, '[review] holds one key: cities = ["weihai", ...]')
    reviewed = review.get("cities", [])
    if not isinstance(reviewed, list) or not all(isinstance(c, str) for c in reviewed):
        fail(where.key(review_line, "cities"), "[review] cities must be a list of city ids")
    for city in reviewed:
        if city not in cities:
            fail(
                where.key(review_line, "cities"),
                f"[review]: unknown city {city!r}; expected one of {sorted(cities)}",
            )
    return RegistryPlan(retry, tuple(specs), frozenset(reviewed))


def _connector(
    block: object,
    line: int,
    where: _Lines,
    cities: frozenset[str],
    fail: Callable[[int, str], NoReturn],
) -> ConnectorSpec:
    if not isinstance(block, dict):
        fail(line, "a connector must be a [[connector]] table")
    for key in block:
        if key not in _CONNECTOR_KEYS + _SIM_KEYS:
            fail(
                where.key(line, key),
                f"[[connector]]: unknown key {key!r}; expected {_CONNECTOR_KEYS + _SIM_KEYS}",
            )
    for key in ("city", "asset", "adapter"):
        if not isinstance(block.get(key), str) or not block[key].strip():
            fail(line, f"[[connector]]: {key} is required (a string)")
    city = block["city"]
    if city not in cities:
        fail(where.key(line, "city"), f"unknown city {city!r}; expected one of {sorted(cities)}")
    asset = ASSET_KEYS.get(block["asset"])
    if asset is None:
        fail(
            where.key(line, "asset"),
            f"asset {block['asset']!r} has no registry; expected one of {sorted(ASSET_KEYS)}",
        )
    adapter = block["adapter"]
    if adapter != SIMULATED and (adapter.count(":") != 1 or not all(adapter.split(":"))):
        fail(
            where.key(line, "adapter"),
            f"adapter {adapter!r}: use {SIMULATED!r} or 'package.module:Class'",
        )
    options = block.get("options", {})
    if not isinstance(options, dict):
        fail(where.key(line, "options"), "options must be a table of the adapter's settings")
    sim_keys = [k for k in block if k in _SIM_KEYS]
    if sim_keys and adapter != SIMULATED:
        fail(where.key(line, sim_keys[0]), f"{sim_keys[0]} is a setting of simulated registries")

    def at(key: str) -> Fail:
        def failed(message: str) -> NoReturn:
            fail(where.key(line, key), message)

        return failed

    sim = SimProfile(
        answer_minutes=_range(block, "answer_minutes", (1.0, 3.0), at("answer_minutes")),
        control_minutes=_range(block, "control_minutes", (30.0, 240.0), at("control_minutes")),
        nothing_found=_number(block, "nothing_found", 0.25, 0, 1, at("nothing_found")),
        encumbered=_number(block, "encumbered", 0.3, 0, 1, at("encumbered")),
        refused=_number(block, "refused", 0.02, 0, 1, at("refused")),
        partial=_number(block, "partial", 0.0, 0, 1, at("partial")),
        outages=_outages(block.get("outages", []), at("outages")),
    )
    return ConnectorSpec(city, asset, adapter, MappingProxyType(dict(options)), sim)


def _number(
    table: Mapping[str, Any], key: str, default: float, low: float, high: float, fail: Fail
) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(f"{key} must be a number, not {value!r}")
    if not low <= value <= high:
        fail(f"{key} = {value} is outside {low}..{high}")
    return float(value)


def _range(
    table: Mapping[str, Any], key: str, default: tuple[float, float], fail: Fail
) -> tuple[float, float]:
    value = table.get(key, list(default))
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        fail(f"{key} must be [low, high] in minutes, not {value!r}")
    low, high = float(value[0]), float(value[1])
    if not 0 <= low <= high <= 60 * 24 * 30:
        fail(f"{key} = {value}: need 0 <= low <= high <= 43200 minutes (30 days)")
    return low, high


def _outages(value: Any, fail: Fail) -> tuple[tuple[datetime, datetime], ...]:
    if not isinstance(value, list):
        fail("outages must be a list of [from, to] times")
    out = []
    for pair in value:
        try:
            start, end = (datetime.fromisoformat(str(v)) for v in pair)
        except (TypeError, ValueError):
            fail(f'outage {pair!r}: use ["2026-03-02T09:00+08:00", "2026-03-02T12:00+08:00"]')
        if start.tzinfo is None or end.tzinfo is None:
            fail(f"outage {pair!r}: give the UTC offset (+08:00)")
        if end <= start:
            fail(f"outage {pair!r} ends before it starts")
        out.append((start, end))
    return tuple(out)
