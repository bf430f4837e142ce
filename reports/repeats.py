"""Figures of repeated runs: each as its median with its range, and verdicts that say how many runs agree
and when the ranges leave no clear difference (docs/metrics.md, "Repetitions")."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from reports.metrics import fault_name
from reports.run_summary import RunSummary, SiteFigures

NEVER = math.inf  # a gap that never closed within its window: longer than any measured one


@dataclass(frozen=True)
class Spread:
    """A figure over repeated runs."""

    median: float
    low: float
    high: float
    runs: int

    def text(self, unit: str = "", digits: int = 0) -> str:
        """ "312 ms [281-350]" ("never" for gaps that did not close)."""

        def show(value: float) -> str:
            return "never" if value == NEVER else f"{value:.{digits}f}"

        head = "never" if self.median == NEVER else f"{show(self.median)}{unit}"
        return head + ("" if self.low == self.high else f" [{show(self.low)}-{show(self.high)}]")


def spread(values: Sequence[float | None]) -> Spread | None:
    """Median and range of the values (None counts as NEVER: a gap that did not close); None without any."""
    numbers = [NEVER if v is None else float(v) for v in values]
    if not numbers:
        return None
    return Spread(float(np.median(numbers)), min(numbers), max(numbers), len(numbers))


def gap_verdict(key: str, gaps: Mapping[str, Sequence[float | None]]) -> str:
    """Which mode's gap was shorter, in how many of the paired runs (the i-th run of each mode), with every
    mode's median and range; "no clear difference" when the best mode's range overlaps another's."""
    spreads = {mode: spread(values) for mode, values in gaps.items() if values}
    if len(spreads) < 2:
        return f"{key}: " + "; ".join(f"only {mode} measured: {s.text(' ms')}" for mode, s in spreads.items())
    ranked = sorted(spreads, key=lambda mode: spreads[mode].median)
    best, others = ranked[0], ranked[1:]
    figures = "; ".join(f"{mode} {spreads[mode].text(' ms')}" for mode in ranked)
    if any(spreads[best].high >= spreads[mode].low for mode in others):
        return f"{key}: no clear difference (the ranges overlap): {figures}"
    pairs = min(len(values) for values in gaps.values())
    wins = sum(all(_gap(gaps[best][i]) < _gap(gaps[mode][i]) for mode in others) for i in range(pairs))
    return f"{key}: shorter in {best} in {wins} of {pairs} runs: {figures}"


def _gap(value: float | None) -> float:
    return NEVER if value is None else value


def fault_verdicts(valid: Sequence[RunSummary]) -> list[str]:
    """Per fault of a scenario's valid runs (in the first mode's order of faults): `gap_verdict` of the gap
    over all clients, and of the failed path's where the probe had paths."""
    by_mode: dict[str, list[RunSummary]] = {}
    for s in valid:
        by_mode.setdefault(s.mode, []).append(s)
    first = next(iter(by_mode.values()), [])
    lines = []
    for index, fault in enumerate(first[0].faults if first else []):
        of_fault = {mode: [s.faults[index] for s in runs if index < len(s.faults)] for mode, runs in by_mode.items()}
        key = fault_name(fault.fault, fault.target, fault.together)
        gaps = {mode: [f.gap_ms if f.recovered else None for f in faults] for mode, faults in of_fault.items()}
        lines.append(gap_verdict(key, gaps))
        path_gaps = {
            mode: [f.path_gap_ms if f.path_recovered else None for f in faults if f.path is not None]
            for mode, faults in of_fault.items()
        }
        if any(path_gaps.values()):
            lines.append(gap_verdict(f"{key}, the failed path", path_gaps))
    return lines


@dataclass(frozen=True)
class LocalitySpread:
    """One client site of one mode over its runs: the share served at home and the p50, before the first
    fault and during it, each as its median [range] in words ("cut off": no ok request in any run)."""

    mode: str
    site: str
    runs: int
    home_before: str
    p50_before: str
    home_during: str
    p50_during: str


def _spread_text(values: Sequence[float | None], unit: str, digits: int, scale: float = 1.0) -> str:
    present = [v * scale for v in values if v is not None]
    if not present:
        return "cut off"
    text = spread(present).text(unit, digits)
    missing = len(values) - len(present)
    return text + (f" ({missing} of {len(values)} runs cut off)" if missing else "")


def locality_spreads(runs: Sequence[tuple[str, Sequence[SiteFigures]]]) -> list[LocalitySpread]:
    """Per mode (in order of appearance) and client site (in name order), the medians and ranges of
    `runs` ((mode, its sites' figures) for each valid run)."""
    by_key: dict[tuple[str, str], list[SiteFigures]] = {}
    for mode, figures in runs:
        for f in figures:
            by_key.setdefault((mode, f.site), []).append(f)
    modes = list(dict.fromkeys(mode for mode, _ in runs))
    rows = []
    for mode, site in sorted(by_key, key=lambda key: (modes.index(key[0]), key[1])):
        found = by_key[(mode, site)]
        rows.append(
            LocalitySpread(
                mode=mode,
                site=site,
                runs=len(found),
                home_before=_spread_text([f.local_share_before for f in found], "%", 0, 100),
                p50_before=_spread_text([f.p50_before_ms for f in found], " ms", 2),
                home_during=_spread_text([f.local_share_during for f in found], "%", 0, 100),
                p50_during=_spread_text([f.p50_during_ms for f in found], " ms", 2),
            )
        )
    return rows
