"""`jiaodong report sla`: the inter-city SLA report from the coordinator, written as HTML, CSV,
XLSX or JSON (docs/reports.md), or shown as a table when no file is named."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jiaodong.cli.connect import CoordinatorCall, call_coordinator, usage_error
from jiaodong.cli.lang import t
from jiaodong.cli.options import command_group, coordinator_command
from jiaodong.cli.render import console, piped_width
from jiaodong.domain.calendar import local_day
from jiaodong.domain.clock import SystemClock
from jiaodong.v1 import coordinator_service_pb2 as capi

app = command_group("SLA reports: on-time rates, times and aging per city pair, court and week.")


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        usage_error(t(f"{name} 应为 YYYY-MM-DD 格式的日期，收到 {text!r}", f"{name}: not a date"))


def period(first: str | None, last: str | None) -> tuple[date, date]:
    """--to defaults to today (Asia/Shanghai), --from to 29 days before it (30 days)."""
    end = _day(last, "--to") or local_day(SystemClock().now())
    start = _day(first, "--from") or end - timedelta(days=29)
    return start, end


@app.command()
@coordinator_command(timeout=120.0)
def sla(
    call: CoordinatorCall,
    first: Annotated[
        str | None, typer.Option("--from", help="First day sent, YYYY-MM-DD (default: 30 days).")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last day sent, YYYY-MM-DD (default: today).")
    ] = None,
    city: Annotated[
        str, typer.Option("--city", help="Only this city's rows (requesting or entrusted).")
    ] = "",
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="html, csv, xlsx or json (default: from --out's suffix)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write; without it a summary is shown.")
    ] = None,
) -> None:
    """The inter-city SLA report over the delegations sent from --from to --to."""
    from jiaodong import reports  # matplotlib and openpyxl load only for this command

    start, end = period(first, last)
    kind = None
    if out is not None or fmt is not None:
        try:
            kind = reports.format_for(out or Path("report"), fmt)
        except ValueError as exc:
            usage_error(str(exc))
    request = capi.GetSlaReportRequest(
        from_date=start.isoformat(), to_date=end.isoformat(), city=city
    )
    reply = call_coordinator(call, "GetSlaReport", request)
    figures = json.loads(reply.report_json)
    if out is not None and kind is not None:
        written = reports.write(figures, kind, out)
        console(piped_width()).print(
            t(f"已写入 {written}（{kind}）", f"wrote {written} ({kind})"), markup=False
        )
        return
    if call.json or kind == "json":
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    show(figures)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def show(figures: dict[str, Any]) -> None:
    """A terminal summary: the totals and the city pairs."""
    out = console(piped_width())
    p, scope, totals = figures["period"], figures["scope"], figures["totals"]
    out.print(
        t(
            f"{scope['city_name']} 跨城委托时限报表  {p['from']} 至 {p['to']}（{p['days']} 天）",
            f"SLA report, {scope['city'] or 'region'}, {p['from']} to {p['to']}",
        ),
        markup=False,
    )
    table = Table(
        t("委托城市", "from"),
        t("受托城市", "to"),
        t("发出", "sent"),
        t("办结", "completed"),
        t("未结", "open"),
        t("办结率", "completion"),
        t("按时率", "on time"),
        t("超期", "breaches"),
        t("签收中位(工作日)", "ack median (wd)"),
        t("办结中位(工作日)", "done median (wd)"),
    )
    for row in [*figures["pairs"], {**totals, "requesting_city_name": t("合计", "total")}]:
        table.add_row(
            row.get("requesting_city_name", ""),
            row.get("entrusted_city_name", ""),
            str(row["sent"]),
            str(row["completed"]),
            str(row["open"]),
            _pct(row["completion_rate"]),
            _pct(row["on_time_rate"]),
            str(row["breaches"]),
            _days(row["acknowledge_days"]["median"]),
            _days(row["complete_days"]["median"]),
        )
    out.print(table)
    late = figures["ranking"]["late_three_weeks"]
    if late:
        names = "、".join(c["court_name"] for c in late)
        out.print(t(f"连续三周超期通报：{names}", f"late three weeks running: {names}"))


def _days(value: Any) -> str:
    return "—" if value is None else f"{value:g}"
