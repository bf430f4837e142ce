"""Whether a run was a valid measurement: the machine not saturated, the load generator on its schedule and
all there, the stand in its steady state before the first fault (docs/metrics.md, "Validity")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.results import MachineSample, Run
from loadgen.records import OK
from reports.health import REATTACH_FAULTS, REATTACH_GRACE_S
from reports.metrics import balancer_share, first_fault_us, probe_lag
from stand.model.events import FaultEvent
from stand.model.topology import LAST_RESORT_LABEL

SATURATED_IDLE = 0.05  # a second is saturated when less than 5% of the machine's CPU was idle
SATURATED_SHARE = 0.10  # a run is invalid when more than 10% (and one) of its other seconds were saturated:
RECONNECTING_S = 6.0  # the seconds after each fault and undo are the design's own (reconnections), and
# REATTACH_GRACE_S after the undo of a fault that cut a network (pgpool takes its backends back, restarting children)
STEAL_SHARE = 0.05  # or when the hypervisor took more than 5% of the CPU over them
PROBE_LAG_P99_MS = 50.0  # or when the probe started later than this at p99: the load generator fell behind
PROBE_LAG_MAX_MS = 500.0  # or any probe later than this (half of LATE_MS: a gap would be the generator's)
LAST_RESORT_SHARE = 0.01  # or when the last resort served more than this before the first fault
PROBES_FAILED_SHARE = 0.5  # or when more than this part of the probes failed before the first fault: no load reached it
CLOCK_SPREAD_MS = 10.0  # or, on real hosts, when a machine's clock may be this far from the runner's (the records'
# and the events' clocks apart by a tenth of the probe's period: a gap's start and end would be off by as much)


@dataclass(frozen=True)
class Validity:
    valid: bool
    reasons: list[str]  # one line each, why not
    measured_s: int  # machine samples in the measured window (0: not recorded, results of older versions)
    saturated_s: int
    idle_median: float | None  # part of the machine's CPU idle, median over the measured seconds
    load_cores_median: float | None  # CPU of the load generator, in cores
    by_the_machine: bool = False  # invalid for the machine's reasons alone (saturated, steal, the generator
    # behind its schedule), not the stand's: the same run played again may be valid


def _in_window(samples: Sequence[MachineSample], start_us: int, end_us: int) -> list[MachineSample]:
    return [s for s in samples if start_us < s.t_us <= end_us]  # a sample covers the second before its t_us


def announced_at(decisions: Sequence[dict], t_us: int) -> dict[str, bool]:
    """Each balancer's last health decision before `t_us`: whether it announced (held the VIP)."""
    state: dict[str, bool] = {}
    for decision in sorted((d for d in decisions if d.get("kind") == "state"), key=lambda d: d["t_us"]):
        if decision["t_us"] < t_us:
            state[decision["host"]] = bool(decision["announced"])
    return state


def validity(run: Run, window: tuple[int, int]) -> Validity:
    """Why the run in `window` (its measured window) is not a valid measurement, if it is not."""
    reasons = []
    samples = _in_window(run.machine, *window)
    saturated = [s for s in samples if s.idle < SATURATED_IDLE]
    busy = [(e.t_us, e.t_us + _design_work_s(e) * 1e6) for e in run.events]
    noise = [s for s in samples if not any(start < s.t_us <= end for start, end in busy)]
    saturated_noise = [s for s in noise if s.idle < SATURATED_IDLE]
    if len(saturated_noise) > max(1, SATURATED_SHARE * len(noise)):  # one second may be chance
        reasons.append(
            f"the machine was saturated: under {SATURATED_IDLE:.0%} of its CPU idle in "
            f"{len(saturated_noise)} of {len(noise)} s (not counting the seconds after each fault and undo)"
        )
    steal = float(np.mean([s.steal for s in samples])) if samples else 0.0
    if steal > STEAL_SHARE:
        reasons.append(f"the hypervisor took {steal:.0%} of the CPU (steal)")
    lag = probe_lag(run.probe, *window)  # start-up (Locust's imports take a core for a second) is not measured
    if lag.p99_ms is not None and (lag.p99_ms > PROBE_LAG_P99_MS or lag.max_ms > PROBE_LAG_MAX_MS):
        reasons.append(
            f"the load generator fell behind its schedule: the probe started {lag.p99_ms:.0f} ms "
            f"late at p99, {lag.max_ms:.0f} ms at most"
        )
    of_the_stand = _not_steady(run, window) + _lost_load(run, window) + _clocks_apart(run)
    by_the_machine = bool(reasons) and not of_the_stand
    reasons += of_the_stand
    return Validity(
        valid=not reasons,
        reasons=reasons,
        measured_s=len(samples),
        saturated_s=len(saturated),
        idle_median=float(np.median([s.idle for s in samples])) if samples else None,
        load_cores_median=float(np.median([s.load_cores for s in samples])) if samples else None,
        by_the_machine=by_the_machine,
    )


def _clocks_apart(run: Run) -> list[str]:
    """On real hosts: the clocks of the runner (the events) and of the machines (the records) too far apart."""
    spread = run.meta.clock_spread_ms
    if spread <= CLOCK_SPREAD_MS:
        return []
    worst = max(run.meta.clocks, key=lambda h: abs(run.meta.clocks[h]["offset_ms"]) + run.meta.clocks[h]["rtt_ms"] / 2)
    return [
        f"the clocks differ: {worst}'s may be {spread:.1f} ms from the runner's (more than {CLOCK_SPREAD_MS:g} ms; is NTP on?)"
    ]


def _design_work_s(event: FaultEvent) -> float:
    """How long after a fault or an undo the design's own work (reconnections; pgpool's failback after a
    network came back) may take the machine's CPU."""
    return REATTACH_GRACE_S if event.action == "undo" and event.fault in REATTACH_FAULTS else RECONNECTING_S


def _not_steady(run: Run, window: tuple[int, int]) -> list[str]:
    """The stand not in its steady state before the first fault: a balancer withdrawn, the VIP already
    moved, the last resort serving."""
    first_fault = first_fault_us(run.events)
    if first_fault is None:
        return []
    reasons = []
    start_us = window[0] if window[0] < first_fault else run.meta.started_us
    shares = balancer_share(run.requests, start_us, first_fault)
    last_resort = sum(share for balancer, share in shares.items() if balancer.startswith(LAST_RESORT_LABEL))
    if last_resort > LAST_RESORT_SHARE:
        reasons.append(f"the last resort served {last_resort:.0%} of the ok requests before the first fault")
    state = announced_at(run.decisions, first_fault)
    if run.meta.vip_mode and state and run.meta.balancers:
        holders = sorted(host for host, held in state.items() if held)
        if holders != [run.meta.balancers[0]]:
            reasons.append(
                f"before the first fault the VIP was held by {', '.join(holders) or 'nobody'}, "
                f"not {run.meta.balancers[0]}"
            )
    elif not run.meta.vip_mode:
        withdrawn = [b for b in run.meta.balancers if state.get(b) is False]
        if withdrawn:
            reasons.append(f"{', '.join(withdrawn)} withdrawn before the first fault")
    return reasons


def _lost_load(run: Run, window: tuple[int, int]) -> list[str]:
    """The load itself failed: Locust or a probe exited non-zero, a Locust worker went missing (it missed its
    heartbeats: its users stopped), or most probes failed before the first fault (the baseline reached
    nothing). An interrupted run's exit codes are its interruption's."""
    meta, reasons = run.meta, []
    if meta.locust_exit_code and not meta.interrupted:
        reasons.append(f"Locust exited with {meta.locust_exit_code}")
    if meta.probe_exit_code and not meta.interrupted:
        reasons.append(f"a probe exited with {meta.probe_exit_code}")
    if run.missing_workers:
        reasons.append(f"a Locust worker went missing {run.missing_workers} times (it missed its heartbeats)")
    end_us = first_fault_us(run.events) or window[1]
    probes = run.probe[(run.probe["start_us"] >= window[0]) & (run.probe["start_us"] < end_us)]
    failed = int((probes["outcome"] != OK).sum())
    if len(probes) and failed > PROBES_FAILED_SHARE * len(probes):
        before = "before the first fault" if end_us != window[1] else "in the measured window"
        reasons.append(f"{failed} of {len(probes)} probes failed {before}: the baseline reached nothing")
    return reasons


def not_recorded() -> Validity:
    """The validity of a summary built without a run's machine samples (nothing says it was invalid)."""
    return Validity(True, [], 0, 0, None, None)
