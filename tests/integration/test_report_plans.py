"""SQLite's plans for the report's queries (docs/benchmarks.md, "SLA report"): the sums stream in
the table's order and the day histograms read their covering indexes, never a sort of every fact.
Before this was pinned SQLite picked the sent-day index for the sums and sorted all it found: 12 s
for 1,000,000 facts where the pass in order takes under one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bench.report import facts_for
from jiaodong.domain.report import Period
from jiaodong.store import report as facts
from jiaodong.store.database import Database, sqlite_url

SCOPE = facts.Scope(Period(date(2026, 1, 1), date(2026, 12, 31)), datetime(2027, 1, 10, tzinfo=UTC))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    database = Database(sqlite_url(Path(tmp_path_factory.mktemp("plans")) / "coordinator.db"))
    database.create_schema()
    database.transaction(lambda s: facts.insert_facts(s, facts_for(3000, 1)))
    with database.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")  # planner statistics, as after a backfill
    try:
        yield database
    finally:
        database.close()


def plans(db: Database, query: Any) -> list[str]:
    """The plan lines of every statement ``query`` runs."""
    seen: list[str] = []

    def explain(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
        seen.extend(row[3] for row in rows)

    event.listen(db.engine, "before_cursor_execute", explain)
    try:
        db.transaction(query)
    finally:
        event.remove(db.engine, "before_cursor_execute", explain)
    return seen


def test_the_sums_stream_in_the_tables_order(db: Database) -> None:
    assert plans(db, lambda s: facts.cube(s, SCOPE)) == ["SCAN report_fact"]


@pytest.mark.parametrize("column", ["acknowledge_days", "complete_days"])
def test_the_histograms_read_their_covering_index_in_order(db: Database, column: str) -> None:
    index = f"ix_report_fact_{column.removesuffix('_days')}"
    assert plans(db, lambda s: facts.day_histograms(s, SCOPE, column)) == [
        f"SCAN report_fact USING COVERING INDEX {index}"
    ]


def test_the_other_queries_read_indexes_only(db: Database) -> None:
    for query in (facts.weekly, facts.late_weeks, facts.aging, facts.overdue):
        lines = plans(db, lambda s, q=query: q(s, SCOPE))  # type: ignore[misc]
        reads = [line for line in lines if line.startswith(("SCAN", "SEARCH"))]
        assert reads and all("INDEX" in line for line in reads), (query.__name__, lines)
        assert not any(line == "SCAN report_fact" for line in lines), query.__name__
