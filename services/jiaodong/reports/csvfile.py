"""The report as one CSV file: the tables one after another, each as a title row, a header row and
its data rows, an empty row between two tables. UTF-8 with a BOM (``utf-8-sig``) so that Excel
reads the Chinese. Numbers are plain: rates as fractions (0.9565) under a header that says 率,
day figures as written, null as an empty cell."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from jiaodong.reports.model import Table


def render_csv(tables: Sequence[Table]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    for n, table in enumerate(tables):
        if n:
            writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(table.headers)
        writer.writerows(["" if v is None else v for v in row] for row in table.rows)
    return out.getvalue().encode("utf-8-sig")
