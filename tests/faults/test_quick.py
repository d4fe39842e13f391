"""The short fault set (CI): a node killed, nats-server restarted, poison messages, duplicates.

Runs the same code as ``python -m tests.faults.run --quick``; every row must pass with nothing lost
and nothing duplicated."""

from __future__ import annotations

import pytest

from tests.faults.run import quick_options, run_all
from tests.faults.scenarios import QUICK

pytestmark = [pytest.mark.faults, pytest.mark.timeout(420)]


def test_quick_fault_set_loses_and_duplicates_nothing() -> None:
    lines: list[str] = []
    options = quick_options()
    options.log = lines.append
    rows = run_all([s.name for s in QUICK], options)
    report = "\n".join(
        lines
        + [
            f"{r.scenario}: {r.result} sent {r.sent} completed {r.completed} lost {r.lost} "
            f"duplicated {r.duplicated} disagree {r.disagree} converge {r.converge_seconds} "
            f"{r.data_dir}\n    " + "\n    ".join(r.why + r.notes)
            for r in rows
        ]
    )
    assert [r.scenario for r in rows] == [s.name for s in QUICK]
    for r in rows:
        assert r.passed, report
        assert r.lost == 0 and r.duplicated == 0 and r.disagree == 0, report
        assert r.completed == r.sent == options.delegations, report
