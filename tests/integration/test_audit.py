"""`jiaodong audit verify` on a real node database: clean, then one stored event altered."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import grpc

from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import Region, as_court, eventually

QD, YT = "370202", "370602"


def verify(path: str, lang: str = "zh") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jiaodong.cli.main", "audit", "verify", path],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "JD_LANG": lang},
    )


async def test_audit_verify_names_the_first_altered_event(region: Region) -> None:
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    d = (await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))).delegation

    async def at_yantai() -> pb.Delegation | None:
        try:
            reply = await yantai.GetDelegation(
                api.GetDelegationRequest(id=d.id), metadata=as_court(YT)
            )
        except grpc.aio.AioRpcError:  # NOT_FOUND until it is delivered
            return None
        return reply.delegation

    await eventually(at_yantai, lambda x: x is not None and x.status == pb.STATUS_DELIVERED)
    await yantai.Acknowledge(api.AcknowledgeRequest(id=d.id), metadata=as_court(YT))
    await yantai.Accept(api.AcceptRequest(id=d.id), metadata=as_court(YT))
    path = region.nodes["yantai"].db.url.removeprefix("sqlite:///")

    clean = verify(path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "0 份损坏" in clean.stdout

    # Someone edits the text of event 4 (the acknowledgement) directly in the database.
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE delegation_event SET text = 'backdated' WHERE delegation_id = ? AND seq = 4",
            (d.id,),
        )
    tampered = verify(path)
    assert tampered.returncode == 1
    assert f"已损坏 {d.id}：第 4 个事件，哈希或链接与内容不符" in tampered.stdout
    in_english = verify(path, "en")
    assert in_english.returncode == 1
    assert f"BROKEN {d.id} at event 4: hash or link does not match" in in_english.stdout
