"""The SLA report's renderers (jiaodong.reports) on the sample report of tests/helpers: what a
clerk's Excel, browser or printer gets, read back with the formats' own readers."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from jiaodong import reports
from jiaodong.reports import charts
from jiaodong.reports.html import change
from jiaodong.reports.model import Kind, percent
from jiaodong.reports.tables import all_tables
from tests.helpers.report_sample import sample_report

BOM = b"\xef\xbb\xbf"
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
SECTIONS = ("summary", "pairs", "task-types", "asset-kinds", "courts", "aging", "weekly")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return sample_report()


@pytest.fixture(scope="module")
def rendered(report: dict[str, Any]) -> dict[str, bytes]:
    return {fmt: reports.render(report, fmt) for fmt in reports.FORMATS}


def csv_tables(data: bytes) -> dict[str, list[list[str]]]:
    """The CSV's tables by title: header row first, then the data rows."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    tables: dict[str, list[list[str]]] = {}
    for block in _blocks(rows):
        tables[block[0][0]] = block[1:]
    return tables


def _blocks(rows: list[list[str]]) -> list[list[list[str]]]:
    blocks: list[list[list[str]]] = [[]]
    for row in rows:
        if row:
            blocks[-1].append(row)
        else:
            blocks.append([])
    return blocks


def by_header(headers: list[str], row: list[Any]) -> dict[str, Any]:
    return dict(zip(headers, row, strict=True))


def test_csv_starts_with_a_bom_and_keeps_the_chinese(rendered: dict[str, bytes]) -> None:
    data = rendered["csv"]
    assert data.startswith(BOM)
    assert "城市对" in data.decode("utf-8-sig")
    assert not data[3:].startswith(BOM)


def test_csv_has_every_table_once_separated_by_one_empty_row(
    report: dict[str, Any], rendered: dict[str, bytes]
) -> None:
    rows = list(csv.reader(io.StringIO(rendered["csv"].decode("utf-8-sig"), newline="")))
    titles = [t.title for t in all_tables(report)]
    blocks = _blocks(rows)
    assert [b[0] for b in blocks] == [[t] for t in titles]
    assert all(len(b) >= 2 for b in blocks)  # a title and a header at least


def test_csv_pair_rows_carry_the_dicts_numbers(
    report: dict[str, Any], rendered: dict[str, bytes]
) -> None:
    header, *rows = csv_tables(rendered["csv"])["城市对"]
    assert len(rows) == len(report["pairs"])
    for row, pair in zip(rows, report["pairs"], strict=True):
        got = by_header(header, row)
        assert got["委托城市代码"] == pair["requesting_city"]
        assert got["委托城市"] == pair["requesting_city_name"]
        assert got["受托城市代码"] == pair["entrusted_city"]
        assert got["受托城市"] == pair["entrusted_city_name"]
        assert int(got["发出"]) == pair["sent"]
        assert int(got["超期次数"]) == pair["breaches"]
        assert float(got["按时率"]) == pair["on_time_rate"]
        assert float(got["办结率"]) == pair["completion_rate"]
        assert float(got["办结用时P90（工作日）"]) == pair["complete_days"]["p90"]
        before = pair["previous"]["on_time_rate"]
        assert got["上期按时率"] == ("" if before is None else str(before))


def test_csv_writes_null_as_an_empty_cell(rendered: dict[str, bytes]) -> None:
    header, *rows = csv_tables(rendered["csv"])["周趋势"]
    assert by_header(header, rows[3])["按时率"] == ""


def test_xlsx_sheets_are_the_tables_with_frozen_bold_headers(
    report: dict[str, Any], rendered: dict[str, bytes]
) -> None:
    wb = load_workbook(io.BytesIO(rendered["xlsx"]))
    assert wb.sheetnames == [t.title for t in all_tables(report)]
    for ws in wb.worksheets:
        assert len(ws.title) <= 31
        assert ws.freeze_panes == "A2"
        assert all(cell.font.bold for cell in ws[1])


def test_xlsx_cells_equal_the_dict(report: dict[str, Any], rendered: dict[str, bytes]) -> None:
    ws = load_workbook(io.BytesIO(rendered["xlsx"]))["城市对"]
    header = [c.value for c in ws[1]]
    for r, pair in enumerate(report["pairs"], start=2):
        got = by_header(header, [c.value for c in ws[r]])
        assert got["委托城市代码"] == pair["requesting_city"]
        assert got["委托城市"] == pair["requesting_city_name"]
        assert got["发出"] == pair["sent"]
        assert got["按时率"] == pair["on_time_rate"]
        assert got["签收用时中位数（工作日）"] == pair["acknowledge_days"]["median"]
        assert got["上期按时率"] == pair["previous"]["on_time_rate"]
    rate = ws.cell(row=2, column=header.index("按时率") + 1)
    assert rate.number_format == "0.0%"


def test_xlsx_marks_the_courts_of_the_three_week_notice(rendered: dict[str, bytes]) -> None:
    ws = load_workbook(io.BytesIO(rendered["xlsx"]))["法院排名（受托法院）"]
    filled = {r[2].value for r in ws.iter_rows(min_row=2) if r[0].fill.fill_type == "solid"}
    assert filled == {"威海市环翠区人民法院"}


def test_html_is_chinese_with_charts_and_a_table_of_contents(
    report: dict[str, Any], rendered: dict[str, bytes]
) -> None:
    page = rendered["html"].decode("utf-8")
    assert '<html lang="zh-CN">' in page
    assert page.count("<svg") >= 5
    for anchor in (*SECTIONS, "definitions"):
        assert f'href="#{anchor}"' in page
        assert f'id="{anchor}"' in page
    for court in report["courts"]:
        assert court["court_name"] in page
    assert "docs/reports.md" in page
    assert "<script" not in page


def test_html_shows_percentages_and_dashes(rendered: dict[str, bytes]) -> None:
    page = rendered["html"].decode("utf-8")
    assert ">97.4%<" in page  # qingdao -> yantai, 0.9744
    assert ">—<" in page  # the last week's rate is null
    marked = re.findall(r'<tr class="marked">(.*?)</tr>', page)
    assert marked and all("威海市环翠区人民法院" in row for row in marked)


def test_html_names_no_address_but_the_svg_namespaces(rendered: dict[str, bytes]) -> None:
    addresses = set(re.findall(r"https?://[^\s\"'<>)]*", rendered["html"].decode("utf-8")))
    assert addresses <= NAMESPACES


def test_html_escapes_the_reports_text() -> None:
    report = sample_report()
    report["courts"][0]["court_name"] = '<img src=x onerror="alert(1)">法院'
    page = reports.render(report, "html").decode("utf-8")
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;法院" in page


def test_json_is_the_dict_itself(report: dict[str, Any], rendered: dict[str, bytes]) -> None:
    text = rendered["json"].decode("utf-8")
    assert json.loads(text) == report
    assert text.endswith("}\n")
    assert "胶东区域" in text


@pytest.mark.parametrize("fmt", reports.FORMATS)
def test_the_same_report_gives_the_same_bytes(report: dict[str, Any], fmt: str) -> None:
    assert reports.render(report, fmt) == reports.render(sample_report(), fmt)


def test_a_bad_format_is_refused_naming_the_formats(report: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="html, csv, xlsx, json"):
        reports.render(report, "pdf")


def test_write_replaces_the_file_whole(report: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out" / "报告.csv"
    out.parent.mkdir()
    out.write_bytes(b"old")
    assert reports.write(report, "csv", out) == out
    assert out.read_bytes() == reports.render(report, "csv")
    assert [p.name for p in out.parent.iterdir()] == ["报告.csv"]
    assert out.stat().st_mode & 0o777 == 0o644


def test_write_leaves_nothing_behind_on_a_bad_format(
    report: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(ValueError):
        reports.write(report, "pdf", tmp_path / "r.pdf")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("r.html", None, "html"),
        ("r.XLSX", None, "xlsx"),
        ("r.json", "csv", "csv"),  # --format wins over the suffix
        ("r", "json", "json"),
    ],
)
def test_format_for(name: str, given: str | None, expected: str) -> None:
    assert reports.format_for(Path(name), given) == expected


@pytest.mark.parametrize(("name", "given"), [("r.pdf", None), ("r", None), ("r.csv", "pdf")])
def test_format_for_refuses_in_chinese(name: str, given: str | None) -> None:
    with pytest.raises(ValueError, match="格式"):
        reports.format_for(Path(name), given)


def test_charts_without_the_cjk_font_warn_and_still_draw(
    report: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "CJK_FAMILY", "No Such Font JD")
    monkeypatch.setattr(charts, "CJK_FILES", ())
    with pytest.warns(UserWarning, match="fonts-noto-cjk"):
        drawn = charts.draw(report)
    assert all(svg.startswith("<svg") for svg in drawn.values())


@pytest.mark.parametrize(
    ("rate", "shown"), [(0.9565, "95.7%"), (1.0, "100.0%"), (0.0, "0.0%"), (None, "—")]
)
def test_percent(rate: float | None, shown: str) -> None:
    assert percent(rate) == shown


def test_change_from_the_previous_period() -> None:
    assert change(0.9578, 0.9204, Kind.RATE) == "+3.7 个百分点"
    assert change(90, 100, Kind.COUNT) == "−10"
    assert change(3, 3, Kind.COUNT) == "持平"
    assert change(None, 0.9, Kind.RATE) == "—"


def test_a_report_with_nothing_in_its_lists_renders_in_every_format() -> None:
    report = sample_report()
    for key in ("pairs", "task_types", "asset_kinds", "courts", "aging", "weekly"):
        report[key] = []
    report["ranking"] = {"best": [], "worst": [], "late_three_weeks": []}
    for fmt in reports.FORMATS:
        assert reports.render(report, fmt)
    page = reports.render(report, "html").decode("utf-8")
    assert page.count("<svg") >= 5
    assert "本期无数据" in page
    assert "本期无连续三周超期的法院" in page
