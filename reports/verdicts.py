"""The words of the reports: the verdicts on the seed's claims, the health line `bench` and the reports
share, and how a figure is written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reports.health import HealthChange
from reports.metrics import ProbeLag
from reports.repeats import gap_verdict, spread

if TYPE_CHECKING:  # the views hold the verdicts: reports.views imports this module
    from reports.views import FailoverRow, RunView

USED_SHARE = 0.05  # a balancer "is used" when it carries at least this part of the ok requests
LOCAL_SHARE = 0.95  # a site "stays local" when its own site's balancers serve at least this part of its ok requests
CLAIMS = (  # the seed's claims 1, 2 and 3 about VIP designs (shared/SEED.md)
    "All traffic goes through the one node that holds the VIP; the other balancers sit idle.",
    "With balancers in several data centres, traffic crosses cities for nothing.",
    "Moving the VIP after a node fails takes 2-10 s, visible to the application.",
)


@dataclass(frozen=True)
class Verdict:
    """One question about a seed claim, with lines that carry the measured figures."""

    claim: int
    claim_text: str
    question: str
    lines: list[str]


def verdicts(views: Sequence[RunView], every_balancer: Sequence[str], multi_site: bool) -> list[Verdict]:
    """One entry per seed claim question, with lines that carry the measured figures."""
    faults = _whole_run_faults(views)
    gaps = [_gaps_line(key, rows) for key, rows in faults.items()] or ["no fault"]
    failed = [_failed_line(key, rows) for key, rows in faults.items()] or ["no fault"]
    health = [_health_verdict(v) for v in views]
    return [
        Verdict(1, CLAIMS[0], "All balancers used?", [balancers_used_line(v, every_balancer) for v in views]),
        _cross_city(views, multi_site),
        Verdict(3, CLAIMS[2], "Failover gap per fault", gaps),
        Verdict(3, CLAIMS[2], "Failed queries per fault", failed),
        Verdict(3, CLAIMS[2], "Balancers taken out with no fault to explain it?", health),
    ]


def _cross_city(views: Sequence[RunView], multi_site: bool) -> Verdict:
    """Claim 2: measured when the results record the site of each host and there is more than one."""
    if any(v.locality is not None for v in views):
        question = "Each site's clients stay on their own site's balancer?"
        return Verdict(2, CLAIMS[1], question, [locality_line(v) for v in views])
    if multi_site:
        line = "not measured: the results do not record the site of each host"
    else:
        line = "not measured on a single-site stand"
    return Verdict(2, CLAIMS[1], "Cross-city traffic?", [line])


def _whole_run_faults(views: Sequence[RunView]) -> dict[str, dict[str, list[FailoverRow]]]:
    """fault key -> mode -> the failover rows of its runs, whole run (all sites), in repetition order. Invalid
    runs are left out when their mode has valid ones (the comparison names them above its verdicts)."""
    faults: dict[str, dict[str, list[FailoverRow]]] = {}
    valid_modes = {v.mode for v in views if v.validity.valid}
    for view in sorted(views, key=lambda v: (v.repetition, v.attempt)):
        if not view.validity.valid and view.mode in valid_modes:
            continue
        for row in view.failover.rows:
            if row.site == view.sites[0]:
                faults.setdefault(row.key, {}).setdefault(view.mode, []).append(row)
    return faults


def _health_verdict(view: RunView) -> str:
    health = view.health
    return health_line(health.recorded, health.false_changes, health.vip_mode, health.started_us, mode=view.label)


def false_changes_name(vip_mode: bool) -> str:
    """What a health decision no fault explains is called: a false failover when a VIP moves, a false
    withdrawal of an anycast route."""
    return "false failovers" if vip_mode else "false withdrawals"


def health_line(
    recorded: bool, false: Sequence[HealthChange], vip_mode: bool, started_us: int, mode: str | None = None
) -> str:
    """A run's false withdrawals (anycast) or false failovers (VIP modes): health decisions no fault explains.
    Without `mode`, the line of `bench`'s terminal table, which names the first three; with it, the
    report's verdict line for that mode."""
    what = false_changes_name(vip_mode)
    if mode is not None:
        return f"{mode}: {len(false)} {what}" if recorded else f"{mode}: not measured (no health decisions recorded)"
    if not recorded:
        return "health decisions: not recorded in this mode"
    details = "; ".join(f"{c.host} at {(c.t_us - started_us) / 1e6:.1f} s: {c.reason}" for c in false[:3])
    return f"{what}: {len(false)}" + (f" ({details})" if details else "")


def balancers_used_line(view: RunView, every_balancer: Sequence[str]) -> str:
    """Claim 1 in one mode: how many balancers carried at least USED_SHARE before the first fault."""
    shares = view.balancers_before_first_fault
    used = [b for b, share in shares.items() if share >= USED_SHARE and b in every_balancer]  # not the last resort
    answer = "yes" if every_balancer and len(used) == len(every_balancer) else "no"
    detail = ", ".join(f"{b} {share:.1%}" for b, share in shares.items()) or "no ok request"
    return (
        f"{view.label}: {answer}, {len(used)} of {len(every_balancer)} balancers carried ≥{USED_SHARE:.0%} "
        f"of the ok requests in the {view.before_first_fault_s:.0f} s before the first fault ({detail})"
    )


def locality_line(view: RunView) -> str:
    """Claim 2 in one mode: how many client sites had at least LOCAL_SHARE of their ok requests served
    by their own site's balancers before the first fault, and every site's local share."""
    rows = view.locality_before_first_fault
    if rows is None:
        return f"{view.label}: not measured: the results do not record the site of each host"
    local = [row.site for row in rows if row.local_share is not None and row.local_share >= LOCAL_SHARE]
    answer = "yes" if rows and len(local) == len(rows) else "no"
    detail = ", ".join(f"{row.site} {format_share(row.local_share)}" for row in rows) or "no request"
    return (
        f"{view.label}: {answer}, {len(local)} of {len(rows)} sites had ≥{LOCAL_SHARE:.0%} of their ok requests "
        f"served by a balancer of their own site in the {view.before_first_fault_s:.0f} s before the first "
        f"fault (local share: {detail})"
    )


def _gaps_line(key: str, runs: Mapping[str, list[FailoverRow]]) -> str:
    """Claim 3 for one fault over every run: one run per mode as `gap_line`, several as medians and ranges."""
    if all(len(rows) == 1 for rows in runs.values()):
        return gap_line(key, {mode: rows[0] for mode, rows in runs.items()})
    first = next(iter(runs.values()))[0]
    gaps = {mode: [row.gap_ms if row.recovered else None for row in rows] for mode, rows in runs.items()}
    return gap_verdict(f"{key} at {first.at_s:.1f} s", gaps)


def _failed_line(key: str, runs: Mapping[str, list[FailoverRow]]) -> str:
    if all(len(rows) == 1 for rows in runs.values()):
        return failed_line(key, {mode: rows[0] for mode, rows in runs.items()})
    first = next(iter(runs.values()))[0]
    queries = "; ".join(f"{mode} {spread([r.failed_requests for r in rows]).text()}" for mode, rows in runs.items())
    probes = "; ".join(f"{mode} {spread([r.failed_probes for r in rows]).text()}" for mode, rows in runs.items())
    return f"{key} at {first.at_s:.1f} s: failed queries {queries}; failed probes {probes} (medians [ranges])"


def gap_line(key: str, rows: Mapping[str, FailoverRow]) -> str:
    """Claim 3 for one fault: the failover gap per mode, which is shorter, and by what factor."""
    first = next(iter(rows.values()))
    head = f"{key} at {first.at_s:.1f} s: "
    measured = sorted(((row.gap_ms, mode) for mode, row in rows.items() if row.recovered))
    unmeasured = [f"{mode} {row.gap_text}" for mode, row in rows.items() if not row.recovered]
    resolution = max((row.resolution_ms for row in rows.values() if row.resolution_ms), default=None)
    tail = "" if resolution is None else f" (resolution: one probe period, {format_ms(resolution)} ms)"
    if len(rows) == 1:
        mode, row = next(iter(rows.items()))
        return f"{head}only {mode} measured: {row.gap_text}{tail}"
    if not measured:
        return head + "; ".join(unmeasured) + tail
    best_ms = measured[0][0]
    best = [mode for ms, mode in measured if ms == best_ms]
    if len(best) == len(rows):
        return f"{head}no difference: {format_ms(best_ms)} ms in {', '.join(best)}{tail}"
    others = [
        f"{mode} {format_ms(ms)} ms" + (f" ({ms / best_ms:.1f}× longer)" if best_ms > 0 else "")
        for ms, mode in measured
        if ms != best_ms
    ]
    none_failed = " (no failed probe)" if best_ms == 0 else ""
    return (
        f"{head}shorter in {' and '.join(best)}: {format_ms(best_ms)} ms{none_failed}; "
        + "; ".join(others + unmeasured)
        + tail
    )


def failed_line(key: str, rows: Mapping[str, FailoverRow]) -> str:
    """Claim 3 for one fault: failed queries (and probes) per mode, and where fewest."""
    first = next(iter(rows.values()))
    counts = ", ".join(f"{mode} {row.failed_requests}" for mode, row in rows.items())
    probes = ", ".join(f"{mode} {row.failed_probes}" for mode, row in rows.items())
    fewest = min(row.failed_requests for row in rows.values())
    winners = [mode for mode, row in rows.items() if row.failed_requests == fewest]
    if len(rows) == 1:
        verdict = "one mode only"
    elif len(winners) == len(rows):
        verdict = "the same in every mode"
    else:
        verdict = f"fewest in {' and '.join(winners)}"
    return f"{key} at {first.at_s:.1f} s: failed queries {counts}; failed probes {probes}: {verdict}"


def gap_text(gap_ms: float | None, recovered: bool, confirmed: bool, probes: int) -> str:
    """A failover gap as a table shows it; "*" when the ok run reached the undo before `stable_ms`."""
    if probes == 0:
        return "no probe"
    if not recovered or gap_ms is None:
        return "not recovered"
    return f"{format_ms(gap_ms)} ms" + ("" if confirmed else "*")


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


def probe_lag_text(lag: ProbeLag) -> str:
    """The probe's own lag against its schedule, in one sentence."""
    if lag.p50_ms is None:
        return "The probe's schedule was not recorded (results of an older version)."
    return (
        f"The probe started {lag.p50_ms:.1f} ms late against its schedule at the median, {lag.p99_ms:.1f} ms at "
        f"p99, {lag.max_ms:.1f} ms at most ({lag.probes} probes); gaps count each probe from when it was due."
    )
