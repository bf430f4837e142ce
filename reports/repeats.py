"""Figures of repeated runs: each as its median with its range, and verdicts that say how many runs agree
and when the ranges leave no clear difference (docs/metrics.md, "Repetitions")."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from reports.metrics import fault_name
from reports.run_summary import RunSummary

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
