"""Renderers of the inter-city SLA report (schema ``jiaodong.sla-report`` version 1, the dict the
coordinator's ``GetSlaReport`` returns; docs/reports.md) into files court staff read, in
simplified Chinese:

- ``html``: one self-contained page with the tables and matplotlib charts inline (``html``);
- ``csv``: every table one after another in one UTF-8 (BOM) file (``csvfile``);
- ``xlsx``: one sheet per table (``xlsx``);
- ``json``: the dict itself.

CSV, XLSX and HTML read the same tables (``tables.all_tables``), so they cannot disagree. Pure
rendering: no I/O but ``write``, nothing of the project but the domain.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jiaodong.reports.csvfile import render_csv
from jiaodong.reports.html import render_html
from jiaodong.reports.tables import all_tables
from jiaodong.reports.xlsx import render_xlsx

__all__ = ["FORMATS", "format_for", "render", "write"]

FORMATS = ("html", "csv", "xlsx", "json")

Report = Mapping[str, Any]


def _json(report: Report) -> bytes:
    return (json.dumps(report, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode()


RENDERERS: dict[str, Callable[[Report], bytes]] = {
    "html": render_html,
    "csv": lambda report: render_csv(all_tables(report)),
    "xlsx": lambda report: render_xlsx(all_tables(report), report["as_of"]),
    "json": _json,
}


def render(report: Report, fmt: str) -> bytes:
    """The report as the bytes of a file in ``fmt`` (one of ``FORMATS``)."""
    renderer = RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
    return renderer(report)


def write(report: Report, fmt: str, out: Path) -> Path:
    """Render and write ``out`` atomically: a temporary file beside it, then ``os.replace``, so a
    reader never sees half a report. Returns ``out``."""
    data = render(report, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the report from the clerks' group
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def format_for(path: Path, fmt: str | None) -> str:
    """The format to write ``path`` in: ``fmt`` where given (``--format`` wins), else the file's
    suffix. ``ValueError`` (in Chinese, for the operator) when neither names a known format."""
    chosen = fmt if fmt is not None else path.suffix.lower().lstrip(".")
    if chosen in FORMATS:
        return chosen
    allowed = "、".join(FORMATS)
    if fmt is not None:
        raise ValueError(f"不支持的报告格式“{fmt}”：可选 {allowed}")
    raise ValueError(
        f"无法从文件名“{path.name}”判断报告格式：请使用扩展名 {allowed}，或指定 --format"
    )
