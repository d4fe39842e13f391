"""A command centre's session through `jiaodong ops` and `jiaodong board` against the five-city
layout: Chinese names by default, English on request, JSON for programs, scopes as the
coordinator enforces them, ids that survive a narrow terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from rich.cells import cell_len

from jiaodong.devtools.layout import Layout, start_layout
from jiaodong.domain.calendar import SHANGHAI
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.security.certs import files_for
from jiaodong.security.grpc_auth import sync_channel
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import coordinator_service_pb2_grpc as cgrpc
from jiaodong.v1 import court_node_service_pb2 as node_pb
from jiaodong.v1 import court_node_service_pb2_grpc as node_grpc

pytestmark = pytest.mark.e2e

ID = re.compile(r"\b[0-9a-f]{32}\b")


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Layout]:
    started = start_layout(tmp_path_factory.mktemp("layout"), base_port=0, log_level="warning")
    try:
        yield started
    finally:
        started.stop()


def jiaodong(
    layout: Layout, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI as an operator's shell runs it: the layout's certificates, no language set."""
    base = {k: v for k, v in os.environ.items() if k not in ("JD_LANG", "COLUMNS")}
    return subprocess.run(
        [sys.executable, "-m", "jiaodong.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env={**base, "JD_TLS_DIR": str(layout.pki), **(env or {})},
    )


def ops(layout: Layout, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    assert layout.coordinator is not None
    return jiaodong(layout, "ops", *args, "--coordinator", layout.coordinator.address, **kw)


def ops_json(layout: Layout, *args: str) -> dict[str, Any]:
    run = ops(layout, *args, "--json")
    assert run.returncode == 0, run.stderr
    out: dict[str, Any] = json.loads(run.stdout)
    return out


def court_cli(layout: Layout, city: str, court: str, *args: str) -> dict[str, Any]:
    run = jiaodong(
        layout, "delegation", *args, "--node", layout.nodes[city].address, "--as-court", court,
        "--json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out: dict[str, Any] = json.loads(run.stdout)
    return out


def send(layout: Layout, case: str, to_city: str = "yantai", district: str = "芝罘区") -> str:
    """A delegation from Qingdao Shinan (370202) to ``to_city``, delivered there; its id."""
    created = court_cli(
        layout, "qingdao", "370202", "create", "--case-number", case, "--to-city", to_city,
        "--district", district, "--task", "on-site-inspection", "--asset", "real-estate",
        "--person", "赵六", "--resident-id", "34052419800101001X", "--actions", "现场勘验",
    )  # fmt: skip
    delegation_id: str = created["delegation"]["id"]
    until(lambda: coordinator_view(layout, delegation_id).get("status") == "STATUS_DELIVERED")
    return delegation_id


def coordinator_view(layout: Layout, delegation_id: str) -> dict[str, Any]:
    """The coordinator's copy, asked over gRPC (polling through the CLI would be slow)."""
    assert layout.coordinator is not None
    operator = files_for(layout.pki, Identity(Role.OPERATOR, REGION))
    with sync_channel(layout.coordinator.address, operator) as channel:
        reply = cgrpc.CoordinatorServiceStub(channel).GetDelegation(
            capi.CoordinatorGetDelegationRequest(id=delegation_id), timeout=10
        )
    return json_format.MessageToDict(reply.delegation, preserving_proto_field_name=True)


def node_view(layout: Layout, city: str, court: str, delegation_id: str) -> dict[str, Any]:
    """A court's copy at its node, asked over gRPC as that court's officer."""
    officer = files_for(layout.pki, Identity(Role.OFFICER, court))
    with sync_channel(layout.nodes[city].address, officer) as channel:
        reply = node_grpc.CourtNodeServiceStub(channel).GetDelegation(
            node_pb.GetDelegationRequest(id=delegation_id), timeout=10
        )
    return json_format.MessageToDict(reply.delegation, preserving_proto_field_name=True)


def until(check: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def to_yantai(layout: Layout) -> str:
    return send(layout, "(2026)鲁0202执301号")


def test_list_shows_court_and_status_names_in_chinese_and_english(
    layout: Layout, to_yantai: str
) -> None:
    zh = ops(layout, "list", "--to-city", "yantai")
    assert zh.returncode == 0, zh.stderr
    for expected in (
        to_yantai,
        "青岛市市南区人民法院",
        "烟台市芝罘区人民法院",
        "已送达",
        "现场勘验",
    ):
        assert expected in zh.stdout, (expected, zh.stdout)
    assert "DELIVERED" not in zh.stdout and "delivered" not in zh.stdout

    en = ops(layout, "list", "--to-city", "yantai", "--lang", "en")
    assert en.returncode == 0, en.stderr
    # Names wrap inside their column; each word is there.
    for expected in ("Shinan", "Zhifu", "delivered", "inspection", "acknowledge"):
        assert expected in en.stdout, (expected, en.stdout)
    assert "已送达" not in en.stdout and "青岛市" not in en.stdout
    shown_en = ops(layout, "show", to_yantai, "--lang", "en")
    assert "Shinan District People's Court (370202)" in shown_en.stdout, shown_en.stdout
    assert "time limits" in shown_en.stdout and "已送达" not in shown_en.stdout
    # The environment variable does the same as --lang.
    by_env = ops(layout, "list", "--to-city", "yantai", env={"JD_LANG": "en"})
    assert "delivered" in by_env.stdout and "已送达" not in by_env.stdout

    listed = ops_json(layout, "list", "--to-city", "yantai")
    assert to_yantai in {d["id"] for d in listed["delegations"]}
    assert int(listed["total"]) >= 1
    assert "赵六" not in json.dumps(listed, ensure_ascii=False)  # lists are masked

    shown = ops(layout, "show", to_yantai)
    assert shown.returncode == 0, shown.stderr
    for expected in (
        "委托编号",
        "已送达",
        "烟台市芝罘区人民法院 (370602)",
        "办理时限",
        "签收",
        "发起委托",
    ):
        assert expected in shown.stdout, (expected, shown.stdout)
    assert "赵*" in shown.stdout and "赵六" not in shown.stdout


def test_courts_from_the_coordinator(layout: Layout) -> None:
    zh = ops(layout, "courts", "--city", "weihai")
    assert zh.returncode == 0, zh.stderr
    assert "荣成市人民法院" in zh.stdout and "威海市" in zh.stdout
    assert "青岛市" not in zh.stdout
    courts = ops_json(layout, "courts")["courts"]
    assert {c["city"] for c in courts} == {"qingdao", "yantai", "weifang", "weihai", "rizhao"}
    bad = ops(layout, "courts", "--city", "atlantis")
    assert bad.returncode == 2 and "请求有误" in bad.stderr and "INVALID_ARGUMENT" in bad.stderr


def test_escalate_through_the_cli_reaches_the_entrusted_court(
    layout: Layout, to_yantai: str
) -> None:
    run = ops(
        layout, "escalate", to_yantai, "--text", "请于三日内签收并办理", "--request-id", "esc-1"
    )
    assert run.returncode == 0, run.stderr
    assert "已督办" in run.stdout and to_yantai in run.stdout
    assert "烟台市芝罘区人民法院 (370602)" in run.stdout

    def escalated_at_yantai() -> bool:
        d = node_view(layout, "yantai", "370602", to_yantai)
        return any(
            e["kind"] == "EVENT_KIND_ESCALATED" and e.get("text") == "请于三日内签收并办理"
            for e in d.get("history", [])
        )

    until(escalated_at_yantai)
    # The entrusted court's clerk reads it in Chinese.
    shown = jiaodong(
        layout, "delegation", "show", to_yantai, "--node", layout.nodes["yantai"].address,
        "--as-court", "370602",
    )  # fmt: skip
    assert "督办" in shown.stdout and "督辦" not in shown.stdout


def test_a_city_centre_may_not_escalate_outside_its_city_and_nothing_changes(
    layout: Layout, to_yantai: str
) -> None:
    before = coordinator_view(layout, to_yantai)
    run = ops(
        layout, "escalate", to_yantai, "--text", "越权督办", "--request-id", "esc-weihai",
        "--as", "operator:weihai",
    )  # fmt: skip
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "威海市执行指挥中心" in run.stderr and "无权" in run.stderr, run.stderr
    assert "涉及威海市" in run.stderr and "未作任何更改" in run.stderr
    assert "PERMISSION_DENIED" in run.stderr
    time.sleep(1.0)
    after = coordinator_view(layout, to_yantai)
    assert after["seq"] == before["seq"]
    assert "esc-weihai" not in json.dumps(after)
    # Its own city's centre may: Yantai is the entrusted city.
    own = ops(layout, "list", "--as", "operator:yantai", "--json")
    assert to_yantai in own.stdout
    weihai = ops_json(layout, "list", "--as", "operator:weihai")
    assert to_yantai not in {d["id"] for d in weihai.get("delegations", [])}


def test_errors_an_operator_reads_are_in_chinese(layout: Layout) -> None:
    missing = ops(layout, "show", "0" * 32)
    assert missing.returncode == 2
    assert "协调中心找不到委托事项 " + "0" * 32 in missing.stderr, missing.stderr
    refused = jiaodong(layout, "ops", "list", "--coordinator", "127.0.0.1:1", "--timeout", "2")
    assert refused.returncode == 3
    assert "无法连接协调中心（127.0.0.1:1）" in refused.stderr, refused.stderr
    assert "jiaodong up" in refused.stderr
    english = jiaodong(
        layout, "ops", "list", "--coordinator", "127.0.0.1:1", "--timeout", "2", "--lang", "en"
    )
    assert "cannot reach the coordinator at 127.0.0.1:1" in english.stderr, english.stderr


def test_ids_are_whole_on_one_line_at_80_columns(layout: Layout, to_yantai: str) -> None:
    assert layout.coordinator is not None
    narrow = {"COLUMNS": "80"}
    for run in (
        ops(layout, "list", "--to-city", "yantai", env=narrow),
        ops(layout, "show", to_yantai, env=narrow),
        jiaodong(
            layout,
            "delegation",
            "list",
            "--node",
            layout.nodes["qingdao"].address,
            "--as-court",
            "370202",
            env=narrow,
        ),
        jiaodong(
            layout,
            "board",
            "--once",
            "--coordinator",
            layout.coordinator.address,
            env=narrow,
        ),
    ):
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert max(cell_len(line) for line in lines) <= 80  # a Chinese glyph takes two cells
        assert any(to_yantai in line for line in lines), run.stdout


def test_board_counts_per_city_and_follows_the_stream(layout: Layout, to_yantai: str) -> None:
    assert layout.coordinator is not None
    address = layout.coordinator.address
    snapshot = jiaodong(layout, "board", "--once", "--json", "--coordinator", address)
    assert snapshot.returncode == 0, snapshot.stderr
    figures = json.loads(snapshot.stdout)
    assert set(figures["cities"]) == {"qingdao", "yantai", "weifang", "weihai", "rizhao"}
    assert figures["cities"]["yantai"]["open_in"] >= 1
    assert figures["cities"]["qingdao"]["open_out"] >= 1
    assert to_yantai in {r["id"] for r in figures["at_risk"]}

    text = jiaodong(layout, "board", "--once", "--coordinator", address)
    assert text.returncode == 0, text.stderr
    for expected in ("青岛市", "烟台市", "收到未结", "发出未结", "已超期", "风险队列", "签收"):
        assert expected in text.stdout, (expected, text.stdout)

    # Live: one JSON line per redraw; a delegation sent to Rizhao shows up from the stream.
    env = {k: v for k, v in os.environ.items() if k != "JD_LANG"}
    env["JD_TLS_DIR"] = str(layout.pki)
    live = subprocess.Popen(
        [sys.executable, "-m", "jiaodong.cli.main", "board", "--json", "--refresh", "0.5",
         "--coordinator", address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert live.stdout is not None
        first = json.loads(live.stdout.readline())
        before = first["cities"]["rizhao"]["open_in"]
        sent = send(layout, "(2026)鲁0202执302号", "rizhao", "东港区")
        deadline = time.monotonic() + 30
        while True:
            line = json.loads(live.stdout.readline())
            if line["cities"]["rizhao"]["open_in"] > before:
                break
            assert time.monotonic() < deadline, (sent, line)
    finally:
        live.terminate()
        live.wait(timeout=10)


def test_urge_and_annotate_through_the_cli(layout: Layout) -> None:
    delegation_id = send(layout, "(2026)鲁0202执303号")
    urged = ops(layout, "urge", delegation_id, "--text", "请尽快签收", "--request-id", "urge-ops-1")
    assert urged.returncode == 0, urged.stderr
    assert "已催办" in urged.stdout and "烟台市芝罘区人民法院 (370602)" in urged.stdout

    def urged_at_yantai() -> bool:
        d = node_view(layout, "yantai", "370602", delegation_id)
        return any(
            e["kind"] == "EVENT_KIND_URGED" and e.get("text") == "请尽快签收"
            for e in d.get("history", [])
        )

    until(urged_at_yantai)

    noted = ops(layout, "annotate", delegation_id, "--text", "已电话联系受托法院")
    assert noted.returncode == 0, noted.stderr
    assert "已添加备注" in noted.stdout and "operator:region" in noted.stdout
    shown = ops(layout, "show", delegation_id)
    assert "指挥中心备注" in shown.stdout and "已电话联系受托法院" in shown.stdout
    notes = ops_json(layout, "show", delegation_id)["notes"]
    assert [n["text"] for n in notes] == ["已电话联系受托法院"]
    # Notes are the command centres' own record: the courts' history does not carry them.
    held = node_view(layout, "yantai", "370602", delegation_id)
    assert "已电话联系受托法院" not in json.dumps(held, ensure_ascii=False)

    refused = ops(layout, "annotate", delegation_id, "--text", "越权", "--as", "operator:weihai")
    assert refused.returncode == 2 and "威海市执行指挥中心" in refused.stderr, refused.stderr
    assert len(ops_json(layout, "show", delegation_id)["notes"]) == 1


def test_list_in_due_order_shows_the_next_due_time(layout: Layout, to_yantai: str) -> None:
    listed = ops_json(layout, "list", "--order", "due", "--to-city", "yantai")
    entries = {e["delegation_id"]: e for e in listed["entries"]}
    assert entries[to_yantai]["goal"]
    text = ops(layout, "list", "--order", "due", "--to-city", "yantai")
    assert text.returncode == 0, text.stderr
    assert "剩" in text.stdout or "超期" in text.stdout, text.stdout
    found = ops_json(layout, "list", "--case-number", "执301号")
    assert [d["id"] for d in found["delegations"]] == [to_yantai]


def test_parked_messages_through_the_cli(layout: Layout) -> None:
    listed = ops(layout, "parked", "list")
    assert listed.returncode == 0, listed.stderr
    assert "没有搁置的消息" in listed.stdout or "原因" in listed.stdout
    assert isinstance(ops_json(layout, "parked", "list").get("parked", []), list)
    missing = ops(layout, "parked", "show", "999999")
    assert missing.returncode == 2
    assert "找不到搁置消息 999999" in missing.stderr, missing.stderr
    retry = ops(layout, "parked", "retry", "999999", "--reason", "再试一次")
    assert retry.returncode == 2 and "NOT_FOUND" in retry.stderr
    discard = ops(layout, "parked", "discard", "999999", "--reason", "x", "--as", "auditor:region")
    assert discard.returncode == 2 and "PERMISSION_DENIED" in discard.stderr


def test_a_nodes_parked_messages_through_the_cli(layout: Layout) -> None:
    # Asked of the Yantai node through the coordinator, over the secured broker.
    listed = ops(layout, "parked", "list", "--city", "yantai")
    assert listed.returncode == 0, listed.stderr
    assert "烟台市节点" in listed.stdout, listed.stdout
    assert ops_json(layout, "parked", "list", "--city", "yantai").get("parked", []) == []
    missing = ops(layout, "parked", "show", "999999", "--city", "yantai")
    assert missing.returncode == 2 and "NOT_FOUND" in missing.stderr, missing.stderr
    # A city's centre asks its own node only; the auditor never acts.
    other = ops(layout, "parked", "list", "--city", "yantai", "--as", "operator:qingdao")
    assert other.returncode == 2 and "PERMISSION_DENIED" in other.stderr, other.stderr
    own = ops(layout, "parked", "list", "--city", "qingdao", "--as", "operator:qingdao")
    assert own.returncode == 0, own.stderr
    retry = ops(
        layout,
        "parked",
        "retry",
        "1",
        "--reason",
        "x",
        "--city",
        "yantai",
        "--as",
        "auditor:region",
    )
    assert retry.returncode == 2 and "PERMISSION_DENIED" in retry.stderr
    unknown = ops(layout, "parked", "list", "--city", "atlantis")
    assert unknown.returncode == 2 and "city" in unknown.stderr
    no_reason = ops(layout, "parked", "discard", "1", "--reason", "", "--city", "yantai")
    assert no_reason.returncode == 2 and "reason" in no_reason.stderr


def test_board_uses_the_coordinators_figures(layout: Layout, to_yantai: str) -> None:
    assert layout.coordinator is not None
    address = layout.coordinator.address
    snapshot = jiaodong(layout, "board", "--once", "--json", "--coordinator", address)
    assert snapshot.returncode == 0, snapshot.stderr
    figures = json.loads(snapshot.stdout)
    assert figures["source"] == "coordinator"
    assert figures["cities"]["yantai"]["open_in"] >= 1
    assert {n["city"] for n in figures["board"]["nodes"]} >= {"qingdao", "yantai"}
    text = jiaodong(layout, "board", "--once", "--coordinator", address)
    for expected in ("按期率", "节点状态", "在线", "搁置消息"):
        assert expected in text.stdout, (expected, text.stdout)
    weihai = jiaodong(
        layout, "board", "--once", "--json", "--coordinator", address, "--as", "operator:weihai"
    )
    assert weihai.returncode == 0, weihai.stderr
    assert to_yantai not in weihai.stdout


def report(layout: Layout, *args: str) -> subprocess.CompletedProcess[str]:
    assert layout.coordinator is not None
    today = datetime.now(SHANGHAI).date().isoformat()
    return jiaodong(
        layout, "report", "sla", "--from", today, "--to", today, *args,
        "--coordinator", layout.coordinator.address,
    )  # fmt: skip


def test_the_sla_report_through_the_cli_in_every_format(
    layout: Layout, to_yantai: str, tmp_path: Path
) -> None:
    shown = report(layout)
    assert shown.returncode == 0, shown.stderr
    assert "青岛市" in shown.stdout and "烟台市" in shown.stdout and "按时率" in shown.stdout
    for suffix in ("html", "csv", "xlsx", "json"):
        written = report(layout, "--out", str(tmp_path / f"报表.{suffix}"))
        assert written.returncode == 0, written.stderr
        assert "已写入" in written.stdout
    data = json.loads((tmp_path / "报表.json").read_text(encoding="utf-8"))
    assert data["schema_version"] == 1
    pairs = {(p["requesting_city"], p["entrusted_city"]): p for p in data["pairs"]}
    assert pairs["qingdao", "yantai"]["sent"] >= 1
    assert (tmp_path / "报表.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert "<svg" in (tmp_path / "报表.html").read_text(encoding="utf-8")


def test_the_sla_report_is_scoped_like_the_board_and_bad_input_is_refused(
    layout: Layout, to_yantai: str
) -> None:
    weihai = report(layout, "--as", "operator:weihai", "--json")
    assert weihai.returncode == 0, weihai.stderr
    figures = json.loads(weihai.stdout)
    assert figures["scope"]["city"] == "weihai"
    assert all("weihai" in (p["requesting_city"], p["entrusted_city"]) for p in figures["pairs"])
    other = report(layout, "--as", "operator:weihai", "--city", "yantai")
    assert other.returncode != 0 and "yantai" in other.stderr
    backwards = jiaodong(
        layout, "report", "sla", "--from", "2026-03-02", "--to", "2026-03-01",
        "--coordinator", layout.coordinator.address if layout.coordinator else "",
    )  # fmt: skip
    assert backwards.returncode != 0 and "早于" in backwards.stderr
    not_a_date = report(layout, "--out", "x.pdf")
    assert not_a_date.returncode != 0
