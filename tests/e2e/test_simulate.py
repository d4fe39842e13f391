"""`jiaodong simulate` through its real entry point: the coordinator and five nodes as processes,
a real nats-server on free ports, SQLite. The same seed twice, the second time under CPU load,
gives byte-identical report.json and trace.json; the slow court ranks worst and the deliveries
to the city whose node was down arrive once it is back."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import alive, children

pytestmark = pytest.mark.e2e

SCENARIO = Path(__file__).parent / "data" / "simulate-short.toml"
SLOW_COURT = "370785"


def simulate(
    out: Path, data: Path, seed: int = 3, scenario: Path = SCENARIO, days: int = 15
) -> dict[str, object]:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "jiaodong.cli.main",
            "simulate",
            "--days",
            str(days),
            "--seed",
            str(seed),
            "--scenario",
            str(scenario),
            "--out",
            str(out),
            "--data-dir",
            str(data),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-3000:]
    # Progress went to stderr while it ran, even with --json.
    assert "sent" in run.stderr and "steps" in run.stderr, run.stderr[-2000:]
    summary: dict[str, object] = json.loads(run.stdout)
    return summary


@contextlib.contextmanager
def cpu_load() -> Iterator[None]:
    """Busy processes on every core (stress-ng when installed, else Python busy loops)."""
    cores = os.cpu_count() or 2
    if shutil.which("stress-ng"):
        hogs = [subprocess.Popen(["stress-ng", "--cpu", str(cores), "--quiet"])]
    else:
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.terminate()
        for hog in hogs:
            try:
                hog.wait(timeout=10)
            except subprocess.TimeoutExpired:
                hog.kill()
                hog.wait()


def test_same_seed_same_bytes_under_load_slow_court_worst_outage_waits(tmp_path: Path) -> None:
    quiet = simulate(tmp_path / "quiet", tmp_path / "quiet-data")
    with cpu_load():
        loaded = simulate(tmp_path / "loaded", tmp_path / "loaded-data")
    for name in ("report.json", "report-weihai.json", "trace.json"):
        a = (tmp_path / "quiet" / name).read_bytes()
        b = (tmp_path / "loaded" / name).read_bytes()
        assert a == b, f"{name} differs between two runs of one seed"
    assert quiet["steps"] == loaded["steps"]
    assert quiet["delegations"] == loaded["delegations"]

    trace = json.loads((tmp_path / "quiet" / "trace.json").read_text(encoding="utf-8"))
    report = json.loads((tmp_path / "quiet" / "report.json").read_text(encoding="utf-8"))
    assert report["schema"] == "jiaodong.sla-report"
    assert report["period"] == {"from": "2026-03-09", "to": "2026-03-23", "days": 15}
    for name in ("report.html", "report.xlsx", "report-weihai.html", "report-weihai.xlsx"):
        assert (tmp_path / "quiet" / name).stat().st_size > 0
    weihai = json.loads((tmp_path / "quiet" / "report-weihai.json").read_text(encoding="utf-8"))
    assert weihai["scope"]["city"] == "weihai"
    assert all("weihai" in (p["requesting_city"], p["entrusted_city"]) for p in weihai["pairs"])
    # The slow court is the worst of the ranking.
    assert report["ranking"]["worst"][0] == SLOW_COURT, report["ranking"]
    slow = next(c for c in report["courts"] if c["court"] == SLOW_COURT)
    ranked = [c for c in report["courts"] if c["court"] in report["ranking"]["worst"]]
    assert all(slow["on_time_rate"] <= c["on_time_rate"] for c in ranked)
    # The first week (Weihai's two days down, and the slow court's late acknowledgements) is
    # worse than the week after. The outage itself is checked in the trace below: the report
    # counts limits from delivery, so two days fit mostly within them.
    outage_week, next_week = report["weekly"][0], report["weekly"][1]
    assert outage_week["week"] == "2026-03-09"
    assert outage_week["on_time_rate"] < next_week["on_time_rate"], report["weekly"]
    assert outage_week["breaches"] > next_week["breaches"], report["weekly"]
    # Weihai's node was down from Wednesday 08:00 to Friday 08:00: what was sent to it meanwhile
    # waited in JetStream and was delivered once it was back, none before.
    outage = trace["outage"]
    assert [o["node"] for o in trace["outages"]] == ["stop", "start"]
    assert outage["sent_to_it_while_down"] > 0, outage
    assert outage["delivered_after_restart"] == outage["sent_to_it_while_down"], outage
    assert outage["delivered_before_restart"] == 0
    assert outage["first_delivery"] >= trace["outages"][1]["at"]
    assert outage["actions_put_off"] > 0
    # Returns and supplements happened; every day's events were counted.
    done = {k for day in trace["days"] for k in day["done"]}
    assert {"create", "acknowledge", "accept", "return", "supplement"} <= done, done
    events = {k for day in trace["days"] for k in day["events"]}
    assert {"DELIVERED", "RETURNED", "SUPPLEMENTED", "SLA_BREACHED"} <= events, events


def test_registries_answer_on_virtual_time_the_same_bytes_under_load(tmp_path: Path) -> None:
    """With the cities' simulated registries on (courts/registries.toml), inquiries and
    registrations are answered by the nodes' registry desks at the times the registries name, on
    virtual time: two runs of one seed, the second under CPU load, still give the same bytes."""
    scenario = tmp_path / "with-registries.toml"
    text = SCENARIO.read_text(encoding="utf-8")
    assert "registries = false" in text
    scenario.write_text(text.replace("registries = false", "registries = true"), encoding="utf-8")
    quiet = simulate(tmp_path / "quiet", tmp_path / "quiet-data", scenario=scenario, days=8)
    with cpu_load():
        loaded = simulate(tmp_path / "loaded", tmp_path / "loaded-data", scenario=scenario, days=8)
    for name in ("report.json", "trace.json"):
        a = (tmp_path / "quiet" / name).read_bytes()
        b = (tmp_path / "loaded" / name).read_bytes()
        assert a == b, f"{name} differs between two runs of one seed"
    assert quiet["steps"] == loaded["steps"]
    trace = json.loads((tmp_path / "quiet" / "trace.json").read_text(encoding="utf-8"))
    answered = sum(day["done"].get("completed_by_registry", 0) for day in trace["days"])
    assert answered > 0, trace["totals"]
    # The scenario's returns and confirmations went on around them: no call was refused.
    assert not any(day["refused"] for day in trace["days"]), trace["days"]


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.1)


def test_sigterm_stops_every_process_the_simulation_started(tmp_path: Path) -> None:
    """`kill` of a running simulation (a supervisor, a CI time-out) stops NATS and the six
    services it started, as Ctrl-C does: they run in sessions of their own, so before, all
    seven were left running."""
    data = tmp_path / "data"
    with (tmp_path / "stderr.txt").open("w", encoding="utf-8") as errors:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jiaodong.cli.main",
                "simulate",
                "--days",
                "30",
                "--scenario",
                str(SCENARIO),
                "--out",
                str(tmp_path / "out"),
                "--data-dir",
                str(data),
            ],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            clock = data / "virtual-clock"
            wait_for(clock.exists, 120, "the virtual clock is written")
            first = clock.read_text(encoding="ascii").split()[0]
            # The driver has moved time: the layout is up and the simulation under way.
            wait_for(
                lambda: clock.read_text(encoding="ascii").split()[0] != first,
                180,
                "the driver moves virtual time",
            )
            started = children(proc.pid)
            assert len(started) == 7, started  # nats-server, the coordinator, five nodes
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == 128 + signal.SIGTERM
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    left = {pid for pid in started if alive(pid)}
    assert not left, f"still running after the simulation ended: {left}"
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text(encoding="utf-8")
