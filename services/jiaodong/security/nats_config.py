"""The NATS server configuration for a secured region: TLS, one user per service, least privilege.

Every service connects over TLS with its certificate from the development CA (jiaodong.security
.certs) or the courts' own CA. The server verifies the certificate and maps it to a NATS user
(``verify_and_map``): the user is named by the certificate's identity URI SAN, e.g.
``urn:jiaodong:node:node-qingdao``, so there is no password to leak or rotate, and a certificate
of any other holder (an officer, an operator, the server's own) maps to no user and is refused.

Permissions are allow lists (everything else is denied):

* city node N hosting courts C1..Ck publishes only as its courts (``jd.v1.coord.<Ci>.*``, and
  digests on ``jd.v1.digest.<Ci>.digest``), asks for the next messages of, reads the info of and
  acks only its own durable consumer on JD_COURT, reads the info (the backlog, to pace its
  reconciliation) of the coordinator's two consumers, and subscribes only to its own inbox prefix
  ``_INBOX_<N>`` (JetStream replies and deliveries) and to its city's operator subject
  ``jd.v1.ops.<city>.parked``, answering each request there once (``allow_responses``).
  It cannot create, delete or purge streams, create or delete consumers, read another consumer
  or the streams directly, or subscribe to any ``jd.v1`` subject.
* the coordinator publishes to the courts (``jd.v1.court.*.*``), asks the nodes on
  ``jd.v1.ops.*.parked`` (the answers come to its inbox), creates and inspects the three
  streams and every consumer on JD_COURT (it provisions the nodes' consumers), consumes and acks
  its own durables on JD_COORD and JD_DIGEST and subscribes only to ``_INBOX_coordinator``. It
  deletes nothing.

The rendered text is the whole server configuration (listen, JetStream store, payload limit,
TLS, authorization); `jiaodong.bus.embedded.EmbeddedNats.secure` runs it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# NatsAuth is the client half and lives with the transport settings; importing it here also keeps
# `from jiaodong.security.nats_config import NatsAuth` (bootstrap) working: an explicit re-export.
from jiaodong.bus.auth import NatsAuth as NatsAuth
from jiaodong.bus.embedded import EmbeddedNats, NatsCluster, free_port
from jiaodong.bus.subjects import (
    COORD_STREAM,
    COURT_STREAM,
    STREAMS,
    ConsumerSpec,
    coordinator_consumer,
    coordinator_digest_consumer,
    digest_subject,
    node_consumer,
    ops_subject,
)
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.domain.registry import Registry
from jiaodong.security.certs import NATS_SERVER, files, files_for

COORDINATOR = "coordinator"
JS_API = "$JS.API"


@dataclass(frozen=True)
class Permissions:
    """What one NATS user may publish to and subscribe to (allow lists; the rest is denied).
    ``allow_responses``: it may also answer, once, a request it received (publish to that
    request's reply subject, and to no other inbox)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False


def service_identity(service: str) -> Identity:
    """The identity of a bus service: ``coordinator`` or a node id such as ``node-qingdao``."""
    if service == COORDINATOR:
        return Identity(Role.COORDINATOR, REGION)
    return Identity(Role.NODE, service)


def nats_user(service: str) -> str:
    """The NATS user a service's certificate maps to: its identity URI."""
    return service_identity(service).uri


def inbox_prefix(service: str) -> str:
    """The inbox prefix a service's client must use (``_INBOX_node-qingdao``)."""
    return f"_INBOX_{service}"


def client_auth(pki_root: Path, service: str) -> NatsAuth:
    """How ``service`` (``coordinator`` or a node id) connects: its TLS files in ``pki_root``,
    the user its certificate maps to and its inbox prefix. Raises FileNotFoundError if the
    certificate is missing."""
    identity = service_identity(service)
    return NatsAuth(
        tls=files_for(pki_root, identity), user=identity.uri, inbox_prefix=inbox_prefix(service)
    )


def node_consumers(registry: Registry) -> tuple[ConsumerSpec, ...]:
    """Every city node's durable consumer on JD_COURT: what the coordinator provisions."""
    return tuple(
        node_consumer(node, [c.court_id for c in registry.courts_of_node(node)])
        for node in registry.nodes()
    )


def _ack(spec: ConsumerSpec) -> str:
    return f"$JS.ACK.{spec.stream}.{spec.durable}.>"


def _consume(spec: ConsumerSpec) -> list[str]:
    """Subjects to read and ack one existing durable pull consumer (and nothing else)."""
    return [
        f"{JS_API}.CONSUMER.INFO.{spec.stream}.{spec.durable}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{spec.stream}.{spec.durable}",
        _ack(spec),
    ]


def node_permissions(node: str, court_ids: Iterable[str], *, city: str) -> Permissions:
    courts = sorted(set(court_ids))
    if not courts:
        raise ValueError(f"node {node} hosts no court")
    own = node_consumer(node, courts)
    publish = [f"jd.v1.coord.{court}.*" for court in courts]
    publish += [digest_subject(court) for court in courts]
    publish += _consume(own)
    # The coordinator's backlog, read to pace reconciliation (counts only, no messages).
    publish += [
        f"{JS_API}.CONSUMER.INFO.{spec.stream}.{spec.durable}"
        for spec in (coordinator_consumer(), coordinator_digest_consumer())
    ]
    # The operators' questions on its parked messages, which the coordinator relays: its own
    # city's subject only, answered through the asker's reply subject (allow_responses).
    subscribe = (f"{inbox_prefix(node)}.>", ops_subject(city))
    return Permissions(tuple(publish), subscribe, allow_responses=True)


def coordinator_permissions() -> Permissions:
    own = coordinator_consumer()
    # To the courts; and the operators' questions to each city's node (request/reply).
    publish = ["jd.v1.court.*.*", ops_subject("*")]
    for stream in STREAMS:
        publish += [
            f"{JS_API}.STREAM.INFO.{stream.name}",
            f"{JS_API}.STREAM.CREATE.{stream.name}",
        ]
    # Its own consumer on JD_COORD, every node's on JD_COURT (create or update, and inspect).
    publish += [
        f"{JS_API}.CONSUMER.CREATE.{COORD_STREAM.name}.{own.durable}",
        f"{JS_API}.CONSUMER.CREATE.{COORD_STREAM.name}.{own.durable}.>",
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{COORD_STREAM.name}.{own.durable}",
        f"{JS_API}.CONSUMER.CREATE.{COURT_STREAM.name}.*",
        f"{JS_API}.CONSUMER.CREATE.{COURT_STREAM.name}.*.>",
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{COURT_STREAM.name}.*",
        f"{JS_API}.CONSUMER.INFO.{COURT_STREAM.name}.*",
    ]
    # Its consumer of digests on JD_DIGEST (create or update, inspect, read and ack).
    digests = coordinator_digest_consumer()
    publish += [
        f"{JS_API}.CONSUMER.CREATE.{digests.stream}.{digests.durable}",
        f"{JS_API}.CONSUMER.CREATE.{digests.stream}.{digests.durable}.>",
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{digests.stream}.{digests.durable}",
    ]
    publish += _consume(own) + _consume(digests)
    return Permissions(tuple(publish), (f"{inbox_prefix(COORDINATOR)}.>",))


def permissions(registry: Registry) -> dict[str, Permissions]:
    """Every bus service's permissions, by service name (``coordinator``, then the nodes)."""
    out = {COORDINATOR: coordinator_permissions()}
    for node in registry.nodes():
        courts = registry.courts_of_node(node)
        out[node] = node_permissions(
            node, [c.court_id for c in courts], city=courts[0].city if courts else ""
        )
    return out


def _q(value: str | Path) -> str:
    """A double-quoted string for the NATS configuration (no variable expansion inside)."""
    text = value.as_posix() if isinstance(value, Path) else value
    return json.dumps(text)


def _list(values: Iterable[str], indent: str) -> str:
    inner = "".join(f"{indent}  {_q(v)}\n" for v in values)
    return f"[\n{inner}{indent}]"


@dataclass(frozen=True)
class Cluster:
    """The cluster block of one server: its route listener and the routes to every member
    (a server ignores the route to itself, so every member may get the same list). Routes use
    mutual TLS with the servers' own certificates (they carry server and client use) from the
    same CA as the clients'; ``no_advertise`` keeps clients from being told the members' IPs,
    which the certificates need not name."""

    name: str
    routes: tuple[str, ...]
    host: str = "0.0.0.0"
    port: int = 6222
    no_advertise: bool = True


def render_server_config(
    registry: Registry,
    pki_root: Path,
    *,
    store_dir: Path,
    host: str = "127.0.0.1",
    port: int = 4222,
    sync_always: bool = True,
    max_payload: str = "8MB",
    server_name: str | None = None,
    cluster: Cluster | None = None,
    server_tags: tuple[str, ...] = (),
    monitor: str | None = None,
    unique_tag: str | None = None,
    check_files: bool = True,
) -> str:
    """The complete nats-server configuration for a secured region (see the module doc).

    ``cluster`` adds the routes (a cluster needs ``server_name``), ``server_tags`` the placement
    tags (``city:qingdao``) streams may be placed by, ``monitor`` the monitoring listener
    (``127.0.0.1:8222``), ``unique_tag`` (``city:``) has JetStream put a stream's replicas on
    servers whose tags with that prefix differ (one replica per city). ``check_files=False``
    writes ``pki_root``'s paths as given without looking for them: a configuration rendered
    for another host (``jiaodong deploy render``)."""
    server = files(pki_root.resolve() if check_files else pki_root, NATS_SERVER)
    if check_files:
        for path in (server.ca, server.cert, server.key):
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing; run `jiaodong certs init {pki_root}`")
    if cluster is not None and not server_name:
        raise ValueError("a cluster member needs a server_name")
    lines = ["# Generated by jiaodong.security.nats_config: regenerate rather than edit."]
    if server_name:
        lines.append(f"server_name: {_q(server_name)}")
    if server_tags:
        lines.append(f"server_tags: [{', '.join(_q(t) for t in server_tags)}]")
    lines += [
        f"listen: {_q(f'{host}:{port}')}",
        f"max_payload: {max_payload}",
    ]
    if monitor:
        lines.append(f"http: {_q(monitor)}")
    lines += [
        "jetstream {",
        f"  store_dir: {_q(store_dir.resolve() if check_files else store_dir)}",
    ]
    if sync_always:
        lines.append("  sync_interval: always")
    if unique_tag:
        lines.append(f"  unique_tag: {_q(unique_tag)}")
    lines += ["}"]
    if cluster is not None:
        lines += [
            "cluster {",
            f"  name: {_q(cluster.name)}",
            f"  listen: {_q(f'{cluster.host}:{cluster.port}')}",
            *(["  no_advertise: true"] if cluster.no_advertise else []),
            "  tls {",
            f"    ca_file: {_q(server.ca)}",
            f"    cert_file: {_q(server.cert)}",
            f"    key_file: {_q(server.key)}",
            "    verify: true",
            "    timeout: 5",
            "  }",
            f"  routes: {_list(cluster.routes, '  ')}",
            "}",
        ]
    lines += [
        "tls {",
        f"  ca_file: {_q(server.ca)}",
        f"  cert_file: {_q(server.cert)}",
        f"  key_file: {_q(server.key)}",
        "  verify_and_map: true",
        "  timeout: 5",
        "}",
        "authorization {",
        "  timeout: 5",
        "  users: [",
    ]
    for service, perms in permissions(registry).items():
        lines += [
            "    {",
            f"      user: {_q(nats_user(service))}",
            "      permissions: {",
            f"        publish: {{ allow: {_list(perms.publish, '        ')} }}",
            f"        subscribe: {{ allow: {_list(perms.subscribe, '        ')} }}",
            *(["        allow_responses: true"] if perms.allow_responses else []),
            "      }",
            "    }",
        ]
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def write_server_config(path: Path, text: str) -> Path:
    """Write the configuration readable by its owner only (it names the server's key file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def secured_broker(
    data_dir: Path,
    registry: Registry,
    pki_root: Path,
    port: int | None = None,
    *,
    sync_always: bool = True,
) -> EmbeddedNats:
    """An embedded server with the secured configuration: TLS with verified client certificates
    from the CA in ``pki_root``, mapped to one user per service, least-privilege permissions."""
    port = port or free_port()
    text = render_server_config(
        registry,
        pki_root,
        store_dir=data_dir / "jetstream",
        host="127.0.0.1",
        port=port,
        sync_always=sync_always,
    )
    return EmbeddedNats(data_dir, port, sync_always=sync_always, config=text, tls=True)


def secured_cluster(
    data_dir: Path, registry: Registry, pki_root: Path, size: int = 3
) -> NatsCluster:
    """``size`` secured servers on loopback routed into one JetStream cluster (each in
    ``data_dir/n<i>`` with its own store, client, route and monitoring ports; routes with
    mutual TLS): the one-machine stand-in for the region's cluster. Streams on it may have up
    to ``size`` replicas."""
    if size < 1:
        raise ValueError("a cluster has at least one server")
    ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
    routes = tuple(f"nats-route://127.0.0.1:{route}" for _, route, _ in ports)
    members = []
    for i, (client, route, monitor) in enumerate(ports, start=1):
        folder = data_dir / f"n{i}"
        text = render_server_config(
            registry,
            pki_root,
            store_dir=folder / "jetstream",
            host="127.0.0.1",
            port=client,
            server_name=f"n{i}",
            cluster=Cluster("jiaodong", routes, host="127.0.0.1", port=route),
            monitor=f"127.0.0.1:{monitor}",
        )
        members.append(EmbeddedNats(folder, client, config=text, tls=True))
    return NatsCluster(members, [monitor for _, _, monitor in ports])
