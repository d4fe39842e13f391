"""The region's layout file (TOML): where each city's NATS servers, node and database are.

Read with ``tomllib`` and checked here, so every mistake is one line naming the key, the value
and what is allowed (``LayoutError``). Nothing here touches a file but the one read.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

MODES = ("cluster", "leaf")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


class LayoutError(ValueError):
    """A layout file that cannot be rendered; the message names the key."""


@dataclass(frozen=True)
class NatsServer:
    """One NATS server: its host name (a DNS SAN of its certificate) and the city it is in."""

    host: str
    city: str

    @property
    def name(self) -> str:
        """The server_name, the container's and the Kubernetes objects' name: the host's first
        label (``nats-qingdao-1``)."""
        return self.host.split(".")[0]

    @property
    def tag(self) -> str:
        """The placement tag streams are spread by."""
        return f"city:{self.city}"


@dataclass(frozen=True)
class Service:
    """A node or the coordinator: where it runs and listens, and its database URL."""

    name: str  # coordinator, node-qingdao, ...
    city: str  # the city it runs in (the coordinator: the command centre's)
    host: str
    grpc_port: int
    metrics_port: int
    database_url: str

    @property
    def short(self) -> str:
        """The host's first label: the container's and Kubernetes objects' name."""
        return self.host.split(".")[0]


@dataclass(frozen=True)
class NatsSettings:
    client_port: int
    route_port: int
    monitor_port: int
    replicas: int
    tls_dir: PurePosixPath
    store_dir: PurePosixPath


@dataclass(frozen=True)
class RegionLayout:
    region: str
    mode: str
    image: str
    namespace: str
    nats: NatsSettings
    servers: tuple[NatsServer, ...]
    coordinator: Service
    nodes: tuple[Service, ...]
    tls_dir: PurePosixPath
    courts_dir: PurePosixPath
    data_dir: PurePosixPath

    @property
    def services(self) -> tuple[Service, ...]:
        return (self.coordinator, *self.nodes)

    def nats_urls(self) -> str:
        """JD_NATS_URL: every member, tls://, by the names their certificates carry."""
        return ",".join(f"tls://{s.host}:{self.nats.client_port}" for s in self.servers)


def _get(table: dict[str, Any], key: str, where: str, kind: type, default: Any = None) -> Any:
    value = table.get(key, default)
    if value is None:
        raise LayoutError(f"{where}.{key}: missing")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise LayoutError(f"{where}.{key} = {value!r}: must be a whole number")
    if kind is str and not isinstance(value, str):
        raise LayoutError(f"{where}.{key} = {value!r}: must be a string")
    if kind is list and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise LayoutError(f"{where}.{key} = {value!r}: must be a list of strings")
    return value


def _port(table: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = int(_get(table, key, where, int, default))
    if not 1 <= value <= 65535:
        raise LayoutError(f"{where}.{key} = {value}: must be a port, 1 to 65535")
    return value


def _host(value: str, where: str) -> str:
    if not _HOST.match(value):
        raise LayoutError(f"{where} = {value!r}: must be a lowercase DNS name")
    return value


def _path(table: dict[str, Any], key: str, where: str, default: str) -> PurePosixPath:
    value = str(_get(table, key, where, str, default))
    if not value.startswith("/"):
        raise LayoutError(f"{where}.{key} = {value!r}: must be an absolute path")
    return PurePosixPath(value)


def parse_layout(text: str, cities: tuple[str, ...]) -> RegionLayout:
    """The layout in ``text``; ``cities`` are the registry's (courts/cities.csv), every one of
    which the layout must place, and no other."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LayoutError(f"not TOML: {exc}") from exc
    mode = _get(raw, "mode", "layout", str, "cluster")
    if mode not in MODES:
        raise LayoutError(f"mode = {mode!r}: must be one of {', '.join(MODES)}")
    nats_t = raw.get("nats", {})
    nats = NatsSettings(
        client_port=_port(nats_t, "client_port", "nats", 4222),
        route_port=_port(nats_t, "route_port", "nats", 6222),
        monitor_port=_port(nats_t, "monitor_port", "nats", 8222),
        replicas=int(_get(nats_t, "replicas", "nats", int, 3)),
        tls_dir=_path(nats_t, "tls_dir", "nats", "/etc/nats/tls"),
        store_dir=_path(nats_t, "store_dir", "nats", "/var/lib/nats/jetstream"),
    )
    services_t = raw.get("services", {})
    default_db = str(_get(services_t, "database_url", "services", str, ""))
    city_t = raw.get("cities", {})
    if not isinstance(city_t, dict) or not city_t:
        raise LayoutError("cities: missing (one [cities.<city>] table per city)")
    unknown = sorted(set(city_t) - set(cities))
    missing = [c for c in cities if c not in city_t]
    if unknown:
        raise LayoutError(f"cities.{unknown[0]}: not a city of the registry ({', '.join(cities)})")
    if missing:
        raise LayoutError(f"cities.{missing[0]}: missing (every city of the registry is placed)")

    def database(table: dict[str, Any], where: str, city: str) -> str:
        url = str(_get(table, "database_url", where, str, default_db or None))
        return url.replace("{city}", city)

    servers: list[NatsServer] = []
    nodes: list[Service] = []
    for city in cities:
        where = f"cities.{city}"
        table = city_t[city]
        hosts = _get(table, "nats", where, list)
        if not hosts:
            raise LayoutError(f"{where}.nats: empty (at least one NATS server per city)")
        servers += [NatsServer(_host(h, f"{where}.nats"), city) for h in hosts]
        nodes.append(
            Service(
                f"node-{city}",
                city,
                _host(str(_get(table, "node_host", where, str)), f"{where}.node_host"),
                _port(table, "grpc_port", where),
                _port(table, "metrics_port", where),
                database(table, where, city),
            )
        )
    coord_t = raw.get("coordinator", {})
    coord_city = str(_get(coord_t, "city", "coordinator", str))
    if coord_city not in cities:
        raise LayoutError(f"coordinator.city = {coord_city!r}: not a city of the registry")
    coordinator = Service(
        "coordinator",
        coord_city,
        _host(str(_get(coord_t, "host", "coordinator", str)), "coordinator.host"),
        _port(coord_t, "grpc_port", "coordinator", 50060),
        _port(coord_t, "metrics_port", "coordinator", 9100),
        database(coord_t, "coordinator", coord_city),
    )
    names = [s.name for s in servers]
    if len(set(names)) != len(names):
        raise LayoutError("nats: two servers share a first host label (their server_name)")
    if not 1 <= nats.replicas <= len(servers):
        raise LayoutError(
            f"nats.replicas = {nats.replicas}: must be 1 to the number of servers ({len(servers)})"
        )
    return RegionLayout(
        region=str(_get(raw, "region", "layout", str, "jiaodong")),
        mode=mode,
        image=str(_get(raw, "image", "layout", str)),
        namespace=_host(str(_get(raw, "namespace", "layout", str, "jiaodong")), "namespace"),
        nats=nats,
        servers=tuple(servers),
        coordinator=coordinator,
        nodes=tuple(nodes),
        tls_dir=_path(services_t, "tls_dir", "services", "/etc/jiaodong/tls"),
        courts_dir=_path(services_t, "courts_dir", "services", "/etc/jiaodong/courts"),
        data_dir=_path(services_t, "data_dir", "services", "/var/lib/jiaodong"),
    )
