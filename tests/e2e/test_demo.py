"""The demo through its real entry point: processes, NATS, gRPC, SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

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
    # Property inquiries and registrations answered through each city's simulated registries,
    # with no officer acting (网络查控): in all five cities.
    registries = report["registries"]
    assert set(registries["by_city"]) == cities
    assert registries["answered"] == sum(registries["by_city"].values())
    assert set(registries["by_asset"]) <= {"real_estate", "vehicle", "equity", "deposit"}
    # Registered seizures carry their terms, which the coordinator watches for renewal.
    assert registries["controls_recorded"] > 0
    # On-site assistance in three city pairs: planned, on the calendar, reminded the working day
    # before, both outcomes recorded, the same history on all three sides.
    assist = report["assistance"]
    assert assist["requested"] == assist["closed"] == assist["agree"] == 3
    assert assist["on_calendar"] == assist["reminded"] == 3
    assert {row["measure"] for row in assist["rows"]} == {
        "EVICTION",
        "VEHICLE_SEIZURE",
        "INSPECTION",
    }
    assert all(row["from"] != row["to"] for row in assist["rows"])


def test_demo_serve_leaves_a_board_at_the_printed_address(tmp_path: Path) -> None:
    """`demo --serve`: after the report the region stays up and its board answers the printed
    development login, with the demo's delegations counted; SIGTERM then stops everything."""
    import http.cookiejar
    import signal
    import ssl
    import urllib.request

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jiaodong.cli.main",
            "demo",
            "--json",
            "--serve",
            "--delegations",
            "10",
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the report, printed before serving
        report = json.loads(line)
        assert report["agree"] is True
        login = report["board"]
        assert login.startswith("https://127.0.0.1:") and "/login?token=" in login
        context = ssl.create_default_context(cafile=str(tmp_path / "pki" / "ca.pem"))
        browser = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        )
        with browser.open(login, timeout=20) as page:
            body = page.read().decode()
        assert "胶东跨域委托执行指挥看板" in body and "青岛市" in body
        # The region runs in real time after the demo: every city's node shows online within
        # a reconciliation interval (30 s) of the report, and stays so.
        deadline = time.monotonic() + 120
        while True:
            with browser.open(login.split("/login")[0] + "/", timeout=20) as page:
                nodes = _node_states(page.read().decode())
            if len(nodes) == 5 and set(nodes.values()) == {"在线"}:
                break
            assert time.monotonic() < deadline, f"nodes not all online after the demo: {nodes}"
            time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)
    finally:
        _stop(proc)


def _node_states(page: str) -> dict[str, str]:
    """node -> the state word the board's node table shows for it."""
    import re

    return dict(re.findall(r'<tr data-node="([^"]+)"><th>[^<]*</th><td[^>]*>([^<]*)</td>', page))


def _stop(proc: subprocess.Popen[str]) -> None:
    """End a `demo --serve` that is still running, its region with it: SIGTERM stops the region
    gracefully and a second one at once (SIGKILL of each of its processes, which run in sessions
    of their own: a SIGKILL of the CLI alone would leave the region running)."""
    import signal

    for _ in range(2):
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.kill()
        proc.wait()
