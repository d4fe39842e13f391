"""`jiaodong up --nats-cluster 3`: three secured nats-servers routed into one JetStream cluster,
the streams created with three replicas, delegations delivered, and still delivered after the
server leading the courts' stream is killed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import grpc
import nats
import pytest

from jiaodong.bus.subjects import COORD_STREAM, COURT_STREAM
from jiaodong.devtools.layout import Layout, start_layout
from jiaodong.security.clients import ChannelPool, act_as
from jiaodong.security.nats_config import client_auth
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import court_node_service_pb2_grpc as ngrpc
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request

pytestmark = pytest.mark.e2e

QD, YT = "370202", "370602"


async def stream_cluster(layout: Layout) -> dict[str, tuple[int, str, int]]:
    """Per stream: its configured replicas, its leader's server name and how many replicas
    the cluster reports (the leader and its followers), asked as the coordinator (the one user
    allowed to read stream info)."""
    auth = client_auth(layout.pki, "coordinator")
    nc = await nats.connect(
        servers=layout.nats_url.split(","),
        tls=auth.ssl_context(),
        inbox_prefix=auth.inbox_prefix,
        connect_timeout=5,
    )
    try:
        js = nc.jetstream()
        out = {}
        for stream in (COORD_STREAM.name, COURT_STREAM.name):
            info = await js.stream_info(stream)
            assert info.cluster is not None, stream
            followers = len(info.cluster.replicas or [])
            out[stream] = (info.config.num_replicas or 0, info.cluster.leader or "", followers + 1)
        return out
    finally:
        await nc.close()


async def delivered_at_yantai(
    pool: ChannelPool, layout: Layout, created: str, within: float
) -> None:
    """Wait, at most ``within`` seconds, until Yantai's node holds ``created`` as DELIVERED."""
    yantai = pool.stub(ngrpc.CourtNodeServiceStub, layout.nodes["yantai"].address)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: object = None
    while loop.time() < deadline:
        try:
            reply = await yantai.GetDelegation(
                api.GetDelegationRequest(id=created), metadata=act_as(YT), timeout=5
            )
            last = pb.Status.Name(reply.delegation.status)
            if reply.delegation.status == pb.STATUS_DELIVERED:
                return
        except grpc.aio.AioRpcError as exc:
            last = exc.code()
        await asyncio.sleep(0.2)
    raise AssertionError(f"{created} not delivered at Yantai within {within}s; last: {last}")


async def send_and_kill(layout: Layout) -> None:
    assert layout.nats_cluster is not None
    pool = ChannelPool(layout.settings().tls_for)
    qingdao = pool.stub(ngrpc.CourtNodeServiceStub, layout.nodes["qingdao"].address)
    try:
        streams = await stream_cluster(layout)
        assert {name: (r, n) for name, (r, _, n) in streams.items()} == {
            COORD_STREAM.name: (3, 3),
            COURT_STREAM.name: (3, 3),
        }, streams

        first = await qingdao.CreateDelegation(create_request(), metadata=act_as(QD), timeout=10)
        await delivered_at_yantai(pool, layout, first.delegation.id, 60)

        # Kill (SIGKILL) the server leading the courts' stream: the other two keep a quorum,
        # elect a new leader, and the services move to a listed member still alive.
        leader = streams[COURT_STREAM.name][1]
        victim = next(m for m in layout.nats_cluster.members if f'"{leader}"' in m.config_text())
        victim.stop(kill=True)

        second = await qingdao.CreateDelegation(create_request(), metadata=act_as(QD), timeout=30)
        await delivered_at_yantai(pool, layout, second.delegation.id, 90)
        after = await stream_cluster(layout)
        assert after[COURT_STREAM.name][1] != leader, after
    finally:
        await pool.close()


def test_up_with_a_three_server_cluster_survives_losing_one(tmp_path: Path) -> None:
    layout = start_layout(
        tmp_path, base_port=0, cities=("qingdao", "yantai"), nats_cluster=3, log_level="warning"
    )
    try:
        assert layout.nats is None and layout.nats_cluster is not None
        assert len(layout.nats_url.split(",")) == 3
        assert all(u.startswith("tls://127.0.0.1:") for u in layout.nats_url.split(","))
        assert layout.env["JD_NATS_REPLICAS"] == "3"
        # Each member its own JetStream store under the data folder.
        stores = {m.data_dir for m in layout.nats_cluster.members}
        assert stores == {tmp_path / "nats" / f"n{i}" for i in (1, 2, 3)}
        asyncio.run(send_and_kill(layout))
    finally:
        layout.stop()


def test_up_refuses_a_cluster_with_a_given_nats_url(tmp_path: Path) -> None:
    command = ["up", "--nats-cluster", "3", "--nats-url", "tls://127.0.0.1:1"]
    done = subprocess.run(
        [sys.executable, "-m", "jiaodong.cli.main", *command, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "--nats-cluster" in done.stderr and "JD_NATS_URL" in done.stderr
    assert not (tmp_path / "nats").exists()
