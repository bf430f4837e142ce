"""HTML reports: one run, or the modes of a comparison side by side, each as one self-contained file.

A results directory becomes a plain view-model dict (numbers, strings, lists: JSON-serializable)
computed with pandas and the definitions of `reports.metrics`; charts are inline SVG whose geometry
(paths, ticks, markers) is computed here, so the jinja2 templates in `reports/templates/` only print
fields. Nothing in the HTML is fetched from anywhere: no scripts, fonts or style sheets.

Time on the charts is seconds since the run's start (`meta.json` `started_us`); a record belongs to
the second in which it started, as every window in `reports.metrics`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

import jinja2
import numpy as np
import pandas as pd

from bench.results import Run, RunMeta, complete_runs, load_run
from loadgen.records import OK
from reports.health import health_changes
from reports.metrics import (
    FAILED_OUTCOMES,
    FaultMetrics,
    SiteLocality,
    Summary,
    backend_share,
    balancer_share,
    fault_report,
    locality,
    phases,
    summary,
)
from stand.model.events import FaultEvent

TEMPLATES = Path(__file__).parent / "templates"
REPORT_FILE = "report.html"
USED_SHARE = 0.05  # a balancer "is used" when it carries at least this part of the ok requests
LOCAL_SHARE = 0.95  # a site "stays local" when its own site's balancers serve at least this part of its ok requests
UNKNOWN_SITE = "site unknown"
CHART_WIDTH, CHART_HEIGHT = 640, 210
MARGIN_LEFT, MARGIN_TOP, MARGIN_RIGHT, MARGIN_BOTTOM = 52, 16, 12, 30
BAR_HEIGHT, BAR_LABEL_WIDTH = 18, 80
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#999999", "#000000")
P50_COLOR, P99_COLOR, OK_COLOR, ERROR_COLOR = "#0072b2", "#e69f00", "#009e73", "#d55e00"
CLAIMS = (  # the seed's claims 1, 2 and 3 about VIP designs (shared/SEED.md)
    "All traffic goes through the one node that holds the VIP; the other balancers sit idle.",
    "With balancers in several data centres, traffic crosses cities for nothing.",
    "Moving the VIP after a node fails takes 2-10 s, visible to the application.",
)

View = dict[str, Any]


class Marker(TypedDict):
    """A fault or an undo on the time axis."""

    t_s: float  # seconds since the run's start
    action: str  # "fault" or "undo"
    label: str


class Scale(NamedTuple):
    """The axes a chart set is drawn on; modes compared side by side share one."""

    seconds: float  # length of the time axis
    latency_ms: float  # the highest latency to fit
    rate: float  # the highest per-second count to fit
    balancers: tuple[str, ...]  # legend order and colours


class Plot(NamedTuple):
    """Maps data to SVG coordinates inside the margins of a `width` x `height` chart."""

    width: float
    height: float
    x_max: float
    y_max: float

    def x(self, value: float) -> float:
        inner = self.width - MARGIN_LEFT - MARGIN_RIGHT
        return round(MARGIN_LEFT + inner * value / self.x_max, 1)

    def y(self, value: float) -> float:
        inner = self.height - MARGIN_TOP - MARGIN_BOTTOM
        return round(self.height - MARGIN_BOTTOM - inner * value / self.y_max, 1)


# Loading


def site_parts(requests: pd.DataFrame, probe: pd.DataFrame) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """(site, requests, probe): the whole run first (named after its site when there is only one),
    then each site when the records come from several."""
    sites = sorted(set(requests["site"].dropna()) | set(probe["site"].dropna()))
    if len(sites) <= 1:
        return [(sites[0] if sites else "all", requests, probe)]
    by_site = [(s, requests[requests["site"] == s], probe[probe["site"] == s]) for s in sites]
    return [("all", requests, probe), *by_site]


# Figures


def per_second_series(run: Run) -> View:
    """Per second of the run: p50 and p99 of ok latencies, ok and failed requests per second, and
    each balancer's share of the ok requests (0 where a second has none)."""
    started_us = run.meta.started_us
    duration_s = (run.meta.ended_us - started_us) / 1e6
    bins = max(0, math.ceil(duration_s))
    start_us = run.requests["start_us"].to_numpy(dtype=np.int64)
    second = (start_us - started_us) // 1_000_000
    inside = (start_us >= started_us) & (start_us < run.meta.ended_us)
    ok = (run.requests["outcome"] == OK).to_numpy(dtype=bool)
    served = inside & ok
    seconds_long = np.clip(duration_s - np.arange(bins), 0, 1)  # the last second may be cut short
    latency = run.requests["latency_ms"].to_numpy(dtype=float)[served]
    quantiles = (
        pd.Series(latency).groupby(second[served]).quantile([0.5, 0.99]).unstack()
        if served.any() else pd.DataFrame(columns=[0.5, 0.99])
    ).reindex(index=range(bins), columns=[0.5, 0.99])  # fmt: skip
    return {
        "duration_s": duration_s,
        "second": list(range(bins)),
        "p50_ms": _floats(quantiles[0.5].to_numpy()),
        "p99_ms": _floats(quantiles[0.99].to_numpy()),
        "ok_per_s": _floats(np.bincount(second[served], minlength=bins) / seconds_long),
        "errors_per_s": _floats(np.bincount(second[inside & ~ok], minlength=bins) / seconds_long),
        "balancer_share": _shares_per_second(run.requests["balancer"], second, served, bins),
    }


def _shares_per_second(hosts: pd.Series, second: np.ndarray, served: np.ndarray, bins: int) -> dict[str, list]:
    """Each host's part of the served records of every second (ok records with an unknown host left out)."""
    counted = served & hosts.notna().to_numpy(dtype=bool)
    codes, names = pd.factorize(hosts[counted], sort=True)
    counts = np.bincount(second[counted] * len(names) + codes, minlength=bins * len(names))
    counts = counts.reshape(bins, len(names))
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    return {str(name): _floats(shares[:, i]) for i, name in enumerate(names)}


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.astype(float).tolist()]


def event_markers(events: Sequence[FaultEvent], started_us: int) -> list[Marker]:
    """Every fault and undo at its second since the run's start."""
    return [Marker(t_s=(e.t_us - started_us) / 1e6, action=e.action,
                   label=f"{'undo ' if e.action == 'undo' else ''}{e.fault} {e.target}")
            for e in events]  # fmt: skip


def fault_keys(events: Sequence[FaultEvent]) -> list[str]:
    """A name per fault event, as `fault_report` lists them: "FAULT TARGET", with "#n" on repeats."""
    seen: list[tuple[str, str]] = []
    keys = []
    for event in events:
        if event.action == "fault":
            pair = (event.fault, event.target)
            repeat = seen.count(pair)
            seen.append(pair)
            keys.append(f"{pair[0]} {pair[1]}" + (f" #{repeat + 1}" if repeat else ""))
    return keys


def gap_text(gap_ms: float | None, recovered: bool, confirmed: bool, probes: int) -> str:
    """A failover gap as a table shows it; "*" when the ok run reached the undo before `stable_ms`."""
    if probes == 0:
        return "no probe"
    if not recovered or gap_ms is None:
        return "not recovered"
    return f"{format_ms(gap_ms)} ms" + ("" if confirmed else "*")


def failover_row(site: str, key: str, metrics: FaultMetrics, started_us: int) -> View:
    """One fault in the failover table."""
    gap = metrics.gap
    return {
        "label": site, "site": site, "key": key, "fault": metrics.fault, "target": metrics.target,
        "at_s": (metrics.fault_us - started_us) / 1e6,
        "undo_at_s": None if metrics.undo_us is None else (metrics.undo_us - started_us) / 1e6,
        "gap_ms": gap.gap_ms, "gap_text": gap_text(gap.gap_ms, gap.recovered, gap.confirmed, gap.probes),
        "recovered": gap.recovered, "confirmed": gap.confirmed, "resolution_ms": gap.resolution_ms,
        "probes": gap.probes, "failed_probes": metrics.failed_probes, "failed_requests": metrics.failed_requests,
        "collateral_broken_connections": metrics.collateral_broken_connections,
        "recovery_ms": metrics.recovery_ms, "balancer_share": metrics.balancer_share,
    }  # fmt: skip


def locality_sites(meta: RunMeta, requests: pd.DataFrame) -> dict[str, str] | None:
    """The host -> site mapping to measure locality with: meta.json's, when the run spans more than one site
    (the hosts' sites and the clients' sites together); None for a single site, or for older results that
    do not record it."""
    if meta.sites is None:
        return None
    every_site = set(meta.sites.values()) | set(requests["site"].dropna())
    return dict(meta.sites) if len(every_site) > 1 else None


def locality_row(labels: Sequence[str], figures: SiteLocality, sites: Mapping[str, str]) -> View:
    """One client site in the locality table; the balancers that served it by share, largest first."""
    served = sorted(figures.balancer_share.items(), key=lambda item: (-item[1], item[0]))
    return {
        "labels": list(labels), "site": figures.site, "requests": figures.requests,
        "local_share": figures.local_share, "p50_ms": figures.p50_ms, "p50_local_ms": figures.p50_local_ms,
        "added_ms": figures.added_ms,
        "balancers": [{"host": host, "site": sites.get(host, UNKNOWN_SITE), "share": share} for host, share in served],
    }  # fmt: skip


def headline_row(site: str, totals: Summary, failover: Sequence[View]) -> View:
    """One line of the headline table: totals of the run (or of a site) and its gap per fault."""
    return {
        "label": site, "site": site, "requests": totals.requests, "ok": totals.ok, "failed": totals.failed,
        "failed_by_outcome": totals.failed_by_outcome, "throughput_rps": totals.throughput_rps,
        "p50_ms": totals.p50_ms, "p95_ms": totals.p95_ms, "p99_ms": totals.p99_ms, "max_ms": totals.max_ms,
        "gaps": {row["key"]: row["gap_text"] for row in failover},
    }  # fmt: skip


# Charts


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """0 and multiples of a 1-2-5 step up to the first one at or above `top` (about `count` steps)."""
    top = top if top > 0 else 1.0
    rough = top / count
    magnitude = 10 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough * (1 - 1e-9))
    steps = math.ceil(top / step - 1e-9)
    return [round(i * step, 9) for i in range(steps + 1)]


def _tick_label(value: float) -> str:
    return f"{value:g}"


def _chart_frame(plot: Plot, y_ticks: Sequence[float], y_labels: Sequence[str], y_unit: str,
                 markers: Sequence[Marker]) -> View:  # fmt: skip
    """What every chart has: size, plot area, ticks on both axes and the event markers."""
    return {
        "width": plot.width, "height": plot.height,
        "left": MARGIN_LEFT, "top": MARGIN_TOP, "right": plot.width - MARGIN_RIGHT,
        "bottom": plot.height - MARGIN_BOTTOM,
        "x_ticks": [{"x": plot.x(t), "label": _tick_label(t)} for t in nice_ticks(plot.x_max, 8) if t <= plot.x_max],
        "y_ticks": [{"y": plot.y(t), "label": label} for t, label in zip(y_ticks, y_labels)],
        "y_unit": y_unit, "x_unit": "s since start",
        "markers": [{"x": plot.x(m["t_s"]), "action": m["action"], "label": m["label"]}
                    for m in markers if 0 <= m["t_s"] <= plot.x_max],
        "lines": [], "areas": [], "legend": [],
    }  # fmt: skip


def _polyline(plot: Plot, xs: Sequence[float], ys: Sequence[float | None]) -> str:
    """An SVG path through the points; a missing value lifts the pen."""
    parts, pen_down = [], False
    for x, y in zip(xs, ys):
        if y is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{plot.x(x)},{plot.y(y)}")
        pen_down = True
    return " ".join(parts)


def svg_line_chart(x: Sequence[float], lines: Mapping[str, tuple[str, Sequence[float | None]]], *, x_max: float,
                   y_max: float, y_unit: str, markers: Sequence[Marker], width: float = CHART_WIDTH,
                   height: float = CHART_HEIGHT) -> View:  # fmt: skip
    """Lines (name -> (colour, values at `x`)) on axes from 0 to `x_max` and to a tick at or above `y_max`."""
    y_ticks = nice_ticks(y_max)
    plot = Plot(width, height, x_max if x_max > 0 else 1.0, y_ticks[-1])
    chart = _chart_frame(plot, y_ticks, [_tick_label(t) for t in y_ticks], y_unit, markers)
    chart["lines"] = [{"name": name, "color": color, "path": _polyline(plot, x, values)}
                      for name, (color, values) in lines.items()]  # fmt: skip
    chart["legend"] = [{"name": name, "color": color} for name, (color, _) in lines.items()]
    return chart


def svg_stacked_area(seconds: Sequence[float], layers: Mapping[str, tuple[str, Sequence[float | None]]], *,
                     x_max: float, markers: Sequence[Marker], width: float = CHART_WIDTH,
                     height: float = CHART_HEIGHT) -> View:  # fmt: skip
    """Shares (name -> (colour, value per second in 0..1)) stacked bottom-up in the given order, each
    value a step from its second's start to the next second (or `x_max`)."""
    y_ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    plot = Plot(width, height, x_max if x_max > 0 else 1.0, 1.0)
    chart = _chart_frame(plot, y_ticks, [f"{t:.0%}" for t in y_ticks], "share of ok requests", markers)
    steps = [x for start in seconds for x in (start, min(start + 1, plot.x_max))]
    floor = np.zeros(len(steps))
    for name, (color, values) in layers.items():
        ceiling = floor + np.repeat(np.nan_to_num(np.asarray(values, dtype=float)), 2)
        if steps:
            upper = [f"{plot.x(x)},{plot.y(y)}" for x, y in zip(steps, ceiling.tolist())]
            lower = [f"{plot.x(x)},{plot.y(y)}" for x, y in zip(reversed(steps), floor[::-1].tolist())]
            chart["areas"].append({"name": name, "color": color, "path": f"M{' L'.join(upper + lower)} Z"})
        chart["legend"].append({"name": name, "color": color})
        floor = ceiling
    return chart


def svg_share_bars(shares: Mapping[str, float], colors: Mapping[str, str], width: float = CHART_WIDTH) -> View:
    """Horizontal bars, one per host, as long as its share (0..1)."""
    inner = width - BAR_LABEL_WIDTH - 60
    bars = [{"label": host, "y": i * (BAR_HEIGHT + 4), "x": BAR_LABEL_WIDTH, "width": round(inner * share, 1),
             "text_x": round(BAR_LABEL_WIDTH + inner * share + 4, 1), "text": f"{share:.1%}",
             "color": colors.get(host, PALETTE[0])}
            for i, (host, share) in enumerate(shares.items())]  # fmt: skip
    return {"width": width, "height": max(1, len(bars) * (BAR_HEIGHT + 4)), "bar_height": BAR_HEIGHT, "bars": bars}


def scale_of(series: View) -> Scale:
    """The axes that fit one run's series."""
    latencies = [v for v in series["p99_ms"] if v is not None]
    rates = [v for v in series["ok_per_s"] + series["errors_per_s"] if v is not None]
    return Scale(series["duration_s"], max(latencies, default=1.0), max(rates, default=1.0),
                 tuple(series["balancer_share"]))  # fmt: skip


def common_scale(scales: Sequence[Scale]) -> Scale:
    """Axes that fit every one of `scales`."""
    return Scale(max(s.seconds for s in scales), max(s.latency_ms for s in scales), max(s.rate for s in scales),
                 tuple(sorted({b for s in scales for b in s.balancers})))  # fmt: skip


def balancer_colors(scale: Scale) -> dict[str, str]:
    return {host: PALETTE[i % len(PALETTE)] for i, host in enumerate(scale.balancers)}


def run_charts(series: View, markers: Sequence[Marker], scale: Scale) -> View:
    """Latency, throughput and errors, and balancer shares per second, on `scale`."""
    x = [(s + min(s + 1, series["duration_s"])) / 2 for s in series["second"]]  # a second's figure at its middle
    colors = balancer_colors(scale)
    return {
        "latency": svg_line_chart(
            x, {"p50": (P50_COLOR, series["p50_ms"]), "p99": (P99_COLOR, series["p99_ms"])},
            x_max=scale.seconds, y_max=scale.latency_ms, y_unit="ms (ok requests)", markers=markers),
        "throughput": svg_line_chart(
            x, {"ok/s": (OK_COLOR, series["ok_per_s"]), "errors/s": (ERROR_COLOR, series["errors_per_s"])},
            x_max=scale.seconds, y_max=scale.rate, y_unit="requests per s", markers=markers),
        "balancers": svg_stacked_area(
            series["second"], {host: (colors[host], shares) for host, shares in series["balancer_share"].items()},
            x_max=scale.seconds, markers=markers),
    }  # fmt: skip


# Views


def run_view(results_dir: Path) -> View:
    """The view model of one run's report."""
    run = load_run(results_dir)
    series = per_second_series(run)
    return _run_view(run, series, scale_of(series))


def _run_view(run: Run, series: View, scale: Scale) -> View:
    """The view model of a loaded run, its charts drawn on `scale`."""
    meta = run.meta
    started_us, ended_us = meta.started_us, meta.ended_us
    markers = event_markers(run.events, started_us)
    keys = fault_keys(run.events)
    headline_rows, failover_rows = [], []
    for site, requests, probe in site_parts(run.requests, run.probe):
        report = fault_report(requests, probe, run.events, ended_us)
        rows = [failover_row(site, key, metrics, started_us) for key, metrics in zip(keys, report)]
        headline_rows.append(headline_row(site, summary(requests, started_us, ended_us), rows))
        failover_rows += rows
    before = phases(run.events, started_us, ended_us)[0]
    sites = locality_sites(meta, run.requests)
    local_rows = local_before = None
    if sites is not None:
        local_rows = [locality_row([f.site], f, sites) for f in locality(run.requests, sites, started_us, ended_us)]
        local_before = [locality_row([f.site], f, sites)
                        for f in locality(run.requests, sites, before.start_us, before.end_us)]  # fmt: skip
    balancers = balancer_share(run.requests, started_us, ended_us)
    backends = backend_share(run.requests, started_us, ended_us)
    scenario = meta.scenario
    return {
        "title": f"{scenario['name']} in {meta.mode} mode",
        "directory": run.directory.name,
        "mode": meta.mode,
        "scenario_name": scenario["name"],
        "sites": [row["site"] for row in headline_rows],
        "headline": {"first_column": "site", "outcomes": list(FAILED_OUTCOMES), "faults": keys, "rows": headline_rows},
        "failover": {"first_column": "site", "rows": failover_rows},
        # None: a single site, or older results without meta.json's "sites"
        "locality": None if local_rows is None else {"first_columns": ["site"], "rows": local_rows},
        "locality_before_first_fault": local_before,
        "series": series,
        "markers": markers,
        "balancer_share": balancers,
        "backend_share": backends,
        "balancers_before_first_fault": balancer_share(run.requests, before.start_us, before.end_us),
        "before_first_fault_s": (before.end_us - before.start_us) / 1e6,
        "charts": run_charts(series, markers, scale),
        "share_bars": {
            "balancers": svg_share_bars(balancers, balancer_colors(scale), CHART_WIDTH / 2),
            "backends": svg_share_bars(backends, {}, CHART_WIDTH / 2),
        },
        "health": health_view(run),
        "about": about_run(meta),
    }  # fmt: skip


def health_view(run: Run) -> View:
    """The run's health decisions that changed something, each marked false or with what explains it."""
    meta = run.meta
    started_us = meta.started_us
    changes = health_changes(run.decisions, run.events, meta.balancers, started_us, meta.ended_us, run.requests,
                             vip_mode=meta.vip_mode)  # fmt: skip
    rows = [{"at_s": (c.t_us - started_us) / 1e6, "host": c.host, "source": c.source, "state": c.state,
             "evidence": c.evidence, "reason": c.reason, "false": c.false, "explained_by": c.explained_by,
             "served_ok_before": c.served_ok_before} for c in changes]  # fmt: skip
    return {"recorded": bool(run.decisions), "rows": rows, "false": sum(c.false for c in changes),
            "what": "false failovers" if meta.vip_mode else "false withdrawals"}  # fmt: skip


def about_run(meta: RunMeta) -> View:
    """Scenario, run, settings and versions, as tables of printable values."""
    scenario = meta.scenario
    return {
        "scenario": {
            "name": scenario["name"], "description": scenario["description"],
            "facts": [["duration", f"{scenario['duration_s']:g} s"], *flatten(scenario["load"], "load.")],
            "timeline": [{"at_s": step["at_s"], "action": step["action"], "fault": step["fault"],
                          "target": step["target"], "params": json.dumps(step["params"], sort_keys=True)}
                         for step in scenario["timeline"]],
        },
        "run": [
            ["mode", meta.mode],
            ["started", datetime.fromtimestamp(meta.started_us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")],
            ["length", f"{(meta.ended_us - meta.started_us) / 1e6:.1f} s"],
            ["interrupted", "yes" if meta.interrupted else "no"],
            ["topology", Path(str(meta.topology)).name],
        ],
        "settings": flatten(meta.settings),
        "versions": flatten(meta.versions),
    }  # fmt: skip


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[list[str]]:
    """Nested settings as [dotted key, printable value] rows."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            rows += flatten(value, f"{prefix}{key}.")
        else:
            rows.append([f"{prefix}{key}", value if isinstance(value, str) else json.dumps(value)])
    return rows


def comparison_view(run_dirs: list[Path]) -> View:
    """The view model of a comparison: per scenario, its modes side by side on the same axes, and
    the verdict on each of the seed's claims with the figures measured."""
    runs = [load_run(d) for d in run_dirs]
    series = [per_second_series(run) for run in runs]
    names = list(dict.fromkeys(run.meta.scenario["name"] for run in runs))
    views_by_scenario = {}
    for name in names:
        chosen = [i for i, run in enumerate(runs) if run.meta.scenario["name"] == name]
        scale = common_scale([scale_of(series[i]) for i in chosen])
        views_by_scenario[name] = [_run_view(runs[i], series[i], scale) for i in chosen]
    every_balancer = sorted({b for views in views_by_scenario.values() for v in views for b in v["balancer_share"]})
    multi_site = any(len(v["sites"]) > 1 for views in views_by_scenario.values() for v in views)
    scenarios = [scenario_section(views, every_balancer, multi_site) for views in views_by_scenario.values()]
    modes = list(dict.fromkeys(run.meta.mode for run in runs))
    return {
        "title": f"Comparison: {' vs '.join(modes)}" if modes else "Comparison: no complete run",
        "directory": run_dirs[0].parent.name if run_dirs else "",
        "modes": modes,
        "scenarios": scenarios,
        "runs_table": runs_table([v for views in views_by_scenario.values() for v in views]),
    }


def scenario_section(views: Sequence[View], every_balancer: Sequence[str], multi_site: bool) -> View:
    """One scenario: the modes' tables merged (a mode column), their charts, the verdicts."""
    keys = list(dict.fromkeys(k for v in views for k in v["headline"]["faults"]))
    headline_rows = [
        row | {"label": _mode_label(v, row), "gaps": {k: row["gaps"].get(k, "-") for k in keys}}
        for v in views for row in v["headline"]["rows"]
    ]  # fmt: skip
    failover_rows = [row | {"label": _mode_label(v, row)} for v in views for row in v["failover"]["rows"]]
    first = views[0]
    measured = [v for v in views if v["locality"] is not None]
    client_sites = sorted({row["site"] for v in measured for row in v["locality"]["rows"]})
    locality_rows = [row | {"labels": [site, v["mode"]]} for site in client_sites for v in measured
                     for row in v["locality"]["rows"] if row["site"] == site]  # fmt: skip
    fastest = {}  # per client site: the lowest p50 of any mode
    for row in locality_rows:
        if row["p50_ms"] is not None:
            fastest[row["site"]] = min(row["p50_ms"], fastest.get(row["site"], row["p50_ms"]))
    for row in locality_rows:
        row["behind_fastest_ms"] = None if row["p50_ms"] is None else row["p50_ms"] - fastest[row["site"]]
    return {
        "name": first["scenario_name"],
        "description": first["about"]["scenario"]["description"],
        "headline": {"first_column": "mode", "outcomes": list(FAILED_OUTCOMES), "faults": keys, "rows": headline_rows},
        "failover": {"first_column": "mode", "rows": failover_rows},
        "locality": {"first_columns": ["site", "mode"], "rows": locality_rows, "modes_side_by_side": True}
        if measured
        else None,
        "verdicts": verdicts(views, every_balancer, multi_site),
        "runs": list(views),
    }


def _mode_label(view: View, row: View) -> str:
    return view["mode"] if len(view["sites"]) == 1 else f"{view['mode']} {row['site']}"


def runs_table(views: Sequence[View]) -> View:
    """Run facts, settings and versions: a row per key, a column per run."""
    columns = [f"{v['scenario_name']} {v['mode']}" for v in views]
    values = [dict(v["about"]["run"] + v["about"]["settings"] + v["about"]["versions"]) for v in views]
    keys = list(dict.fromkeys(k for value in values for k in value))
    return {"columns": columns, "rows": [[key, *(value.get(key, "-") for value in values)] for key in keys]}


# Verdicts


def verdicts(views: Sequence[View], every_balancer: Sequence[str], multi_site: bool) -> list[View]:
    """One entry per seed claim question, with lines that carry the measured figures."""
    if any(v["locality"] is not None for v in views):
        cross_city = {"claim": 2, "claim_text": CLAIMS[1],
                      "question": "Each site's clients stay on their own site's balancer?",
                      "lines": [locality_line(v) for v in views]}  # fmt: skip
    else:
        cross_city = {"claim": 2, "claim_text": CLAIMS[1], "question": "Cross-city traffic?",
                      "lines": ["not measured: the results do not record the site of each host" if multi_site
                                else "not measured on a single-site stand"]}  # fmt: skip
    return [
        {"claim": 1, "claim_text": CLAIMS[0], "question": "All balancers used?",
         "lines": [balancers_used_line(v, every_balancer) for v in views]},
        cross_city,
        {"claim": 3, "claim_text": CLAIMS[2], "question": "Failover gap per fault",
         "lines": [gap_line(key, rows) for key, rows in _whole_run_faults(views).items()] or ["no fault"]},
        {"claim": 3, "claim_text": CLAIMS[2], "question": "Failed queries per fault",
         "lines": [failed_line(key, rows) for key, rows in _whole_run_faults(views).items()] or ["no fault"]},
        {"claim": 3, "claim_text": CLAIMS[2], "question": "Balancers taken out with no fault to explain it?",
         "lines": [health_line(v) for v in views]},
    ]  # fmt: skip


def _whole_run_faults(views: Sequence[View]) -> dict[str, dict[str, View]]:
    """fault key -> mode -> the failover row of the whole run (all sites)."""
    faults: dict[str, dict[str, View]] = {}
    for view in views:
        for row in view["failover"]["rows"]:
            if row["site"] == view["sites"][0]:
                faults.setdefault(row["key"], {})[view["mode"]] = row
    return faults


def health_line(view: View) -> str:
    health = view["health"]
    if not health["recorded"]:
        return f"{view['mode']}: not measured (no health decisions recorded)"
    return f"{view['mode']}: {health['false']} {health['what']}"


def balancers_used_line(view: View, every_balancer: Sequence[str]) -> str:
    """Claim 1 in one mode: how many balancers carried at least USED_SHARE before the first fault."""
    shares = view["balancers_before_first_fault"]
    used = [b for b, share in shares.items() if share >= USED_SHARE]
    answer = "yes" if every_balancer and len(used) == len(every_balancer) else "no"
    detail = ", ".join(f"{b} {share:.1%}" for b, share in shares.items()) or "no ok request"
    return (f"{view['mode']}: {answer}, {len(used)} of {len(every_balancer)} balancers carried ≥{USED_SHARE:.0%} "
            f"of the ok requests in the {view['before_first_fault_s']:.0f} s before the first fault ({detail})")


def locality_line(view: View) -> str:
    """Claim 2 in one mode: how many client sites had at least LOCAL_SHARE of their ok requests served
    by their own site's balancers before the first fault, and every site's local share."""
    rows = view["locality_before_first_fault"]
    if rows is None:
        return f"{view['mode']}: not measured: the results do not record the site of each host"
    local = [row["site"] for row in rows if row["local_share"] is not None and row["local_share"] >= LOCAL_SHARE]
    answer = "yes" if rows and len(local) == len(rows) else "no"
    detail = ", ".join(f"{row['site']} {format_share(row['local_share'])}" for row in rows) or "no request"
    return (
        f"{view['mode']}: {answer}, {len(local)} of {len(rows)} sites had ≥{LOCAL_SHARE:.0%} of their ok requests "
        f"served by a balancer of their own site in the {view['before_first_fault_s']:.0f} s before the first "
        f"fault (local share: {detail})"
    )


def gap_line(key: str, rows: Mapping[str, View]) -> str:
    """Claim 3 for one fault: the failover gap per mode, which is shorter, and by what factor."""
    first = next(iter(rows.values()))
    head = f"{key} at {first['at_s']:.1f} s: "
    measured = sorted(((row["gap_ms"], mode) for mode, row in rows.items() if row["recovered"]))
    unmeasured = [f"{mode} {row['gap_text']}" for mode, row in rows.items() if not row["recovered"]]
    resolution = max((row["resolution_ms"] for row in rows.values() if row["resolution_ms"]), default=None)
    tail = "" if resolution is None else f" (resolution: one probe period, {format_ms(resolution)} ms)"
    if len(rows) == 1:
        mode, row = next(iter(rows.items()))
        return f"{head}only {mode} measured: {row['gap_text']}{tail}"
    if not measured:
        return head + "; ".join(unmeasured) + tail
    best_ms = measured[0][0]
    best = [mode for ms, mode in measured if ms == best_ms]
    if len(best) == len(rows):
        return f"{head}no difference: {format_ms(best_ms)} ms in {', '.join(best)}{tail}"
    others = [f"{mode} {format_ms(ms)} ms" + (f" ({ms / best_ms:.1f}× longer)" if best_ms > 0 else "")
              for ms, mode in measured if ms != best_ms]  # fmt: skip
    none_failed = " (no failed probe)" if best_ms == 0 else ""
    return (f"{head}shorter in {' and '.join(best)}: {format_ms(best_ms)} ms{none_failed}; "
            + "; ".join(others + unmeasured) + tail)


def failed_line(key: str, rows: Mapping[str, View]) -> str:
    """Claim 3 for one fault: failed queries (and probes) per mode, and where fewest."""
    first = next(iter(rows.values()))
    counts = ", ".join(f"{mode} {row['failed_requests']}" for mode, row in rows.items())
    probes = ", ".join(f"{mode} {row['failed_probes']}" for mode, row in rows.items())
    fewest = min(row["failed_requests"] for row in rows.values())
    winners = [mode for mode, row in rows.items() if row["failed_requests"] == fewest]
    if len(rows) == 1:
        verdict = "one mode only"
    elif len(winners) == len(rows):
        verdict = "the same in every mode"
    else:
        verdict = f"fewest in {' and '.join(winners)}"
    return f"{key} at {first['at_s']:.1f} s: failed queries {counts}; failed probes {probes}: {verdict}"


# Rendering


def format_ms(value: float | None) -> str:
    """Milliseconds with about three significant digits; "-" for none."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"


def format_share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def format_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def environment() -> jinja2.Environment:
    """Templates in reports/templates: strict, autoescaped, with the formatting filters above."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined, autoescape=True,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )  # fmt: skip
    env.filters.update(ms=format_ms, share=format_share, rate=format_rate, seconds=format_seconds)
    return env


def render_run(view: View) -> str:
    return environment().get_template("run.html.j2").render(view=view)


def render_comparison(view: View) -> str:
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
