"""The connectors to a city's registries: the contract a real registry's adapter implements, the
simulated registries the demo and ``jiaodong up`` use, and the loading of both from
``courts/registries.toml`` (``jiaodong.domain.registry_config``).

A real adapter is a class named in the file as ``adapter = "package.module:Class"``; it is built
as ``Class(spec)`` (the connector's city, asset kind and ``options`` table) and must implement
``Connector``: both calls idempotent by the platform's request id, a registry that cannot be
reached raised as ``RegistryUnavailable``, a request it does not hold as ``UnknownRequest``.
Whether it drops files in a shared folder or calls an API is its own business.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from jiaodong.domain import registry_sim as sim
from jiaodong.domain.clock import Clock
from jiaodong.domain.delegation import AssetKind
from jiaodong.domain.errors import RegistryError
from jiaodong.domain.identifiers import plate_letters
from jiaodong.domain.registries import Ack, RegistryRequest, RegistryResult, RegistryUnavailable
from jiaodong.domain.registry import Registry
from jiaodong.domain.registry_config import SIMULATED, ConnectorSpec, RegistryPlan


class Connector(Protocol):
    """One registry of one city, as the node sees it."""

    async def submit(self, request: RegistryRequest) -> Ack:
        """Hand the request over; the same ``request_id`` again answers the same ``Ack``."""
        ...

    async def results(self, request: RegistryRequest, ack: Ack) -> list[RegistryResult]:
        """Every result given so far, numbered from 1 (empty: none yet)."""
        ...


class SimulatedConnector:
    """A registry simulated from the subject's id (``jiaodong.domain.registry_sim``) on the
    node's clock: answers come when the registry said they would, virtual time included."""

    def __init__(self, spec: ConnectorSpec, locale: sim.Locale, clock: Clock) -> None:
        self.spec = spec
        self.locale = locale
        self.clock = clock
        self._acks: dict[str, Ack] = {}

    def _reachable(self) -> None:
        if sim.in_outage(self.spec.sim, self.clock.now()):
            raise RegistryUnavailable(
                f"{self.locale.city} {self.spec.asset.value.lower()}: 连接中断"
            )

    async def submit(self, request: RegistryRequest) -> Ack:
        self._reachable()
        ack = self._acks.get(request.request_id)
        if ack is None:
            ack = self._acks[request.request_id] = sim.acknowledge(
                request, self.spec.sim, self.locale
            )
        return ack

    async def results(self, request: RegistryRequest, ack: Ack) -> list[RegistryResult]:
        self._reachable()
        now = self.clock.now()
        return [r for r in sim.answer(request, self.spec.sim, self.locale) if r.answered_at <= now]


@dataclass(frozen=True)
class Links:
    """A node's connectors, by asset kind, and the rules for retrying them."""

    plan: RegistryPlan
    city_zh: str
    connectors: Mapping[AssetKind, Connector]


def locale_of(registry: Registry, city: str) -> sim.Locale:
    info = registry.city(city)
    courts = registry.courts_in_city(city)
    letters = plate_letters(city)
    return sim.Locale(
        city=city,
        city_zh=info.name_zh,
        area_code=info.area_code,
        plate_letter=letters[0] if letters else "A",
        districts=tuple(d for c in courts for d in c.districts[:1]),
        other_courts=tuple(
            (c.name_zh, c.case_code, c.court_id)
            for c in sorted(registry.courts.values(), key=lambda c: c.court_id)
        ),
    )


def links_for(plan: RegistryPlan, registry: Registry, city: str, clock: Clock) -> Links:
    """The connectors of ``city``'s node, built from the plan."""
    connectors: dict[AssetKind, Connector] = {}
    for asset, spec in plan.of_city(city).items():
        if spec.adapter == SIMULATED:
            connectors[asset] = SimulatedConnector(spec, locale_of(registry, city), clock)
        else:
            connectors[asset] = _adapter(spec)
    return Links(plan, registry.city(city).name_zh, connectors)


def _adapter(spec: ConnectorSpec) -> Connector:
    module_name, class_name = spec.adapter.split(":")
    where = f"registries.toml ({spec.city} {spec.asset.value.lower()})"
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise RegistryError(where, 0, f"adapter {spec.adapter!r} cannot be loaded: {exc}") from None
    connector = cls(spec)
    for method in ("submit", "results"):
        if not callable(getattr(connector, method, None)):
            raise RegistryError(where, 0, f"adapter {spec.adapter!r} has no {method}()")
    return connector  # type: ignore[no-any-return]
