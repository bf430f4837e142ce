"""A run's results directory turned into plain data: the figures `bench compare` prints and the
reports show. Metric definitions live in reports/metrics.py."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from bench.results import Run, RunMeta, load_run
from reports.expect import Check, check, expectations_of
from reports.health import HealthChange, false_changes, health_changes
from reports.metrics import (
    FaultMetrics,
    ProbeLag,
    balancer_share,
    fault_report,
    first_fault_us,
    locality,
    measured_window,
    phases,
    probe_lag,
    summary,
)
from reports.validity import Validity, not_recorded, validity


@dataclass(frozen=True)
class FaultFigures:
    fault: str
    target: str
    gap_ms: float | None
    recovered: bool
    failed_requests: int
    failed_probes: int
    collateral_broken_connections: int
    recovery_ms: float | None
    together: tuple[str, ...] = ()  # the faults played with it, measured with it as one
    path: str | None = None  # the failed path (the one with the longest gap); None: the probe had no paths
    path_gap_ms: float | None = None  # its gap: the longest time a new client on it could not connect
    path_recovered: bool = False


LOCALITY_SETTLE_MS = 1000.0  # the locality "during" a fault: from this long after it (the routes have moved)


@dataclass(frozen=True)
class SiteFigures:
    """Where one client site was served (docs/metrics.md, `locality`): before the first fault (from the
    run's start), and during it (from LOCALITY_SETTLE_MS after it to the next event); None: no ok request
    of the site in that window (cut off)."""

    site: str
    local_share_before: float | None
    p50_before_ms: float | None
    local_share_during: float | None
    p50_during_ms: float | None


@dataclass(frozen=True)
class RunSummary:
    directory: str
    mode: str
    scenario: str
    requests: int
    failed: int
    throughput_rps: float
    p50_ms: float | None
    p99_ms: float | None
    balancer_share: dict[str, float]
    faults: list[FaultFigures]
    health_changes: list[HealthChange]  # during the run; `false_health_changes` are those no fault explains
    health_recorded: bool  # the mode's health decisions were recorded (not yet for the watchdog)
    vip_mode: bool  # one balancer holds a VIP: a false change is a false failover
    started_us: int
    probe_lag: ProbeLag = ProbeLag(0, None, None, None)  # how late the probe started against its schedule
    validity: Validity = field(default_factory=not_recorded)  # whether the run was a valid measurement
    repetition: int = 1  # which run of its scenario and mode (bench compare --repeat)
    offered_rps: float | None = None  # requests due a second (an open-loop rate); None: closed loop
    attempt: int = 1  # 2 and on: the same run played again (the attempt before was invalid because of the machine)
    checks: list[Check] = field(default_factory=list)  # the scenario's expectations against these figures
    locality: list[SiteFigures] = field(default_factory=list)  # per client site; empty: a single site

    @property
    def false_health_changes(self) -> list[HealthChange]:
        return false_changes(self.health_changes)

    @property
    def balancers_used(self) -> list[str]:
        """Balancers that served at least 1% of the ok requests."""
        return sorted(b for b, share in self.balancer_share.items() if share >= 0.01)


def _fault_figures(f: FaultMetrics) -> FaultFigures:
    path, path_gap = f.failed_path or (None, None)
    return FaultFigures(
        fault=f.fault,
        target=f.target,
        together=f.together,
        gap_ms=f.gap.gap_ms,
        recovered=f.gap.recovered,
        failed_requests=f.failed_requests,
        failed_probes=f.failed_probes,
        collateral_broken_connections=f.collateral_broken_connections,
        recovery_ms=f.recovery_ms,
        path=path,
        path_gap_ms=path_gap.gap_ms if path_gap else None,
        path_recovered=path_gap.recovered if path_gap else False,
    )


def locality_sites(meta: RunMeta, requests: pd.DataFrame) -> dict[str, str] | None:
    """The host -> site mapping to measure locality with: meta.json's, when the run spans more than one site
    (the hosts' sites and the clients' sites together); None for a single site, or for older results that
    do not record it."""
    if meta.sites is None:
        return None
    every_site = set(meta.sites.values()) | set(requests["site"].dropna().unique())
    return dict(meta.sites) if len(every_site) > 1 else None


def site_figures(run: Run, report: list[FaultMetrics]) -> list[SiteFigures]:
    """Each client site's locality before the first fault and during it (`report`: the run's fault_report);
    empty for a single site. Without a fault, "during" is empty too."""
    meta = run.meta
    sites = locality_sites(meta, run.requests)
    if sites is None:
        return []
    before = phases(run.events, meta.started_us, meta.ended_us)[0]
    home = {f.site: f for f in locality(run.requests, sites, before.start_us, before.end_us)}
    during = {}
    if report:
        first = report[0]
        during = {
            f.site: f for f in locality(run.requests, sites, first.fault_us + LOCALITY_SETTLE_MS * 1000, first.until_us)
        }
    figures = []
    for site in sorted(home.keys() | during.keys()):
        a, b = home.get(site), during.get(site)
        figures.append(
            SiteFigures(
                site=site,
                local_share_before=a.local_share if a else None,
                p50_before_ms=a.p50_ms if a else None,
                local_share_during=b.local_share if b else None,
                p50_during_ms=b.p50_ms if b else None,
            )
        )
    return figures


def summarize_run(directory: Path) -> RunSummary:
    return summary_of(load_run(directory))


def summary_of(run: Run) -> RunSummary:
    """A loaded run's figures (and its expectations checked against them)."""
    meta, requests, probe, events = run.meta, run.requests, run.probe, run.events
    start, end = meta.started_us, meta.ended_us
    window = measured_window(requests, meta.initial_users, start, meta.load_end_us, first_fault_us(events))
    totals = summary(requests, *window)
    report = fault_report(requests, probe, events, end)
    faults = [_fault_figures(f) for f in report]
    changes = health_changes(run.decisions, events, meta.balancers, start, end, requests, vip_mode=meta.vip_mode)
    figures = RunSummary(
        directory=str(run.directory),
        mode=meta.mode,
        scenario=meta.scenario["name"],
        requests=totals.requests,
        failed=totals.failed,
        throughput_rps=totals.throughput_rps,
        p50_ms=totals.p50_ms,
        p99_ms=totals.p99_ms,
        balancer_share=balancer_share(requests, start, end),
        faults=faults,
        health_changes=changes,
        health_recorded=bool(run.decisions),
        vip_mode=meta.vip_mode,
        started_us=start,
        probe_lag=probe_lag(probe, *window),
        validity=validity(run, window),
        repetition=meta.repetition,
        offered_rps=totals.offered_rps,
        attempt=meta.attempt,
        locality=site_figures(run, report),
    )
    return replace(figures, checks=check(expectations_of(meta.scenario), figures))
