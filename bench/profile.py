"""Where a delegation's CPU goes: the layout of ``bench.layout`` at a steady open-loop rate, with
py-spy sampling every service process (``python -m bench.profile [--rate 20] [--seconds 30]``).

Writes py-spy's collapsed stacks per process to ``bench/results/profile-<ts>/<name>.txt`` and
prints, per process, the CPU ms per delegation (from /proc, as bench.layout's (c)) and the
functions with the largest inclusive share of samples (idle samples excluded: py-spy runs without
``--idle``). py-spy is a development tool, not a project dependency: ``pip install py-spy``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.layout import (
    NODE_CITY,
    REGISTRY,
    Arrivals,
    Clients,
    Stack,
    closed_loop,
    cpu_snapshot,
    creator,
    layout_open_loop,
    log,
    track,
    wait_quiet,
    warm_up,
)
from jiaodong.security.certs import init_pki

RESULTS = Path(__file__).resolve().parent / "results"


def top_functions(collapsed: Path, limit: int) -> list[tuple[float, float, str]]:
    """(inclusive share, self share, frame) of the most sampled frames in py-spy's raw output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        return []
    return [(inclusive[f] / total, own[f] / total, f) for f, _ in inclusive.most_common(limit)]


async def main_async(args: argparse.Namespace) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    root = Path(tempfile.mkdtemp(prefix="jd-profile-"))
    out = RESULTS / f"profile-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    out.mkdir(parents=True)
    pki = root / "pki"
    init_pki(pki, REGISTRY)
    os.environ["JD_TLS_DIR"] = str(pki)
    stack = Stack(root / "p", pki, args.log_level).start()
    clients = Clients(stack)
    arrivals = Arrivals(clients)
    arrivals.start()
    try:
        await warm_up(clients, arrivals)
        pids = stack.pids()
        await wait_quiet(pids, 30)
        spies = {}
        for name, pid in pids.items():
            if name == "nats-server":
                continue
            proc = subprocess.Popen(
                [
                    spy,
                    "record",
                    "-p",
                    str(pid),
                    "-f",
                    "raw",
                    "-r",
                    "100",
                    "--gil",
                    "-o",
                    str(out / f"{name}.txt"),
                    "-d",
                    str(int(args.seconds + 8)),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            track(proc.pid)
            spies[name] = proc
        time.sleep(1)
        before = cpu_snapshot(pids)
        if args.closed:
            fig = await closed_loop(creator(clients.node(NODE_CITY)), args.closed, args.seconds)
            log(
                f"closed loop {args.closed} in flight: {fig['calls_per_s']:.1f} calls/s, "
                f"p50 {fig['p50_ms']:.1f} ms, p99 {fig['p99_ms']:.1f} ms"
            )
            fig["created"] = fig["calls"]
            fig["p50_ms"] = fig["p99_ms"] = fig["backlog_at_end"] = None
        else:
            fig = await layout_open_loop(
                clients, arrivals, args.rate, args.seconds, 20, random.Random(7)
            )
        await wait_quiet(pids, 30)
        after = cpu_snapshot(pids)
        for proc in spies.values():
            proc.wait(timeout=60)
        created = max(1, fig["created"])
        log(
            f"{fig['created']} created, p50 {fig['p50_ms']} p99 {fig['p99_ms']} ms, "
            f"backlog {fig['backlog_at_end']}"
        )
        total = 0.0
        for name in sorted(after):
            ms = (after[name] - before[name]) * 1000 / created
            total += ms
            print(f"{name:16} {ms:6.2f} ms CPU / delegation")
        print(f"{'all':16} {total:6.2f} ms CPU / delegation")
        for name in sorted(spies):
            print(f"\n== {name}: inclusive / self share of samples")
            for inc, own, frame in top_functions(out / f"{name}.txt", args.top):
                print(f"{inc * 100:5.1f}% {own * 100:5.1f}%  {frame}")
        print(f"\nstacks: {out}")
    finally:
        await arrivals.stop()
        await clients.close()
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--closed", type=int, default=0, help="closed-loop creates at the Qingdao node, N in flight"
    )
    parser.add_argument("--log-level", default="info")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
