"""What a simulated period costs, process by process (``python -m bench.simulation --days 30``).

Runs ``jiaodong simulate`` (devtools/simulate.py: the coordinator and the five nodes as processes
on real NATS, virtual time moved by the driver) and reports, beside the wall time, the CPU seconds
each process used while the driver ran (from /proc: user + system), the messages each service
applied (its inbox) and sent (its outbox), and the history events of the period. This is where a
simulated year's time goes (docs/benchmarks.md, "The simulated year"): the services' work per
message, not waiting.

A node stopped and started again by the scenario's outage is a new process: its CPU is counted
from its restart only (marked in the output). Options: ``--days N --seed S --json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from jiaodong.devtools import simulate as sim
from jiaodong.devtools.scenario import default_scenario_path, load_scenario
from jiaodong.files.calendar import load_calendar
from jiaodong.files.registry import default_courts_dir, load_registry

TICK = os.sysconf("SC_CLK_TCK")
# What the last Measured run found (simulate() builds its driver and keeps it to itself).
MEASURED: dict[str, Any] = {}


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a running process (None once it has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


class Measured(sim.Driver):
    """The simulator's driver, with every process's CPU read before and after its run."""

    async def run(self) -> None:
        def pids() -> dict[str, int]:
            found = {s.name: s.process.pid for s in self.layout.services}
            if self.layout.nats is not None and self.layout.nats.process is not None:
                found["nats-server"] = self.layout.nats.process.pid
            found["driver (this process)"] = os.getpid()
            return found

        start = pids()
        before = {name: cpu_seconds(pid) or 0.0 for name, pid in start.items()}
        began = time.monotonic()
        await super().run()
        wall = time.monotonic() - began
        end = pids()
        cpu: dict[str, float] = {}
        restarted: list[str] = []
        for name, pid in end.items():
            now = cpu_seconds(pid) or 0.0
            if start.get(name) == pid:
                cpu[name] = round(now - before[name], 1)
            else:  # restarted by the outage: counted from its restart
                cpu[name] = round(now, 1)
                restarted.append(name)
        messages = {}
        for name, engine in self.probe.engines.items():
            with engine.connect() as conn:
                messages[name] = {
                    "applied": conn.execute(sa.text("SELECT count(*) FROM inbox")).scalar_one(),
                    "sent": conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one(),
                }
        with self.probe.engines["coordinator"].connect() as conn:
            events = conn.execute(sa.text("SELECT count(*) FROM delegation_event")).scalar_one()
        MEASURED.clear()
        MEASURED.update(
            {
                "driver_wall_seconds": round(wall, 1),
                "cpu_seconds": cpu,
                "cpu_total": round(sum(cpu.values()), 1),
                "cores_busy": round(sum(cpu.values()) / wall, 2) if wall else None,
                "restarted": restarted,
                "messages": messages,
                "events": events,
            }
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    courts = default_courts_dir()
    registry, calendar = load_registry(courts), load_calendar(courts)
    scenario = load_scenario(default_scenario_path(courts), registry)
    folder = sim.scratch_folder("jiaodong-bench-sim-")
    try:
        outcome = sim.run_simulation(
            folder,
            registry,
            calendar,
            scenario,
            seed=args.seed,
            days=args.days,
            out=folder / "out",
            extra_env=sim.SIM_ENV,
            driver_type=Measured,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = {**outcome.figures, **MEASURED, "days": args.days, "seed": args.seed}
    result.pop("files", None)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    delegations, events = result["delegations"], result["events"]
    print(
        f"{args.days} days, seed {args.seed}: {delegations} delegations, {events} events, "
        f"{result['steps']} steps; {result['wall_seconds']} s wall, of it waiting for quiescence "
        f"{result['quiescence_seconds']} s"
    )
    print(f"CPU seconds while the driver ran ({result['cores_busy']} of the CPUs busy on average):")
    for name, seconds in sorted(result["cpu_seconds"].items(), key=lambda kv: -kv[1]):
        mark = " (since its restart)" if name in result["restarted"] else ""
        per = 1000 * seconds / events if events else 0.0
        print(f"  {name:24} {seconds:8.1f} s  {per:6.1f} ms per event{mark}")
    total = result["cpu_total"]
    print(f"  {'all':24} {total:8.1f} s  {1000 * total / max(events, 1):6.1f} ms per event")
    print("messages applied / sent:")
    for name, m in result["messages"].items():
        print(f"  {name:24} {m['applied']:8} / {m['sent']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
