"""On-site assistance (异地执行协助) through the `jiaodong assist` command, Qingdao to Yantai.

A Qingdao Shinan officer asks the Yantai Zhifu court to assist an eviction a week ahead; Yantai
proposes the plan and books the police; Qingdao accepts it; on the day both courts record the
outcome. Real nats-server, coordinator and two nodes, each a process; the CLI runs as a user's
shell runs it. The services read time from a shared file (JD_CLOCK), so the operation day can
come: the test moves it on from Monday 7 December 2026 to Monday 14 December.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jiaodong.devtools.layout import Layout, start_layout
from jiaodong.files.clock import FileClock

pytestmark = pytest.mark.e2e

QD, YT = "370202", "370602"
BEIJING = timezone(timedelta(hours=8))
# Monday 7 December 2026, 10:00 in Beijing: five working days before the operation day.
START = datetime(2026, 12, 7, 10, 0, tzinfo=BEIJING)
DAY = "2026-12-14"
OPERATION_DAY = datetime(2026, 12, 14, 10, 0, tzinfo=BEIJING)
OFFICER = "王建国:QD-ZX-0417:JZ2026-880417"
LIAISON = "李联络 0535-6668888"


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clock") / "clock"
    FileClock.write(path, START, 1.0)
    return path


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory, clock_file: Path) -> Iterator[Layout]:
    started = start_layout(
        tmp_path_factory.mktemp("layout"),
        base_port=0,
        cities=("qingdao", "yantai"),
        log_level="warning",
        extra_env={"JD_CLOCK": f"file:{clock_file}"},
    )
    try:
        yield started
    finally:
        started.stop()


def jiaodong(pki: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the layout's certificates (JD_TLS_DIR) on a wide screen, so that a row
    of a table stays on one line."""
    return subprocess.run(
        [sys.executable, "-m", "jiaodong.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "JD_TLS_DIR": str(pki), "COLUMNS": "220"},
    )


def cli(
    layout: Layout, city: str, court: str, *args: str, group: str = "assist"
) -> subprocess.CompletedProcess[str]:
    node = layout.nodes[city].address
    return jiaodong(layout.pki, group, *args, "--node", node, "--as-court", court)


def ok(layout: Layout, city: str, court: str, *args: str) -> str:
    run = cli(layout, city, court, *args)
    assert run.returncode == 0, (args, run.stdout, run.stderr)
    return run.stdout


def cli_json(layout: Layout, city: str, court: str, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(ok(layout, city, court, *args, "--json"))  # type: ignore[no-any-return]


def wait_status(layout: Layout, city: str, court: str, request_id: str, status: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 30
    while True:
        run = cli(layout, city, court, "show", request_id, "--json")
        if run.returncode == 0:
            d = json.loads(run.stdout)["delegation"]
            if d.get("status") == status:
                return d  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, (
            f"{request_id} never reached {status} at {city}: {run.stdout or run.stderr}"
        )
        time.sleep(0.3)


def request_args(*extra: str, case: str = "(2026)鲁0202执120号") -> list[str]:
    return [
        "request",
        "--case-number", case,
        "--basis", "(2025)鲁0202民初88号民事判决书",
        "--measure", "eviction",
        "--city", "yantai",
        "--district", "芝罘区",
        "--address", "芝罘区南大街1号3单元502室",
        "--subject", "被执行人赵某占用的房屋",
        "--day", DAY, "--from", "09:00", "--to", "12:00",
        "--alternative", "2026-12-15:09:00-12:00",
        "--vehicle", "鲁B12345",
        "--support", "court-police",
        "--support", "public-police",
        "--risk-notes", "被执行人曾有过激言行",
        *extra,
    ]  # fmt: skip


def test_malformed_officer_or_alternative_is_a_usage_error(layout: Layout) -> None:
    case = "(2026)鲁0202执122号"
    bad = cli(layout, "qingdao", QD, *request_args("--officer", "王建国:QD-ZX-0417", case=case))
    assert bad.returncode == 2, bad.stderr
    assert "姓名:工作证号:执行公务证号" in bad.stderr and "--officer" in bad.stderr
    window = request_args("--officer", OFFICER, "--alternative", "2026-12-15 上午", case=case)
    bad = cli(layout, "qingdao", QD, *window)
    assert bad.returncode == 2, bad.stderr
    assert "日期:起始时间-结束时间" in bad.stderr and "--alternative" in bad.stderr
    listed = cli_json(layout, "qingdao", QD, "list")
    assert all(d["case_number"] != case for d in listed.get("delegations", []))  # none was sent


def test_qingdao_asks_yantai_to_assist_an_eviction_through_the_cli(
    layout: Layout, clock_file: Path
) -> None:
    made = cli_json(
        layout, "qingdao", QD, *request_args("--officer", OFFICER, "--request-id", "assist-e2e-1")
    )
    assert made["created"] is True
    d = made["delegation"]
    request_id = d["id"]
    assert d["task_type"] == "TASK_TYPE_ON_SITE_ASSISTANCE"
    # The same request id again: the same request, printed for people.
    again = ok(
        layout, "qingdao", QD, *request_args("--officer", OFFICER, "--request-id", "assist-e2e-1")
    )
    assert f"此前已申请 {request_id}" in again
    assert "协助法院：烟台市芝罘区人民法院 (370602)" in again
    assert f"执行日期：{DAY} 09:00-12:00" in again

    # An ordinary delegation is not an assistance request: `assist list` leaves it out.
    other = cli(
        layout, "qingdao", QD, "create",
        "--case-number", "(2026)鲁0202执121号", "--to-city", "yantai", "--district", "芝罘区",
        "--task", "on-site-inspection", "--asset", "real-estate",
        "--person", "赵六", "--resident-id", "34052419800101001X", "--actions", "现场勘验",
        "--json", group="delegation",
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    delegation_id = json.loads(other.stdout)["delegation"]["id"]

    wait_status(layout, "yantai", YT, request_id, "STATUS_DELIVERED")
    # The local court reads the full request: the officers' ID numbers as given.
    shown = ok(layout, "yantai", YT, "show", request_id)
    assert "QD-ZX-0417" in shown and "JZ2026-880417" in shown and "王建国" in shown

    # Before a plan there is nothing to accept.
    early = cli(layout, "qingdao", QD, "accept", request_id)
    assert early.returncode == 1 and "尚无协助法院拟定的方案" in early.stderr

    planned = ok(
        layout, "yantai", YT, "plan", request_id,
        "--day", DAY, "--from", "09:00", "--to", "12:00",
        "--liaison", LIAISON, "--staff", "4",
        "--support", "court-police:asked", "--support", "public-police:asked",
        "--note", "上午八点半在芝罘区法院执行局集合",
    )  # fmt: skip
    assert f"已拟定协助方案 {request_id}" in planned and "已拟定方案" in planned
    booked = ok(
        layout, "yantai", YT, "support", request_id,
        "--support", "public-police", "--text", "芝罘分局已排警力6名",
    )  # fmt: skip
    assert f"已落实保障 {request_id}" in booked

    wait_status(layout, "qingdao", QD, request_id, "STATUS_PROPOSED")
    accepted = ok(layout, "qingdao", QD, "accept", request_id)
    assert f"号方案：{DAY} 09:00-12:00" in accepted, accepted
    assert f"已确认方案 {request_id}" in accepted

    for city, court in (("qingdao", QD), ("yantai", YT)):
        agreed = wait_status(layout, city, court, request_id, "STATUS_AGREED")
        plan = agreed["assistance_progress"]["plan"]
        assert plan["window"] == {"day": DAY, "start": "09:00", "end": "12:00"}
        shown = ok(layout, city, court, "show", request_id)
        for expected in (
            "方案已确定",
            "(2026)鲁0202执120号",
            "青岛市市南区人民法院 (370202)",
            "烟台市芝罘区人民法院 (370602)",
            "强制迁出",
            "芝罘区南大街1号3单元502室",
            f"{DAY} 09:00-12:00",
            "司法警察、公安警务保障",
            "协助方案",
            LIAISON,
            "4 名",
            "公安警务保障：已落实",
            "司法警察：待落实",
            "拟定协助方案",
            "落实保障",
            "确认方案",
        ):
            assert expected in shown, (city, expected, shown)
    english = ok(layout, "yantai", YT, "show", request_id, "--lang", "en")
    assert "plan agreed" in english and "public police support: booked" in english

    for city, court in (("qingdao", QD), ("yantai", YT)):
        listed = ok(layout, city, court, "list")
        assert "异地执行协助请求" in listed, listed
        (line,) = [x for x in listed.splitlines() if request_id in x]
        for expected in (
            "强制迁出",
            "青岛市市南区人民法院 → 烟台市芝罘区人民法院",
            DAY,
            "方案已确定",
        ):
            assert expected in line, (expected, line)
        ids = [x["id"] for x in cli_json(layout, city, court, "list")["delegations"]]
        assert ids == [request_id] and delegation_id not in ids

    # Before the operation day nobody records an outcome.
    too_early = cli(
        layout, "yantai", YT, "outcome", request_id, "--result", "done", "--record", "已腾空"
    )
    assert too_early.returncode == 2 and "FAILED_PRECONDITION" in too_early.stderr
    assert f"the operation is on {DAY}" in too_early.stderr

    # Monday 14 December, 10:00 in Beijing: both courts record it.
    FileClock.write(clock_file, OPERATION_DAY, 1.0)
    done = ok(layout, "yantai", YT, "outcome", request_id, "--result", "done", "--record", "已腾空")
    assert f"已记录执行结果 {request_id}" in done
    ours = ok(
        layout, "qingdao", QD, "outcome", request_id,
        "--result", "done", "--record", "房屋已腾空交付申请人",
    )  # fmt: skip
    assert f"已记录执行结果 {request_id}" in ours
    for city, court in (("qingdao", QD), ("yantai", YT)):
        final = wait_status(layout, city, court, request_id, "STATUS_CONFIRMED")
        assert len(final["assistance_progress"]["outcomes"]) == 2
        shown = ok(layout, city, court, "show", request_id)
        for expected in ("已确认", "执行结果", "房屋已腾空交付申请人", "已腾空", "记录执行结果"):
            assert expected in shown, (city, expected, shown)
