"""View models of the HTML reports: one run, or the modes of a comparison side by side.

A results directory (`bench.results.load_run`) becomes frozen dataclasses of numbers, strings, lists and
dicts (JSON-serializable with `dataclasses.asdict`), computed with pandas and the definitions of
`reports.metrics`; the charts' geometry comes from `reports.charts` and the verdicts' words from
`reports.verdicts`, so that the templates only print attributes.

Time is seconds since the run's start (`meta.json` `started_us`); a record belongs to the second in which
it started, as every window in `reports.metrics`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.results import Run, RunMeta, load_run, run_label
from loadgen.records import OK
from reports.charts import (
    CHART_WIDTH,
    Marker,
    ProbeStrip,
    RunCharts,
    Scale,
    Series,
    ShareBars,
    StripProbe,
    balancer_colors,
    common_scale,
    run_charts,
    scale_of,
    svg_probe_strip,
    svg_share_bars,
)
from reports.expect import Check, expectations_of
from reports.health import HealthChange, false_changes, health_changes
from reports.metrics import (
    FAILED_OUTCOMES,
    LATE_MS,
    ErrorClass,
    FaultMetrics,
    LatencyDistribution,
    SiteLocality,
    Summary,
    backend_share,
    balancer_share,
    error_classes,
    fault_name,
    fault_report,
    first_fault_us,
    latency_distribution,
    locality,
    measured_window,
    on_schedule,
    phases,
    probe_lag,
    summary,
)
from reports.repeats import LocalitySpread, locality_spreads
from reports.run_summary import SiteFigures, locality_sites, site_figures, summary_of
from reports.validity import Validity, validity
from reports.verdicts import Verdict, false_changes_name, gap_text, probe_lag_text, verdicts
from stand.model.events import FaultEvent

UNKNOWN_SITE = "site unknown"


@dataclass(frozen=True)
class HeadlineRow:
    """One line of the headline table: totals of the run (or of a site, or of a mode) and its gap per fault."""

    label: str  # the first column(s): the site, or the mode (and site) in a comparison
    site: str
    requests: int
    ok: int
    failed: int
    failed_by_outcome: dict[str, int]
    throughput_rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    gaps: dict[str, str]  # fault key -> gap as the table shows it
    offered_rps: float | None = None  # requests due a second (an open-loop rate); None: closed loop
    min_ms: float | None = None
    mean_ms: float | None = None
    stddev_ms: float | None = None


@dataclass(frozen=True)
class HeadlineTable:
    first_column: str
    outcomes: list[str]  # the failed outcomes, a column each
    faults: list[str]  # fault keys, a gap column each
    rows: list[HeadlineRow]


@dataclass(frozen=True)
class FailoverRow:
    """One fault in the failover table."""

    label: str
    site: str
    key: str  # "FAULT TARGET", with "#n" on repeats
    fault: str
    target: str
    at_s: float
    undo_at_s: float | None
    gap_ms: float | None
    gap_text: str
    recovered: bool
    confirmed: bool
    resolution_ms: float | None
    probes: int
    failed_probes: int
    failed_requests: int
    collateral_broken_connections: int
    recovery_ms: float | None
    balancer_share: dict[str, float]
    failed_path: str = ""  # the path with the longest gap ("" when the probe had no paths)
    path_gap_text: str = "-"  # its gap, as the table shows it


@dataclass(frozen=True)
class FailoverTable:
    first_column: str
    rows: list[FailoverRow]


@dataclass(frozen=True)
class ServedBy:
    """A balancer that served a client site, with its own site and its share."""

    host: str
    site: str
    share: float


@dataclass(frozen=True)
class LocalityRow:
    """One client site in the locality table (see `reports.metrics.locality`)."""

    labels: list[str]  # the first columns: the site, and the mode in a comparison
    site: str
    requests: int
    local_share: float | None
    p50_ms: float | None
    p50_local_ms: float | None
    added_ms: float | None
    balancers: list[ServedBy]  # by share, largest first
    behind_fastest_ms: float | None = None  # in a comparison: p50 minus the site's lowest p50 of any mode


@dataclass(frozen=True)
class LocalityTable:
    first_columns: list[str]
    rows: list[LocalityRow]
    modes_side_by_side: bool = False


@dataclass(frozen=True)
class HealthRow:
    """A health decision that changed something, marked false or with what explains it."""

    at_s: float
    host: str
    source: str
    state: str
    evidence: str
    reason: str
    false: bool
    explained_by: str
    served_ok_before: int


@dataclass(frozen=True)
class HealthView:
    """The run's health decisions that changed something."""

    recorded: bool  # health decisions were recorded for this run
    rows: list[HealthRow]
    false_changes: list[HealthChange]
    vip_mode: bool
    started_us: int

    @property
    def false(self) -> int:
        return len(self.false_changes)

    @property
    def what(self) -> str:
        return false_changes_name(self.vip_mode)


@dataclass(frozen=True)
class TimelineStep:
    at_s: float
    action: str
    fault: str
    target: str
    params: str  # as JSON


@dataclass(frozen=True)
class ScenarioAbout:
    name: str
    description: str
    facts: list[list[str]]  # [key, printable value]
    timeline: list[TimelineStep]


@dataclass(frozen=True)
class About:
    """Scenario, run, settings and versions, as tables of printable values ([key, value] rows)."""

    scenario: ScenarioAbout
    run: list[list[str]]
    settings: list[list[str]]
    versions: list[list[str]]


@dataclass(frozen=True)
class RunShareBars:
    """Shares of the ok requests of the whole run."""

    balancers: ShareBars
    backends: ShareBars


@dataclass(frozen=True)
class RunView:
    """The view model of one run's report; a comparison shows several side by side."""

    title: str
    directory: str  # the results directory's name
    mode: str
    label: str  # the mode, with "#n" for the n-th of repeated runs in a comparison, "try k" for a run played again
    repetition: int
    attempt: int
    scenario_name: str
    sites: list[str]  # the headline's rows: the whole run first
    headline: HeadlineTable
    workloads: HeadlineTable | None  # a row per workload over the measured window; None: one workload
    failover: FailoverTable
    validity: Validity
    checks: list[Check]  # the scenario's expectations (`[expect]`) against the run's figures
    errors: list[ErrorClass]  # the failed requests by outcome and error class, the whole run
    probe_lag: str  # how late the probe started against its schedule, in words
    locality: LocalityTable | None  # None: a single site, or older results without meta.json's "sites"
    locality_before_first_fault: list[LocalityRow] | None
    site_figures: list[SiteFigures]  # each client site before the first fault and during it; empty: one site
    series: Series
    markers: list[Marker]
    balancer_share: dict[str, float]
    backend_share: dict[str, float]
    balancers_before_first_fault: dict[str, float]
    before_first_fault_s: float
    charts: RunCharts
    probe_strips: list[ProbeStrip]  # the probes around each fault, a row per path
    share_bars: RunShareBars
    health: HealthView
    about: About


@dataclass(frozen=True)
class ScenarioSection:
    """One scenario of a comparison: the modes' tables merged (a mode column), their charts, the verdicts."""

    name: str
    description: str
    headline: HeadlineTable
    workloads: HeadlineTable | None  # the modes' rows per workload; None: one workload
    failover: FailoverTable
    locality: LocalityTable | None
    locality_over_runs: list[LocalitySpread]  # repeated runs of several sites: medians [ranges] per mode and site
    verdicts: list[Verdict]
    invalid: list[str]  # "anycast: the machine was saturated ...": the runs the verdicts must not be drawn from
    runs: list[RunView]


@dataclass(frozen=True)
class RunsTable:
    """Run facts, settings and versions: a row per key, a column per run."""

    columns: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class ComparisonView:
    title: str
    directory: str  # the comparison directory's name
    modes: list[str]
    scenarios: list[ScenarioSection]
    runs_table: RunsTable


# Figures


def site_parts(requests: pd.DataFrame, probe: pd.DataFrame) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """(site, requests, probe): the whole run first (named after its site when there is only one),
    then each site when the records come from several."""
    sites = sorted(set(requests["site"].dropna().unique()) | set(probe["site"].dropna().unique()))
    if len(sites) <= 1:
        return [(sites[0] if sites else "all", requests, probe)]
    by_site = [(s, requests[requests["site"] == s], probe[probe["site"] == s]) for s in sites]
    return [("all", requests, probe), *by_site]


def per_second_series(run: Run, steady: tuple[int, int]) -> Series:
    """Per second of the run: p50 and p99 of ok latencies, ok and failed requests per second, and
    each balancer's share of the ok requests (0 where a second has none); the latency distributions over
    `steady`, its measured window (`steady_window_of`)."""
    started_us, ended_us = run.meta.started_us, run.meta.ended_us
    duration_s = (ended_us - started_us) / 1e6
    bins = max(0, math.ceil(duration_s))
    start_us = run.requests["start_us"].to_numpy(dtype=np.int64)
    second = (start_us - started_us) // 1_000_000
    inside = (start_us >= started_us) & (start_us < ended_us)
    ok = (run.requests["outcome"] == OK).to_numpy(dtype=bool)
    served = inside & ok
    seconds_long = np.clip(duration_s - np.arange(bins), 0, 1)  # the last second may be cut short
    latency = pd.Series(run.requests["latency_ms"].to_numpy(dtype=float)[served])
    p50 = latency.groupby(second[served]).quantile(0.5).reindex(range(bins)) if served.any() else pd.Series()
    ok_counts = np.bincount(second[served], minlength=bins)
    p99_bin_s = p99_bin_seconds(float(np.median(ok_counts)) if bins else 0.0)
    connect = run.requests["connect_ms"].to_numpy(dtype=float)
    connected = served & ~np.isnan(connect)
    return Series(
        duration_s=duration_s,
        second=list(range(bins)),
        p50_ms=_floats(p50.reindex(range(bins)).to_numpy()),
        p99_ms=_p99_per_second(latency, second[served], bins, p99_bin_s),
        p99_bin_s=p99_bin_s,
        ok_per_s=_floats(ok_counts / seconds_long),
        errors_per_s=_floats(np.bincount(second[inside & ~ok], minlength=bins) / seconds_long),
        balancer_share=_shares_per_second(run.requests["balancer"], second, served, bins),
        offered_per_s=_offered_per_second(run.requests["scheduled_us"], started_us, bins, seconds_long),
        connect_p50_ms=_floats(
            pd.Series(connect[connected]).groupby(second[connected]).median().reindex(range(bins)).to_numpy()
        )
        if connected.any()
        else None,
        distributions=latency_distributions(run.requests, steady),
    )


def steady_window_of(run: Run) -> tuple[int, int]:
    """The run's measured window (a group-by over every record: computed once per run and passed on)."""
    meta = run.meta
    return measured_window(
        run.requests, meta.initial_users, meta.started_us, meta.load_end_us, first_fault_us(run.events)
    )


def _parts_by(requests: pd.DataFrame, column: str) -> list[tuple[str, pd.DataFrame]]:
    """The records of each value of `column` (in name order), when there are two values at least."""
    values = sorted(str(v) for v in requests[column].dropna().unique())
    return [(v, requests[requests[column] == v]) for v in values] if len(values) > 1 else []


def latency_distributions(requests: pd.DataFrame, window: tuple[int, int]) -> dict[str, LatencyDistribution]:
    """The ok latencies' distribution over the window: of every request ("all"), and of each workload
    and each client site when there are several (those without an ok request left out)."""
    parts = [("all", requests), *_parts_by(requests, "workload"), *_parts_by(requests, "site")]
    found = {name: latency_distribution(rows, *window) for name, rows in parts}
    return {name: d for name, d in found.items() if d is not None}


def _offered_per_second(scheduled_us: pd.Series, started_us: int, bins: int, seconds_long: np.ndarray) -> list | None:
    """Requests due each second, by when their schedule had them start; None for a closed-loop load."""
    due = scheduled_us.dropna().to_numpy(dtype=np.int64)
    if not len(due):
        return None
    second = (due - started_us) // 1_000_000
    second = second[(second >= 0) & (second < bins)]
    return _floats(np.bincount(second, minlength=bins) / seconds_long)


P99_SAMPLES = 100  # a p99 of fewer samples than this is one of the few slowest, not a percentile
MAX_P99_BIN_S = 10


def p99_bin_seconds(ok_per_second: float) -> int:
    """How many seconds a bin of the p99 line spans: enough for P99_SAMPLES at the run's median rate of ok
    requests (at most MAX_P99_BIN_S), so that the line does not jump between the few slowest requests of
    each second."""
    if ok_per_second <= 0:
        return 1
    return int(min(MAX_P99_BIN_S, max(1, math.ceil(P99_SAMPLES / ok_per_second))))


def _p99_per_second(latency: pd.Series, second: np.ndarray, bins: int, width: int) -> list[float | None]:
    """Each second's p99: that of its bin of `width` seconds, where the bin has half of P99_SAMPLES at least."""
    if not len(latency):
        return [None] * bins
    grouped = latency.groupby(second // width)
    p99 = grouped.quantile(0.99).where(grouped.size() >= P99_SAMPLES / 2)
    return _floats(p99.reindex(np.arange(bins) // width).to_numpy())


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
    return [
        Marker((e.t_us - started_us) / 1e6, e.action, f"{'undo ' if e.action == 'undo' else ''}{e.fault} {e.target}")
        for e in events
    ]


def fault_keys(report: Sequence[FaultMetrics]) -> list[str]:
    """A name per measured fault, as `fault_report` lists them: "FAULT TARGET" (with " + N" for the faults
    played with it), "#n" on repeats."""
    seen: list[str] = []
    keys = []
    for metrics in report:
        name = fault_name(metrics.fault, metrics.target, metrics.together)
        repeat = seen.count(name)
        seen.append(name)
        keys.append(name + (f" #{repeat + 1}" if repeat else ""))
    return keys


def failover_row(site: str, key: str, metrics: FaultMetrics, started_us: int) -> FailoverRow:
    """One fault in the failover table."""
    gap = metrics.gap
    path, path_gap = metrics.failed_path or ("", None)
    return FailoverRow(
        label=site,
        site=site,
        key=key,
        fault=metrics.fault,
        target=metrics.target,
        at_s=(metrics.fault_us - started_us) / 1e6,
        undo_at_s=None if metrics.undo_us is None else (metrics.undo_us - started_us) / 1e6,
        gap_ms=gap.gap_ms,
        gap_text=gap_text(gap.gap_ms, gap.recovered, gap.confirmed, gap.probes),
        recovered=gap.recovered,
        confirmed=gap.confirmed,
        resolution_ms=gap.resolution_ms,
        probes=gap.probes,
        failed_probes=metrics.failed_probes,
        failed_requests=metrics.failed_requests,
        collateral_broken_connections=metrics.collateral_broken_connections,
        recovery_ms=metrics.recovery_ms,
        balancer_share=metrics.balancer_share,
        failed_path=path,
        path_gap_text="-"
        if path_gap is None
        else gap_text(path_gap.gap_ms, path_gap.recovered, path_gap.confirmed, path_gap.probes),
    )


def locality_row(labels: Sequence[str], figures: SiteLocality, sites: Mapping[str, str]) -> LocalityRow:
    """One client site in the locality table; the balancers that served it by share, largest first."""
    served = sorted(figures.balancer_share.items(), key=lambda item: (-item[1], item[0]))
    return LocalityRow(
        labels=list(labels),
        site=figures.site,
        requests=figures.requests,
        local_share=figures.local_share,
        p50_ms=figures.p50_ms,
        p50_local_ms=figures.p50_local_ms,
        added_ms=figures.added_ms,
        balancers=[ServedBy(host, sites.get(host, UNKNOWN_SITE), share) for host, share in served],
    )


def headline_row(site: str, totals: Summary, failover: Sequence[FailoverRow]) -> HeadlineRow:
    """One line of the headline table: totals of the run (or of a site) and its gap per fault."""
    return HeadlineRow(
        label=site,
        site=site,
        requests=totals.requests,
        ok=totals.ok,
        failed=totals.failed,
        failed_by_outcome=totals.failed_by_outcome,
        throughput_rps=totals.throughput_rps,
        p50_ms=totals.p50_ms,
        p95_ms=totals.p95_ms,
        p99_ms=totals.p99_ms,
        max_ms=totals.max_ms,
        gaps={row.key: row.gap_text for row in failover},
        offered_rps=totals.offered_rps,
        min_ms=totals.min_ms,
        mean_ms=totals.mean_ms,
        stddev_ms=totals.stddev_ms,
    )


STRIP_BEFORE_S = 1.0  # a probe strip starts this long before its fault
STRIP_AFTER_S = 1.5  # and ends this long after the gap's end (or the probes' recovery)
STRIP_LONGEST_S = 10.0  # at most this long after the fault


def probe_strips(run: Run, report: Sequence[FaultMetrics], keys: Sequence[str], multi_site: bool) -> list[ProbeStrip]:
    """Around each measured fault, its probes on a row per path (per site and path with several sites),
    from STRIP_BEFORE_S before it to STRIP_AFTER_S after its gap, at most STRIP_LONGEST_S after it: each
    probe from when it was due to its answer, ok, late (met the outage) or failed, and the gap shaded."""
    started_us = run.meta.started_us
    probe = on_schedule(run.probe)
    paths = probe["path"] if "path" in probe.columns else pd.Series(None, index=probe.index, dtype=object)
    names = paths.astype(object).fillna("no path").astype(str)
    row_names = (probe["site"].astype(object).fillna("").astype(str) + " " + names if multi_site else names).to_numpy()
    start_s = (probe["start_us"].to_numpy(dtype=np.int64) - started_us) / 1e6
    latency_ms = probe["latency_ms"].to_numpy(dtype=float)
    state = np.where(probe["outcome"] != OK, "failed", np.where(latency_ms > LATE_MS, "late", "ok"))
    strips = []
    for key, metrics in zip(keys, report):
        gap = metrics.gap
        fault_s = (metrics.fault_us - started_us) / 1e6
        after_s = gap.gap_ms / 1000 if gap.gap_ms is not None else STRIP_LONGEST_S
        t0 = fault_s - STRIP_BEFORE_S
        t1 = min(fault_s + after_s + STRIP_AFTER_S, (metrics.until_us - started_us) / 1e6, fault_s + STRIP_LONGEST_S)
        inside = (start_s >= t0) & (start_s < t1)
        rows = sorted(set(row_names[inside]))
        row_of = {name: i for i, name in enumerate(rows)}
        marks = [
            StripProbe(row_of[name], float(t), float(ms) / 1000, str(how))
            for name, t, ms, how in zip(row_names[inside], start_s[inside], latency_ms[inside], state[inside])
        ]
        measured = gap_text(gap.gap_ms, gap.recovered, gap.confirmed, gap.probes)
        shaded = None
        if gap.gap_ms:
            shaded = (fault_s, fault_s + gap.gap_ms / 1000, f"gap {measured}")
        elif gap.gap_ms is None and gap.probes:
            shaded = (fault_s, t1, "not recovered")
        caption = f"Probes around {key} at {fault_s:.1f} s: gap {measured}"
        strips.append(svg_probe_strip(caption, rows, marks, t0=t0, t1=t1, fault_t=fault_s, gap=shaded))
    return strips


def workload_rows(requests: pd.DataFrame, window: tuple[int, int]) -> list[HeadlineRow]:
    """A headline row per workload (its requests over the measured window), when there are several."""
    return [headline_row(name, summary(rows, *window), []) for name, rows in _parts_by(requests, "workload")]


# One run


def run_view(results_dir: Path) -> RunView:
    """The view model of one run's report."""
    run = load_run(results_dir)
    steady = steady_window_of(run)
    series = per_second_series(run, steady)
    return _run_view(run, series, scale_of(series), steady)


def _run_view(run: Run, series: Series, scale: Scale, steady: tuple[int, int]) -> RunView:
    """The view model of a loaded run, its charts drawn on `scale`; `steady`: its measured window."""
    meta = run.meta
    started_us, ended_us = meta.started_us, meta.ended_us
    markers = event_markers(run.events, started_us)
    keys: list[str] = []
    headline_rows, failover_rows, whole_run = [], [], []
    parts = site_parts(run.requests, run.probe)
    for site, requests, probe in parts:
        report = fault_report(requests, probe, run.events, ended_us)
        keys = fault_keys(report)  # the same events for every site: the same keys
        if not headline_rows:  # the whole run's part comes first
            whole_run = report
        rows = [failover_row(site, key, metrics, started_us) for key, metrics in zip(keys, report)]
        headline_rows.append(headline_row(site, summary(requests, *steady), rows))
        failover_rows += rows
    workloads = workload_rows(run.requests, steady)
    before = phases(run.events, started_us, ended_us)[0]
    sites = locality_sites(meta, run.requests)
    local_rows = local_before = None
    if sites is not None:
        local_rows = [locality_row([f.site], f, sites) for f in locality(run.requests, sites, started_us, ended_us)]
        local_before = [
            locality_row([f.site], f, sites) for f in locality(run.requests, sites, before.start_us, before.end_us)
        ]
    balancers = balancer_share(run.requests, started_us, ended_us)
    backends = backend_share(run.requests, started_us, ended_us)
    scenario_name = meta.scenario["name"]
    return RunView(
        title=f"{scenario_name} in {meta.mode} mode",
        directory=run.directory.name,
        mode=meta.mode,
        label=run_label(meta.mode, meta.repetition, meta.attempt, numbered=False),
        repetition=meta.repetition,
        attempt=meta.attempt,
        scenario_name=scenario_name,
        sites=[row.site for row in headline_rows],
        headline=HeadlineTable("site", list(FAILED_OUTCOMES), keys, headline_rows),
        workloads=HeadlineTable("workload", list(FAILED_OUTCOMES), [], workloads) if workloads else None,
        failover=FailoverTable("site", failover_rows),
        validity=validity(run, steady),
        checks=summary_of(run).checks if expectations_of(meta.scenario) else [],
        errors=error_classes(run.requests),
        probe_lag=probe_lag_text(probe_lag(run.probe, *steady)),
        locality=None if local_rows is None else LocalityTable(["site"], local_rows),
        locality_before_first_fault=local_before,
        site_figures=site_figures(run, whole_run),
        series=series,
        markers=markers,
        balancer_share=balancers,
        backend_share=backends,
        balancers_before_first_fault=balancer_share(run.requests, before.start_us, before.end_us),
        before_first_fault_s=(before.end_us - before.start_us) / 1e6,
        charts=run_charts(series, markers, scale),
        probe_strips=probe_strips(run, whole_run, keys, multi_site=len(parts) > 1),
        share_bars=RunShareBars(
            balancers=svg_share_bars(balancers, balancer_colors(scale), CHART_WIDTH / 2),
            backends=svg_share_bars(backends, {}, CHART_WIDTH / 2),
        ),
        health=health_view(run),
        about=about_run(meta),
    )


def health_view(run: Run) -> HealthView:
    """The run's health decisions that changed something, each marked false or with what explains it."""
    meta = run.meta
    started_us = meta.started_us
    changes = health_changes(
        run.decisions, run.events, meta.balancers, started_us, meta.ended_us, run.requests, vip_mode=meta.vip_mode
    )
    rows = [health_row(change, started_us) for change in changes]
    return HealthView(bool(run.decisions), rows, false_changes(changes), meta.vip_mode, started_us)


def health_row(change: HealthChange, started_us: int) -> HealthRow:
    return HealthRow(
        at_s=(change.t_us - started_us) / 1e6,
        host=change.host,
        source=change.source,
        state=change.state,
        evidence=change.evidence,
        reason=change.reason,
        false=change.false,
        explained_by=change.explained_by,
        served_ok_before=change.served_ok_before,
    )


def about_run(meta: RunMeta) -> About:
    """Scenario, run, settings and versions, as tables of printable values."""
    scenario = meta.scenario
    timeline = [
        TimelineStep(s["at_s"], s["action"], s["fault"], s["target"], json.dumps(s["params"], sort_keys=True))
        for s in scenario["timeline"]
    ]
    started = datetime.fromtimestamp(meta.started_us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return About(
        scenario=ScenarioAbout(
            name=scenario["name"],
            description=scenario["description"],
            facts=[["duration", f"{scenario['duration_s']:g} s"], *flatten(scenario["load"], "load.")],
            timeline=timeline,
        ),
        run=[
            ["mode", meta.mode],
            ["started", started],
            ["length", f"{(meta.ended_us - meta.started_us) / 1e6:.1f} s"],
            ["interrupted", "yes" if meta.interrupted else "no"],
            ["topology", Path(str(meta.topology)).name],
        ],
        settings=flatten(meta.settings),
        versions=flatten(meta.versions),
    )


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[list[str]]:
    """Nested settings as [dotted key, printable value] rows."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            rows += flatten(value, f"{prefix}{key}.")
        else:
            rows.append([f"{prefix}{key}", value if isinstance(value, str) else json.dumps(value)])
    return rows


# A comparison


def comparison_view(run_dirs: list[Path]) -> ComparisonView:
    """The view model of a comparison: per scenario, its modes side by side on the same axes, and
    the verdict on each of the seed's claims with the figures measured."""
    runs = [load_run(d) for d in run_dirs]
    windows = [steady_window_of(run) for run in runs]
    series = [per_second_series(run, window) for run, window in zip(runs, windows)]
    names = list(dict.fromkeys(run.meta.scenario["name"] for run in runs))
    views_by_scenario = {}
    for name in names:
        chosen = [i for i, run in enumerate(runs) if run.meta.scenario["name"] == name]
        scale = common_scale([scale_of(series[i]) for i in chosen])
        views_by_scenario[name] = [_run_view(runs[i], series[i], scale, windows[i]) for i in chosen]
    if any(run.meta.repetition > 1 for run in runs):  # repeated runs: each labelled with its number
        views_by_scenario = {
            name: [replace(v, label=run_label(v.mode, v.repetition, v.attempt, numbered=True)) for v in views]
            for name, views in views_by_scenario.items()
        }
    every_balancer = sorted({b for run in runs for b in run.meta.balancers}) or sorted(
        {b for views in views_by_scenario.values() for v in views for b in v.balancer_share}
    )  # the topology's balancers (older results: whoever served; the last resort then counts as one)
    multi_site = any(len(v.sites) > 1 for views in views_by_scenario.values() for v in views)
    scenarios = [scenario_section(views, every_balancer, multi_site) for views in views_by_scenario.values()]
    modes = list(dict.fromkeys(run.meta.mode for run in runs))
    return ComparisonView(
        title=f"Comparison: {' vs '.join(modes)}" if modes else "Comparison: no complete run",
        directory=run_dirs[0].parent.name if run_dirs else "",
        modes=modes,
        scenarios=scenarios,
        runs_table=runs_table([v for views in views_by_scenario.values() for v in views]),
    )


def scenario_section(views: Sequence[RunView], every_balancer: Sequence[str], multi_site: bool) -> ScenarioSection:
    """One scenario: the modes' tables merged (a mode column), their charts, the verdicts."""
    keys = list(dict.fromkeys(k for v in views for k in v.headline.faults))
    headline_rows = [
        replace(row, label=_mode_label(v, row), gaps={k: row.gaps.get(k, "-") for k in keys})
        for v in views
        for row in v.headline.rows
    ]
    failover_rows = [replace(row, label=_mode_label(v, row)) for v in views for row in v.failover.rows]
    per_workload = [
        replace(row, label=f"{v.label} {row.label}") for v in views if v.workloads for row in v.workloads.rows
    ]
    first = views[0]
    measured = [v for v in views if v.locality is not None]
    locality = LocalityTable(["site", "mode"], _modes_by_site(measured), modes_side_by_side=True) if measured else None
    return ScenarioSection(
        name=first.scenario_name,
        description=first.about.scenario.description,
        headline=HeadlineTable("mode", list(FAILED_OUTCOMES), keys, headline_rows),
        workloads=HeadlineTable("mode, workload", list(FAILED_OUTCOMES), [], per_workload) if per_workload else None,
        failover=FailoverTable("mode", failover_rows),
        locality=locality,
        locality_over_runs=locality_spreads([(v.mode, v.site_figures) for v in views if v.validity.valid])
        if any(v.repetition > 1 for v in views)
        else [],
        verdicts=verdicts(views, every_balancer, multi_site),
        invalid=[f"{v.label}: {'; '.join(v.validity.reasons)}" for v in views if not v.validity.valid],
        runs=list(views),
    )


def _modes_by_site(views: Sequence[RunView]) -> list[LocalityRow]:
    """The locality rows of every mode, per client site, each with how far it is behind the site's fastest mode."""
    client_sites = sorted({row.site for v in views for row in v.locality.rows})
    rows = [
        replace(row, labels=[site, v.label])
        for site in client_sites
        for v in views
        for row in v.locality.rows
        if row.site == site
    ]
    fastest = {}  # per client site: the lowest p50 of any mode
    for row in rows:
        if row.p50_ms is not None:
            fastest[row.site] = min(row.p50_ms, fastest.get(row.site, row.p50_ms))
    return [
        replace(row, behind_fastest_ms=None if row.p50_ms is None else row.p50_ms - fastest[row.site]) for row in rows
    ]


def _mode_label(view: RunView, row: HeadlineRow | FailoverRow) -> str:
    return view.label if len(view.sites) == 1 else f"{view.label} {row.site}"


def runs_table(views: Sequence[RunView]) -> RunsTable:
    """Run facts, settings and versions: a row per key, a column per run."""
    columns = [f"{v.scenario_name} {v.label}" for v in views]
    values = [dict(v.about.run + v.about.settings + v.about.versions) for v in views]
    keys = list(dict.fromkeys(k for value in values for k in value))
    return RunsTable(columns, [[key, *(value.get(key, "-") for value in values)] for key in keys])
