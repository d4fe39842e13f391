"""`jiaodong up`: the five-city layout as processes, every server healthy and reflectable, and a
clean stop on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

pytestmark = pytest.mark.e2e


def list_services(address: str) -> set[str]:
    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        return {s.name for r in replies for s in r.list_services_response.service}


def test_up_prints_addresses_serves_health_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jiaodong.cli",
            "up",
            "--base-port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "press Ctrl-C to stop" in line:
                break
        output = "".join(lines)
        assert "press Ctrl-C to stop" in output, output
        addresses = dict(re.findall(r"(coordinator|node-\w+)\s*│\s*(127\.0\.0\.1:\d+)", output))
        assert set(addresses) == {
            "coordinator",
            "node-qingdao",
            "node-yantai",
            "node-weifang",
            "node-weihai",
            "node-rizhao",
        }, output
        for name, address in addresses.items():
            with grpc.insecure_channel(address) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
            services = list_services(address)
            expected = (
                "jiaodong.v1.CoordinatorService"
                if name == "coordinator"
                else "jiaodong.v1.CourtNodeService"
            )
            assert {expected, "grpc.health.v1.Health"} <= services, services
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, rest
        assert "stopped" in rest
        for address in addresses.values():
            with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError):
                health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
