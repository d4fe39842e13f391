"""Two coordinator processes on one PostgreSQL database, a real nats-server and two city nodes:
the active coordinator is SIGKILLed under traffic, the standby takes over within 10 s, and every
delegation is delivered exactly once with the same history on all three sides."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from datetime import datetime
from pathlib import Path

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jiaodong.devtools.layout import Layout, Service, start_layout
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.security.clients import ChannelPool, act_as
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import coordinator_service_pb2_grpc as cgrpc
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import court_node_service_pb2_grpc as ngrpc
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request

pytestmark = pytest.mark.e2e

QD, YT = "370202", "370602"
OPERATOR = Identity(Role.OPERATOR, REGION)
TOTAL, BEFORE_KILL = 40, 15
TAKEOVER_LIMIT = 10.0
SERVICES = ("coordinator", "node_qingdao", "node_yantai")


def log_events(svc: Service, event: str) -> list[dict[str, object]]:
    """The JSON log lines of ``svc`` whose event is ``event``."""
    out = []
    for line in svc.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if f'"{event}"' in line:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == event:
                out.append(record)
    return out


async def until(probe, check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    """Poll ``probe`` until ``check`` holds, at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s; last: {value!r}"[:2000])
        await asyncio.sleep(0.2)


async def serving(pool: ChannelPool, svc: Service) -> bool:
    stub = health_pb2_grpc.HealthStub(pool.channel(svc.address, OPERATOR))
    try:
        reply = await stub.Check(
            health_pb2.HealthCheckRequest(service="jiaodong.v1.CoordinatorService"), timeout=2
        )
    except grpc.aio.AioRpcError:
        return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


async def fetch(stub: object, court: str | None, delegation_id: str) -> pb.Delegation | None:
    request: object
    if court is None:
        request = capi.CoordinatorGetDelegationRequest(id=delegation_id)
        metadata = None
    else:
        request = api.GetDelegationRequest(id=delegation_id)
        metadata = act_as(court)
    try:
        reply = await stub.GetDelegation(request, metadata=metadata, timeout=5)  # type: ignore[attr-defined]
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
            return None
        raise
    return reply.delegation


async def run_traffic_and_kill(layout: Layout) -> None:
    assert layout.coordinator is not None
    replicas = [layout.coordinator, *layout.standbys]
    pool = ChannelPool(layout.settings().tls_for)
    qingdao = pool.stub(ngrpc.CourtNodeServiceStub, layout.nodes["qingdao"].address)
    yantai = pool.stub(ngrpc.CourtNodeServiceStub, layout.nodes["yantai"].address)
    try:
        roles = await until(
            lambda: asyncio.gather(*(serving(pool, r) for r in replicas)),
            lambda r: sorted(r) == [False, True],
            30,
            "exactly one active coordinator",
        )
        active = replicas[roles.index(True)]
        standby = replicas[roles.index(False)]
        assert log_events(standby, "coordinator_standby"), "the standby says it waits"

        created: list[str] = []
        killed_at: list[float] = []

        async def send(n: int) -> None:
            if n == BEFORE_KILL:  # mid-traffic: earlier ones in flight, later ones to come
                active.process.send_signal(signal.SIGKILL)
                killed_at.append(datetime.now().timestamp())
            reply = await qingdao.CreateDelegation(
                create_request(), metadata=act_as(QD), timeout=10
            )
            created.append(reply.delegation.id)

        for n in range(TOTAL):
            await send(n)
            await asyncio.sleep(0.05)
        active.process.wait(timeout=10)

        # The standby takes over within 10 s of the kill, and says so.
        record = (
            await until(
                lambda: asyncio.sleep(0, log_events(standby, "coordinator_active")),
                bool,
                30,
                "the standby logs coordinator_active",
            )
        )[0]
        became = datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00"))
        takeover = became.timestamp() - killed_at[0]
        print(f"takeover after SIGKILL: {takeover:.2f} s")
        assert 0 < takeover < TAKEOVER_LIMIT, takeover
        assert await serving(pool, standby)

        coordinator = pool.stub(cgrpc.CoordinatorServiceStub, standby.address, OPERATOR)

        async def sides(d: str) -> list[pb.Delegation | None]:
            return [
                await fetch(qingdao, QD, d),
                await fetch(yantai, YT, d),
                await fetch(coordinator, None, d),
            ]

        def delivered(views: list[pb.Delegation | None]) -> bool:
            return all(v is not None and v.status == pb.STATUS_DELIVERED for v in views) and (
                len({tuple(e.hash for e in v.history) for v in views if v is not None}) == 1
            )

        # Every delegation delivered (un-acked messages of the killed one come back after the
        # consumer's ack wait, 30 s), and exactly once: one ROUTED, one DELIVERED, histories
        # equal on the three sides, nothing more at Yantai than was sent.
        for d in created:
            views = await until(lambda d=d: sides(d), delivered, 120, f"{d} delivered")
            kinds = [e.kind for e in views[1].history]  # type: ignore[union-attr]
            assert kinds == [
                pb.EVENT_KIND_CREATED,
                pb.EVENT_KIND_ROUTED,
                pb.EVENT_KIND_DELIVERED,
            ], kinds
            assert [e.seq for e in views[1].history] == [1, 2, 3]  # type: ignore[union-attr]
        received = await yantai.ListDelegations(
            api.ListDelegationsRequest(direction=api.DIRECTION_RECEIVED, page_size=200),
            metadata=act_as(YT),
        )
        assert sorted(x.id for x in received.delegations) == sorted(created)
        assert len(set(created)) == TOTAL
        # A write to the dead replica's address fails; to the new active one it is taken.
        done = await coordinator.Escalate(
            capi.EscalateRequest(id=created[0], request_id="esc-after", text="督办"), timeout=10
        )
        assert done.delegation.id == created[0]
    finally:
        await pool.close()


@pytest.mark.postgres
def test_active_coordinator_killed_under_traffic_standby_takes_over(
    tmp_path: Path, postgres_admin_url: str
) -> None:
    prefix = f"jd_standby_{uuid.uuid4().hex[:8]}"
    base = postgres_admin_url.rsplit("/", 1)[0]
    layout = start_layout(
        tmp_path,
        base_port=0,
        database_url=f"{base}/{prefix}_{{service}}",
        cities=("qingdao", "yantai"),
        coordinators=2,
    )
    try:
        asyncio.run(run_traffic_and_kill(layout))
    finally:
        layout.stop()
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            for service in SERVICES:
                conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_{service}" WITH (FORCE)')


async def roles_after_kill(layout: Layout) -> float:
    """Kill the active replica; how long until the other one is SERVING."""
    assert layout.coordinator is not None
    replicas = [layout.coordinator, *layout.standbys]
    pool = ChannelPool(layout.settings().tls_for)
    try:
        roles = await until(
            lambda: asyncio.gather(*(serving(pool, r) for r in replicas)),
            lambda r: sorted(r) == [False, True],
            30,
            "exactly one active coordinator",
        )
        active, standby = replicas[roles.index(True)], replicas[roles.index(False)]
        loop = asyncio.get_running_loop()
        killed = loop.time()
        active.process.send_signal(signal.SIGKILL)
        await until(lambda: serving(pool, standby), bool, 30, "the standby serving")
        return loop.time() - killed
    finally:
        await pool.close()


def test_two_coordinators_on_the_default_sqlite_layout_fail_over(tmp_path: Path) -> None:
    """`jiaodong up --coordinators 2` without a database URL: one SQLite file, a file lock."""
    layout = start_layout(tmp_path, base_port=0, cities=("qingdao",), coordinators=2)
    try:
        assert [s.name for s in layout.standbys] == ["coordinator-2"]
        assert (tmp_path / "coordinator.db.lease").exists()
        took = asyncio.run(roles_after_kill(layout))
        assert took < TAKEOVER_LIMIT, took
        layout.check_alive()  # one coordinator replica dead, another alive: the layout lives
    finally:
        layout.stop()
