"""The reports in a real browser: headless Chromium (Debian's `chromium`) opens each report from disk.
No console error, no request beyond the file itself, every chart drawn; a screenshot of each is kept
next to its report under test-artifacts/ (CI keeps that folder)."""

import re
import shutil
from pathlib import Path

import pytest

from reports.html import write_comparison_report, write_run_report
from tests.browser.chromium import CHROMIUM, Chromium, Page
from tests.unit.test_report_html import ANYCAST, KEEPALIVED, write_results

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

CHARTS = """(() => {
  const charts = [...document.querySelectorAll('figure.chart svg')];
  const drawn = (svg) => [...svg.querySelectorAll('path.line, path.area, path.probes, rect')]
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


def test_a_comparison_of_six_runs_keeps_every_chart_readable(artifacts):
    """Six runs of a scenario (three repetitions of two modes, as `--repeat 3` or runs played again give):
    they wrap at a readable width, and a one-row probe strip (keepalived's single path) is not squeezed flat."""
    compare_dir = artifacts / "six"
    for i in range(3):
        write_results(compare_dir / f"20260101-00{i}000-balancer-crash-anycast", ANYCAST)
        write_results(compare_dir / f"20260101-00{i}100-balancer-crash-keepalived", KEEPALIVED)
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


MOUSE = """((selector, index, events) => {
  const figure = document.querySelectorAll(selector)[index], svg = figure.querySelector('svg');
  const box = svg.getBoundingClientRect(), d = figure.dataset, width = svg.viewBox.baseVal.width;
  const clientX = (x) => box.left + (+d.left + x * (+d.right - +d.left)) * box.width / width;
  for (const [type, x] of events)
    svg.dispatchEvent(new MouseEvent(type, {bubbles: true, clientX: clientX(x), clientY: box.top + box.height / 2}));
})"""

STATE = """((selector) => [...document.querySelectorAll(selector)].map((figure) => ({
  readout: figure.querySelector('.readout').textContent,
  ticks: [...figure.querySelectorAll('g.x-ticks text')].map((t) => t.textContent),
  cursor: figure.querySelector('line.cursor').style.display !== 'none',
  transform: figure.querySelector('g.plot').getAttribute('transform'),
})))"""


def mouse(browser, selector: str, index: int, *events: tuple[str, float]) -> None:
    """Mouse events on a chart's plot area, at fractions of its width (0 its left edge, 1 its right)."""
    browser.evaluate(f"{MOUSE}({selector!r}, {index}, {list(map(list, events))!r})")


def test_hover_shows_the_values_zoom_changes_the_axis_and_the_modes_follow_in_a_comparison(artifacts):
    compare_dir = artifacts / "interactive"
    write_results(compare_dir / "20260101-000000-balancer-crash-anycast", ANYCAST)
    write_results(compare_dir / "20260101-000100-balancer-crash-keepalived", KEEPALIVED)
    report = write_comparison_report(compare_dir)
    latency = "figure.chart[data-readout]"
    with Chromium() as browser:
        page = browser.open(report)
        before = browser.evaluate(f"{STATE}({latency!r})")
        mouse(browser, latency, 0, ("mousemove", 0.5))
        hovered = browser.evaluate(f"{STATE}({latency!r})")
        browser.screenshot(compare_dir / "hover.png")
        mouse(browser, latency, 0, ("mousedown", 0.2), ("mousemove", 0.4), ("mouseup", 0.4))
        zoomed = browser.evaluate(f"{STATE}({latency!r})")
        mouse(browser, latency, 0, ("mousemove", 0.5))
        browser.screenshot(compare_dir / "zoomed.png")
        mouse(browser, latency, 0, ("dblclick", 0.5))
        reset = browser.evaluate(f"{STATE}({latency!r})")
        pdf = browser.print_pdf(compare_dir / "report.pdf")
    assert page.errors == [] and page.requests == [page.url]
    per_mode = len(hovered) // 2  # the same charts for each of the two modes
    first, same_chart_other_mode = hovered[0], hovered[per_mode]
    assert before[0]["readout"] == "" and not before[0]["cursor"]
    assert re.search(r"^\d+\.\d s.*p50 [\d.]+ ms.*p99 [\d.]+ ms", first["readout"]), first["readout"]
    assert first["cursor"] and same_chart_other_mode["cursor"]  # the cursor follows in the other mode's chart
    assert same_chart_other_mode["readout"].split(" s")[0] == first["readout"].split(" s")[0]  # at the same second
    assert zoomed[0]["ticks"] != before[0]["ticks"] and zoomed[0]["transform"]  # the time axis changed
    assert zoomed[per_mode]["ticks"] == zoomed[0]["ticks"]  # and the other mode's with it
    assert float(zoomed[0]["ticks"][-1]) - float(zoomed[0]["ticks"][0]) < float(before[0]["ticks"][-1])
    assert reset[0]["ticks"][0] == "0" and float(reset[0]["ticks"][-1]) >= float(zoomed[0]["ticks"][-1])
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000  # it prints


def test_the_distribution_reads_out_percentiles_and_the_probe_strips_are_drawn(artifacts):
    compare_dir = artifacts / "distribution"
    write_results(compare_dir / "20260101-000000-balancer-crash-anycast", ANYCAST)
    write_results(compare_dir / "20260101-000100-balancer-crash-keepalived", KEEPALIVED)
    report = write_comparison_report(compare_dir)
    percentiles = "[data-chart-group$='-percentiles'] figure.chart[data-readout]"
    with Chromium() as browser:
        page = browser.open(report)
        strips = browser.evaluate(
            "[...document.querySelectorAll('figure.strip')].map((f) => ({"
            "marks: [...f.querySelectorAll('path.probes')].reduce((n, p) => n + p.getAttribute('d').split('M').length - 1, 0), "
            "gap: f.querySelector('rect.gap') !== null}))"
        )
        mouse(browser, percentiles, 0, ("mousemove", 0.999))
        at_max = browser.evaluate(f"{STATE}({percentiles!r})")
        mouse(browser, percentiles, 0, ("mousedown", 0.2), ("mousemove", 0.6), ("mouseup", 0.6))
        dragged = browser.evaluate(f"{STATE}({percentiles!r})")
        browser.screenshot(compare_dir / "distribution.png")
    assert page.errors == [] and page.requests == [page.url]
    assert len(at_max) == 2  # one per mode
    assert at_max[0]["readout"].startswith("max") and "100 ms" in at_max[0]["readout"], at_max[0]["readout"]
    assert at_max[1]["cursor"] and at_max[1]["readout"].startswith("max")  # the other mode's follows
    assert dragged[0]["transform"] is None  # not a time axis: no zoom
    assert len(strips) == 2 and all(s["marks"] > 100 and s["gap"] for s in strips), strips
