"""`bench publish RESULTS... --out DIR`: a static site of runs and comparisons that opens offline: an index
with each one's headline figures and verdicts, every report copied beside it (and Locust's own), and a
history of each scenario's figures across the runs given (how the gap moved between versions or settings)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.results import RunDir, complete_runs, load_run, run_label
from reports.charts import Chart, svg_line_chart
from reports.html import REPORT_FILE, environment, write_comparison_report, write_run_report
from reports.repeats import fault_verdicts
from reports.run_summary import RunSummary, summary_of
from reports.verdicts import format_ms

INDEX = "index.html"
HISTORY_COLORS = ("#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442")


@dataclass(frozen=True)
class PublishedRun:
    name: str  # the run directory's
    started: str  # UTC, to the second
    scenario: str
    mode: str
    label: str  # the mode with its repetition and attempt
    valid: bool
    invalid: str  # why not, in one line ("" when valid)
    gap: str  # the first fault's failover gap, as the tables print it ("-": no fault)
    gap_ms: float | None  # the same; None: no fault, or a gap that never ended
    p99_ms: str
    failed: int
    throughput_rps: float
    suite: str  # the suite's git revision the run was made with
    report: str  # link, relative to the index
    locust: str | None  # link to Locust's own report, when the run kept one
    comparison: str | None  # the comparison it belongs to


@dataclass(frozen=True)
class PublishedComparison:
    name: str
    started: str
    modes: list[str]
    scenarios: list[str]
    verdicts: list[str]  # per scenario and fault: whose gap was shorter, in how many runs
    invalid: int  # runs that were not valid measurements
    report: str


@dataclass(frozen=True)
class ScenarioHistory:
    scenario: str
    runs: list[PublishedRun]  # in time order
    chart: Chart  # each mode's first-fault gap, run after run


@dataclass(frozen=True)
class SiteView:
    title: str
    comparisons: list[PublishedComparison]
    runs: list[PublishedRun]
    histories: list[ScenarioHistory]


def is_comparison(directory: Path) -> bool:
    """A directory `bench compare` made: its comparison.json, or its name (`...-compare`), and its runs."""
    named = (directory / "comparison.json").exists() or directory.name.endswith("-compare")
    return named and bool(complete_runs(directory))


def find_results(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """The comparisons and the single runs under the paths given (each a run, a comparison, or a folder of
    them, as `bench`'s --results), each once."""
    comparisons: list[Path] = []
    runs: list[Path] = []
    for path in paths:
        for candidate in [path] if RunDir(path).meta.exists() or is_comparison(path) else sorted(path.iterdir()):
            if RunDir(candidate).meta.exists():
                runs.append(candidate)
            elif candidate.is_dir() and is_comparison(candidate):
                comparisons.append(candidate)
    return list(dict.fromkeys(c.resolve() for c in comparisons)), list(dict.fromkeys(r.resolve() for r in runs))


def publish(paths: Sequence[Path], out: Path) -> Path:
    """Write the site into `out` (reports built where missing); returns its index."""
    comparisons, single_runs = find_results(paths)
    if not comparisons and not single_runs:
        raise FileNotFoundError(f"no run or comparison under {', '.join(str(p) for p in paths)}")
    out.mkdir(parents=True, exist_ok=True)
    published_comparisons, published_runs = [], []
    for directory in comparisons:
        link = _copy_report(directory, write_comparison_report, out / "comparisons" / directory.name, out)
        summaries = [_summary(d) for d in complete_runs(directory)]
        published_comparisons.append(_comparison(directory, summaries, link))
        published_runs += [_run(d, s, out, directory.name) for d, s in zip(complete_runs(directory), summaries)]
    published_runs += [_run(d, _summary(d), out, None) for d in single_runs]
    published_runs.sort(key=lambda r: (r.started, r.name))
    view = SiteView(
        title=f"Published results: {len(published_comparisons)} comparisons, {len(published_runs)} runs",
        comparisons=sorted(published_comparisons, key=lambda c: c.started, reverse=True),
        runs=list(reversed(published_runs)),
        histories=_histories(published_runs),
    )
    index = out / INDEX
    index.write_text(environment().get_template("publish.html.j2").render(view=view))
    return index


def _summary(directory: Path) -> RunSummary:
    return summary_of(load_run(directory))


def _copy_report(directory: Path, write, target: Path, out: Path) -> str:
    """The directory's report (built if missing) copied to `target`; its link from the index."""
    report = directory / REPORT_FILE
    if not report.exists():
        write(directory)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(report, target / REPORT_FILE)
    return str((target / REPORT_FILE).relative_to(out))


def _run(directory: Path, s: RunSummary, out: Path, comparison: str | None) -> PublishedRun:
    target = out / "runs" / (f"{comparison}-{directory.name}" if comparison else directory.name)
    report = _copy_report(directory, write_run_report, target, out)
    locust = None
    kept = RunDir(directory).locust_report
    if kept.exists():
        shutil.copy2(kept, target / kept.name)
        locust = str((target / kept.name).relative_to(out))
    first = s.faults[0] if s.faults else None
    meta = RunDir(directory).read_meta()
    return PublishedRun(
        name=directory.name,
        started=_utc(s.started_us),
        scenario=s.scenario,
        mode=s.mode,
        label=run_label(s.mode, s.repetition, s.attempt, numbered=True),
        valid=s.validity.valid,
        invalid="; ".join(s.validity.reasons),
        gap="-" if first is None else format_ms(first.gap_ms) if first.recovered else "never",
        gap_ms=first.gap_ms if first is not None and first.recovered else None,
        p99_ms=format_ms(s.p99_ms),
        failed=s.failed,
        throughput_rps=s.throughput_rps,
        suite=meta.versions.get("suite", "unknown"),
        report=report,
        locust=locust,
        comparison=comparison,
    )


def _comparison(directory: Path, summaries: list[RunSummary], report: str) -> PublishedComparison:
    valid = [s for s in summaries if s.validity.valid]
    verdicts = []
    for scenario in dict.fromkeys(s.scenario for s in valid):
        verdicts += [f"{scenario}: {line}" for line in fault_verdicts([s for s in valid if s.scenario == scenario])]
    return PublishedComparison(
        name=directory.name,
        started=_utc(min(s.started_us for s in summaries)),
        modes=list(dict.fromkeys(s.mode for s in summaries)),
        scenarios=list(dict.fromkeys(s.scenario for s in summaries)),
        verdicts=verdicts,
        invalid=len(summaries) - len(valid),
        report=report,
    )


def _histories(runs: list[PublishedRun]) -> list[ScenarioHistory]:
    """Per scenario, its runs in time order, and a chart of each mode's gap over its own runs in turn (the
    n-th valid run of each mode at n)."""
    histories = []
    for scenario in sorted({r.scenario for r in runs}):
        rows = [r for r in runs if r.scenario == scenario]
        modes = list(dict.fromkeys(r.mode for r in rows))
        per_mode = {mode: [r.gap_ms for r in rows if r.mode == mode and r.valid] for mode in modes}
        longest = max((len(v) for v in per_mode.values()), default=0)
        gaps = {
            mode: (HISTORY_COLORS[i % len(HISTORY_COLORS)], values + [None] * (longest - len(values)))
            for i, (mode, values) in enumerate(per_mode.items())
        }
        highest = max((v for _, values in gaps.values() for v in values if v is not None), default=1.0)
        x = [float(n) for n in range(1, longest + 1)]
        chart = svg_line_chart(
            x, gaps, x_max=longest + 1.0, y_max=highest, y_unit="gap, ms", markers=[], value_unit=" ms", x_unit="run"
        )
        histories.append(ScenarioHistory(scenario, rows, chart))
    return histories


def _utc(t_us: int) -> str:
    return datetime.fromtimestamp(t_us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
