"""`jiaodong up`: the five-city layout as processes, every server healthy and reflectable, and a
clean stop on Ctrl-C."""

from __future__ import annotations

import hashlib
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

from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.security.certs import TlsFiles, files_for
from jiaodong.security.grpc_auth import sync_channel

pytestmark = pytest.mark.e2e


def list_services(address: str, tls: TlsFiles) -> set[str]:
    with sync_channel(address, tls) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        return {s.name for r in replies for s in r.list_services_response.service}


READY = "press Ctrl-C to stop"


def read_until_up(proc: subprocess.Popen[str], seconds: float) -> str:
    """What a running `jiaodong up` printed until it says the layout is up (or ended, or the
    time ran out: then the text lacks ``READY``)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if READY in line:
            break
    return "".join(lines)


def start_up(data_dir: Path, **env: str) -> tuple[subprocess.Popen[str], dict[str, str], str]:
    """``jiaodong up`` on free ports in ``data_dir``, read until it says it runs: the process,
    the address of each service (by name) from its table, and everything it printed."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jiaodong.cli.main",
            "up",
            "--base-port",
            "0",
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
    )
    output = read_until_up(proc, 60)
    if READY not in output:
        proc.kill()
        proc.wait()
        raise AssertionError(output)
    found = dict(re.findall(r"(coordinator|node-\w+)\s*│\s*(127\.0\.0\.1:\d+)", output))
    return proc, found, output


def test_up_prints_addresses_serves_health_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc, addresses, _ = start_up(tmp_path)
    try:
        assert set(addresses) == {
            "coordinator",
            "node-qingdao",
            "node-yantai",
            "node-weifang",
            "node-weihai",
            "node-rizhao",
        }, addresses
        tls = files_for(tmp_path / "pki", Identity(Role.AUDITOR, REGION))
        for name, address in addresses.items():
            with sync_channel(address, tls) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
            # Without a client certificate nothing answers, not even the health check.
            with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError):
                health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=2
                )
            services = list_services(address, tls)
            expected = (
                "jiaodong.v1.CoordinatorService"
                if name == "coordinator"
                else "jiaodong.v1.CourtNodeService"
            )
            assert {expected, "jiaodong.v1.AuditService", "grpc.health.v1.Health"} <= services
        proc.send_signal(signal.SIGINT)
        # Graceful: each service gets up to 15 s and the broker 10 s (a loaded machine needs it).
        rest, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, rest
        assert "stopped" in rest
        for address in addresses.values():
            with sync_channel(address, tls) as channel, pytest.raises(grpc.RpcError):
                health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
    finally:
        if proc.poll() is None:  # a failed assertion: stop the layout, not leave orphans
            proc.send_signal(signal.SIGINT)
            proc.send_signal(signal.SIGINT)  # the second Ctrl-C: `up` kills its processes at once
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_second_ctrl_c_ends_every_process_at_once(tmp_path: Path) -> None:
    """Ctrl-C twice: `up` exits and leaves no service behind (each got SIGKILL)."""
    proc, named, _ = start_up(tmp_path)
    addresses = list(named.values())
    try:
        assert len(addresses) == 6, named
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert "stopped" in rest, rest
        tls = files_for(tmp_path / "pki", Identity(Role.AUDITOR, REGION))
        for address in addresses:
            with sync_channel(address, tls) as channel, pytest.raises(grpc.RpcError):
                health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_up_prints_the_web_board_and_its_login(tmp_path: Path) -> None:
    """The board answers at the printed address: to the printed development login, and to an
    operator's client certificate; to nobody else."""
    import http.cookiejar
    import ssl
    import urllib.error
    import urllib.request

    proc, _, output = start_up(tmp_path)
    try:
        login = re.search(r"(https://127\.0\.0\.1:\d+)/login\?token=\S+", output)
        assert login is not None, output
        base = login.group(1)
        ca = tmp_path / "pki" / "ca.pem"
        anonymous = ssl.create_default_context(cafile=str(ca))
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "/", context=anonymous, timeout=10)
        assert refused.value.code == 401

        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=anonymous),
            urllib.request.HTTPCookieProcessor(jar),
        )
        with browser.open(login.group(0), timeout=10) as page:  # 303 to the board, signed in
            body = page.read().decode()
        assert "operator:region" in body and "青岛市" in body

        weihai = files_for(tmp_path / "pki", Identity(Role.OPERATOR, "weihai"))
        certified = ssl.create_default_context(cafile=str(ca))
        certified.load_cert_chain(str(weihai.cert), str(weihai.key))
        with urllib.request.urlopen(base + "/", context=certified, timeout=10) as page:
            assert "operator:weihai" in page.read().decode()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def folder_state(data_dir: Path) -> dict[str, str]:
    """SHA-256 of every file of the broker's folder (its configuration and JetStream store) and
    of the development CA."""
    return {
        str(path.relative_to(data_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for sub in ("nats", "pki")
        for path in sorted((data_dir / sub).rglob("*"))
        if path.is_file()
    }


def settled_state(data_dir: Path, timeout: float = 60) -> dict[str, str]:
    """The folder's state once the running layout has stopped writing to it (the services'
    first digests and consumers settle after start): two looks half a second apart agree."""
    deadline = time.monotonic() + timeout
    state = folder_state(data_dir)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = folder_state(data_dir)
        if now == state:
            return now
        state = now
    pytest.fail(f"the layout kept writing to {data_dir} for {timeout}s")


def test_up_twice_on_one_folder_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    # No periodic reconcile digests while the folder is compared.
    proc, _, _ = start_up(tmp_path, JD_RECONCILE_SECONDS="3600")
    try:
        before = settled_state(tmp_path)
        assert any(name.endswith(".conf") for name in before)
        assert any("jetstream" in name for name in before)
        again = ["up", "--base-port", "0", "--data-dir", str(tmp_path)]
        second = subprocess.run(
            [sys.executable, "-m", "jiaodong.cli.main", *again],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, second.stderr
        assert f"process {proc.pid}" in lines[0]
        assert "nothing was changed" in lines[0]
        assert "starting" not in second.stdout
        assert folder_state(tmp_path) == before
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
