"""A scenario's expectations (`[expect]`, as k6's thresholds): bounds on a run's figures that `bench run` and
`bench compare` check, that the report shows, and that make them exit with 99 when one fails, so that a
scenario doubles as a regression test in a user's CI (docs/metrics.md, "Expectations").

    [expect]
    gap_ms.max = 500                 # every fault's failover gap at most 500 ms (a gap that never ends fails)
    failed.max = 10                  # at most 10 failed requests in the measured window
    [expect.mode.keepalived]         # a mode's own bounds, instead of the ones above for the same figure
    gap_ms.max = 4000
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from math import isfinite
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reports.run_summary import RunSummary

EXPECTATION_FAILED = 99  # the exit code of `bench run` / `bench compare` when a valid run misses a bound
MAX, MIN = "max", "min"
BOUNDS = (MAX, MIN)
MODE_TABLE = "mode"


def _gaps(summary: RunSummary) -> list[float | None]:
    return [f.gap_ms if f.recovered else None for f in summary.faults]


def _path_gaps(summary: RunSummary) -> list[float | None]:
    return [f.path_gap_ms if f.path_recovered else None for f in summary.faults if f.path is not None]


# figure -> (what it is, its values in a run: one, or one per fault; None: the gap never ended)
METRICS: dict[str, tuple[str, Callable[[RunSummary], list[float | None]]]] = {
    "gap_ms": ("each fault's failover gap over all clients, ms", _gaps),
    "path_gap_ms": ("each fault's gap on the failed path, ms", _path_gaps),
    "failed": ("failed requests in the measured window", lambda s: [s.failed]),
    "broken": ("each fault's established connections broken on other balancers", lambda s: [
        f.collateral_broken_connections for f in s.faults
    ]),
    "p50_ms": ("median latency in the measured window, ms", lambda s: [s.p50_ms] if s.p50_ms is not None else []),
    "p99_ms": ("99th percentile latency in the measured window, ms", lambda s: [s.p99_ms] if s.p99_ms is not None else []),
    "throughput_rps": ("requests served a second in the measured window", lambda s: [s.throughput_rps]),
    "false_health_changes": ("withdrawals or failovers that no fault explains", lambda s: [
        len(s.false_health_changes)
    ]),
}  # fmt: skip


PER_FAULT = {"gap_ms", "path_gap_ms", "broken"}  # figures of each fault: a run without faults has none


@dataclass(frozen=True)
class Expectation:
    metric: str  # a key of METRICS
    bound: str  # max or min
    limit: float
    mode: str | None = None  # None: every mode (a mode's own bound for the same figure replaces it)

    @property
    def text(self) -> str:
        scope = f" in {self.mode} mode" if self.mode else ""
        return f"{self.metric} {'<=' if self.bound == MAX else '>='} {self.limit:g}{scope}"


@dataclass(frozen=True)
class Check:
    expectation: Expectation
    value: str  # what was measured, printable ("347", "never": a gap that did not end, "-": nothing measured)
    passed: bool

    @property
    def line(self) -> str:
        return f"expect {self.expectation.text}: {self.value} {'ok' if self.passed else 'FAILED'}"


def parse_expectations(raw: Mapping[str, Any], known_modes: tuple[str, ...]) -> tuple[list[Expectation], list[str]]:
    """`[expect]` as TOML gives it; every mistake as one line naming its key."""
    errors: list[str] = []
    expectations = _parse_bounds(raw, "expect", None, errors)
    modes = raw.get(MODE_TABLE, {})
    if not isinstance(modes, dict):
        errors.append("expect.mode: must be a table of modes ([expect.mode.NAME])")
        modes = {}
    for mode, table in modes.items():
        if mode not in known_modes:
            errors.append(f"expect.mode.{mode}: unknown mode (modes: {', '.join(known_modes)})")
        elif not isinstance(table, dict):
            errors.append(f"expect.mode.{mode}: must be a table of figures")
        else:
            expectations += _parse_bounds(table, f"expect.mode.{mode}", mode, errors)
    return expectations, errors


def _parse_bounds(table: Mapping[str, Any], where: str, mode: str | None, errors: list[str]) -> list[Expectation]:
    """The bounds of one table (its mistakes appended to `errors`)."""
    found = []
    for metric, bounds in table.items():
        if mode is None and metric == MODE_TABLE:
            continue
        if metric not in METRICS:
            errors.append(f"{where}.{metric}: unknown figure (known: {', '.join(METRICS)})")
            continue
        if not isinstance(bounds, dict) or not bounds:
            errors.append(f"{where}.{metric}: give a bound, as {metric}.max = N or {metric}.min = N")
            continue
        for bound, limit in bounds.items():
            if bound not in BOUNDS:
                errors.append(f"{where}.{metric}.{bound}: unknown bound (known: max, min)")
            elif isinstance(limit, bool) or not isinstance(limit, int | float) or not isfinite(limit):
                errors.append(f"{where}.{metric}.{bound}: must be a finite number (got {limit!r})")
            else:
                found.append(Expectation(metric, bound, float(limit), mode))
    return found


def expectations_of(scenario: Mapping[str, Any]) -> list[Expectation]:
    """The expectations a run's meta.json recorded with its scenario (none in results of older versions)."""
    return [Expectation(**e) for e in scenario.get("expect", ())]


def for_mode(expectations: list[Expectation], mode: str) -> list[Expectation]:
    """The bounds that hold in `mode`: its own, and the general ones for figures it has no own bound on."""
    own = {(e.metric, e.bound) for e in expectations if e.mode == mode}
    return [e for e in expectations if e.mode == mode or (e.mode is None and (e.metric, e.bound) not in own)]


def check(expectations: list[Expectation], summary: RunSummary) -> list[Check]:
    """Each bound that holds in the run's mode, against the run's figures: every value must keep it."""
    checks = []
    for e in for_mode(expectations, summary.mode):
        values = METRICS[e.metric][1](summary)
        if not values:
            checks.append(Check(e, "-", True))  # nothing to measure (no fault in the run)
            continue
        worst = _worst(values, e.bound)
        passed = worst is not None and (worst <= e.limit if e.bound == MAX else worst >= e.limit)
        checks.append(Check(e, "never" if worst is None else f"{worst:g}", passed))
    return checks


def _worst(values: list[float | None], bound: str) -> float | None:
    """The value furthest on the wrong side of the bound; None (a gap that never ended) is the worst of all."""
    if any(v is None for v in values):
        return None
    return max(values) if bound == MAX else min(values)
