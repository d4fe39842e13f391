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
