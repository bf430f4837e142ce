"""`bench run`: one scenario in one mode. Locust users and the fixed-rate probe run against the stand
while the scenario's timeline of faults plays; everything lands in a results directory (bench/results.py).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from pyroute2.netlink.exceptions import NetlinkError

from bench.machine import MachineMonitor, hosts_by_netns
from bench.results import RunDir, RunMeta
from bench.scenario import Scenario, Step, validate_targets
from bench.versions import versions
from reports.run_summary import RunSummary, summarize_run
from stand.faults.player import Faults
from stand.linux import process
from stand.linux.process import CommandFailed
from stand.linux.state import command_lock
from stand.model import topology
from stand.model.plan import HostPlan, Plan
from stand.modes import open_stand
from stand.modes import running as running_stand
from stand.runtime import build, readiness
from stand.runtime.handle import Stand, StandError

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO / "loadgen" / "select.py"
STAGED_LOCUSTFILE = REPO / "loadgen" / "staged.py"  # the same users, their number following the scenario's stages
DRAIN_S = 20.0  # after the run: time for Locust and the probe to finish their last requests

Progress = Callable[[str], None]
Play = Callable[[Scenario, Path, Progress, int, int], Path]  # (scenario, out, progress, repetition, attempt) -> out


def results_dir(root: Path, scenario: Scenario, mode: str, repetition: int | None = None, attempt: int = 1) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    suffix = (f"-r{repetition}" if repetition else "") + (f"-try{attempt}" if attempt > 1 else "")
    path = root / f"{stamp}-{scenario.name}-{mode}{suffix}"
    path.mkdir(parents=True)
    return path


def ensure_stand(mode: str, progress: Progress, topology_name: str | None = None) -> tuple[Stand, bool]:
    """A running stand of that topology in `mode`: the one already up, or a new one (True: this call
    started it)."""
    stand = open_stand(topology.load(topology_name), mode)
    if stand.state_file.exists():
        running = running_stand(stand)
        if running.plan.mode != mode:
            raise StandError(f"a stand is up in {running.plan.mode} mode: run `stand down` first, or use that mode")
        if running.plan.topology.source != stand.plan.topology.source:
            raise StandError(f"a stand of {running.plan.topology.source} is up: run `stand down` first, or use it")
        progress(f"reusing the running {mode} stand")
        return running, False
    progress(f"starting the stand in {mode} mode")
    build.up(stand, lambda message: progress(f"  {message}"))
    return stand, True


def run(stand: Stand, scenario: Scenario, out: Path, progress: Progress, repetition: int = 1, attempt: int = 1) -> Path:
    """Play `scenario` on a running stand; returns the results directory (also after Ctrl-C). `repetition`:
    which run of the scenario in this mode it is, in a comparison that repeats them; `attempt`: 2 and on
    when the run is played again (`played_until_valid`)."""
    out = out.resolve()  # Locust and the probe run with the results directory as their working directory
    hosts = {h.name: set(h.host.roles) for h in stand.plan.hosts}
    errors = validate_targets(scenario, hosts)
    if errors:
        raise StandError(f"scenario {scenario.name} does not fit this stand: {'; '.join(errors)}")
    if scenario.load.rate_share is not None and scenario.load.rate is None:
        raise StandError(
            f"scenario {scenario.name}: its rate is a share of the capacity, not yet resolved (bench.calibrate)"
        )
    with command_lock(stand.command_lock_path, exclusive=False, what="`bench run`"):
        try:
            return _play(stand, scenario, out, progress, repetition, attempt)
        except Exception:
            progress(f"the run failed; the stand's logs and status are kept in {keep_evidence(stand, out)}")
            raise


@dataclass
class Attempts:
    """The results directories of one run's attempts (`played_until_valid`), made as they are played."""

    root: Path
    scenario: Scenario
    mode: str
    repetition: int | None = None  # its number among repeated runs; None: not repeated
    made: list[Path] = field(default_factory=list)

    def next(self) -> Path:
        self.made.append(results_dir(self.root, self.scenario, self.mode, self.repetition, len(self.made) + 1))
        return self.made[-1]


def played_until_valid(
    stand: Stand | None, attempts: Attempts, progress: Progress, retries: int, play: Play | None = None
) -> Iterator[RunSummary]:
    """Play the scenario, and again, up to `retries` more times, while the machine alone made the run
    invalid (saturated, the hypervisor's steal, the load generator behind its schedule): a shared host's
    noise is not the design's. A run invalid for the stand's reasons (not steady before the first fault,
    the load lost) is not played again: that is a finding. Yields each attempt's summary. `play`: how a run
    is played, `run` on `stand` unless given (real hosts: bench.remote.Deployment.play)."""
    play = play or partial(run, stand)
    for attempt in range(1, retries + 2):
        out = play(attempts.scenario, attempts.next(), progress, attempts.repetition or 1, attempt)
        summary = summarize_run(out)
        yield summary
        validity = summary.validity
        if validity.valid or not validity.by_the_machine or attempt > retries or RunDir(out).read_meta().interrupted:
            return
        progress(f"  not a valid measurement ({'; '.join(validity.reasons)}): playing it again")


def keep_evidence(stand: Stand, out: Path) -> Path:
    """Every daemon's log and the stand's routing and replication, copied into the results directory
    before anything tears the stand down."""
    kept = build.keep_logs(stand, RunDir(out).stand_logs)
    try:
        status = readiness.describe(stand)
    except Exception as e:  # the evidence of a failure must not fail on the stand's state
        status = f"unknown ({type(e).__name__}: {e})"
    (kept / "status.txt").write_text(status + "\n")
    return kept


def _play(stand: Stand, scenario: Scenario, out: Path, progress: Progress, repetition: int, attempt: int) -> Path:
    """The run itself, while no `stand up` or `stand down` can start on the stand."""
    readiness.wait_settled(stand)
    stand.mode.before_run(stand, progress)
    run_dir = RunDir(out)
    run_dir.scenario.write_text(Path(scenario.source).read_text())
    faults = Faults(stand, run_dir.events)
    active: list[Step] = []
    started_us = time.time_ns() // 1000
    load: Load | None = None
    interrupted = False
    stops = StopSignals()
    namespaces = hosts_by_netns({h.namespace: h.name for h in stand.plan.hosts})
    monitor = MachineMonitor(run_dir.machine, namespaces, lambda: [p.pid for p in load.processes] if load else [])
    try:
        load = start_load(stand, scenario, out)
        monitor.start()
        start = time.monotonic()
        rates = IntervalRates(out, start, scenario.duration_s)
        for at_s, steps in itertools.groupby(scenario.timeline, key=lambda step: step.at_s):
            sleep_until(start + at_s, rates, progress)
            with faults.together():  # the steps of one second happen at once
                for step in steps:
                    if step.action == "fault":
                        active.append(step)  # before it takes effect: an interrupted injection is undone too
                        faults.inject(step.fault, step.target, **step.params)
                    else:
                        faults.undo(step.fault, step.target, **step.params)
                        active = [a for a in active if a.key != step.key]
                    progress(f"{time.monotonic() - start:5.1f} s  {step.action} {step.fault} {step.target}")
        sleep_until(start + scenario.duration_s, rates, progress)
    except KeyboardInterrupt:
        interrupted = True
        progress("interrupted: stopping the load, undoing active faults, keeping what was recorded")
    finally:
        stops.cleaning = True  # a second Ctrl-C cannot cut the clean-up short
        try:
            undo_all(faults, active, progress)
            for proc in load.processes if load is not None else ():
                _finish(proc, interrupted or stops.deferred)
        finally:
            if monitor.is_alive():
                monitor.stop()
            stops.restore()
    interrupted = interrupted or stops.deferred
    ended_us = time.time_ns() // 1000
    collect_health_decisions(stand, run_dir.health_decisions, until_us=ended_us)
    meta = RunMeta(
        mode=stand.plan.mode,
        scenario=asdict(scenario) | {"load": asdict(scenario.load)},
        started_us=started_us,
        ended_us=ended_us,
        interrupted=interrupted,
        versions=versions(),
        topology=stand.plan.topology.source,
        sites=sites_of_hosts(stand.plan),
        balancers=tuple(h.name for h in stand.plan.balancers),
        vip_mode=stand.plan.has_vip,
        settings={
            "ospf": asdict(stand.plan.ospf),
            "health": asdict(stand.plan.topology.health),
            "pgpool": asdict(stand.plan.topology.pgpool),
            "keepalived": asdict(stand.plan.keepalived),
            "wan": {"delay": build.wan_delay(stand) or "no WAN"},
        },
        locust_exit_code=load.locust.returncode,
        probe_exit_code=next((p.returncode for p in load.probes if p.returncode), 0),
        load_hosts=tuple(load.hosts),
        repetition=repetition,
        attempt=attempt,
    )
    run_dir.write_meta(meta)
    return out


class StopSignals:
    """While a run plays: SIGINT, SIGTERM and SIGHUP end it as Ctrl-C does (the faults undone, the load
    stopped, the records kept); during that clean-up a further one only marks the run interrupted.

    A process forked from this one that has not exec'd yet (pyroute2's helper that works inside a
    namespace) inherits these handlers: there the signal takes its default action, instead of unwinding
    bench's own stack in the child."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.cleaning = False
        self.deferred = False
        self.previous = {sig: signal.signal(sig, self.handle) for sig in self.SIGNALS}

    def handle(self, signum, frame) -> None:
        if os.getpid() != self.owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if self.cleaning:
            self.deferred = True
            return
        raise KeyboardInterrupt

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def undo_all(faults: Faults, active: list[Step], progress: Progress) -> None:
    """Undo what is still in effect, latest first; one undo that fails does not keep the others from running."""
    with faults.together():
        for step in reversed(active):
            undo_params = {} if step.key[2] is None else {"network": step.key[2]}  # as an undo step names it
            try:
                faults.undo(step.fault, step.target, **undo_params)
            except (StandError, CommandFailed, NetlinkError, OSError) as e:
                reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                progress(f"undo of {step.fault} {step.target} failed: {reason}")


def load_failure(out: Path) -> str:
    """Why the load of a finished run failed ("" if it did not): Locust or a probe exited non-zero, or
    nothing was recorded. Failed requests are not a failure of the load: they are what is measured."""
    run_dir = RunDir(out)
    meta = run_dir.read_meta()
    if meta.interrupted:
        return ""
    if meta.locust_exit_code:
        return f"Locust exited with {meta.locust_exit_code} (log {out / 'locust.log'})"
    if meta.probe_exit_code:
        return f"a probe exited with {meta.probe_exit_code} (logs {out}/probe*.log)"
    for recorded in (run_dir.records, run_dir.probe):
        if not any(recorded.glob("*.arrows")):
            return f"nothing was recorded in {recorded}"
    return ""


def collect_health_decisions(stand: Stand, out: Path, until_us: int) -> None:
    """Every health decision of the stand's agents and keepalived up to `until_us`, in time order (those
    before the run tell the state it started in)."""
    lines = []
    for host in stand.plan.balancers:
        path = stand.layout.host(host.name).health_decisions
        if path.exists():
            lines += path.read_text().splitlines()
    out.write_text("".join(json.dumps(d) + "\n" for d in sorted_decisions(lines, until_us)))


def sorted_decisions(lines: list[str], until_us: int) -> list[dict]:
    """The health decisions of these lines (JSON, of every balancer) before `until_us`, in time order."""
    decisions = []
    for line in lines:
        try:
            decision = json.loads(line)
        except ValueError:
            continue  # a line being written as the run ended
        if decision.get("t_us", until_us) < until_us:
            decisions.append(decision)
    decisions.sort(key=lambda d: d["t_us"])
    return decisions


def sites_of_hosts(plan: Plan) -> dict[str, str]:
    """Host name -> site name for every host of the plan, as meta.json's "sites" records it."""
    return {h.name: h.host.site for h in plan.hosts}


@dataclass
class Load:
    """The processes that make the load: Locust and the fixed-rate probe."""

    locust: subprocess.Popen
    probes: list[subprocess.Popen]
    hosts: list[str]  # the stand hosts the load comes from; "shell" is this machine's own namespace

    @property
    def processes(self) -> list[subprocess.Popen]:
        return [self.locust, *self.probes]


def load_hosts(stand: Stand) -> list[HostPlan]:
    """Client hosts of their own (the sites topology has one per site); none: load from this machine's
    shell, which reaches the stand through its shell link (the seed's client is its router)."""
    return [h for h in stand.plan.hosts if h.host.has("client") and not h.host.has("router")]


def locust_options(scenario: Scenario, out: Path, records: str) -> list[str]:
    """Locust's command line after `python -m locust` for the scenario's load: headless, its statistics,
    log and report in `out`, the request records in `records` (a worker's own directory when distributed)."""
    load = scenario.load
    locustfile = STAGED_LOCUSTFILE if load.stages else LOCUSTFILE
    argv = [
        "-f",
        str(locustfile),
        "--headless",
        "--only-summary",
        "-u",
        str(load.users),
        "-r",
        str(load.spawn_rate),
        "-t",
        f"{scenario.duration_s:g}s",
        "--stop-timeout",
        "2",
        "--pg-mode",
        load.mode,
        "--pg-protocol",
        load.protocol,
        "--pg-think-ms",
        f"{load.think_ms:g}",
        "--pg-session-s",
        f"{load.session_s:g}",
        "--pg-rate",
        f"{load.rate or 0:g}",
        "--pg-records",
        records,
        "--csv",
        str(out / "locust"),
        "--json-file",
        str(out / "locust"),
        "--html",
        str(RunDir(out).locust_report),
        "--exit-code-on-error",
        "0",
    ]  # (failed requests are measured, not Locust failing)
    if load.tags:
        argv += ["--tags", *load.tags]
    if load.stages:
        argv += ["--pg-stages", load.stages_option]
    return argv


def probe_options(scenario: Scenario, out: str) -> list[str]:
    """The probe's command line after `python -m loadgen.probe`, its records in `out`."""
    load = scenario.load
    return [
        "--duration",
        f"{scenario.duration_s:g}",
        "--interval-ms",
        f"{load.probe_interval_ms:g}",
        "--protocol",
        load.protocol,
        "--out",
        out,
    ]


def start_load(stand: Stand, scenario: Scenario, out: Path) -> Load:
    """Locust and a probe from this machine's shell; with client hosts, their connections are made inside
    each client host (each records its own site)."""
    argv = [sys.executable, "-m", "locust", *locust_options(scenario, out, str(out / "records"))]
    probe = [sys.executable, "-m", "loadgen.probe", *probe_options(scenario, str(out / "probe"))]
    clients = load_hosts(stand)
    if not clients:
        locust = _spawn(stand, "shell", "locust", argv, None, out / "locust.log")
        return Load(locust, [_spawn(stand, "shell", "probe", probe, None, out / "probe.log")], ["shell"])
    # One Locust and one probe for every site: each site's users and probes open their connections inside
    # that site's client host (loadgen/sites.py); no workers, no heartbeats across the stand's own WAN.
    sites = ",".join(f"{h.host.site}={h.namespace}" for h in clients)
    locust = _spawn(stand, "shell", "locust", [*argv, "--pg-sites", sites], None, out / "locust.log")
    probes = [_spawn(stand, "shell", "probe", [*probe, "--sites", sites], None, out / "probe.log")]
    return Load(locust, probes, [h.name for h in clients])


def _spawn(stand: Stand, host: str, name: str, argv: list[str], namespace: str | None, log: Path) -> subprocess.Popen:
    """Start one load process, recorded in the stand's state file: `stand down` stops it before anything
    else, even when this `bench` was killed."""
    proc, record = process.spawn(host, name, argv, namespace, log, env={**os.environ, "PYTHONPATH": str(REPO)})
    stand.state_file.record_process(record)
    return proc


def sleep_until(deadline: float, rates: IntervalRates, progress: Progress) -> None:
    """Wait, printing about every 5 s the time, the last interval's rates and the time left."""
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 5.0))
        if time.monotonic() < deadline:
            progress(rates.line())


@dataclass
class IntervalRates:
    """Progress as `pgbench -P` gives it: requests and failures since the line before, not since the start,
    from Locust's statistics csv (cumulative counts, rewritten every couple of seconds)."""

    out: Path
    start: float  # time.monotonic() at the load's start
    duration_s: float
    last: tuple[float, int, int] | None = None  # (time, requests, failures) at the line before

    def line(self) -> str:
        now = time.monotonic()
        elapsed, left = now - self.start, max(0.0, self.duration_s - (now - self.start))
        counts = _locust_counts(self.out)
        if counts is None:
            return f"{elapsed:5.1f} s  load starting  ({left:.0f} s left)"
        last_time, last_requests, last_failures = self.last or (self.start, 0, 0)
        self.last = (now, *counts)
        rate = (counts[0] - last_requests) / max(now - last_time, 1e-3)
        return f"{elapsed:5.1f} s  {rate:7.0f} req/s  {counts[1] - last_failures} failed  ({left:.0f} s left)"


def _locust_counts(out: Path) -> tuple[int, int] | None:
    """Locust's latest aggregate request and failure counts, from its csv; None before it wrote one."""
    try:
        rows = (out / "locust_stats.csv").read_text().splitlines()
        header = rows[0].split(",")
        total = next(r.split(",") for r in rows if ",Aggregated," in r)
        values = dict(zip(header, total))
        return int(values["Request Count"]), int(values["Failure Count"])
    except (FileNotFoundError, StopIteration, KeyError, IndexError, ValueError):
        return None


def _finish(proc: subprocess.Popen, interrupted: bool) -> None:
    """Let a load process end by itself (it has its own time limit); stop it if it does not."""
    if interrupted and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=DRAIN_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
