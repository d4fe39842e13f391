"""Fixtures of the fuzz suite: one live region per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.live import Live, postgres_database
from tests.fuzz.strategies import TALLY


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fuzz: hostile-input fuzzing (JD_FUZZ_EXAMPLES, JD_FUZZ_SERVER_EXAMPLES)"
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Coordinator and the Qingdao, Yantai and Weifang nodes over a real nats-server, started
    once for the module on a background loop, with three delegations delivered to aim at. The
    nodes run on SQLite, the coordinator on PostgreSQL when it is reachable (always in CI)."""
    url, drop = postgres_database(optional=True)
    region = Live.start(tmp_path_factory.mktemp("fuzz-region"), database_url=url)
    try:
        yield region
    finally:
        region.stop()
        drop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What the fuzz sent and how it ended, per kind of input."""
    if not TALLY:
        return
    terminalreporter.section("fuzz: hostile inputs and their outcomes")
    for what in sorted({w for w, _ in TALLY}):
        counts = {o: n for (w, o), n in TALLY.items() if w == what}
        parts = ", ".join(f"{o} {n}" for o, n in sorted(counts.items(), key=lambda x: -x[1]))
        terminalreporter.write_line(f"{what}: {sum(counts.values())} ({parts})")
