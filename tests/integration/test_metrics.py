"""Metrics and health on a running region: a real nats-server, real gRPC with mutual TLS, each
service's metrics and probe port (JD_METRICS) scraped over plain HTTP.

The series move with traffic (a delegation created: its RPC counted, the delegation counted by
status and city pair at both ends and at the coordinator, every outbox drained); the gate's
refusals are counted; and the health follows the NATS link: NOT_SERVING (gRPC Health/Check and
GET /readyz alike) when the broker stops, SERVING again when it returns on the same port and
store."""

from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from jiaodong.bootstrap import Running
from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.domain.clock import ManualClock
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import (
    REGIONAL_OPERATOR,
    Region,
    as_court,
    coordinator_probe,
    delegation_probe,
    eventually,
    has_status,
    rpc_error,
    start_region,
)
from tests.integration.test_sla import ACK_DUE, DELIVERY

QD, YT = "370202", "370602"
CREATE = "CourtNodeService/CreateDelegation"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def region(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Region]:
    r = await start_region(tmp_path, nats_server, ["qingdao", "yantai"], metrics="127.0.0.1:0")
    try:
        yield r
    finally:
        await r.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def get(service: Running, path: str) -> tuple[int, str]:
    """GET a path of the service's metrics port (plain HTTP, no certificate)."""
    assert service.probes is not None, f"{service.name} serves no metrics"
    return await asyncio.to_thread(_get, service.probes.url + path)


async def scrape(service: Running) -> Samples:
    status, text = await get(service, "/metrics")
    assert status == 200, text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def families(service: Running) -> set[str]:
    """The names of the families a service exports (a counter's without ``_total``)."""
    _, text = await get(service, "/metrics")
    return {family.name for family in text_string_to_metric_families(text)}


def dashboard_series() -> set[str]:
    """The families deploy/grafana/jiaodong.json reads (suffixes of samples taken off)."""
    text = (Path(__file__).parents[2] / "deploy" / "grafana" / "jiaodong.json").read_text()
    names = set(re.findall(r"\bjiaodong_[a-z_]+", text))
    return {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in names}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def grpc_health(region: Region, service: Running) -> int:
    stub = health_pb2_grpc.HealthStub(region.channel(service.address, REGIONAL_OPERATOR))
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    except grpc.aio.AioRpcError:
        return -1
    return int(reply.status)


async def test_the_series_move_with_traffic(region: Region) -> None:
    qingdao, yantai, coordinator = (
        region.nodes["qingdao"],
        region.nodes["yantai"],
        region.coordinator,
    )
    before = await scrape(qingdao)
    assert value(before, "jiaodong_rpc_total", method=CREATE, code="OK") == 0

    created = await region.node_stub("qingdao").CreateDelegation(
        create_request(), metadata=as_court(QD)
    )
    delegation_id = created.delegation.id
    delivered = has_status(pb.STATUS_DELIVERED)
    await eventually(delegation_probe(region.node_stub("yantai"), YT, delegation_id), delivered)
    await eventually(coordinator_probe(region.coordinator_stub(), delegation_id), delivered)

    after = await scrape(qingdao)
    assert value(after, "jiaodong_rpc_total", method=CREATE, code="OK") == 1
    assert value(after, "jiaodong_rpc_duration_seconds_count", method=CREATE) == 1
    pair = {"requesting_city": "qingdao", "entrusted_city": "yantai"}
    for service in (qingdao, yantai, coordinator):
        # The requesting node hears of the delivery last: wait for each side's own count.
        samples = await eventually(
            lambda s=service: scrape(s),
            lambda x: value(x, "jiaodong_delegations", status="DELIVERED", **pair) == 1,
        )
        assert (
            value(samples, "jiaodong_bus_messages_total", direction="published", kind="sync")
            + (value(samples, "jiaodong_bus_messages_total", direction="applied", kind="sync"))
            > 0
        ), service.name
    # Every outbox drains, and its oldest row's age with it.
    for service in (qingdao, yantai, coordinator):
        await eventually(
            lambda s=service: scrape(s),
            lambda x: (
                value(x, "jiaodong_outbox_backlog") == 0
                and value(x, "jiaodong_outbox_oldest_age_seconds") == 0
            ),
        )
    coordinator_samples = await scrape(coordinator)
    assert value(coordinator_samples, "jiaodong_nats_connected") == 1
    assert ("jiaodong_consumer_pending", (("consumer", "coordinator"),)) in coordinator_samples

    # The gate's refusal, counted by the gate and with its code by the RPC counter.
    err = await rpc_error(
        region.node_stub("qingdao").GetDelegation(
            api.GetDelegationRequest(id=delegation_id), metadata=as_court(YT)
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    refused = await scrape(qingdao)
    assert value(refused, "jiaodong_gate_refusals_total", reason="denied") == 1
    method = "CourtNodeService/GetDelegation"
    assert value(refused, "jiaodong_rpc_total", method=method, code="PERMISSION_DENIED") == 1

    # Every series the Grafana dashboard reads is exported by a node or the coordinator.
    exported = await families(qingdao) | await families(coordinator)
    assert dashboard_series() <= exported, dashboard_series() - exported

    assert await get(coordinator, "/healthz") == (200, "ok\n")
    assert await get(qingdao, "/readyz") == (200, "ready\n")


async def test_health_follows_the_nats_link(region: Region, nats_server: EmbeddedNats) -> None:
    services = [region.nodes["qingdao"], region.coordinator]
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    for service in services:
        assert await grpc_health(region, service) == serving
        assert (await get(service, "/readyz"))[0] == 200

    await asyncio.to_thread(nats_server.stop)
    for service in services:
        await eventually(lambda s=service: grpc_health(region, s), lambda v: v == not_serving)
        status, reason = await get(service, "/readyz")
        assert status == 503 and "NATS" in reason, (service.name, status, reason)
        assert value(await scrape(service), "jiaodong_nats_connected") == 0
    # Liveness is not readiness: the process is up and its loop answers.
    assert (await get(services[0], "/healthz"))[0] == 200

    await asyncio.to_thread(nats_server.start)  # the same port and JetStream store
    for service in services:
        await eventually(
            lambda s=service: grpc_health(region, s), lambda v: v == serving, timeout=60
        )
        await eventually(lambda s=service: get(s, "/readyz"), lambda r: r[0] == 200, timeout=15)


async def test_the_sla_sweeps_are_counted(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """A delegation left alone past its acknowledge limit: the coordinator's sweeps ask for
    warnings, the breach and the automatic urge, and its series say so."""
    clock = ManualClock(DELIVERY)
    region = await start_region(
        tmp_path, nats_server, ["qingdao", "yantai"], clock=clock, metrics="127.0.0.1:0"
    )
    try:
        created = await region.node_stub("qingdao").CreateDelegation(
            create_request(
                asset_kind=pb.ASSET_KIND_REAL_ESTATE, priority=pb.PRIORITY_NORMAL, plate=""
            ),
            metadata=as_court(QD),
        )
        await eventually(
            coordinator_probe(region.coordinator_stub(), created.delegation.id),
            has_status(pb.STATUS_DELIVERED),
        )
        # One minute before the acknowledge limit (the warnings), then just past it.
        clock.advance(ACK_DUE - timedelta(minutes=1) - clock.now())
        await region.coordinator.service.sweep()
        clock.advance(timedelta(minutes=2))
        await region.coordinator.service.sweep()
        samples = await scrape(region.coordinator)
        assert value(samples, "jiaodong_sla_actions_total", kind="sla_warning") >= 1
        assert value(samples, "jiaodong_sla_actions_total", kind="sla_breached") == 1
        assert value(samples, "jiaodong_sla_actions_total", kind="urged") == 1
    finally:
        await region.close()
