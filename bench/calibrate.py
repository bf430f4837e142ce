"""`bench calibrate`: the stand's capacity for one kind of load, the highest rate it serves while p99 stays
under a limit, and the share of it that scenarios give their load as (`rate = "40%"`).

The capacity is measured as the scenarios load the stand: open-loop arrivals (loadgen/pacing.py) from
`users` connections, the probe running, in one design (a mode) on one topology. Each step of a ladder is
a short run without faults (bench.run) at one rate; a step keeps up when the requests it served came at
least at KEEP_UP of the rate due, at most FAILED_SHARE failed, and p99, counted from when each request
was due, stayed under the limit. The ladder grows by STEP_FACTOR from the kind of load's first rate
until a step does not keep up (shrinks until one does), then halves the gap between the highest step that
kept up and the lowest that did not, REFINE times. The capacity is the highest served rate of a step
that kept up. Before the ladder, one step at the first rate warms the stand up and is not judged (a fresh
stand's pgpool children open their backend connections in its first seconds: both cores saturated
for 5-7 s here).

The calibrations live in RESULTS/calibration.json, the latest one for each kind of load and mode; a
scenario's share is of the lowest capacity among the modes the command runs, so that a comparison
offers every design the same load.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench.results import RunDir, load_run
from bench.run import ensure_stand, results_dir, run
from bench.scenario import Scenario
from bench.scenario import load as load_scenario
from bench.versions import versions
from reports.metrics import summary
from stand.runtime import teardown
from stand.runtime.handle import Stand, StandError

CALIBRATIONS = "calibration.json"
DEFAULT_P99_MS = 250.0
DEFAULT_USERS = 24  # pgpool has 32 children per balancer: in a VIP mode one pgpool takes every connection
FIRST_RATE = {"per-query": 20.0, "persistent": 300.0}  # requests a second: a new connection costs far more
STEP_FACTOR = 1.5
REFINE = 1
MAX_STEPS = 12
MIN_RATE = 1.0
STEP_S = 13.0
SETTLE_S = 5.0  # not measured: Locust takes a core for its first seconds, and its users start late
KEEP_UP = 0.95
FAILED_SHARE = 0.01
DEFAULT_PROBE_INTERVAL_MS = 100.0  # as the built-in scenarios: the capacity left beside the probe

Progress = Callable[[str], None]


class NoCalibration(StandError):
    """A scenario gives its rate as a share of a capacity that was never measured (and may not be here)."""


@dataclass(frozen=True)
class LoadKind:
    """What a capacity is the capacity for: the topology, the connection mode, the protocol, the requests."""

    topology: str  # the topology's file
    pg_mode: str  # persistent or per-query
    protocol: str
    tags: tuple[str, ...]  # () = every request

    @property
    def text(self) -> str:
        return (
            f"{self.pg_mode}, {self.protocol}, {'+'.join(self.tags) or 'every request'} on {Path(self.topology).stem}"
        )

    @classmethod
    def of(cls, scenario: Scenario, topology: str) -> LoadKind:
        load = scenario.load
        return cls(topology, load.mode, load.protocol, tuple(load.tags))


@dataclass(frozen=True)
class CalibrationStep:
    rate_rps: float  # the rate asked for
    offered_rps: float  # the requests due in the measured seconds, a second
    served_rps: float  # ok requests a second
    p99_ms: float | None  # from when each was due
    requests: int
    failed: int
    kept_up: bool
    why: str  # why it did not keep up ("" when it did)
    directory: str  # the step's results directory


@dataclass(frozen=True)
class Calibration:
    kind: LoadKind
    mode: str  # the design it was measured in
    p99_limit_ms: float
    users: int
    probe_interval_ms: float
    capacity_rps: float | None  # None: not even the lowest step kept up
    steps: tuple[CalibrationStep, ...]
    measured_at: str  # local time, ISO 8601
    versions: dict[str, str]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> Calibration:
        kind = LoadKind(**{**raw["kind"], "tags": tuple(raw["kind"]["tags"])})
        steps = tuple(CalibrationStep(**step) for step in raw["steps"])
        return cls(**{**raw, "kind": kind, "steps": steps})


def judge(
    offered_rps: float, served_rps: float, p99_ms: float | None, requests: int, failed: int, limit_ms: float
) -> str:
    """Why a step did not keep up ("" when it did)."""
    if not requests:
        return "nothing was recorded"
    if served_rps < KEEP_UP * offered_rps:
        return f"served {served_rps:.1f}/s of {offered_rps:.1f}/s due"
    if failed > FAILED_SHARE * requests:
        return f"{failed} of {requests} requests failed"
    if p99_ms is None or p99_ms > limit_ms:
        return f"p99 {p99_ms or 0:.0f} ms over {limit_ms:g} ms"
    return ""


def next_rate(steps: Sequence[tuple[float, bool]], first_rate: float, max_steps: int = MAX_STEPS) -> float | None:
    """The ladder: the rate of the next step after `steps` (rate, kept up) in the order run; None: done."""
    if not steps:
        return first_rate
    if len(steps) >= max_steps:
        return None
    good = [rate for rate, kept_up in steps if kept_up]
    bad = [rate for rate, kept_up in steps if not kept_up]
    if not bad:
        return steps[-1][0] * STEP_FACTOR
    if not good:
        lower = min(bad) / STEP_FACTOR
        return lower if lower >= MIN_RATE else None
    bracketed = next(i for i, (_, kept_up) in enumerate(steps) if kept_up != steps[0][1])  # the first on the other side
    if len(steps) - 1 - bracketed >= REFINE:
        return None
    low = max(good)
    above = [rate for rate in bad if rate > low]
    return (low + min(above)) / 2 if above else low * STEP_FACTOR


def step_scenario(
    directory: Path, name: str, kind: LoadKind, rate: float, users: int, probe_interval_ms: float
) -> Scenario:
    """A short run without faults at `rate`, written as a scenario file (a run keeps the file it played)."""
    tags = ", ".join(f'"{t}"' for t in kind.tags)
    path = directory / f"step-{name}.toml"
    path.write_text(
        f'name = "calibrate-{name}"\n'
        f'description = "bench calibrate: {rate:g} requests a second, open loop, no fault"\n'
        f"duration_s = {STEP_S:g}\n\n[load]\n"
        f"users = {users}\nspawn_rate = {users}\n"
        f'mode = "{kind.pg_mode}"\nprotocol = "{kind.protocol}"\ntags = [{tags}]\n'
        f"rate = {rate:.3f}\nprobe_interval_ms = {probe_interval_ms:g}\n"
    )
    return load_scenario(str(path))


def measure_step(out: Path, rate: float, limit_ms: float) -> CalibrationStep:
    """A step's figures: from SETTLE_S after its start to the end of its schedule."""
    meta = RunDir(out).read_meta()
    requests = load_run(out).requests
    figures = summary(requests, meta.started_us + int(SETTLE_S * 1e6), meta.load_end_us)
    offered = figures.offered_rps or 0.0
    why = judge(offered, figures.throughput_rps, figures.p99_ms, figures.requests, figures.failed, limit_ms)
    return CalibrationStep(
        rate_rps=rate,
        offered_rps=offered,
        served_rps=figures.throughput_rps,
        p99_ms=figures.p99_ms,
        requests=figures.requests,
        failed=figures.failed,
        kept_up=not why,
        why=why,
        directory=str(out),
    )


def calibrate(
    stand: Stand,
    kind: LoadKind,
    directory: Path,
    progress: Progress,
    limit_ms: float = DEFAULT_P99_MS,
    users: int = DEFAULT_USERS,
    probe_interval_ms: float = DEFAULT_PROBE_INTERVAL_MS,
    max_steps: int = MAX_STEPS,
) -> Calibration:
    """Run the ladder (at most `max_steps` judged steps) on a running stand; returns the calibration (steps
    under `directory`)."""
    directory.mkdir(parents=True, exist_ok=True)
    steps: list[CalibrationStep] = []
    first = FIRST_RATE.get(kind.pg_mode, FIRST_RATE["per-query"])
    warm_up = step_scenario(directory, "warm-up", kind, first, users, probe_interval_ms)
    progress(f"warming the stand up: {first:g}/s for {STEP_S:g} s, not measured")
    run(stand, warm_up, results_dir(directory, warm_up, stand.plan.mode), lambda message: None)
    while (rate := next_rate([(s.rate_rps, s.kept_up) for s in steps], first, max_steps)) is not None:
        scenario = step_scenario(directory, f"{len(steps) + 1:02d}", kind, rate, users, probe_interval_ms)
        out = run(stand, scenario, results_dir(directory, scenario, stand.plan.mode), lambda message: None)
        if RunDir(out).read_meta().interrupted:
            raise KeyboardInterrupt
        step = measure_step(out, rate, limit_ms)
        steps.append(step)
        p99 = "-" if step.p99_ms is None else f"{step.p99_ms:.0f} ms"
        verdict = "kept up" if step.kept_up else f"did not keep up: {step.why}"
        progress(f"{rate:7.1f}/s asked: {step.served_rps:6.1f}/s served, p99 {p99}, {step.failed} failed; {verdict}")
    kept = [s.served_rps for s in steps if s.kept_up]
    return Calibration(
        kind=kind,
        mode=stand.plan.mode,
        p99_limit_ms=limit_ms,
        users=users,
        probe_interval_ms=probe_interval_ms,
        capacity_rps=max(kept) if kept else None,
        steps=tuple(steps),
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        versions=versions(),
    )


def read_calibrations(root: Path) -> list[Calibration]:
    path = root / CALIBRATIONS
    if not path.exists():
        return []
    try:
        return [Calibration.from_dict(raw) for raw in json.loads(path.read_text())]
    except (ValueError, KeyError, TypeError) as e:
        raise StandError(
            f"{path}: not a calibration file ({type(e).__name__}: {e}); remove it or run `bench calibrate`"
        ) from None


def save_calibration(root: Path, calibration: Calibration) -> Path:
    """Keep it as the latest of its kind of load and mode in RESULTS/calibration.json."""
    kept = [c for c in read_calibrations(root) if (c.kind, c.mode) != (calibration.kind, calibration.mode)]
    root.mkdir(parents=True, exist_ok=True)
    path = root / CALIBRATIONS
    path.write_text(json.dumps([c.to_dict() for c in [*kept, calibration]], indent=2) + "\n")
    return path


def latest(root: Path, kind: LoadKind, mode: str) -> Calibration | None:
    return next((c for c in reversed(read_calibrations(root)) if c.kind == kind and c.mode == mode), None)


def capacity(root: Path, kind: LoadKind, modes: Sequence[str]) -> tuple[float, str]:
    """The lowest capacity of the modes for this kind of load, and where it comes from (for the record)."""
    found = {mode: latest(root, kind, mode) for mode in modes}
    missing = [mode for mode, c in found.items() if c is None]
    if missing:
        raise NoCalibration(
            f"no capacity measured for {kind.text} in {', '.join(missing)} mode: run `bench calibrate {' '.join(missing)}`"
        )
    unmeasured = [mode for mode, c in found.items() if c.capacity_rps is None]
    if unmeasured:
        raise NoCalibration(
            f"{kind.text}: not even the lowest rate kept up in {', '.join(unmeasured)} mode (see {root / CALIBRATIONS})"
        )
    mode = min(found, key=lambda m: found[m].capacity_rps)
    best = found[mode]
    return (
        best.capacity_rps,
        f"{best.capacity_rps:.1f}/s, {mode} mode, p99 under {best.p99_limit_ms:g} ms, measured {best.measured_at}",
    )


def needs_capacity(scenarios: Sequence[Scenario]) -> bool:
    return any(s.load.rate_share is not None for s in scenarios)


def calibrate_missing(
    root: Path,
    scenarios: Sequence[Scenario],
    modes: Sequence[str],
    topology_name: str | None,
    topology: str,
    progress: Progress,
) -> None:
    """Measure every capacity the scenarios' shares need and the results directory does not hold yet."""
    kinds = list(dict.fromkeys(LoadKind.of(s, topology) for s in scenarios if s.load.rate_share is not None))
    for mode in modes:
        missing = [kind for kind in kinds if latest(root, kind, mode) is None]
        if not missing:
            continue
        stand, started_here = ensure_stand(mode, progress, topology_name)
        try:
            for kind in missing:
                progress(f"calibrating {kind.text} in {mode} mode (the scenarios give their rate as a share of it)")
                calibration = calibrate(
                    stand, kind, root / "calibrate" / f"{time.strftime('%Y%m%d-%H%M%S')}-{mode}", progress
                )
                save_calibration(root, calibration)
                progress(f"capacity: {_capacity_text(calibration)}")
        finally:
            if started_here:
                teardown.down(stand, lambda message: None)


def with_rates(
    root: Path, scenarios: Sequence[Scenario], modes: Sequence[str], topology: str, progress: Progress
) -> list[Scenario]:
    """The scenarios with every share of the capacity turned into its rate (requests a second)."""
    resolved = []
    for scenario in scenarios:
        share = scenario.load.rate_share
        if share is None:
            resolved.append(scenario)
            continue
        rps, source = capacity(root, LoadKind.of(scenario, topology), modes)
        progress(f"{scenario.name}: {share:.0%} of the capacity ({source}): {share * rps:.1f} requests a second")
        resolved.append(replace(scenario, load=replace(scenario.load, rate=round(share * rps, 3), capacity_rps=rps)))
    return resolved


def _capacity_text(calibration: Calibration) -> str:
    if calibration.capacity_rps is None:
        return f"none: not even {calibration.steps[0].rate_rps:g}/s kept up (p99 under {calibration.p99_limit_ms:g} ms)"
    return f"{calibration.capacity_rps:.1f} requests a second with p99 under {calibration.p99_limit_ms:g} ms"


def calibration_table(calibration: Calibration) -> str:
    """The terminal's table of one calibration: every step, then the capacity."""
    lines = [
        f"== capacity of {calibration.kind.text}, {calibration.mode} mode, {calibration.users} connections, "
        f"the probe every {calibration.probe_interval_ms:g} ms per path",
        f"{'asked/s':>9}{'due/s':>9}{'served/s':>10}{'p99 ms':>9}{'failed':>8}  kept up",
    ]
    for s in calibration.steps:
        p99 = "-" if s.p99_ms is None else f"{s.p99_ms:.0f}"
        lines.append(
            f"{s.rate_rps:9.1f}{s.offered_rps:9.1f}{s.served_rps:10.1f}{p99:>9}{s.failed:8d}  {'yes' if s.kept_up else 'no: ' + s.why}"
        )
    lines.append(f"capacity: {_capacity_text(calibration)}")
    return "\n".join(lines)
