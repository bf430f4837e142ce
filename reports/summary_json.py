"""`bench run --json` and `bench compare --json`: what the terminal table shows, as JSON, every figure's
unit in its key (docs/json.md has the shape)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from reports.run_summary import FaultFigures, RunSummary


def _fault(f: FaultFigures) -> dict:
    return {
        "fault": f.fault,
        "target": f.target,
        "together": list(f.together),
        "gap_ms": f.gap_ms,
        "recovered": f.recovered,
        "path": f.path,
        "path_gap_ms": f.path_gap_ms,
        "path_recovered": f.path_recovered,
        "failed_requests": f.failed_requests,
        "failed_probes": f.failed_probes,
        "broken_connections_elsewhere": f.collateral_broken_connections,
        "recovery_ms": f.recovery_ms,
    }


def run_json(s: RunSummary) -> dict:
    """One run's row of the table, its faults and its checks."""
    return {
        "directory": s.directory,
        "mode": s.mode,
        "scenario": s.scenario,
        "repetition": s.repetition,
        "attempt": s.attempt,
        "valid": s.validity.valid,
        "invalid_reasons": list(s.validity.reasons),
        "requests": s.requests,
        "failed_requests": s.failed,
        "offered_rps": s.offered_rps,
        "throughput_rps": s.throughput_rps,
        "p50_ms": s.p50_ms,
        "p99_ms": s.p99_ms,
        "balancer_share": s.balancer_share,
        "faults": [_fault(f) for f in s.faults],
        "health_recorded": s.health_recorded,
        "false_health_changes": len(s.false_health_changes),
        "probe_late_p99_ms": s.probe_lag.p99_ms,
        "probe_late_max_ms": s.probe_lag.max_ms,
        "expectations": [{"expectation": c.expectation.text, "value": c.value, "passed": c.passed} for c in s.checks],
        "locality": [asdict(f) for f in s.locality],
    }


def summary_json(
    summaries: Sequence[RunSummary], results: str, report: str, verdicts: list[str], exit_code: int
) -> dict:
    """The whole command's outcome: where its results and report are, every run, the verdict lines (the
    medians and ranges of repeated runs), and the exit code it ends with."""
    return {
        "results": results,
        "report": report,
        "exit_code": exit_code,
        "runs": [run_json(s) for s in summaries],
        "verdicts": verdicts,
    }
