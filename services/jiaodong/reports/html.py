"""The report as one self-contained HTML page (simplified Chinese, ``lang="zh-CN"``): the tables of
``tables.all_tables`` and the charts of ``charts.draw`` inline, no script, no external address,
print styles for A4. Text is escaped by Jinja2's autoescape; only the charts' SVG (drawn here by
matplotlib) goes in unescaped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from jiaodong.domain.labels import EVENT, label
from jiaodong.reports.charts import CHARTS, draw
from jiaodong.reports.model import DASH, Kind, figure, percent, shown
from jiaodong.reports.tables import all_tables, local_time, period_text

HERE = Path(__file__).parent

# The page's sections, in order: (anchor, heading). The table of contents lists these.
SECTIONS = (
    ("summary", "概要"),
    ("pairs", "城市对"),
    ("task-types", "任务类型"),
    ("asset-kinds", "财产类型"),
    ("courts", "法院排名"),
    ("aging", "未结案件账龄"),
    ("weekly", "周趋势"),
    ("definitions", "指标说明"),
)

# The headline figures of 概要: (label, ROW key, kind).
KPIS = (
    ("发出", "sent", Kind.COUNT),
    ("办结", "completed", Kind.COUNT),
    ("办结率", "completion_rate", Kind.RATE),
    ("按时率", "on_time_rate", Kind.RATE),
    ("超期次数", "breaches", Kind.COUNT),
    (label(EVENT, "URGED"), "urges", Kind.COUNT),
    (label(EVENT, "ESCALATED"), "escalations", Kind.COUNT),
    (label(EVENT, "CANCELLED"), "cancelled", Kind.COUNT),
    (label(EVENT, "WITHDRAWN"), "withdrawn", Kind.COUNT),
    ("逾时送达", "delivery.delayed", Kind.COUNT),
)


@dataclass(frozen=True)
class Kpi:
    label: str
    now: str
    before: str
    change: str


def change(now: float | None, before: float | None, kind: Kind) -> str:
    """The change from the previous period as people say it: ``+12``, ``−1.2 个百分点``,
    ``持平``."""
    if now is None or before is None:
        return DASH
    diff = now - before
    if abs(diff) < (0.0005 if kind is Kind.RATE else 0.5):
        return "持平"
    sign = "+" if diff > 0 else "−"
    if kind is Kind.RATE:
        return f"{sign}{percent(abs(diff)).rstrip('%')} 个百分点"
    return f"{sign}{abs(diff):g}"


def kpis(report: Mapping[str, Any]) -> list[Kpi]:
    now, before = report["totals"], report["previous_totals"]
    return [
        Kpi(
            name,
            shown(figure(now, key), kind),
            shown(figure(before, key), kind),
            change(figure(now, key), figure(before, key), kind),
        )
        for name, key, kind in KPIS
    ]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = shown
    return env


def render_html(report: Mapping[str, Any]) -> bytes:
    scope = report["scope"]["city_name"]
    page = (
        _environment()
        .get_template("report.html")
        .render(
            title=f"{scope}跨城委托办理时效报告",
            period=period_text(report["period"]),
            previous=period_text(report["previous"]),
            as_of=local_time(report["as_of"]),
            sections=SECTIONS,
            tables={t.key: t for t in all_tables(report)},
            charts={key: Markup(svg) for key, svg in draw(report).items()},
            captions={key: caption for key, caption, _, _ in CHARTS},
            kpis=kpis(report),
            late=report["ranking"]["late_three_weeks"],
        )
    )
    return page.encode("utf-8")
