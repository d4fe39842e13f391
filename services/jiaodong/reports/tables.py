"""The report's dict as tables (``model.Table``), in the order the report reads them.

Every group of figures (the totals, a city pair, a task type, a court) is a ROW of the schema
(/work/runs/report-schema.md, docs/reports.md); ``ROW_COLUMNS`` says once which of its figures a
table shows, under which header, so the pair, task-type, asset-kind and court tables agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jiaodong.domain.labels import EVENT, label
from jiaodong.reports.model import Cell, Column, Kind, Table, figure

Report = Mapping[str, Any]
Getter = Callable[[Mapping[str, Any]], Cell]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _field(key: str) -> Getter:
    """A figure of the row; a dotted key reaches into a nested one (``model.figure``)."""
    return lambda row: figure(row, key)


def _returns(row: Mapping[str, Any]) -> Cell:
    counts: Mapping[str, int] = row.get("returns") or {}
    return sum(counts.values())


def _previous(getter: Getter) -> Getter:
    return lambda row: None if row.get("previous") is None else getter(row["previous"])


# The figures of one ROW that the group tables show, in order.
ROW_COLUMNS: tuple[tuple[Column, Getter], ...] = (
    (Column("发出", Kind.COUNT), _field("sent")),
    (Column("办结", Kind.COUNT), _field("completed")),
    (Column("未结", Kind.COUNT), _field("open")),
    (Column(label(EVENT, "CANCELLED"), Kind.COUNT), _field("cancelled")),
    (Column(label(EVENT, "WITHDRAWN"), Kind.COUNT), _field("withdrawn")),
    (Column("办结率", Kind.RATE), _field("completion_rate")),
    (Column("按时率", Kind.RATE), _field("on_time_rate")),
    (Column("超期次数", Kind.COUNT), _field("breaches")),
    (Column("签收用时中位数（工作日）", Kind.DAYS), _field("acknowledge_days.median")),
    (Column("签收用时P90（工作日）", Kind.DAYS), _field("acknowledge_days.p90")),
    (Column("办结用时中位数（工作日）", Kind.DAYS), _field("complete_days.median")),
    (Column("办结用时P90（工作日）", Kind.DAYS), _field("complete_days.p90")),
    (Column("退回", Kind.COUNT), _returns),
    (Column(label(EVENT, "URGED"), Kind.COUNT), _field("urges")),
    (Column(label(EVENT, "ESCALATED"), Kind.COUNT), _field("escalations")),
    (Column("逾时送达", Kind.COUNT), _field("delivery.delayed")),
    (Column("最长送达（小时）", Kind.HOURS), _field("delivery.longest_hours")),
)

PREVIOUS_COLUMNS: tuple[tuple[Column, Getter], ...] = (
    (Column("上期发出", Kind.COUNT), _previous(_field("sent"))),
    (Column("上期按时率", Kind.RATE), _previous(_field("on_time_rate"))),
)

PAIR_COLUMNS: tuple[tuple[Column, Getter], ...] = (
    (Column("委托城市代码"), _field("requesting_city")),
    (Column("委托城市"), _field("requesting_city_name")),
    (Column("受托城市代码"), _field("entrusted_city")),
    (Column("受托城市"), _field("entrusted_city_name")),
)

COURT_COLUMNS: tuple[tuple[Column, Getter], ...] = (
    (Column("名次", Kind.COUNT), _field("rank")),
    (Column("法院代码"), _field("court")),
    (Column("法院"), _field("court_name")),
    (Column("城市代码"), _field("city")),
    (Column("城市"), _field("city_name")),
)

AGING_COLUMNS: tuple[tuple[Column, Getter], ...] = (
    (Column("未结", Kind.COUNT), _field("open")),
    (Column("超过5天", Kind.COUNT), _field("over_5")),
    (Column("超过10天", Kind.COUNT), _field("over_10")),
    (Column("超过15天", Kind.COUNT), _field("over_15")),
    (Column("超过30天", Kind.COUNT), _field("over_30")),
)

WEEK_COLUMNS: tuple[tuple[Column, Getter], ...] = (
    (Column("周（周一）"), _field("week")),
    (Column("发出", Kind.COUNT), _field("sent")),
    (Column("办结", Kind.COUNT), _field("completed")),
    (Column("按时率", Kind.RATE), _field("on_time_rate")),
    (Column("超期次数", Kind.COUNT), _field("breaches")),
    (Column("逾时送达", Kind.COUNT), _field("delayed_deliveries")),
)


def _table(
    key: str,
    title: str,
    spec: Sequence[tuple[Column, Getter]],
    rows: Sequence[Mapping[str, Any]],
    marked: frozenset[int] = frozenset(),
) -> Table:
    """A table whose every row is read from one dict by the getters of ``spec``."""
    return Table(
        key=key,
        title=title,
        columns=tuple(c for c, _ in spec),
        rows=tuple(tuple(get(row) for _, get in spec) for row in rows),
        marked=marked,
    )


def _renamed(spec: Sequence[tuple[Column, Getter]], prefix: str) -> list[tuple[Column, Getter]]:
    """The same columns with ``prefix`` before each header (the previous week's figures)."""
    return [(Column(prefix + c.header, c.kind), _previous(get)) for c, get in spec]


def local_time(instant: str) -> str:
    """An ISO instant as the Asia/Shanghai wall clock, to the minute."""
    return datetime.fromisoformat(instant).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def period_text(period: Mapping[str, Any]) -> str:
    return f"{period['from']} 至 {period['to']}（{period['days']} 天）"


def info(report: Report) -> Table:
    rows = (
        ("统计范围", report["scope"]["city_name"]),
        ("统计期间", period_text(report["period"])),
        ("对比期间（上期）", period_text(report["previous"])),
        ("数据截至（北京时间）", local_time(report["as_of"])),
        ("报告格式版本", f"{report['schema']} v{report['schema_version']}"),
    )
    return Table("info", "报告信息", (Column("项目"), Column("内容")), rows)


def summary(report: Report) -> Table:
    spec = [(Column("期间"), _field("label")), (Column("起始日"), _field("from"))]
    spec += [(Column("截止日"), _field("to")), *ROW_COLUMNS]
    rows = [
        {"label": "本期", **report["period"], **report["totals"]},
        {"label": "上期", **report["previous"], **report["previous_totals"]},
    ]
    return _table("summary", "概要", spec, rows)


def goals(report: Report) -> Table:
    def figures(totals: Mapping[str, Any], goal: str) -> Mapping[str, Any]:
        return (totals.get("on_time") or {}).get(goal) or {}

    now = [
        (Column("按时", Kind.COUNT), _field("met")),
        (Column("超期", Kind.COUNT), _field("late")),
        (Column("按时率", Kind.RATE), _field("rate")),
    ]
    spec = [(Column("目标代码"), _field("goal")), (Column("目标"), _field("name"))]
    rows = [
        {
            **g,
            **figures(report["totals"], g["goal"]),
            "previous": figures(report["previous_totals"], g["goal"]),
        }
        for g in report["goals"]
    ]
    return _table("goals", "分目标按时率", [*spec, *now, *_renamed(now, "上期")], rows)


def returns(report: Report) -> Table:
    spec = [(Column("原因代码"), _field("reason")), (Column("退回原因"), _field("name"))]
    spec += [
        (Column("本期", Kind.COUNT), _field("now")),
        (Column("上期", Kind.COUNT), _field("then")),
    ]
    rows = [
        {
            **r,
            "now": (report["totals"].get("returns") or {}).get(r["reason"]),
            "then": (report["previous_totals"].get("returns") or {}).get(r["reason"]),
        }
        for r in report["return_reasons"]
    ]
    return _table("returns", "退回原因", spec, rows)


def pairs(report: Report) -> Table:
    return _table(
        "pairs", "城市对", [*PAIR_COLUMNS, *ROW_COLUMNS, *PREVIOUS_COLUMNS], report["pairs"]
    )


def task_types(report: Report) -> Table:
    spec = [
        (Column("任务类型代码"), _field("task_type")),
        (Column("任务类型"), _field("task_type_name")),
    ]
    return _table("task-types", "任务类型", [*spec, *ROW_COLUMNS], report["task_types"])


def asset_kinds(report: Report) -> Table:
    spec = [
        (Column("财产类型代码"), _field("asset_kind")),
        (Column("财产类型"), _field("asset_kind_name")),
    ]
    return _table("asset-kinds", "财产类型", [*spec, *ROW_COLUMNS], report["asset_kinds"])


def late_courts(report: Report) -> set[str]:
    """The courts named in the three-week notice (连续三周超期通报)."""
    return {c["court"] for c in report["ranking"]["late_three_weeks"]}


def courts(report: Report) -> Table:
    late = late_courts(report)
    marked = frozenset(i for i, c in enumerate(report["courts"]) if c["court"] in late)
    spec = [*COURT_COLUMNS, *ROW_COLUMNS]
    return _table("courts", "法院排名（受托法院）", spec, report["courts"], marked)


def _ranked(report: Report, which: str, key: str, title: str) -> Table:
    by_id = {c["court"]: c for c in report["courts"]}
    spec = [(Column("序号", Kind.COUNT), _field("place")), *COURT_COLUMNS]
    spec += [(Column("按时率", Kind.RATE), _field("on_time_rate"))]
    spec += [(Column("超期次数", Kind.COUNT), _field("breaches"))]
    rows = [
        {**by_id.get(court, {"court": court}), "place": i}
        for i, court in enumerate(report["ranking"][which], start=1)
    ]
    return _table(key, title, spec, rows)


def best(report: Report) -> Table:
    return _ranked(report, "best", "best", "按时率最高法院")


def worst(report: Report) -> Table:
    return _ranked(report, "worst", "worst", "按时率最低法院")


def late_three_weeks(report: Report) -> Table:
    spec = [*COURT_COLUMNS[1:], (Column("连续超期周数", Kind.COUNT), _field("run"))]
    spec += [(Column("超期周（周一）"), _field("listed"))]
    rows = [
        {**c, "run": len(c["weeks"]), "listed": "、".join(c["weeks"])}
        for c in report["ranking"]["late_three_weeks"]
    ]
    return _table("late-three-weeks", "连续三周超期通报", spec, rows, frozenset(range(len(rows))))


def aging(report: Report) -> Table:
    total = {"requesting_city_name": "合计", **report["aging_totals"]}
    spec = [*PAIR_COLUMNS, *AGING_COLUMNS]
    return _table("aging", "未结案件账龄", spec, [*report["aging"], total])


def weekly(report: Report) -> Table:
    spec = [*WEEK_COLUMNS, *_renamed(WEEK_COLUMNS, "上期")]
    return _table("weekly", "周趋势", spec, report["weekly"])


BUILDERS: tuple[Callable[[Report], Table], ...] = (
    info,
    summary,
    goals,
    returns,
    pairs,
    task_types,
    asset_kinds,
    courts,
    best,
    worst,
    late_three_weeks,
    aging,
    weekly,
)


def all_tables(report: Report) -> list[Table]:
    """Every table of the report, in reading order: CSV, XLSX and HTML show these."""
    return [build(report) for build in BUILDERS]
