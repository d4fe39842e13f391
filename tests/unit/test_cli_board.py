"""The terminal board's figures from a hand-built set of delegations and clocks (no network)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from rich.cells import cell_len
from rich.console import Console

from jiaodong.cli import board, lang
from jiaodong.files.calendar import load_calendar
from jiaodong.v1 import delegation_pb2 as d_pb

# Monday 30 November 2026, 14:00 in Shandong.
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def _state() -> board.BoardState:
    state = board.BoardState(load_calendar(None))

    def add(
        n: int,
        requesting: str,
        entrusted: str,
        due_hours: float,
        started_hours: float = -48,
        clock: d_pb.SlaState.ValueType = d_pb.SLA_STATE_RUNNING,
        status: d_pb.Status.ValueType = d_pb.STATUS_DELIVERED,
    ) -> None:
        d = d_pb.Delegation(
            id=f"{n:032x}",
            requesting_court=requesting,
            entrusted_court=entrusted,
            status=status,
            seq=3,
        )
        state.apply(d)
        goal = d_pb.SlaGoal(goal="acknowledge", state=clock)
        goal.due_at.FromDatetime(NOW + timedelta(hours=due_hours))
        goal.started_at.FromDatetime(NOW + timedelta(hours=started_hours))
        state.goals[d.id] = [goal]

    add(1, "370202", "370602", due_hours=30)  # Qingdao -> Yantai, due tomorrow
    add(2, "370202", "370602", due_hours=-5, clock=d_pb.SLA_STATE_BREACHED)  # breached
    add(3, "370602", "371082", due_hours=24 * 20)  # Yantai -> Weihai, far off
    add(4, "371082", "370202", due_hours=10, started_hours=-10)  # Weihai -> Qingdao, half used
    add(5, "370202", "371102", due_hours=1, status=d_pb.STATUS_CONFIRMED)  # closed: not counted
    return state


def test_figures_per_city_count_open_work_where_it_must_be_done() -> None:
    per_city, risks = _state().figures(NOW)
    assert list(per_city) == ["qingdao", "yantai", "weifang", "weihai", "rizhao"]
    figures = {
        city: (f.open_in, f.open_out, f.due_soon, f.breached) for city, f in per_city.items()
    }
    assert figures == {
        "qingdao": (1, 2, 1, 0),
        "yantai": (2, 1, 1, 1),
        "weifang": (0, 0, 0, 0),
        "weihai": (1, 1, 0, 0),
        "rizhao": (0, 0, 0, 0),
    }
    # Breached first, then by due time; the closed one is not on the board.
    assert [int(r.delegation.id, 16) for r in risks] == [2, 4, 1, 3]
    assert [round(r.used, 2) for r in risks[1:3]] == [0.5, 0.62]


def test_a_newer_copy_from_the_stream_wins_and_a_closed_one_leaves() -> None:
    state = _state()
    older = d_pb.Delegation(id=f"{1:032x}", status=d_pb.STATUS_ROUTED, seq=1)
    state.apply(older)
    assert state.delegations[older.id].status == d_pb.STATUS_DELIVERED
    closed = d_pb.Delegation(
        id=f"{1:032x}", requesting_court="370202", entrusted_court="370602", seq=9
    )
    closed.status = d_pb.STATUS_CANCELLED
    state.apply(closed)
    per_city, _ = state.figures(NOW)
    assert per_city["yantai"].open_in == 1 and older.id not in state.goals


@pytest.mark.parametrize("language", ["zh", "en"])
def test_board_fits_80_columns_with_whole_ids(language: str) -> None:
    before = lang.current()
    lang.use(language)
    try:
        console = Console(width=80, file=io.StringIO(), record=True)
        console.print(board.render_board(_state(), NOW, "operator", 15))
        text = console.export_text()
    finally:
        lang.use(before)
    assert all(cell_len(line) <= 80 for line in text.splitlines())
    for n in (1, 2, 3, 4):
        assert any(f"{n:032x}" in line for line in text.splitlines())
    words = ("烟台市", "收到未结", "已超期", "风险队列", "签收", "超期 5小时")
    if language == "en":
        words = ("Yantai", "open in", "breached", "at-risk queue", "acknowle", "5 h over")
    for word in words:
        assert word in text, (word, text)


def test_json_figures() -> None:
    out = json.loads(board.figures_json(_state(), NOW, 2))
    assert out["cities"]["yantai"] == {"open_in": 2, "open_out": 1, "due_soon": 1, "breached": 1}
    assert [r["id"] for r in out["at_risk"]] == [f"{2:032x}", f"{4:032x}"]
    assert (
        out["at_risk"][0]["breached"] is True and out["at_risk"][0]["status"] == "STATUS_DELIVERED"
    )
