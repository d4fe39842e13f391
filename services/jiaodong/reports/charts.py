"""The report's charts, drawn by matplotlib's object API (``Figure``, no pyplot state) as SVG
text for the HTML file to carry inline.

Deterministic: each chart is drawn inside an ``rc_context`` with a fixed ``svg.hashsalt`` (its
own, so the ids of two charts in one page differ) and saved without a date or creator, so the
same report gives the same bytes. Text is drawn as paths (``svg.fonttype = "path"``): the page
needs no font of its own. Chinese needs a CJK font, "Noto Sans CJK SC" (Debian's fonts-noto-cjk);
without it the charts are still drawn, with a warning, and Chinese shows as empty boxes.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from jiaodong.reports.model import percent

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

mpl.use("Agg")  # no display: never a GUI backend, whatever the environment says

Report = Mapping[str, Any]
CJK_FAMILY = "Noto Sans CJK SC"
CJK_FILES = (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),)
THIS, BEFORE = "#1f5fa8", "#9db4cf"  # this period, the previous one
LATE = "#de2d26"  # deliveries that came late (a node or link was down)
SVG_METADATA: dict[str, Any] = {"Date": None, "Creator": None, "Format": None, "Type": None}
AGING_BUCKETS = ("5天以内", "5–10天", "10–15天", "15–30天", "30天以上")
AGING_COLOURS = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")


def cjk_family() -> str | None:
    """The CJK font's family where matplotlib can find it (adding Debian's file to a font cache
    built before the package was installed), else None with a warning."""
    for attempt in range(2):
        try:
            font_manager.findfont(
                font_manager.FontProperties(family=CJK_FAMILY), fallback_to_default=False
            )
            return CJK_FAMILY
        except ValueError:
            if attempt == 0:
                for path in CJK_FILES:
                    if path.exists():
                        font_manager.fontManager.addfont(str(path))
    warnings.warn(
        f"font {CJK_FAMILY!r} not found (apt-get install fonts-noto-cjk): "
        "the charts' Chinese text will not show",
        stacklevel=2,
    )
    return None


@contextmanager
def _style(salt: str) -> Iterator[None]:
    family = cjk_family()
    rc: dict[RcKeyType, Any] = {
        "svg.hashsalt": f"jiaodong-report-{salt}",
        "svg.fonttype": "path",
        "font.family": ["sans-serif"],
        "font.sans-serif": [*([family] if family else []), "DejaVu Sans"],
        "font.size": 9,
        "axes.unicode_minus": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.dpi": 72,
    }
    with mpl.rc_context(rc), warnings.catch_warnings():
        if family is None:
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield


def _svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element (no XML declaration or doctype): ready to inline."""
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata=SVG_METADATA)
    text = out.getvalue()
    return text[text.index("<svg") :].strip()


def _figure(height: float, width: float = 8.0) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _pct(values: Sequence[float | None]) -> list[float]:
    """Rates as percentages for an axis; null as NaN (a gap, never a zero)."""
    return [math.nan if v is None else v * 100 for v in values]


def _rate_axis(ax: Axes, low: float = 0.0) -> None:
    ax.set_ylim(low, 100)
    ax.yaxis.set_major_formatter("{x:g}%")


def _cities(report: Report) -> list[tuple[str, str]]:
    """The cities of the pairs, (id, name), in the order they first appear."""
    seen: dict[str, str] = {}
    for pair in report["pairs"]:
        for side in ("requesting_city", "entrusted_city"):
            seen.setdefault(pair[side], pair[f"{side}_name"])
    return list(seen.items())


def pair_heatmap(report: Report) -> Figure:
    cities = _cities(report)
    index = {city: i for i, (city, _) in enumerate(cities)}
    grid = [[math.nan] * len(cities) for _ in cities]
    labels = [["—"] * len(cities) for _ in cities]
    for pair in report["pairs"]:
        i, j = index[pair["requesting_city"]], index[pair["entrusted_city"]]
        grid[i][j] = _pct([pair["on_time_rate"]])[0]
        labels[i][j] = percent(pair["on_time_rate"])
    fig = _figure(height=0.6 * len(cities) + 1.8, width=6.5)
    ax = fig.add_subplot()
    cmap = mpl.colormaps["RdYlGn"].with_extremes(bad="#eeeeee")
    image = ax.imshow(grid, cmap=cmap, vmin=_floor(grid), vmax=100)
    names = [name for _, name in cities]
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("受托城市")
    ax.set_ylabel("委托城市")
    for i, row in enumerate(labels):
        for j, text in enumerate(row):
            ax.text(j, i, text, ha="center", va="center", fontsize=9)
    fig.colorbar(image, ax=ax, label="按时率", format="{x:g}%")
    ax.set_title("城市对按时率（委托城市 × 受托城市）")
    return fig


def _floor(grid: Sequence[Sequence[float]]) -> float:
    """The colour scale's low end: 80% or, where lower, the lowest rate rounded down to 10%."""
    seen = [v for row in grid for v in row if not math.isnan(v)]
    return min([80.0, *(math.floor(v / 10) * 10 for v in seen)])


def _grouped_bars(
    ax: Axes, names: Sequence[str], series: Sequence[tuple[str, str, Sequence[float | None]]]
) -> None:
    """Bars of rates side by side per name: one series per (label, colour, rates)."""
    width = 0.8 / len(series)
    for k, (label, colour, rates) in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(names))]
        bars = ax.bar(xs, [0 if v is None else v * 100 for v in rates], width, label=label)
        for bar in bars:
            bar.set_color(colour)
        ax.bar_label(bars, [percent(v) for v in rates], fontsize=7, padding=2)
    ax.set_xticks(range(len(names)), names)
    _rate_axis(ax)
    ax.legend(loc="lower right")


def goal_bars(report: Report) -> Figure:
    goals = report["goals"]

    def rates(totals: Mapping[str, Any]) -> list[float | None]:
        return [((totals.get("on_time") or {}).get(g["goal"]) or {}).get("rate") for g in goals]

    fig = _figure(height=3.2)
    ax = fig.add_subplot()
    series = [
        ("本期", THIS, rates(report["totals"])),
        ("上期", BEFORE, rates(report["previous_totals"])),
    ]
    _grouped_bars(ax, [g["name"] for g in goals], series)
    ax.set_ylabel("按时率")
    ax.set_title("各时限目标按时率：本期与上期")
    return fig


def _values(rows: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    """One figure of every row, for a line: rates as percentages, null as NaN (a gap)."""
    raw = [r.get(key) for r in rows]
    return _pct(raw) if key.endswith("rate") else [math.nan if v is None else float(v) for v in raw]


def weekly_trend(report: Report) -> Figure:
    weeks = report["weekly"]
    before = [w.get("previous") or {} for w in weeks]
    xs = list(range(len(weeks)))
    fig = _figure(height=3.2)
    rate_ax, sent_ax = fig.subplots(1, 2)
    for ax, key in ((rate_ax, "on_time_rate"), (sent_ax, "sent")):
        ax.plot(xs, _values(weeks, key), marker="o", color=THIS, label="本期")
        ax.plot(
            xs,
            _values(before, key),
            marker="o",
            linestyle="--",
            color=BEFORE,
            label="上期（同序周）",
        )
        ax.set_xticks(xs, [w["week"][5:] for w in weeks], rotation=45 if len(xs) > 12 else 0)
        ax.set_xlabel("本期各周（周一）")
    # The weeks whose delegations reached the other court late: a city's outage shows here,
    # not in the on-time rate (limits count from delivery).
    sent_ax.bar(xs, [w.get("delayed_deliveries") or 0 for w in weeks], color=LATE, label="逾时送达")
    _legend_below(fig, rate_ax, sent_ax)
    _rate_axis(rate_ax, low=_floor([_pct([w.get("on_time_rate") for w in weeks + before])]))
    rate_ax.set_title("每周按时率")
    sent_ax.set_ylim(bottom=0)
    sent_ax.set_title("每周发出件数")
    return fig


def _legend_below(fig: Figure, ax: Axes, *more: Axes) -> None:
    """One legend for the figure's axes, under them (it never hides a line or a bar): the
    entries of ``ax``, then those of ``more`` not already there."""
    handles, labels = ax.get_legend_handles_labels()
    for other in more:
        for handle, text in zip(*other.get_legend_handles_labels(), strict=True):
            if text not in labels:
                handles.append(handle)
                labels.append(text)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)


def _pair_label(row: Mapping[str, Any]) -> str:
    if not row.get("entrusted_city_name"):
        return str(row.get("requesting_city_name", ""))
    return f"{row['requesting_city_name']}→{row['entrusted_city_name']}"


def aging_bars(report: Report) -> Figure:
    rows = report["aging"]
    edges = ("open", "over_5", "over_10", "over_15", "over_30")
    fig = _figure(height=0.35 * len(rows) + 1.6)
    ax = fig.add_subplot()
    ys = list(range(len(rows)))
    left = [0] * len(rows)
    for k, (bucket, colour) in enumerate(zip(AGING_BUCKETS, AGING_COLOURS, strict=True)):
        upper = [r[edges[k]] for r in rows]
        lower = [r[edges[k + 1]] if k + 1 < len(edges) else 0 for r in rows]
        widths = [u - lo for u, lo in zip(upper, lower, strict=True)]
        ax.barh(ys, widths, left=left, color=colour, label=bucket)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_yticks(ys, [_pair_label(r) for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("未结件数")
    ax.legend(ncols=5, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.set_title("未结案件账龄（按城市对，委托→受托）", pad=24)
    return fig


def _by_entrusted(report: Report) -> list[Mapping[str, Any]]:
    return sorted(report["pairs"], key=lambda p: (p["entrusted_city"], p["requesting_city"]))


def days_bars(report: Report) -> Figure:
    pairs = _by_entrusted(report)
    fig = _figure(height=0.35 * len(pairs) + 1.8)
    axes = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(pairs)))
    for ax, (key, title) in zip(
        axes, (("acknowledge_days", "签收用时"), ("complete_days", "办结用时")), strict=True
    ):
        for stat, colour, label in (("p90", BEFORE, "P90"), ("median", THIS, "中位数")):
            values = [(p.get(key) or {}).get(stat) for p in pairs]
            ax.barh(ys, [0 if v is None else v for v in values], color=colour, label=label)
        ax.set_title(f"{title}（工作日）")
        ax.set_xlabel("工作日")
    _legend_below(fig, axes[0])
    axes[0].set_yticks(
        ys, [f"{p['entrusted_city_name']}（委托：{p['requesting_city_name']}）" for p in pairs]
    )
    axes[0].invert_yaxis()
    fig.suptitle("受托城市签收与办结用时：中位数与P90（按受托城市分组）")
    return fig


def no_data(caption: str) -> Figure:
    """A chart's place when the report has nothing to draw in it."""
    fig = _figure(height=1.2)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, f"{caption}：本期无数据", ha="center", va="center", fontsize=11)
    return fig


# The charts in page order: (anchor, caption, the report's list it draws, how to draw it).
CHARTS: tuple[tuple[str, str, str, Callable[[Report], Figure]], ...] = (
    ("chart-goals", "各时限目标按时率", "goals", goal_bars),
    ("chart-pairs", "城市对按时率热力图", "pairs", pair_heatmap),
    ("chart-days", "签收与办结用时", "pairs", days_bars),
    ("chart-aging", "未结案件账龄", "aging", aging_bars),
    ("chart-weekly", "周趋势", "weekly", weekly_trend),
)


def draw(report: Report) -> dict[str, str]:
    """Every chart as inline SVG text, by anchor."""
    drawn = {}
    for key, caption, source, build in CHARTS:
        with _style(key):
            drawn[key] = _svg(build(report) if report[source] else no_data(caption))
    return drawn
