"""Personal data never reaches the logs: run the demo with its logs kept (debug level) and scan
every line of every service for the names, ID numbers, phones and addresses the demo used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jiaodong.devtools.demo import make_plans
from jiaodong.files.registry import load_registry

pytestmark = pytest.mark.e2e


def personal_values(n: int, seed: int) -> set[str]:
    values: set[str] = set()
    for plan in make_plans(load_registry(), n, seed):
        debtor = plan.request.debtor
        if debtor.HasField("person"):
            values |= {debtor.person.name, debtor.person.resident_id}
        else:
            values |= {debtor.organisation.name, debtor.organisation.social_credit_code}
        values |= {debtor.phone, plan.request.place.address}
    return {v for v in values if v}


def test_demo_logs_hold_no_personal_data(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "jiaodong.cli.main",
            "demo",
            "--json",
            "--delegations",
            "30",
            "--seed",
            "5",
            "--data-dir",
            str(data),
            "--keep",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "JD_LOG_LEVEL": "debug"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["agree"] is True
    logs = sorted((data / "logs").glob("*.log"))
    assert len(logs) == 6  # coordinator and five nodes
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in logs)
    text += run.stderr
    assert "delegation_created" in text  # the logs are really there, at debug level
    secrets = personal_values(30, 5)
    assert len(secrets) > 60
    leaked = sorted(v for v in secrets if v in text)
    assert leaked == []
