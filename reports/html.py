"""HTML reports: one run, or the modes of a comparison side by side, each as one self-contained file.

The jinja2 templates in `reports/templates/` print the attributes of the view models of `reports.views`.
Nothing in the HTML is fetched from anywhere: no scripts, fonts or style sheets.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from bench.results import complete_runs
from reports.verdicts import format_ms, format_rate, format_seconds, format_share
from reports.views import ComparisonView, RunView, comparison_view, run_view

TEMPLATES = Path(__file__).parent / "templates"
REPORT_FILE = "report.html"


def environment() -> jinja2.Environment:
    """Templates in reports/templates: strict, autoescaped, with the formatting filters of reports.verdicts."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(ms=format_ms, share=format_share, rate=format_rate, seconds=format_seconds)
    return env


def render_run(view: RunView) -> str:
    return environment().get_template("run.html.j2").render(view=view)


def render_comparison(view: ComparisonView) -> str:
    return environment().get_template("comparison.html.j2").render(view=view)


def write_run_report(results_dir: Path) -> Path:
    """results_dir/report.html for one run."""
    path = results_dir / REPORT_FILE
    path.write_text(render_run(run_view(results_dir)), encoding="utf-8")
    return path


def write_comparison_report(compare_dir: Path) -> Path:
    """compare_dir/report.html from every results directory in it that has its meta.json."""
    path = compare_dir / REPORT_FILE
    path.write_text(render_comparison(comparison_view(complete_runs(compare_dir))), encoding="utf-8")
    return path
