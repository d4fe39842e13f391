"""The report as an Excel workbook (openpyxl): one sheet per table, named in Chinese, the header
row bold and frozen, columns wide enough for their text, rates with a percent format.

Deterministic: the document's created/modified dates are the report's ``as_of`` and every zip
entry carries that time too, so the same report gives the same bytes."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from jiaodong.reports.model import Kind, Table

NUMBER_FORMATS = {Kind.RATE: "0.0%", Kind.DAYS: "0.0", Kind.HOURS: "0.0", Kind.COUNT: "0"}
BOLD = Font(bold=True)
MARK = PatternFill("solid", fgColor="FDE2E1")
FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _width(value: object) -> int:
    """Display width: a CJK character takes two columns."""
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def sheet_name(title: str, taken: set[str]) -> str:
    """``title`` as a legal, unique sheet name (at most 31 characters, none of []:*?/\\)."""
    base = title.translate(FORBIDDEN)[:31]
    name, n = base, 2
    while name in taken:
        suffix = f"({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(name)
    return name


def _fill(ws: Worksheet, table: Table) -> None:
    ws.append(table.headers)
    for cell in ws[1]:
        cell.font = BOLD
    for row in table.rows:
        ws.append(list(row))
    for col, column in enumerate(table.columns, start=1):
        fmt = NUMBER_FORMATS.get(column.kind)
        values = [column.header, *(r[col - 1] for r in table.rows)]
        ws.column_dimensions[get_column_letter(col)].width = min(
            max(_width(v) for v in values) + 2, 60
        )
        for cell in ws.iter_rows(min_row=2, min_col=col, max_col=col):
            if fmt:
                cell[0].number_format = fmt
    for index in table.marked:
        for cell in ws[index + 2]:
            cell.fill = MARK
    ws.freeze_panes = "A2"


def _stamped(data: bytes, when: datetime) -> bytes:
    """The zip with every entry dated ``when`` (openpyxl dates them with the clock)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def render_xlsx(tables: Sequence[Table], as_of: str) -> bytes:
    when = datetime.fromisoformat(as_of).astimezone(UTC).replace(tzinfo=None, microsecond=0)
    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    for table in tables:
        _fill(wb.create_sheet(sheet_name(table.title, taken)), table)
    wb.properties.created = wb.properties.modified = when
    wb.properties.creator = "jiaodong"
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _stamped(raw.getvalue(), when)
