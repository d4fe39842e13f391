"""SLA sweep benchmark: with 1,000,000 open clocks stored, one sweep that finds and handles the
1,000 newly due ones completes in under 1 second.

Run from the repository root: ``python -m bench.sla_sweep`` (``make bench``). For each backend
(a SQLite file in a temporary folder; a fresh PostgreSQL database ``jd_bench_<random>``, dropped at
the end) it

1. creates the schema with ``Database.create_schema()``;
2. bulk-loads ``--clocks`` running clocks whose ``next_at`` lies in the future, and ``--due`` more
   whose ``next_at`` passed in the last ten minutes, for delegations stored as ACKNOWLEDGED with an
   entrusted court: their 15-day ``start`` limit (Civil Procedure Law art. 229) ran out, both
   warnings already fired, so each owes a breach and an automatic escalation (督辦);
3. times ``SlaEngine.sweep(session, due)`` in ``Database.transaction`` (find + claim + enqueue +
   commit) with a ``ManualClock`` at "now", checks that every due clock was claimed once and two
   outbox requests (breach + escalation) were written for each, puts the rows back as they were,
   and repeats ``--runs`` times;
4. times the indexed query alone and prints its plan (captured from a sweep that is rolled back).

Options: ``--clocks N --due N --runs N --backend sqlite|postgres|both --json``; PostgreSQL is
``$JD_BENCH_PG`` or ``--pg-url`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) and
is skipped with a message when unreachable. Exit status 1 when a correctness check fails.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import itertools
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Table, bindparam, delete, event, func, insert, text, update
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, col, select

from jiaodong.app.sla import SlaEngine, SweepReport
from jiaodong.bus.subjects import Kind, to_court
from jiaodong.domain.clock import ManualClock
from jiaodong.domain.periods import Period, Unit
from jiaodong.domain.sla_policy import Goal, GoalPolicy
from jiaodong.files.calendar import official_calendar
from jiaodong.files.policy import load_policy
from jiaodong.files.registry import default_courts_dir
from jiaodong.logs import configure
from jiaodong.store.database import Database
from jiaodong.store.tables import OutboxRow, SlaClockRow
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import to_stored

REQUIREMENT_MS = 1000.0
CHUNK = 20_000
DEFAULT_PG = os.environ.get("JD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

CLOCK_COLUMNS = (
    "delegation_id",
    "goal",
    "instance",
    "court",
    "state",
    "period",
    "on_breach",
    "started_at",
    "due_at",
    "original_due_at",
    "met_at",
    "next_at",
    "warn_at",
    "source",
    "warned",
    "breach_fired",
    "version",
)
# The clocks that run for an accepted delegation; the due ones are `start` clocks.
FUTURE_GOALS = (Goal.PROGRESS, Goal.COMPLETE, Goal.INACTION)
DUE_GOAL = Goal.START
DUE_STATUS = "ACKNOWLEDGED"  # received, neither accepted nor returned: the `start` clock runs
DUE_WARNED = 2  # both warnings (50 % and 75 %) fired before the breach

SLA_CLOCK: Table = SQLModel.metadata.tables["sla_clock"]
DELEGATION: Table = SQLModel.metadata.tables["delegation"]
OUTBOX: Table = SQLModel.metadata.tables["outbox"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the data ---------------------------------------------------------------------------------


def courts() -> list[tuple[str, str]]:
    """(court id, city) of every court in courts/courts.csv."""
    path = default_courts_dir() / "courts.csv"
    lines = [ln for ln in path.read_text("utf-8-sig").splitlines() if not ln.startswith("#")]
    return [(r["court_id"], r["city"]) for r in csv.DictReader(lines)]


@functools.cache
def case_codes() -> dict[str, str]:
    """Court id -> its own code in case numbers (鲁0202, 鲁02 for an intermediate court)."""
    path = default_courts_dir() / "courts.csv"
    lines = [ln for ln in path.read_text("utf-8-sig").splitlines() if not ln.startswith("#")]
    return {r["court_id"]: r["case_code"] for r in csv.DictReader(lines)}


def span(period: Period) -> timedelta:
    """A period's length in time (working days approximated as 7/5 calendar days)."""
    if period.unit is Unit.HOURS:
        return timedelta(hours=period.length)
    if period.unit is Unit.WORKING_DAYS:
        return timedelta(days=period.length * 7 / 5)
    return timedelta(days=period.length)


def period_text(period: Period) -> str:
    return f"{period.length} {period.unit.value}"  # as SlaEngine.refresh stores it


@dataclass
class Dataset:
    """What is loaded: the same rows for every backend (one seed, one "now")."""

    now: datetime  # aware UTC
    clocks: int
    due: int
    seed: int
    goals: dict[Goal, GoalPolicy]
    courts: list[tuple[str, str]]

    def future_chunks(self, generated: list[float]) -> Iterator[list[tuple[Any, ...]]]:
        """The running clocks, in chunks: started within their period, some resumed after a
        pause (due moved by the time paused), warned for the thresholds passed, next_at > now."""
        rng = random.Random(self.seed)
        now = self.now
        chunk: list[tuple[Any, ...]] = []
        delegation = court = ""
        t0 = time.perf_counter()
        for i in range(self.clocks):
            k = i % len(FUTURE_GOALS)
            if k == 0:
                delegation = f"{rng.getrandbits(128):032x}"
                court = rng.choice(self.courts)[0]
            goal = FUTURE_GOALS[k]
            policy = self.goals[goal]
            length = span(policy.period)
            active = length * rng.random()  # running time used so far, < the period
            paused = timedelta(0) if rng.random() < 0.75 else timedelta(days=20 * rng.random())
            started = now - active - paused
            original_due = started + length
            due = original_due + paused
            warn = [started + length * f + paused for f in policy.warn_at]
            warned = sum(1 for t in warn if t <= now)
            next_at = min([t for t in warn if now < t < due], default=due)
            chunk.append(
                (
                    delegation,
                    goal.value,
                    1,
                    court,
                    "RUNNING",
                    period_text(policy.period),
                    policy.on_breach.value,
                    started,
                    due,
                    original_due,
                    None,
                    next_at,
                    json.dumps(list(policy.warn_at)),
                    policy.source[:500],
                    warned,
                    False,
                    warned,
                )
            )
            if len(chunk) >= CHUNK:
                generated[0] += time.perf_counter() - t0
                yield chunk
                chunk = []
                t0 = time.perf_counter()
        generated[0] += time.perf_counter() - t0
        if chunk:
            yield chunk

    def due_clocks(self) -> list[tuple[Any, ...]]:
        """The clocks due now: a 15-day `start` limit that ran out in the last ten minutes."""
        rng = random.Random(self.seed + 1)
        policy = self.goals[DUE_GOAL]
        length = span(policy.period)
        rows = []
        for j in range(self.due):
            delegation = f"{uuid.UUID(int=rng.getrandbits(128), version=4).hex}"
            due = self.now - timedelta(seconds=rng.uniform(1, 600))
            rows.append(
                (
                    delegation,
                    DUE_GOAL.value,
                    1,
                    self.entrusted(j)[0],
                    "RUNNING",
                    period_text(policy.period),
                    policy.on_breach.value,
                    due - length,
                    due,
                    due,
                    None,
                    due,
                    json.dumps(list(policy.warn_at)),
                    policy.source[:500],
                    DUE_WARNED,
                    False,
                    DUE_WARNED,
                )
            )
        return rows

    def entrusted(self, j: int) -> tuple[str, str]:
        return self.courts[(j * 7 + 3) % len(self.courts)]

    def requesting(self, j: int) -> tuple[str, str]:
        city = self.entrusted(j)[1]
        others = [c for c in self.courts if c[1] != city]
        return others[j % len(others)]

    def delegations(self, due_clocks: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """The delegation rows of the due clocks (status ACKNOWLEDGED, so a writer exists)."""
        rows = []
        for j, clock in enumerate(due_clocks):
            delegation_id, started = clock[0], clock[7]
            req_court, req_city = self.requesting(j)
            ent_court, ent_city = self.entrusted(j)
            content = pb.Delegation(
                id=delegation_id,
                request_id=f"bench-{j}",
                case_number=f"(2025){case_codes()[req_court]}执{1000 + j}号",
                requesting_court=req_court,
                target=pb.Target(court_id=ent_court),
                entrusted_court=ent_court,
                task_type=pb.TASK_TYPE_PROPERTY_INQUIRY,
                asset_kind=pb.ASSET_KIND_REAL_ESTATE,
                requested_actions="查询被执行人名下不动产登记信息",
                priority=pb.PRIORITY_NORMAL,
            ).SerializeToString(deterministic=True)
            digest = hashlib.sha256(content).hexdigest()
            created = started - timedelta(hours=20)
            rows.append(
                {
                    "id": delegation_id,
                    "request_id": f"bench-{j}",
                    "requesting_court": req_court,
                    "requesting_city": req_city,
                    "entrusted_court": ent_court,
                    "entrusted_city": ent_city,
                    "task_type": "PROPERTY_INQUIRY",
                    "priority": "NORMAL",
                    "status": DUE_STATUS,
                    "seq": 4,  # created, routed, delivered, acknowledged
                    "last_hash": hashlib.sha256(digest.encode()).hexdigest(),
                    "cycle": 0,
                    "result": "",
                    "fingerprint": digest,
                    "warnings": "",
                    "content": content,
                    "created_at": created,
                    "updated_at": started + timedelta(hours=3),
                    "routed_at": created + timedelta(seconds=2),
                    "delivered_at": started,
                    "acknowledged_at": started + timedelta(hours=3),
                }
            )
        return rows


# --- loading ----------------------------------------------------------------------------------


def load(db: Database, data: Dataset) -> dict[str, float]:
    """Insert every clock and the due delegations; returns the times in seconds."""
    generated = [0.0]
    due_clocks = data.due_clocks()
    t0 = time.perf_counter()
    if db.engine.dialect.name == "postgresql":
        _copy_clocks(db, data, due_clocks, generated)
    else:
        for chunk in itertools.chain(data.future_chunks(generated), [due_clocks]):
            rows = [dict(zip(CLOCK_COLUMNS, r, strict=True)) for r in chunk]
            with db.engine.begin() as conn:
                conn.execute(insert(SLA_CLOCK), rows)
    with db.engine.begin() as conn:
        conn.execute(insert(DELEGATION), data.delegations(due_clocks))
    out = {"insert_s": time.perf_counter() - t0, "generate_s": generated[0]}
    t0 = time.perf_counter()
    if db.engine.dialect.name == "postgresql":
        # A database in service has statistics and a visibility map; so does this one.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) sla_clock"))
            conn.execute(text("VACUUM (ANALYZE) delegation"))
        out["vacuum_analyze_s"] = time.perf_counter() - t0
    return out


def _copy_clocks(
    db: Database, data: Dataset, due_clocks: list[tuple[Any, ...]], generated: list[float]
) -> None:
    raw = db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert isinstance(conn, psycopg.Connection)
        columns = ", ".join(CLOCK_COLUMNS)
        with conn.cursor() as cur:
            for chunk in itertools.chain(data.future_chunks(generated), [due_clocks]):
                with cur.copy(f"COPY sla_clock ({columns}) FROM STDIN") as copy:
                    for row in chunk:
                        copy.write_row(row)
                conn.commit()
    finally:
        raw.close()


# --- measuring --------------------------------------------------------------------------------


def sweep_once(db: Database, engine: SlaEngine, limit: int) -> tuple[float, float, SweepReport]:
    """One sweep in one transaction: find + claim + enqueue + commit; wall and CPU ms of this
    process (SQLite works in the process; PostgreSQL's share is in the server)."""
    t0, c0 = time.perf_counter(), time.process_time()
    report, _touched = db.transaction(lambda s: engine.sweep(s, limit))
    return (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000, report


def due_query(now: datetime, limit: int) -> Any:
    """The sweep's query (coordinator/sla.py), built the same way."""
    return (
        select(SlaClockRow)
        .where(col(SlaClockRow.next_at) <= to_stored(now))
        .order_by(col(SlaClockRow.next_at))
        .limit(limit)
    )


def query_once(db: Database, now: datetime, limit: int) -> tuple[float, int]:
    """The indexed query alone (rows loaded as the sweep loads them), in ms."""
    with Session(db.engine) as session:
        t0 = time.perf_counter()
        rows = session.exec(due_query(now, limit)).all()
        return (time.perf_counter() - t0) * 1000, len(rows)


def check(db: Database, data: Dataset, report: SweepReport) -> list[str]:
    """What is wrong after one sweep ([] when all is as it must be)."""
    problems = []
    expected = {
        "due": data.due,
        "claimed": data.due,
        "skipped": 0,
        "breaches": data.due,
        "actions": data.due,
        "warnings": 0,
    }
    for name, want in expected.items():
        got = getattr(report, name)
        if got != want:
            problems.append(f"report.{name} = {got}, expected {want}")
    with Session(db.engine) as s:
        outbox = s.exec(select(func.count()).select_from(OutboxRow)).one()
        subjects = set(s.exec(select(OutboxRow.subject).distinct()).all())
        still_due = s.exec(
            select(func.count())
            .select_from(SlaClockRow)
            .where(col(SlaClockRow.next_at) <= to_stored(data.now))
        ).one()
    if outbox != 2 * data.due:
        problems.append(f"{outbox} outbox rows, expected {2 * data.due} (breach + escalation each)")
    writers = {to_court(data.entrusted(j)[0], Kind.REQUEST) for j in range(data.due)}
    if not subjects <= writers:
        problems.append(f"outbox subjects {sorted(subjects - writers)} are not the writers'")
    if still_due:
        problems.append(f"{still_due} clocks still due after the sweep")
    return problems


def reset(db: Database, data: Dataset, due_clocks: list[tuple[Any, ...]]) -> None:
    """Put the due clocks back as loaded and empty the outbox (not timed)."""
    stmt = (
        update(SLA_CLOCK)
        .where(SLA_CLOCK.c.delegation_id == bindparam("d"), SLA_CLOCK.c.goal == DUE_GOAL.value)
        .values(next_at=bindparam("n"), warned=DUE_WARNED, breach_fired=False, version=DUE_WARNED)
    )
    with db.engine.begin() as conn:
        conn.execute(stmt, [{"d": r[0], "n": r[11]} for r in due_clocks])
        conn.execute(delete(OUTBOX))


class PlanCapture:
    """Runs EXPLAIN on the sweep's own SELECT (same text, same parameters) just before it."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine
        postgres = db.engine.dialect.name == "postgresql"
        self.prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
        self.sql = ""
        self.plan: list[str] = []

    def _hook(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if self.plan or "FROM sla_clock" not in statement or "next_at <=" not in statement:
            return
        cursor.execute(self.prefix + statement, params)
        rows = cursor.fetchall()
        self.sql = statement
        # SQLite: (id, parent, notused, detail); PostgreSQL: one line of text per row.
        self.plan = [str(r[-1]) for r in rows]

    def run(self, engine: SlaEngine, limit: int) -> None:
        event.listen(self.engine, "before_cursor_execute", self._hook)
        try:
            session = Session(self.engine)
            try:
                engine.sweep(session, limit)
            finally:
                session.rollback()
                session.close()
        finally:
            event.remove(self.engine, "before_cursor_execute", self._hook)


def stats(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values), 1),
        "min_ms": round(min(values), 1),
        "max_ms": round(max(values), 1),
    }


def db_size(db: Database, folder: Path | None) -> int:
    if folder is not None:
        return sum(p.stat().st_size for p in folder.iterdir())
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def server_version(db: Database) -> str:
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            return str(conn.execute(text("SHOW server_version")).scalar_one())
        return str(conn.execute(text("SELECT sqlite_version()")).scalar_one())


def bench(db: Database, data: Dataset, engine: SlaEngine, runs: int, folder: Path | None) -> dict:
    name = "postgres" if db.engine.dialect.name == "postgresql" else "sqlite"
    db.create_schema()
    log(f"[{name}] loading {data.clocks:,} future clocks + {data.due:,} due ...")
    result: dict[str, Any] = {"server": server_version(db)}
    result.update({k: round(v, 2) for k, v in load(db, data).items()})
    result["db_bytes"] = db_size(db, folder)
    log(f"[{name}] loaded in {result['insert_s']:.1f} s; {runs} sweeps of {data.due:,} ...")
    due_clocks = data.due_clocks()
    sweeps: list[float] = []
    cpu: list[float] = []
    queries: list[float] = []
    problems: list[str] = []
    for run in range(runs):
        ms, cpu_ms, report = sweep_once(db, engine, data.due)
        sweeps.append(ms)
        cpu.append(cpu_ms)
        problems += [f"run {run + 1}: {p}" for p in check(db, data, report)]
        reset(db, data, due_clocks)
        q_ms, found = query_once(db, data.now, data.due)
        queries.append(q_ms)
        if found != data.due:
            problems.append(f"run {run + 1}: the query found {found}, expected {data.due}")
        log(
            f"[{name}] run {run + 1}: sweep {ms:.1f} ms ({cpu_ms:.0f} ms CPU here), "
            f"query alone {q_ms:.1f} ms"
        )
    capture = PlanCapture(db)
    capture.run(engine, data.due)
    sweep = stats(sweeps)
    result.update(
        {
            "sweep": {
                **sweep,
                "runs_ms": [round(v, 1) for v in sweeps],
                "process_cpu_median_ms": round(statistics.median(cpu), 1),
            },
            "query": {**stats(queries), "runs_ms": [round(v, 1) for v in queries]},
            "claimed_per_sweep": data.due,
            "outbox_per_sweep": 2 * data.due,
            "query_sql": " ".join(capture.sql.split()),
            "plan": capture.plan,
            "uses_index": any("ix_sla_clock_next" in line for line in capture.plan),
            "ratio_to_requirement": round(sweep["median_ms"] / REQUIREMENT_MS, 3),
            "meets_requirement": sweep["max_ms"] < REQUIREMENT_MS,
            "problems": problems,
        }
    )
    if not result["uses_index"]:
        problems.append("the sweep's query does not use ix_sla_clock_next")
    return result


def run_sqlite(data: Dataset, engine: SlaEngine, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="jd-bench-") as tmp:
        folder = Path(tmp)
        db = Database(f"sqlite:///{folder / 'coordinator.db'}")
        try:
            return bench(db, data, engine, runs, folder)
        finally:
            db.close()


def postgres_problem(admin_url: str) -> str | None:
    try:
        with psycopg.connect(admin_url, connect_timeout=3):
            return None
    except psycopg.Error as exc:  # the reason is shown in the skip message
        lines = str(exc).strip().splitlines()
        return lines[0] if lines else type(exc).__name__


def run_postgres(data: Dataset, engine: SlaEngine, runs: int, admin_url: str) -> dict:
    name = f"jd_bench_{uuid.uuid4().hex[:12]}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    try:
        result = bench(db, data, engine, runs, None)
        result["database"] = name
        return result
    finally:
        db.close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


# --- the report -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.splitlines()
            if ln.startswith("model name")
        )
        meminfo = Path("/proc/meminfo").read_text().split()
        info["memory_gib"] = round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return info


def print_text(out: dict[str, Any]) -> None:
    p, m = out["parameters"], out["machine"]
    print(
        f"SLA sweep: {p['clocks']:,} future clocks + {p['due']:,} due, sweep limit {p['due']:,}, "
        f"{p['runs']} runs; requirement < {REQUIREMENT_MS:.0f} ms"
    )
    print(
        f"machine: {m.get('cpus')} CPUs ({m.get('cpu', '?')}), {m.get('memory_gib', '?')} GiB, "
        f"Python {m['python']}; load average {m['load_average']} before, "
        f"{out['load_average_after']} after"
    )
    for name, r in out["backends"].items():
        print()
        if "skipped" in r:
            print(f"[{name}] SKIPPED: {r['skipped']}")
            continue
        s, q = r["sweep"], r["query"]
        print(f"[{name}] server {r['server']}, database {r['db_bytes'] / 2**20:,.0f} MiB")
        line = f"  insert: {r['insert_s']:.1f} s (row generation {r['generate_s']:.1f} s)"
        if "vacuum_analyze_s" in r:
            line += f", then VACUUM (ANALYZE) {r['vacuum_analyze_s']:.1f} s"
        print(line)
        print(
            f"  sweep (find + claim + enqueue + commit): median {s['median_ms']} ms, "
            f"min {s['min_ms']} ms, max {s['max_ms']} ms  -> {r['ratio_to_requirement']:.3f} "
            f"of the 1 s requirement ({'met' if r['meets_requirement'] else 'NOT MET'})"
        )
        print(
            f"    runs: {', '.join(f'{v:.1f}' for v in s['runs_ms'])} ms; "
            f"CPU in this process: median {s['process_cpu_median_ms']} ms"
        )
        print(
            f"  query alone: median {q['median_ms']} ms, min {q['min_ms']} ms, max {q['max_ms']} ms"
        )
        print(
            f"  each sweep: {r['claimed_per_sweep']:,} clocks claimed, "
            f"{r['outbox_per_sweep']:,} outbox rows (checked)"
        )
        print(f"  query: {r['query_sql']}")
        print(f"  plan (uses ix_sla_clock_next: {'yes' if r['uses_index'] else 'NO'}):")
        for line in r["plan"]:
            print(f"    {line}")
        for problem in r["problems"]:
            print(f"  PROBLEM: {problem}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.sla_sweep", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--clocks", type=int, default=1_000_000, help="future clocks (1000000)")
    ap.add_argument("--due", type=int, default=1000, help="clocks due now = sweep limit (1000)")
    ap.add_argument("--runs", type=int, default=7, help="timed sweeps per backend (7)")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server ($JD_BENCH_PG)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if args.clocks < 0 or args.due < 1 or args.runs < 1:
        ap.error("--clocks must be >= 0, --due and --runs >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # The sweep logs every action at info level; render those lines (as in service) to nowhere.
    devnull = open(os.devnull, "w")  # noqa: SIM115  (kept open for the whole run)
    configure("info", json=True, stream=devnull)
    policy = load_policy()
    now = datetime.now(UTC).replace(microsecond=0)
    data = Dataset(
        now=now,
        clocks=args.clocks,
        due=args.due,
        seed=args.seed,
        goals=policy.goals_for("*", "*", "normal"),
        courts=courts(),
    )
    engine = SlaEngine(policy, official_calendar(), ManualClock(now))
    start = machine()
    backends: dict[str, Any] = {}
    for name in ("sqlite", "postgres"):
        if args.backend not in (name, "both"):
            continue
        if name == "sqlite":
            backends[name] = run_sqlite(data, engine, args.runs)
            continue
        problem = postgres_problem(args.pg_url)
        if problem is not None:
            message = f"PostgreSQL at {args.pg_url} unreachable ({problem}); skipped"
            log(f"[postgres] {message}")
            backends[name] = {"skipped": message}
            continue
        backends[name] = run_postgres(data, engine, args.runs, args.pg_url)
    out = {
        "benchmark": "sla_sweep",
        "requirement_ms": REQUIREMENT_MS,
        "now": now.isoformat(),
        "parameters": {"clocks": args.clocks, "due": args.due, "runs": args.runs},
        "machine": start,
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "backends": backends,
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print_text(out)
    return 1 if any(r.get("problems") for r in backends.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
