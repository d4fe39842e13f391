"""The built wheel in a fresh virtualenv: its dependencies installed by pip, the court registry
from its package data (no JD_COURTS_DIR, no source tree), and `jiaodong up` runs the layout.

Run alone with ``pytest -m wheel``. About a minute: pip installs every dependency into the new
venv (from the machine's package index and wheel cache), nothing is borrowed from the test venv.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.e2e.test_up import READY, read_until_up

pytestmark = [pytest.mark.e2e, pytest.mark.wheel]

REPO = Path(__file__).resolve().parents[2]


def build_wheel(tmp_path: Path) -> Path:
    """The wheel, built from a copy of the project (the build writes nothing into the tree)."""
    src = tmp_path / "src"
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.pyc")
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    # services/jiaodong/courts is a link to ../../courts: copied as a link, as in the tree.
    shutil.copytree(REPO / "services", src / "services", symlinks=True, ignore=junk)
    shutil.copytree(REPO / "courts", src / "courts", ignore=junk)
    dist = tmp_path / "dist"
    pip_wheel = ["pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run(
        [sys.executable, "-m", *pip_wheel, str(src), "-w", str(dist)],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("jiaodong-*.whl")
    return wheel


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@pytest.mark.timeout(900)
def test_the_wheel_in_a_fresh_venv_lists_the_courts_and_runs_up(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for data in ("cities.csv", "courts.csv", "sla.toml", "registries.toml", "simulate.toml"):
        assert f"jiaodong/courts/{data}" in names
    assert "jiaodong/courts/holidays/README.md" in names

    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter, not the test venv
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, timeout=600
    )

    run = _mkdir(tmp_path / "run")  # outside the repository: no courts/ next to it
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JD_", "PYTHON", "VIRTUAL_ENV")) and k != "GRPC_VERBOSITY"
    }
    env["COLUMNS"] = "200"
    jiaodong = str(venv / "bin" / "jiaodong")
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import jiaodong.files.registry as r; print(r.default_courts_dir().resolve())",
        ],
        cwd=run,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), where

    courts = subprocess.run(
        [jiaodong, "courts", "--json"], cwd=run, env=env, capture_output=True, text=True
    )
    assert courts.returncode == 0, courts.stderr
    assert {c["city"] for c in json.loads(courts.stdout)} == {
        "qingdao",
        "yantai",
        "weifang",
        "weihai",
        "rizhao",
    }

    proc = subprocess.Popen(
        [jiaodong, "up", "--base-port", "0", "--data-dir", str(run / "var")],
        cwd=run,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = read_until_up(proc, 120)
        assert READY in output, output
        for service in ("coordinator", "node-qingdao", "node-yantai", "node-weifang"):
            assert service in output
        assert "node-weihai" in output and "node-rizhao" in output
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, rest
        assert "stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
