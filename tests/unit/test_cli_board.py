"""The terminal board's figures from a hand-built set of delegations and clocks (no network)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console

from jiaodong.cli import board, lang
from jiaodong.files.calendar import load_calendar
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import delegation_pb2 as d_pb


@pytest.fixture
def chinese() -> Any:
    before = lang.current()
    lang.use("zh")
    yield
    lang.use(before)


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
        snap = board.snapshot_from_state(_state(), NOW, 15)
        console.print(board.render_board(snap, "operator", 15))
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
    out = json.loads(board.figures_json(board.snapshot_from_state(_state(), NOW, 2), 2))
    assert out["source"] == "computed"
    assert out["cities"]["yantai"] == {
        "open_in": 2,
        "open_out": 1,
        "due_soon": 1,
        "breached": 1,
        "on_time_rate": None,
    }
    assert [r["id"] for r in out["at_risk"]] == [f"{2:032x}", f"{4:032x}"]
    assert [r["level"] for r in out["at_risk"]] == ["breached", "50"]
    assert out["at_risk"][0]["status"] == "STATUS_DELIVERED"


def _coordinator_snapshot() -> board.Snapshot:
    """What GetBoard and a due-ordered list would give (hand-built replies)."""
    reply = capi.GetBoardResponse(city="", window_days=30, parked=2, notices=["2027 未覆盖"])
    reply.at.FromDatetime(NOW)
    reply.cities.add(
        city="yantai", inbound_open=7, outbound_open=1, due_soon=2, breached=1, decided=4,
        met_on_time=3, on_time_rate=0.75,
    )  # fmt: skip
    reply.cities.add(city="weihai", inbound_open=1)
    reply.pairs.add(from_city="qingdao", to_city="yantai", open=7, breached=1)
    reply.aging.add(over_days=5, up_to_days=10, count=3)
    node = reply.nodes.add(node="node-weihai", city="weihai", offline=True, unpublished=4, parked=3)
    node.offline_since.FromDatetime(NOW - timedelta(minutes=10))
    reply.nodes.add(node="node-yantai", city="yantai").last_seen_at.FromDatetime(NOW)
    d = d_pb.Delegation(id="a" * 32, requesting_court="370202", entrusted_court="370602")
    d.status = d_pb.STATUS_ACKNOWLEDGED
    per_city = {c: board.CityFigures() for c in lang.cities()}
    per_city["yantai"] = board.CityFigures(7, 1, 2, 1, 0.75)
    per_city["weihai"] = board.CityFigures(1, 0, 0, 0, None)
    row = board.QueueRow(d, "acknowledge", NOW - timedelta(hours=3), "超期 3 小时", "breached")
    return board.Snapshot(NOW, per_city, [row], reply)


@pytest.mark.usefixtures("chinese")
def test_board_from_the_coordinator_shows_rates_nodes_pairs_and_parked() -> None:
    console = Console(width=120, file=io.StringIO(), record=True)
    console.print(board.render_board(_coordinator_snapshot(), "胶东区域执行指挥中心", 15))
    text = console.export_text()
    for expected in (
        "按期率（30天）",
        "75%",
        "威海市 (node-weihai)",
        "离线（自 2026-11-30 13:50:00）",
        "青岛市→烟台市 7（超期 1）",
        "超过5天 3",
        "搁置消息：2（查看：jiaodong ops parked list）",
        "│ 3 ",
        "威海市节点搁置 3 条：jiaodong ops parked list --city weihai",
        "提示：2027 未覆盖",
        "a" * 32,
        "已受理",
        "超期 3 小时",
    ):
        assert expected in text, (expected, text)
    out = json.loads(board.figures_json(_coordinator_snapshot(), 15))
    assert out["source"] == "coordinator" and out["board"]["parked"] == "2"
    assert out["cities"]["yantai"]["on_time_rate"] == 0.75


def test_every_coordinator_rpc_has_a_command() -> None:
    """Issue 12: every CoordinatorService RPC ends in a `jiaodong` command (a new RPC without
    one fails here)."""
    from pathlib import Path

    import jiaodong.cli

    source = "".join(p.read_text() for p in Path(jiaodong.cli.__file__).parent.glob("*.py"))
    service = capi.DESCRIPTOR.services_by_name["CoordinatorService"]
    missing = [
        m.name
        for m in service.methods
        if f'"{m.name}"' not in source and f".{m.name}(" not in source
    ]
    assert missing == []


def test_the_calendar_of_operations_names_courts_in_chinese_and_shows_officers_masked() -> None:
    reply = capi.GetBoardResponse(
        operations=[
            capi.Operation(
                delegation_id="d1",
                city="yantai",
                day="2021-10-11",
                window="09:00-12:00",
                local_court="370602",
                requesting_court="370202",
                measure=d_pb.MEASURE_EVICTION,
                status=d_pb.STATUS_AGREED,
                officers=["王** ***********17"],
                support=[
                    d_pb.SupportItem(
                        kind=d_pb.SUPPORT_KIND_COURT_POLICE, state=d_pb.SUPPORT_STATE_CONFIRMED
                    ),
                    d_pb.SupportItem(
                        kind=d_pb.SUPPORT_KIND_LOCKSMITH, state=d_pb.SUPPORT_STATE_ASKED
                    ),
                ],
                reminder_today=True,
            )
        ]
    )
    lang.use("zh")
    out = io.StringIO()
    Console(file=out, width=200).print(board.operations_table(reply))
    text = out.getvalue()
    for shown in (
        "异地执行协助行动日历",
        "2021-10-11 已提醒",
        "烟台市芝罘区人民法院",
        "市南区",
        "强制迁出",
        "方案已确定",
        "王** ***********17",
        "司法警察（已落实）",
        "开锁（待落实）",
    ):
        assert shown in text, shown
    empty = io.StringIO()
    Console(file=empty, width=200).print(board.operations_table(capi.GetBoardResponse()))
    assert "无" in empty.getvalue()
