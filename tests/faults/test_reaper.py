"""The fault harness ends what it started when it is itself ended: `make faults` cancelled by CI
(SIGTERM) or Ctrl-C must not leave nats-servers and services running on the machine."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.processes import alive, children

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_harness_ended_by_a_signal_ends_what_it_started(tmp_path: Path, sig: int) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    harness = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.run", "--only", "node-kill", "--delegations", "400"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started: dict[int, str] = {}
    try:
        # nats-server, the coordinator and five nodes, all children of the harness
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and harness.poll() is None:
            started.update(children(harness.pid))
            if sum("nats-server" in c for c in started.values()) >= 1 and len(started) >= 7:
                break
            time.sleep(0.5)
        assert len(started) >= 7, f"the harness did not start its layout: {started}"
        time.sleep(2.0)  # traffic running
        started.update(children(harness.pid))
        harness.send_signal(sig)
        harness.wait(timeout=60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(alive(p) for p in started):
            time.sleep(0.2)
        left = {p: c for p, c in started.items() if alive(p)}
        assert not left, f"still running after the harness ended: {left}"
        assert harness.returncode == 128 + sig
    finally:
        for pid in [p for p in started if alive(p)] + [harness.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            harness.wait(timeout=5)


def _group(pgid: int) -> list[int]:
    """Running processes in process group ``pgid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    out.append(int(entry.name))
    return out


@pytest.mark.parametrize("tool", ["stress-ng", "python busy loops"])
def test_cpu_hog_runs_its_workers_in_one_group_and_stops_them_all(
    tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The busy-machine row's hog: with or without stress-ng, its workers share one process group
    (so the reaper ends them all), and stop() leaves none (the Python fallback once failed to
    start at all, EPERM, where stress-ng was missing)."""
    from tests.faults import harness

    if tool == "python busy loops":
        monkeypatch.setattr(harness.shutil, "which", lambda _name: None)
    elif harness.shutil.which("stress-ng") is None:
        pytest.skip("stress-ng is not installed here; the fallback is tested beside")
    hog = harness.CpuHog(3).start()
    assert hog.tool == tool and hog.process is not None
    pgid = hog.process.pid
    try:
        deadline = time.monotonic() + 20
        while len(_group(pgid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_group(pgid)) >= 3  # stress-ng adds a parent of its own beside the workers
    finally:
        hog.stop()
    deadline = time.monotonic() + 10
    while _group(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group(pgid) == []
