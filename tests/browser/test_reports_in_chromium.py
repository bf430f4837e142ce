"""The reports in a real browser: headless Chromium (Debian's `chromium`) opens each report from disk.
No console error, no request beyond the file itself, every chart drawn; a screenshot of each is kept
next to its report under test-artifacts/ (CI keeps that folder)."""

import shutil
from pathlib import Path

import pytest

from reports.html import write_comparison_report, write_run_report
from tests.browser.chromium import CHROMIUM, Chromium, Page
from tests.unit.test_report_html import ANYCAST, KEEPALIVED, write_results

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

CHARTS = """(() => {
  const charts = [...document.querySelectorAll('figure.chart svg')];
  const drawn = (svg) => [...svg.querySelectorAll('path.line, path.area, rect')]
    .some((mark) => mark.getBBox().width > 0);
  const visible = (svg) => { const box = svg.getBoundingClientRect(); return box.width > 100 && box.height >= 20; };
  return {charts: charts.length, drawn: charts.filter(drawn).length, visible: charts.filter(visible).length,
          tables: document.querySelectorAll('table tr').length};
})()"""


def open_report(report: Path) -> tuple[Page, dict]:
    """The report as Chromium loads it, its charts, and a screenshot saved next to it."""
    with Chromium() as browser:
        page = browser.open(report)
        charts = browser.evaluate(CHARTS)
        browser.screenshot(report.with_name("screenshot.png"))
    return page, charts


def assert_renders_alone(report: Path) -> None:
    page, charts = open_report(report)
    assert page.errors == []
    assert page.requests == [page.url], "the report asked for something beyond its own file"
    assert charts["charts"] > 0 and charts["tables"] > 1, charts
    assert charts["drawn"] == charts["charts"], f"empty charts: {charts}"
    assert charts["visible"] == charts["charts"], f"collapsed charts: {charts}"
    screenshot = report.with_name("screenshot.png")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000


@pytest.fixture(scope="module")
def artifacts() -> Path:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: ./suite installs Debian's chromium")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    return ARTIFACTS


def test_a_run_report_renders_alone_in_chromium(artifacts):
    report = write_run_report(write_results(artifacts / "run-anycast", ANYCAST))
    assert_renders_alone(report)


def test_a_comparison_report_renders_alone_in_chromium(artifacts):
    compare_dir = artifacts / "compare"
    write_results(compare_dir / "20260101-000000-balancer-crash-anycast", ANYCAST)
    write_results(compare_dir / "20260101-000100-balancer-crash-keepalived", KEEPALIVED)
    assert_renders_alone(write_comparison_report(compare_dir))


def test_a_report_that_fetches_something_is_caught(tmp_path):
    """The checks can fail: a page with an outside image and a script error is reported as such."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing")
    page_file = tmp_path / "report.html"
    page_file.write_text('<img src="http://example.invalid/x.png"><script>nosuchfunction()</script>')
    with Chromium() as browser:
        page = browser.open(page_file)
    assert page.requests == [page.url, "http://example.invalid/x.png"]
    assert any("nosuchfunction" in e for e in page.errors)
