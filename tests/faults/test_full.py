"""Every fault row, in CI (`make test`): the same code as `make faults`, one pytest test per row,
with CI's settings (`ci_options`: fewer delegations, a shorter overload); each row must pass
with nothing lost, nothing duplicated, every delegation confirmed everywhere and every
consumer's lag drained to zero at the end."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import reap
from tests.faults.run import ci_options, run_all
from tests.faults.scenarios import SCENARIOS, Scenario

pytestmark = [pytest.mark.faults]


@pytest.fixture(scope="module", autouse=True)
def end_layouts_on_sigterm() -> Iterator[None]:
    """A CI job cancelled by SIGTERM ends the layout of the row that was running (pytest would
    just die; Ctrl-C already unwinds through the row's own cleanup)."""

    def on_signal(signum: int, _frame: object) -> None:
        reap()
        os._exit(128 + signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@pytest.mark.parametrize(
    "scenario",
    [pytest.param(s, id=s.name, marks=pytest.mark.timeout(900)) for s in SCENARIOS],
)
def test_fault_row(scenario: Scenario) -> None:
    lines: list[str] = []
    options = ci_options()
    options.log = lines.append
    [row] = run_all([scenario.name], options)
    if out := os.environ.get("JD_FAULTS_JSON_DIR"):  # keep the figures for docs/faults.md
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"{row.scenario}.json").write_text(json.dumps(row.as_dict(), indent=2))
    report = "\n".join(
        [
            *lines,
            f"{row.scenario}: {row.result} sent {row.sent} completed {row.completed} "
            f"lost {row.lost} duplicated {row.duplicated} disagree {row.disagree} "
            f"converge {row.converge_seconds} max lag {row.max_lag} ({row.max_lag_where}) "
            f"max outbox age {row.max_outbox_age} ({row.max_outbox_where}) "
            f"end lag {row.final_lag} {row.data_dir}",
            *row.why,
            *row.notes,
        ]
    )
    assert row.passed, report
    assert row.lost == 0 and row.duplicated == 0 and row.disagree == 0, report
    assert row.sent > 0 and row.completed == row.sent, report
    assert row.final_lag == 0, report
