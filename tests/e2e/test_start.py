"""Starting a service against a broker it cannot reach: it stops when told to, or gives up by
itself after the start-up deadline with an error that names the URL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jiaodong.bus.embedded import EmbeddedNats, free_port
from jiaodong.files.registry import load_registry
from jiaodong.security.certs import init_pki
from tests.helpers.network import shared_pki

pytestmark = pytest.mark.e2e


def unused_url() -> str:
    """A NATS URL where nothing listens (a port just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"nats://127.0.0.1:{port}"


def start_node(tmp_path: Path, url: str, **env: str) -> subprocess.Popen[str]:
    """The node, its log (stderr) going to ``tmp_path/node.log``."""
    log = (tmp_path / "node.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "jiaodong.cli.main", "node", "--city", "qingdao", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
        env={
            **os.environ,
            "JD_DATA_DIR": str(tmp_path / "data"),
            "JD_TLS_DIR": str(shared_pki()),
            "JD_NATS_URL": url,
            "JD_LOG_JSON": "1",
            **env,
        },
    )


def wait_for_log(log: Path, event: str, timeout: float) -> None:
    """Wait until the service logs ``event``."""
    deadline = time.monotonic() + timeout
    while f'"event": "{event}"' not in log.read_text():
        if time.monotonic() > deadline:
            pytest.fail(f"no {event} in the log within {timeout}s: {log.read_text()[-2000:]}")
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_node_that_cannot_reach_nats_stops_when_told(tmp_path: Path, sig: signal.Signals) -> None:
    proc = start_node(tmp_path, unused_url())
    try:
        wait_for_log(
            tmp_path / "node.log", "nats_error", timeout=30
        )  # trying to connect, the deadline far off
        proc.send_signal(sig)
        asked = time.monotonic()
        proc.wait(timeout=10)
        assert time.monotonic() - asked < 5
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_node_that_cannot_reach_nats_gives_up_at_the_deadline(tmp_path: Path) -> None:
    url = unused_url()
    proc = start_node(tmp_path, url, JD_NATS_START_SECONDS="2")
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3
    message = " ".join((tmp_path / "node.log").read_text().split())  # the console wraps long lines
    assert f"cannot connect to NATS at {url} within 2s" in message
    assert "JD_NATS_URL" in message


def test_a_node_stops_when_told_while_jetstream_is_not_ready(tmp_path: Path) -> None:
    """Connected, but the broker has no JetStream: the node keeps trying to create its streams
    (a cluster electing its leader looks the same) until SIGTERM."""
    port = free_port()
    broker = EmbeddedNats(tmp_path / "nats", port, config=f"listen: 127.0.0.1:{port}\n").start()
    proc = start_node(tmp_path, broker.url)
    try:
        wait_for_log(tmp_path / "node.log", "jetstream_not_ready", timeout=30)
        proc.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        proc.wait(timeout=10)
        assert time.monotonic() - asked < 5
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        broker.stop()


def test_a_node_stops_when_told_while_its_database_does_not_answer(tmp_path: Path) -> None:
    """A PostgreSQL address that accepts the connection and never answers: SIGTERM still stops
    the start at once."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(30)
        port = silent.getsockname()[1]
        proc = start_node(
            tmp_path, unused_url(), JD_DATABASE_URL=f"postgresql://jd@127.0.0.1:{port}/jd"
        )
        try:
            conn, _ = silent.accept()  # the node is opening its database now
            with conn:
                proc.send_signal(signal.SIGTERM)
                asked = time.monotonic()
                proc.wait(timeout=10)
                assert time.monotonic() - asked < 5
                assert proc.returncode == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# --- start-up that refuses what is wrong: one line, no traceback, the exit code of docs/cli.md ---


def jiaodong(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "jiaodong.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("JD_", "GRPC_"))},
            "JD_DATA_DIR": str(tmp_path / "data"),
            "JD_TLS_DIR": str(shared_pki()),
            **env,
        },
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one non-empty line the command printed on stderr (and nothing else there)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("JD_SLA_SWEEP_SECONDS", "abc", "must be a positive number"),
        ("JD_SLA_SWEEP_SECONDS", "-1", "must be a positive number"),
        ("JD_LOG_LEVEL", "loud", "must be one of debug, info, warning, error"),
        ("JD_CLOCK", "bogus", "use file:PATH or leave it empty"),
        ("JD_CLOCK", "file:/nonexistent/clock", "no such clock file"),
        ("JD_NATS_MAX_PINGS", "two", "must be a whole number, at least 1"),
        ("JD_NATS_REPLICAS", "0", "must be a whole number, at least 1"),
        ("JD_NATS_START_SECONDS", "soon", "must be a positive number"),
        ("JD_RATE_LIMIT", "fast", "must be a positive number"),
        ("JD_RATE_BURST", "0", "must be a positive number"),
        ("JD_RECONCILE_SECONDS", "x", "must be a positive number"),
        ("JD_HTTP", "localhost", "must be HOST:PORT"),
        ("JD_METRICS", "127.0.0.1:http", "must be HOST:PORT"),
        ("JD_DATABASE_URL", "mysql://jd@db/jd", "must be postgresql://USER@HOST/DB"),
        ("JD_DATABASE_URL", "postgresql://jd@db:port/jd", "must be postgresql://USER@HOST/DB"),
    ],
)
def test_every_bad_setting_is_one_line_naming_it(
    tmp_path: Path, variable: str, value: str, allowed: str
) -> None:
    result = jiaodong(tmp_path, "node", "--city", "qingdao", "--port", "0", **{variable: value})
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith(f"{variable}={value}: ")
    assert allowed in line
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_a_bad_setting_stops_the_client_commands_and_up_too(tmp_path: Path) -> None:
    for args in (["courts"], ["up", "--base-port", "0"]):
        result = jiaodong(tmp_path, *args, JD_SLA_SWEEP_SECONDS="abc")
        assert result.returncode == 2
        assert one_line(result).startswith("JD_SLA_SWEEP_SECONDS=abc: 应为正数")
    assert not (tmp_path / "data").exists()


def test_a_password_in_a_bad_database_url_is_not_printed(tmp_path: Path) -> None:
    result = jiaodong(tmp_path, "courts", JD_DATABASE_URL="mysql://jd:s3cret@db/jd")
    assert result.returncode == 2
    assert one_line(result).startswith("JD_DATABASE_URL=mysql://jd:***@db/jd: ")
    assert "s3cret" not in result.stderr


def test_a_database_server_that_refuses_is_one_line(tmp_path: Path) -> None:
    port = int(unused_url().rsplit(":", 1)[1])
    result = jiaodong(
        tmp_path,
        "node",
        "--city",
        "qingdao",
        "--port",
        "0",
        JD_DATABASE_URL=f"postgresql://jd:s3cret@127.0.0.1:{port}/jd",
        JD_NATS_URL=unused_url(),
        JD_LOG_LEVEL="error",
    )
    assert result.returncode == 3
    line = one_line(result)
    assert f"(cannot open the database) postgresql://jd:***@127.0.0.1:{port}/jd: " in line
    assert "s3cret" not in result.stderr


def test_an_unknown_city_is_one_line(tmp_path: Path) -> None:
    result = jiaodong(tmp_path, "node", "--city", "atlantis", "--port", "0")
    assert result.returncode == 2
    assert one_line(result).startswith("there is no city 'atlantis' in the court registry")


def test_a_service_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other"
    init_pki(other, load_registry(None))
    own = shared_pki()
    result = jiaodong(
        tmp_path,
        "node",
        "--city",
        "qingdao",
        "--port",
        "0",
        JD_TLS_CA=str(other / "ca.pem"),
        JD_TLS_CERT=str(own / "node-qingdao.pem"),
        JD_TLS_KEY=str(own / "node-qingdao.key"),
    )
    assert result.returncode == 2
    assert "is not issued by the CA in" in one_line(result)


def test_two_nodes_on_one_port_the_second_refused_and_a_client_of_another_ca_told_so(
    tmp_path: Path,
) -> None:
    """The second node on a port in use stops with one line naming the address (exit 2), before
    it opens anything; the first keeps serving. A CLI with certificates of another CA is told the
    handshake failed on the CA, not asked whether the node runs, and no gRPC core log line shows."""
    port = int(unused_url().rsplit(":", 1)[1])
    log = (tmp_path / "first.log").open("w")
    command = ["node", "--city", "qingdao", "--port", str(port)]
    first = subprocess.Popen(
        [sys.executable, "-m", "jiaodong.cli.main", *command],
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
        env={
            **os.environ,
            "JD_DATA_DIR": str(tmp_path / "first"),
            "JD_TLS_DIR": str(shared_pki()),
            "JD_LOG_JSON": "1",
        },
    )
    try:
        wait_for_log(tmp_path / "first.log", "node_started", timeout=60)
        second = jiaodong(tmp_path, "node", "--city", "qingdao", "--port", str(port))
        assert second.returncode == 2
        assert one_line(second) == (
            f"127.0.0.1:{port}: 端口已被占用，另有服务在监听 (port in use by another service)"
        )
        assert not (tmp_path / "data").exists()  # no database, no broker of its own
        assert first.poll() is None

        other = tmp_path / "other"
        init_pki(other, load_registry(None))
        client = jiaodong(
            tmp_path,
            "delegation",
            "list",
            "--node",
            f"127.0.0.1:{port}",
            "--as-court",
            "370202",
            JD_TLS_DIR=str(other),
        )
        assert client.returncode == 2
        line = one_line(client)  # no "E1201 ... ssl_transport_security.cc" line
        assert "不是由本方 CA 签发的" in line
        assert "CERTIFICATE_VERIFY_FAILED" in line
        assert "是否在运行" not in line
    finally:
        first.send_signal(signal.SIGTERM)
        try:
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
