"""The demo through its real entry point: processes, NATS, gRPC, SQLite."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_demo_json_reports_agreement_and_every_city_both_ways() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "jiaodong.cli.main",
            "demo",
            "--json",
            "--delegations",
            "60",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-3000:]
    report = json.loads(run.stdout)
    assert report["cities"] == 5
    assert report["delegations"] == 60
    assert report["agree"] is True
    assert report["lost"] == 0
    assert report["duplicated"] == 0
    assert sum(report["final"].values()) == 60
    assert set(report["final"]) <= {"confirmed", "cancelled"}
    senders = {p["from"] for p in report["pairs"]}
    receivers = {p["to"] for p in report["pairs"]}
    cities = {"qingdao", "yantai", "weifang", "weihai", "rizhao"}
    assert senders == receivers == cities
    assert all(p["from"] != p["to"] for p in report["pairs"])
    assert sum(p["count"] for p in report["pairs"]) == 60
    # Time limits per goal, on virtual time: idle courts breach and are urged and escalated.
    sla = report["sla"]
    assert set(sla) >= {"acknowledge", "start", "progress", "complete", "inaction"}
    assert all(counts.get("met", 0) > 0 for goal, counts in sla.items() if goal != "supplement")
    breached = sum(counts.get("breached", 0) for counts in sla.values())
    assert breached == report["automatic"].get("sla_breached", 0) > 0
    assert report["automatic"].get("urged", 0) > 0 and report["automatic"].get("escalated", 0) > 0
    assert report["virtual_time"]["end"] > report["virtual_time"]["start"]
