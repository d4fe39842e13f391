"""The SLA report's HTML file in a real browser (headless Debian chromium, see conftest.py): the
page opens from disk with no request to anywhere, its title is there and every chart is drawn
with a size. ``JD_SCREENSHOT=1`` also saves a full-page screenshot to docs/report.png."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from jiaodong.reports import write
from tests.helpers.report_sample import sample_report

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
TITLE = "胶东区域跨城委托办理时效报告"


async def test_report_page_shows_title_and_charts(browser: Any, tmp_path: Path) -> None:
    page_file = write(sample_report(), "html", tmp_path / "报告.html")
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))

    await page.goto(page_file.as_uri())

    assert await page.title() == TITLE
    assert await page.locator("h1").inner_text() == TITLE
    charts = page.locator("figure.chart svg")
    assert await charts.count() >= 5
    for i in range(await charts.count()):
        box = await charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, i
    assert await page.locator("tr.marked").first.is_visible()
    assert [url for url in fetched if not url.startswith("file:")] == []
    if os.environ.get("JD_SCREENSHOT") == "1":
        await page.screenshot(path=str(REPO / "docs" / "report.png"), full_page=True)
