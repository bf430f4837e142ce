"""`bench compare`: the same scenarios, the same load, the same faults, in each mode, one after the
other on the same stand; then one table of who won by how much."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.remote import Deployment
from bench.results import RunDir, run_label
from bench.run import Attempts, Progress, ensure_stand, played_until_valid
from bench.scenario import Scenario
from reports.metrics import fault_name
from reports.repeats import fault_verdicts, locality_spreads, spread
from reports.run_summary import RunSummary
from reports.verdicts import health_line
from stand.model.topology import load as load_topology
from stand.modes import open_stand
from stand.runtime import build, teardown
from stand.runtime.readiness import NotReady


def compare(
    modes: list[str],
    scenarios: list[Scenario],
    results_root: Path,
    progress: Progress,
    topology_name: str | None = None,
    repeat: int = 1,
    retries: int = 0,
    deployments: dict[str, Deployment] | None = None,
) -> Path:
    """Run every scenario in every mode (a stand per mode), `repeat` times, the modes taking turns in
    alternating order (so that the machine's noise, and any drift, falls on each alike); a run invalid
    because of the machine alone is played again, up to `retries` times; returns the comparison directory.
    With `deployments` (bench compare --inventory), each mode plays on its own real hosts, no stand."""
    directory = results_root / f"{time.strftime('%Y%m%d-%H%M%S')}-compare"
    directory.mkdir(parents=True)
    summaries: list[RunSummary] = []
    tally = Tally(len(modes) * len(scenarios) * repeat)
    try:
        for repetition in range(1, repeat + 1):
            for mode in modes if repetition % 2 else list(reversed(modes)):
                turn = Turn(mode, repetition, repeat, retries, tally)
                if deployments is not None:
                    _deployed_runs_of_mode(turn, scenarios, directory, progress, deployments[mode], summaries)
                else:
                    _runs_of_mode(turn, scenarios, directory, progress, topology_name, summaries)
    except KeyboardInterrupt:
        raise Interrupted(directory) from None
    except Exception:  # a stand that did not come up: `stand up` kept its logs beside the state directory
        failure = open_stand(load_topology(topology_name)).failure_logs
        if failure.exists():
            shutil.copytree(failure, directory / "stand-logs", dirs_exist_ok=True)
            progress(f"the stand's logs are kept in {directory / 'stand-logs'}")
        raise
    finally:  # what ran is compared, also after Ctrl-C
        (directory / "comparison.json").write_text(json.dumps([asdict(s) for s in summaries], indent=2) + "\n")
    return directory


@dataclass
class Tally:
    """The runs a comparison plays (not counting those played again), and how far it is."""

    total: int
    begun: int = 0
    started: float = field(default_factory=lambda: time.monotonic())

    def next(self) -> str:
        """ "run 3 of 12, about 9 min left" for the run that begins now (the time left: at the pace so far)."""
        self.begun += 1
        done = self.begun - 1
        if not done:
            return f"run 1 of {self.total}"
        left_s = (time.monotonic() - self.started) / done * (self.total - done)
        return f"run {self.begun} of {self.total}, about {left_s / 60:.0f} min left"


@dataclass(frozen=True)
class Turn:
    """One mode's turn in a comparison: its `repetition`-th run of every scenario (of `repeat`)."""

    mode: str
    repetition: int
    repeat: int
    retries: int  # how many times a run invalid because of the machine is played again
    tally: Tally


def _runs_of_mode(
    turn: Turn,
    scenarios: list[Scenario],
    directory: Path,
    progress: Progress,
    topology_name: str | None,
    summaries: list[RunSummary],
) -> None:
    """Every scenario once in one mode, on its stand (brought up and down here unless one was up); each
    run's summary goes to `summaries` as soon as it ends. A scenario that finds the stand unsettled (the
    one before left it so) is marked not run (`not-run.txt`, beside the evidence), and the stand rebuilt."""
    mode, repetition = turn.mode, turn.repetition
    stand, started_here = ensure_stand(mode, progress, topology_name)
    try:
        for scenario in scenarios:
            which = f", repetition {repetition} of {turn.repeat}" if turn.repeat > 1 else ""
            progress(f"{scenario.name} in {mode} mode ({scenario.duration_s:g} s{which}; {turn.tally.next()})")
            attempts = Attempts(directory, scenario, mode, repetition if turn.repeat > 1 else None)
            try:
                for summary in played_until_valid(stand, attempts, progress, turn.retries):
                    summaries.append(summary)
                    if RunDir(Path(summary.directory)).read_meta().interrupted:
                        raise Interrupted(directory)
            except NotReady as e:  # the scenario before left the stand unsettled: its evidence is kept in out_dir
                RunDir(attempts.made[-1]).not_run.write_text(f"{e}\n")
                if not started_here:
                    raise  # a stand of the user's own: not ours to rebuild
                progress(f"{scenario.name} in {mode} mode not run ({e}); rebuilding the {mode} stand")
                teardown.down(stand, lambda message: None)
                build.up(stand, lambda message: progress(f"  {message}"))
    finally:
        if started_here:
            progress(f"stopping the {mode} stand")
            teardown.down(stand, lambda message: None)


def _deployed_runs_of_mode(
    turn: Turn,
    scenarios: list[Scenario],
    directory: Path,
    progress: Progress,
    deployment: Deployment,
    summaries: list[RunSummary],
) -> None:
    """Every scenario once in one mode, on the real hosts it is deployed on."""
    for scenario in scenarios:
        which = f", repetition {turn.repetition} of {turn.repeat}" if turn.repeat > 1 else ""
        where = deployment.inventory.source
        progress(
            f"{scenario.name} in {turn.mode} mode on {where} ({scenario.duration_s:g} s{which}; {turn.tally.next()})"
        )
        attempts = Attempts(directory, scenario, turn.mode, turn.repetition if turn.repeat > 1 else None)
        for summary in played_until_valid(None, attempts, progress, turn.retries, play=deployment.play):
            summaries.append(summary)
            if RunDir(Path(summary.directory)).read_meta().interrupted:
                raise Interrupted(directory)


def last_attempts(summaries: list[RunSummary]) -> list[RunSummary]:
    """Each run's last attempt: the one its figures stand on (an earlier one was played again)."""
    last: dict[tuple[str, str, int], RunSummary] = {}
    for s in sorted(summaries, key=lambda s: s.attempt):
        last[(s.scenario, s.mode, s.repetition)] = s
    return list(last.values())


def not_run(directory: Path) -> list[tuple[Path, str]]:
    """The runs of a comparison that could not be played, and why."""
    return [
        (path.parent, path.read_text().strip())
        for path in sorted(directory.glob(f"*/{RunDir(directory).not_run.name}"))
    ]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a comparison; `directory` holds the runs that ran and their comparison."""

    def __init__(self, directory: Path):
        super().__init__(str(directory))
        self.directory = directory


def verdict_table(summaries: list[RunSummary]) -> str:
    """The terminal table: per scenario and run, throughput, latency, balancer shares, and per fault the
    failover gap (over all clients, and of the failed path), failed queries and established connections
    broken on other balancers; with repeated
    runs, every figure's median and range and the verdict on each fault's gap."""
    lines = []
    for scenario in dict.fromkeys(s.scenario for s in summaries):
        lines.append(f"== {scenario}")
        rows = sorted((s for s in summaries if s.scenario == scenario), key=lambda s: (s.repetition, s.mode, s.attempt))
        repeated = any(s.repetition > 1 for s in rows)
        name = {id(s): run_label(s.mode, s.repetition, s.attempt, repeated) for s in rows}
        for s in rows:
            if not s.validity.valid:
                lines.append(f"{name[id(s)]:<17}INVALID, no verdict from this run: {'; '.join(s.validity.reasons)}")
        lines.append(f"{'mode':<17}{'offered':>8}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}  balancer share")
        for s in rows:
            shares = " ".join(f"{b} {v:.0%}" for b, v in sorted(s.balancer_share.items()))
            offered = "-" if s.offered_rps is None else f"{s.offered_rps:.0f}"
            lines.append(
                f"{name[id(s)]:<17}{offered:>8}{s.throughput_rps:8.0f}{_ms(s.p50_ms):>9}{_ms(s.p99_ms):>9}{s.failed:8d}"
                f"  {shares}"
            )
        lines.append(
            f"{'mode':<17}{'fault':<28}{'gap ms':>8}{'path gap':>10}{'failed q':>10}{'probes':>8}{'broken':>8}"
            "  failed path"
        )
        for s in rows:
            for f in s.faults:
                gap = _ms(f.gap_ms) if f.recovered else "never"
                path_gap = "-" if f.path is None else _ms(f.path_gap_ms) if f.path_recovered else "never"
                lines.append(
                    f"{name[id(s)]:<17}{fault_name(f.fault, f.target, f.together):<28}{gap:>8}{path_gap:>10}"
                    f"{f.failed_requests:10d}{f.failed_probes:8d}{f.collateral_broken_connections:8d}  {f.path or '-'}"
                )
        for s in rows:
            health = health_line(s.health_recorded, s.false_health_changes, s.vip_mode, s.started_us)
            lines.append(f"{name[id(s)]:<17}{health}")
        for s in rows:
            lines += [f"{name[id(s)]:<17}{c.line}" for c in s.checks]
        for s in rows:
            lag = s.probe_lag
            if lag.p50_ms is not None:
                lines.append(
                    f"{name[id(s)]:<17}probe started late by {lag.p99_ms:.1f} ms (p99), {lag.max_ms:.1f} ms at most"
                )
        if repeated:
            lines += _repeated_lines(rows)
        lines += locality_lines(rows)
    return "\n".join(lines)


def locality_lines(rows: list[RunSummary]) -> list[str]:
    """Where each client site was served, per mode over its valid runs: at home and p50, before the first
    fault and during it (medians [ranges]); nothing for a single site."""
    spreads = locality_spreads([(s.mode, s.locality) for s in rows if s.validity.valid and s.locality])
    if not spreads:
        return []
    lines = [
        "locality: share of ok requests served at home and p50, before the first fault and during it "
        "(medians [ranges] of the valid runs)",
        f"{'mode':<17}{'site':<6}{'runs':>5}  {'at home before':<16}{'p50 before':<24}{'at home during':<16}p50 during",
    ]
    for r in spreads:
        lines.append(
            f"{r.mode:<17}{r.site:<6}{r.runs:>5}  {r.home_before:<15} {r.p50_before:<23} {r.home_during:<15} {r.p50_during}"
        )
    return lines


def verdict_lines(summaries: list[RunSummary]) -> list[str]:
    """The verdicts of repeated runs, "SCENARIO: LINE" (medians and ranges, who was shorter how often)."""
    lines = []
    for scenario in dict.fromkeys(s.scenario for s in summaries):
        rows = [s for s in summaries if s.scenario == scenario]
        if any(s.repetition > 1 for s in rows):
            lines += [f"{scenario}: {line}" for line in _repeated_lines(rows)]
    return lines


def _repeated_lines(rows: list[RunSummary]) -> list[str]:
    """Per mode the median and range of its runs' figures, and per fault which mode's gap was shorter in
    how many runs (valid runs only: an invalid one is named above and left out here)."""
    valid = [s for s in rows if s.validity.valid]
    modes = [m for m in dict.fromkeys(s.mode for s in rows) if any(s.mode == m for s in valid)]  # as compared
    by_mode = {mode: [s for s in valid if s.mode == mode] for mode in modes}
    if not valid:
        return ["no verdict: no run of this scenario was a valid measurement"]
    runs = ", ".join(f"{mode} {len(runs)}" for mode, runs in by_mode.items())
    lines = [f"medians [ranges] of the valid runs ({runs}):"]
    for mode, runs in by_mode.items():
        rate = spread([s.throughput_rps for s in runs])
        p99 = spread([s.p99_ms for s in runs if s.p99_ms is not None])
        failed = spread([s.failed for s in runs])
        lines.append(f"{mode:<17}req/s {rate.text()}, p99 {p99.text(' ms') if p99 else '-'}, failed {failed.text()}")
    return lines + fault_verdicts(valid)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if value < 100 else f"{value:.0f}"
