"""A clerk's session through the `jiaodong delegation` command against the five-city layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from jiaodong.devtools.layout import Layout, start_layout
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.security.certs import files_for
from jiaodong.security.grpc_auth import sync_channel
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import coordinator_service_pb2_grpc as cgrpc

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Layout]:
    started = start_layout(tmp_path_factory.mktemp("layout"), base_port=0, log_level="warning")
    try:
        yield started
    finally:
        started.stop()


def jiaodong(pki: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the layout's certificates (JD_TLS_DIR), as a user's shell would."""
    return subprocess.run(
        [sys.executable, "-m", "jiaodong.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "JD_TLS_DIR": str(pki)},
    )


def cli(layout: Layout, city: str, court: str, *args: str) -> subprocess.CompletedProcess[str]:
    return jiaodong(
        layout.pki,
        "delegation",
        *args,
        "--node",
        layout.nodes[city].address,
        "--as-court",
        court,
    )


def cli_json(layout: Layout, city: str, court: str, *args: str) -> dict:  # type: ignore[type-arg]
    run = cli(layout, city, court, *args, "--json")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def wait_status(layout: Layout, city: str, court: str, delegation_id: str, status: str) -> dict:  # type: ignore[type-arg]
    import time

    deadline = time.monotonic() + 20
    while True:
        run = cli(layout, city, court, "show", delegation_id, "--json")
        if run.returncode == 0:
            d = json.loads(run.stdout)["delegation"]
            if d.get("status") == status:
                return d  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, (
            f"{delegation_id} never reached {status}: {run.stdout or run.stderr}"
        )
        time.sleep(0.2)


def test_clerks_carry_a_delegation_from_qingdao_to_weihai(layout: Layout, tmp_path: Path) -> None:
    receipt = tmp_path / "seizure-order.pdf"
    receipt.write_bytes(b"%PDF-1.4 fictitious order")
    created = cli_json(
        layout,
        "qingdao",
        "370202",
        "create",
        "--request-id",
        "e2e-cli-1",
        "--case-number",
        "（2026）魯0202執77號",
        "--to-city",
        "weihai",
        "--district",
        "荣成市",
        "--task",
        "seizure",
        "--asset",
        "vehicle",
        "--plate",
        "鲁K12345",
        "--person",
        "李四",
        "--resident-id",
        "34052419800101001X",
        "--actions",
        "扣押车辆",
        "--document",
        str(receipt),
    )
    d = created["delegation"]
    assert d["case_number"] == "(2026)鲁0202执77号"
    assert d["documents"][0]["size_bytes"] == str(receipt.stat().st_size)
    again = cli_json(
        layout,
        "qingdao",
        "370202",
        "create",
        "--request-id",
        "e2e-cli-1",
        "--case-number",
        "（2026）魯0202執77號",
        "--to-city",
        "weihai",
        "--district",
        "荣成市",
        "--task",
        "seizure",
        "--asset",
        "vehicle",
        "--plate",
        "鲁K12345",
        "--person",
        "李四",
        "--resident-id",
        "34052419800101001X",
        "--actions",
        "扣押车辆",
        "--document",
        str(receipt),
    )
    assert again["delegation"]["id"] == d["id"] and not again.get("created", False)

    wait_status(layout, "weihai", "371082", d["id"], "STATUS_DELIVERED")
    # The receipt's content travelled too: the entrusted court saves it, SHA-256 checked.
    sha = d["documents"][0]["sha256"]
    saved = receipt.with_name("at-weihai.pdf")
    import time

    deadline = time.monotonic() + 20
    while True:
        fetched = cli(layout, "weihai", "371082", "document", d["id"], sha, "--out", str(saved))
        if fetched.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert fetched.returncode == 0, fetched.stderr
    assert saved.read_bytes() == receipt.read_bytes()
    for step in (
        ["acknowledge", d["id"]],
        ["accept", d["id"]],
        ["progress", d["id"], "--text", "已查明车辆停放地点"],
        ["complete", d["id"], "--result", "done", "--text", "车辆已扣押"],
    ):
        run = cli(layout, "weihai", "371082", *step)
        assert run.returncode == 0, run.stderr
    wait_status(layout, "qingdao", "370202", d["id"], "STATUS_COMPLETED")
    assert cli(layout, "qingdao", "370202", "confirm", d["id"]).returncode == 0
    final = wait_status(layout, "qingdao", "370202", d["id"], "STATUS_CONFIRMED")

    shown = cli(layout, "qingdao", "370202", "show", d["id"])
    assert shown.returncode == 0 and "李*" in shown.stdout and "李四" not in shown.stdout
    assert "34052419800101001X" not in shown.stdout

    assert layout.coordinator is not None
    operator = files_for(layout.pki, Identity(Role.OPERATOR, REGION))
    with sync_channel(layout.coordinator.address, operator) as channel:
        coord = (
            cgrpc.CoordinatorServiceStub(channel)
            .GetDelegation(capi.CoordinatorGetDelegationRequest(id=d["id"]))
            .delegation
        )
    entrusted = wait_status(layout, "weihai", "371082", d["id"], "STATUS_CONFIRMED")
    hashes = [e["hash"] for e in final["history"]]
    assert hashes == [e["hash"] for e in entrusted["history"]] == [e.hash for e in coord.history]
    assert len(hashes) == 8


def test_cli_reports_bad_input_clearly_and_writes_nothing(layout: Layout) -> None:
    run = cli(
        layout,
        "qingdao",
        "370203",
        "create",
        "--case-number",
        "2026-77",
        "--to-city",
        "qingdao",
        "--task",
        "seizure",
        "--asset",
        "vehicle",
        "--person",
        "王五",
        "--resident-id",
        "340524198001010010",
        "--actions",
        "x",
    )
    assert run.returncode == 2
    assert "INVALID_ARGUMENT" in run.stderr
    assert "case_number" in run.stderr and "resident_id" in run.stderr and "target" in run.stderr
    listed = cli_json(layout, "qingdao", "370203", "list")
    assert listed.get("delegations", []) == []


def test_cli_says_when_the_node_is_unreachable(layout: Layout) -> None:
    run = jiaodong(
        layout.pki,
        "delegation",
        "list",
        "--node",
        "127.0.0.1:1",
        "--as-court",
        "370202",
        "--timeout",
        "1",
    )
    assert run.returncode == 3
    assert "UNAVAILABLE" in run.stderr or "DEADLINE" in run.stderr


def test_every_service_of_up_serves_metrics_and_probes_on_its_own_port(layout: Layout) -> None:
    """`up` gives each service a metrics port (shown in its layout table): plain HTTP, no
    certificate; ready once its health is SERVING (start_layout waited for that)."""
    ports = {svc.metrics_port for svc in layout.services}
    assert len(ports) == len(layout.services) and 0 not in ports
    for svc in layout.services:
        with urllib.request.urlopen(svc.metrics_url, timeout=10) as reply:
            text = reply.read().decode()
        assert "jiaodong_rpc_total" in text and "jiaodong_outbox_backlog" in text, svc.name
        ready = svc.metrics_url.replace("/metrics", "/readyz")
        with urllib.request.urlopen(ready, timeout=10) as reply:
            assert reply.status == 200, svc.name


def test_sla_explain_and_recompute_through_the_cli(layout: Layout) -> None:
    created = cli_json(
        layout,
        "qingdao",
        "370202",
        "create",
        "--case-number",
        "(2026)鲁0202执88号",
        "--to-city",
        "yantai",
        "--district",
        "芝罘区",
        "--task",
        "on-site-inspection",
        "--asset",
        "real-estate",
        "--person",
        "赵六",
        "--resident-id",
        "34052419800101001X",
        "--actions",
        "现场勘验",
    )
    delegation_id = created["delegation"]["id"]
    wait_status(layout, "yantai", "370602", delegation_id, "STATUS_DELIVERED")
    assert layout.coordinator is not None
    coordinator = layout.coordinator.address
    run = jiaodong(layout.pki, "sla", "explain", delegation_id, "--coordinator", coordinator)
    assert run.returncode == 0, run.stderr
    for expected in (
        "acknowledge",
        "3 working days",
        "start",
        "15 days",
        "the starting day",
        "Civil Procedure Law",
        "due by",
    ):
        assert expected in run.stdout, (expected, run.stdout)
    shown = cli(layout, "yantai", "370602", "show", delegation_id)
    assert "办理时限" in shown.stdout and "签收" in shown.stdout  # simplified Chinese by default

    # A city command centre may explain its own city's delegations, not another's.
    own = jiaodong(
        layout.pki, "sla", "explain", delegation_id, "--coordinator", coordinator,
        "--as", "operator:yantai",
    )  # fmt: skip
    assert own.returncode == 0, own.stderr
    other = jiaodong(
        layout.pki, "sla", "explain", delegation_id, "--coordinator", coordinator,
        "--as", "operator:weifang",
    )  # fmt: skip
    assert other.returncode == 2 and "PERMISSION_DENIED" in other.stderr, other.stderr
    recompute = jiaodong(
        layout.pki, "sla", "recompute", "--dry-run", "--json", "--coordinator", coordinator
    )
    assert recompute.returncode == 0, recompute.stderr
    reply = json.loads(recompute.stdout)
    assert int(reply["open_clocks"]) >= 3
    assert reply.get("moved", []) == []  # nothing changed on disk: nothing moves


def test_auditor_lists_reads_of_personal_data_and_a_court_may_not(layout: Layout) -> None:
    created = cli_json(
        layout, "qingdao", "370202", "create",
        "--case-number", "(2026)鲁0202执91号", "--to-city", "yantai", "--district", "芝罘区",
        "--task", "on-site-inspection", "--asset", "real-estate",
        "--person", "钱七", "--resident-id", "34052419800101001X", "--actions", "现场勘验",
    )  # fmt: skip
    delegation_id = created["delegation"]["id"]
    assert cli(layout, "qingdao", "370202", "show", delegation_id).returncode == 0
    services = [a for svc in layout.services for a in ("--service", svc.address)]
    run = jiaodong(layout.pki, "audit", "reads", "--delegation", delegation_id, "--json", *services)
    assert run.returncode == 0, run.stderr
    reads = [json.loads(line) for line in run.stdout.splitlines()]
    assert {(r["reader"], r["rpc"], r["service"]) for r in reads} >= {
        ("officer:370202", "CourtNodeService/GetDelegation", "node-qingdao")
    }
    assert "钱七" not in run.stdout
    refused = jiaodong(
        layout.pki, "audit", "reads", "--as", "officer:370202",
        "--service", layout.nodes["qingdao"].address,
    )  # fmt: skip
    assert refused.returncode == 2 and "PERMISSION_DENIED" in refused.stderr


def test_certs_init_makes_a_ca_and_every_identity(tmp_path: Path) -> None:
    run = jiaodong(tmp_path, "certs", "init", str(tmp_path / "pki"), "--host", "court.example")
    assert run.returncode == 0, run.stderr
    assert "写入 107 份证书" in run.stdout
    assert (tmp_path / "pki" / "ca.key").stat().st_mode & 0o077 == 0
    again = jiaodong(tmp_path, "certs", "init", str(tmp_path / "pki"))
    assert "写入 0 份证书" in again.stdout
    listed = jiaodong(tmp_path, "certs", "list", str(tmp_path / "pki"))
    assert "officer:370202" in listed.stdout and "auditor:region" in listed.stdout


def test_a_service_without_its_certificate_does_not_start(tmp_path: Path) -> None:
    env_dir = tmp_path / "data"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "jiaodong.cli.main",
            "node",
            "--city",
            "qingdao",
            "--data-dir",
            str(env_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("JD_TLS")},
    )
    assert run.returncode == 2
    assert "jiaodong certs init" in run.stderr.replace("\n", " ")
    assert not (env_dir / "node-qingdao.db").exists()  # nothing opened before the check


REVIEWED = """
[review]
cities = ["yantai"]

[[connector]]
city = "yantai"
asset = "real_estate"
adapter = "simulated"
answer_minutes = [0, 0.02]
nothing_found = 0
refused = 0
"""


def test_a_held_registry_result_is_read_and_released_by_the_entrusted_court(
    tmp_path: Path,
) -> None:
    """Yantai reviews its registries' results: a Qingdao officer's inquiry is answered by the
    real-estate centre, held, read by a Yantai clerk (`delegation registry`) and released
    (`delegation release`), which completes the delegation; the requesting court cannot see it."""
    registries = tmp_path / "registries.toml"
    registries.write_text(REVIEWED, encoding="utf-8")
    started = start_layout(
        tmp_path / "layout",
        base_port=0,
        cities=("qingdao", "yantai"),
        log_level="warning",
        extra_env={"JD_REGISTRIES": str(registries)},
    )
    try:
        created = cli_json(
            started, "qingdao", "370202", "create",
            "--case-number", "(2026)鲁0202执88号", "--to-city", "yantai", "--district", "芝罘区",
            "--task", "property-inquiry", "--asset", "real-estate",
            "--person", "李四", "--resident-id", "34052419800101001X",
            "--actions", "查询被执行人名下不动产",
        )  # fmt: skip
        delegation_id = created["delegation"]["id"]
        deadline = time.monotonic() + 60
        while True:
            listed = cli_json(started, "yantai", "370602", "registry", delegation_id)
            states = [r["state"] for r in listed.get("requests", [])]
            if states == ["held"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert states == ["held"], listed
        shown = cli(
            started, "yantai", "370602", "registry", delegation_id, "--letters", "--role", "clerk"
        )
        assert shown.returncode == 0, shown.stderr
        assert "待审核发布" in shown.stdout and "李四" in shown.stdout
        assert f"jiaodong delegation release {delegation_id}" in shown.stdout
        refused = cli(started, "qingdao", "370202", "registry", delegation_id)
        assert refused.returncode != 0 and "entrusted" in refused.stderr
        released = cli(
            started,
            "yantai",
            "370602",
            "release",
            delegation_id,
            "--text",
            "已核对",
            "--role",
            "clerk",
        )
        assert released.returncode == 0, released.stderr
        assert "已审核发布" in released.stdout and "已办结" in released.stdout
    finally:
        started.stop()


def test_a_freeze_near_its_end_is_listed_and_renewed_through_the_cli(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Yantai officer records a freeze of deposits with less than a month left (`complete
    --control`); the Qingdao court's clerk sees it must be renewed now (`delegation controls`),
    so does the command centre (`ops controls`), and `delegation renew` sends the renewal to the
    court that froze it, naming the first delegation. A term longer than the law allows is
    refused with the field and nothing changes."""
    from datetime import date, timedelta

    monkeypatch.setenv("COLUMNS", "200")  # a wide screen: the table's cells stay on one line
    created = cli_json(
        layout, "qingdao", "370202", "create",
        "--case-number", "(2026)鲁0202执99号", "--to-city", "yantai", "--district", "芝罘区",
        "--task", "seizure", "--asset", "deposit",
        "--person", "孙七", "--resident-id", "34052419800101001X",
        "--actions", "冻结被执行人银行存款人民币五万元",
    )  # fmt: skip
    delegation_id = created["delegation"]["id"]
    wait_status(layout, "yantai", "370602", delegation_id, "STATUS_DELIVERED")
    for step in ("acknowledge", "accept"):
        assert cli(layout, "yantai", "370602", step, delegation_id).returncode == 0
    today = date.today()
    start, end = today - timedelta(days=330), today + timedelta(days=20)
    too_long = f"deposit:烟银冻字0007号:{start}:{start + timedelta(days=400)}"
    refused = cli(
        layout, "yantai", "370602", "complete", delegation_id,
        "--result", "done", "--text", "已冻结", "--control", too_long,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "请求有误，未作任何更改" in refused.stderr
    assert "controls[0].ends_on" in refused.stderr and "at most 1 year" in refused.stderr
    malformed = cli(
        layout, "yantai", "370602", "complete", delegation_id,
        "--result", "done", "--text", "已冻结", "--control", "deposit:烟银冻字0007号",
    )  # fmt: skip
    assert malformed.returncode == 2 and "财产种类:登记号:起始日:截止日" in malformed.stderr
    wait_status(layout, "yantai", "370602", delegation_id, "STATUS_ACCEPTED")
    term = f"deposit:烟银冻字0007号:{start}:{end}"
    done = cli(
        layout, "yantai", "370602", "complete", delegation_id,
        "--result", "done", "--text", "已冻结", "--control", term,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    wait_status(layout, "qingdao", "370202", delegation_id, "STATUS_COMPLETED")

    listed = cli(layout, "qingdao", "370202", "controls", "--role", "clerk")
    assert listed.returncode == 0, listed.stderr
    for expected in (
        "查封、冻结期限",
        "烟银冻字0007号",
        "应立即续封",
        "烟台市芝罘区人民法院 (370602)",
        "请在 ",
        f"jiaodong delegation renew {delegation_id} --as-court 370202",
    ):
        assert expected in listed.stdout, (expected, listed.stdout)
    (watch,) = cli_json(layout, "qingdao", "370202", "controls", "--role", "clerk")["controls"]
    assert (watch["state"], watch["entrusted_court"], watch["term"]["ends_on"]) == (
        "RENEW_OVERDUE",
        "370602",
        str(end),
    )
    assert layout.coordinator is not None
    coordinator = layout.coordinator.address
    ops = jiaodong(
        layout.pki, "ops", "controls", "--state", "renew_overdue", "--coordinator", coordinator
    )
    assert ops.returncode == 0, ops.stderr
    assert "烟银冻字0007号" in ops.stdout and "青岛市市南区人民法院" in ops.stdout

    renewed = cli_json(layout, "qingdao", "370202", "renew", delegation_id)
    renewal = renewed["delegation"]
    assert renewal["renews"] == delegation_id and renewal["task_type"] == "TASK_TYPE_SEIZURE"
    assert renewal["target"]["court_id"] == "370602"
    shown = cli_json(layout, "qingdao", "370202", "show", renewal["id"])["delegation"]
    assert "续封/续冻：原委托" in shown["requested_actions"]
    assert "烟银冻字0007号" in shown["requested_actions"]
    again = cli_json(layout, "qingdao", "370202", "renew", delegation_id)
    assert again["delegation"]["id"] == renewal["id"]  # the same renewal: safe to retry
