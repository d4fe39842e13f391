"""What durability costs: JetStream with and without ``sync_interval: always``, SQLite with
``synchronous=FULL`` and ``NORMAL`` (WAL both). ``python -m bench.durability [--json]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import nats
from sqlalchemy import create_engine, event, text

from jiaodong.bus.embedded import EmbeddedNats

MESSAGES = 2000
COMMITS = 1000


async def _publish(url: str, n: int) -> list[float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="BENCH", subjects=["bench.>"])
    payload = b"x" * 600  # about one delegation sync
    times = []
    for i in range(n):
        t = time.perf_counter()
        await js.publish("bench.one", payload, headers={"Nats-Msg-Id": f"m{i}"})
        times.append((time.perf_counter() - t) * 1000)
    await nc.close()
    return times


def jetstream(sync_always: bool, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedNats(Path(tmp), sync_always=sync_always).start()
        try:
            times = asyncio.run(_publish(server.url, n))
        finally:
            server.stop()
    return {
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(sorted(times)[int(len(times) * 0.95)], 3),
        "per_second": round(1000 / statistics.mean(times)),
    }


def sqlite(synchronous: str, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/bench.db")

        @event.listens_for(engine, "connect")
        def _pragmas(conn: object, _record: object) -> None:
            cur = conn.cursor()  # type: ignore[attr-defined]
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.close()

        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE outbox (id INTEGER PRIMARY KEY, payload BLOB)"))
        times = []
        for _ in range(n):
            t = time.perf_counter()
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO outbox (payload) VALUES (:p)"), {"p": b"x" * 600})
            times.append((time.perf_counter() - t) * 1000)
        engine.dispose()
    return {
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(sorted(times)[int(len(times) * 0.95)], 3),
        "per_second": round(1000 / statistics.mean(times)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = {
        "jetstream_sync_always": jetstream(True, MESSAGES),
        "jetstream_default_sync": jetstream(False, MESSAGES),
        "sqlite_wal_full": sqlite("FULL", COMMITS),
        "sqlite_wal_normal": sqlite("NORMAL", COMMITS),
    }
    if args.json:
        print(json.dumps(out))
        return
    for name, figures in out.items():
        print(
            f"{name:26} median {figures['median_ms']:7.3f} ms  p95 {figures['p95_ms']:7.3f} ms  "
            f"{figures['per_second']:6} /s"
        )


if __name__ == "__main__":
    main()
