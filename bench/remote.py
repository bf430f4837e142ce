"""`bench run --inventory`: one scenario on real hosts (docs/real-hosts.md). The faults go over SSH
(stand/faults/remote.py), Locust runs as a master here with a worker on every client machine of the
inventory, the probe on the first one; their records come back over SSH into the same results directory
(bench/results.py), and the same reports read it.

Clocks: the events are stamped by this machine's clock, the records by the client machines'. The
machines are assumed to keep their clocks in sync (NTP); each one's offset is measured at the start and
recorded (meta.json `clocks`), and a run whose clocks may be more than reports.validity.CLOCK_SPREAD_MS
apart is not a valid measurement.

Safety: before any load, every SSH address passes stand.sessions' check (198.18.0.0/15 only inside a
running stand), the load's target must be held by a balancer of the inventory (checked over SSH), and
each worker and the probe refuse any other target (stand.safety.check_deployment_target).
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from bench.results import RunDir, RunMeta
from bench.run import (
    IntervalRates,
    Progress,
    StopSignals,
    locust_options,
    probe_options,
    sites_of_hosts,
    sleep_until,
    sorted_decisions,
    undo_all,
)
from bench.scenario import Scenario, Step, validate_targets
from bench.versions import versions
from loadgen.records import from_machine
from stand.client import DEPLOYMENT_FILE, DeploymentSettings, deployment_settings
from stand.faults.remote import DebianHosts, RemoteFaults, StandHosts, platform_of
from stand.faults.sessions import RemoteProcess, Sessions
from stand.model.inventory import Inventory
from stand.model.plan import Plan
from stand.runtime.handle import StandError

REPO = Path(__file__).resolve().parent.parent
DRAIN_S = 30.0  # after the run: time for the master, the workers and the probe to finish and report
WORKER_WAIT_S = 60  # the master waits this long for every worker to connect
PROBE_LEAD_S = 30.0  # the probe starts first and finds its paths before the load starts (its start-up and
# Locust's would otherwise share the cores and put the probe behind its schedule): it runs this much longer


@dataclass(frozen=True)
class Played:
    """When the timeline played (µs, this machine's clock), and whether it was cut short."""

    started_us: int
    ended_us: int
    interrupted: bool


@dataclass
class RemoteLoad:
    """The load of a run on real hosts: the master here, the workers and the probe over there."""

    master: subprocess.Popen
    workers: list[RemoteProcess]
    probe: RemoteProcess
    workdirs: dict[str, str]  # client machine -> its directory for this run


@dataclass(frozen=True)
class Deployment:
    """One design deployed on real hosts: the plan of its mode, and the inventory of its machines."""

    plan: Plan
    inventory: Inventory

    @property
    def hosts(self) -> DebianHosts | StandHosts:
        return platform_of(self.plan, self.inventory, sys.executable)

    def check(self, scenario: Scenario) -> None:
        """Refuse, before anything starts, a scenario that cannot be played on these hosts."""
        errors = validate_targets(scenario, {h.name: set(h.host.roles) for h in self.plan.hosts})
        if errors:
            raise StandError(f"scenario {scenario.name} does not fit this topology: {'; '.join(errors)}")
        if scenario.load.rate_share is not None and scenario.load.rate is None:
            raise StandError(
                f"scenario {scenario.name}: its rate is a share of the capacity, which is calibrated on the stand "
                "only: give it in requests a second (rate = 40) for real hosts"
            )
        if not self.inventory.clients:
            raise StandError(
                f"{self.inventory.source}: no [clients.NAME]: Locust's workers need at least one client machine"
            )
        for step in scenario.timeline:
            self.hosts.command(step.fault, step.action, self.plan.host(step.target), step.params)

    def play(self, scenario: Scenario, out: Path, progress: Progress, repetition: int = 1, attempt: int = 1) -> Path:
        """`bench.run.run`'s counterpart: the scenario on these hosts, its results in `out`."""
        self.check(scenario)
        return run_remote(self.plan, self.inventory, scenario, out.resolve(), progress, repetition, attempt)


def run_remote(
    plan: Plan,
    inventory: Inventory,
    scenario: Scenario,
    out: Path,
    progress: Progress,
    repetition: int = 1,
    attempt: int = 1,
) -> Path:
    """Play `scenario` (checked: `Deployment.check`) on the inventory's hosts, deployed in `plan`'s mode."""
    hosts = platform_of(plan, inventory, sys.executable)
    with Sessions(inventory) as sessions:
        sessions.open()
        progress(f"SSH to {len(inventory.hosts) + len(inventory.clients)} machines ({inventory.platform} hosts)")
        clocks = {t.name: sessions.clock(t.name) for t in (*inventory.hosts, *inventory.clients)}
        worst = max(clocks.values(), key=lambda c: abs(c.offset_ms))
        progress(
            f"clocks: at most {worst.offset_ms:+.2f} ms from this one ({worst.host}, ±{worst.uncertainty_ms:.2f} ms)"
        )
        target = _checked_target(sessions, plan)
        balancer = plan.balancers[0]
        password = sessions.run(balancer.name, f"cat {shlex.quote(hosts.client_password_file(balancer))}").strip()
        given = DeploymentSettings(deployment_settings(plan.topology, password), (target,))
        run_dir = RunDir(out)
        faults = RemoteFaults(sessions, plan, hosts, run_dir.events)
        faults.clocks = clocks
        run_dir.scenario.write_text(Path(scenario.source).read_text())
        load = _start_load(sessions, inventory, scenario, out, given, progress)
        played = _play(faults, scenario, out, load, sessions, progress)
        _collect(sessions, plan, hosts, load, out, played.ended_us)
    run_dir.write_meta(
        RunMeta(
            mode=plan.mode,
            scenario=asdict(scenario) | {"load": asdict(scenario.load)},
            started_us=played.started_us,
            ended_us=played.ended_us,
            interrupted=played.interrupted,
            versions=versions(),
            topology=plan.topology.source,
            sites=sites_of_hosts(plan),
            balancers=tuple(h.name for h in plan.balancers),
            vip_mode=plan.has_vip,
            settings={
                "ospf": asdict(plan.ospf),
                "health": asdict(plan.topology.health),
                "pgpool": asdict(plan.topology.pgpool),
                "keepalived": asdict(plan.keepalived),
            },
            locust_exit_code=load.master.returncode,
            probe_exit_code=load.probe.returncode or 0,
            load_hosts=tuple(load.workdirs),
            repetition=repetition,
            attempt=attempt,
            inventory=inventory.source,
            clocks={name: {"offset_ms": c.offset_ms, "rtt_ms": c.rtt_ms} for name, c in clocks.items()},
        )
    )
    return out


def _checked_target(sessions: Sessions, plan: Plan) -> str:
    """The load's target, the anycast address (or VIP), once a balancer of the inventory holds it."""
    address = str(plan.topology.anycast.ip)
    holders = [
        b.name
        for b in plan.balancers
        if sessions.run(b.name, f"ip -o -4 addr show to {address}/32", check=False).strip()
    ]
    if not holders:
        raise StandError(f"no balancer of the inventory holds {address}: is the deployment up, in {plan.mode} mode?")
    return address


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _start_load(
    sessions: Sessions,
    inventory: Inventory,
    scenario: Scenario,
    out: Path,
    given: DeploymentSettings,
    progress: Progress,
) -> RemoteLoad:
    """The master here, bound to the address the first client reaches this machine at; a worker on each
    client machine and the probe on the first, each in a directory of its own there with the settings file."""
    first = inventory.clients[0].name
    master_address = sessions.local_address(first)
    port = _free_port(master_address)
    workdirs = {}
    for client in inventory.clients:
        workdirs[client.name] = sessions.run(client.name, "mktemp -d /tmp/pgab-run.XXXXXX").strip()
        sessions.write(client.name, f"{workdirs[client.name]}/{DEPLOYMENT_FILE}", given.to_json())
    probe_client = inventory.clients[0]  # first: the probe finds its paths before Locust's start-up takes the cores
    probe_argv = [
        f"{probe_client.suite}/.venv/bin/python", "-m", "loadgen.probe",
        *probe_options(scenario, "probe"), "--duration", f"{scenario.duration_s + PROBE_LEAD_S:g}",
        "--deployment", DEPLOYMENT_FILE,
    ]  # fmt: skip
    probe = sessions.start(first, shlex.join(probe_argv), out / "probe.log", workdirs[first])
    _wait_for_paths(probe)
    master_argv = [
        sys.executable, "-m", "locust", *locust_options(scenario, out, "records"), "--master",
        "--master-bind-host", master_address, "--master-bind-port", str(port),
        "--expect-workers", str(len(inventory.clients)), "--expect-workers-max-wait", str(WORKER_WAIT_S),
        "--pg-deployment", DEPLOYMENT_FILE,
    ]  # fmt: skip
    with open(out / "locust.log", "w") as log:
        master = subprocess.Popen(
            master_argv, cwd=out, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    workers = []
    for client in inventory.clients:
        argv = [f"{client.suite}/.venv/bin/python", "-m", "locust", "-f", f"{client.suite}/loadgen/select.py",
                "--worker", "--master-host", master_address, "--master-port", str(port)]  # fmt: skip
        log_file = out / f"worker-{client.name}.log"
        workers.append(sessions.start(client.name, shlex.join(argv), log_file, workdirs[client.name]))
    progress(
        f"load: Locust's master here ({master_address}:{port}), workers on {', '.join(workdirs)}; the probe on {first}"
    )
    return RemoteLoad(master, workers, probe, workdirs)


def _wait_for_paths(probe: RemoteProcess) -> None:
    """Until the probe has found its paths and probes on its schedule (its log says so)."""
    deadline = time.monotonic() + PROBE_LEAD_S
    while time.monotonic() < deadline:
        log = probe.log.read_text() if probe.log.exists() else ""
        if "paths found" in log:
            return
        if probe.returncode is not None:
            lines = log.strip().splitlines()
            raise StandError(f"the probe on {probe.host} exited with {probe.returncode}: {lines[-1] if lines else ''}")
        time.sleep(0.2)
    raise StandError(f"the probe on {probe.host} found no path in {PROBE_LEAD_S:g} s (log {probe.log})")


def _play(
    faults: RemoteFaults, scenario: Scenario, out: Path, load: RemoteLoad, sessions: Sessions, progress: Progress
) -> Played:
    """The timeline, as bench.run plays it on the stand; then the load's end."""
    active: list[Step] = []
    started_us = time.time_ns() // 1000
    interrupted = False
    stops = StopSignals()
    try:
        start = time.monotonic()
        rates = IntervalRates(out, start, scenario.duration_s)
        for at_s, steps in itertools.groupby(scenario.timeline, key=lambda step: step.at_s):
            sleep_until(start + at_s, rates, progress)
            with faults.together():
                for step in steps:
                    if step.action == "fault":
                        active.append(step)
                        faults.inject(step.fault, step.target, **step.params)
                    else:
                        faults.undo(step.fault, step.target, **step.params)
                        active = [a for a in active if a.key != step.key]
                    progress(f"{time.monotonic() - start:5.1f} s  {step.action} {step.fault} {step.target} (over SSH)")
        sleep_until(start + scenario.duration_s, rates, progress)
    except KeyboardInterrupt:
        interrupted = True
        progress("interrupted: stopping the load, undoing active faults, keeping what was recorded")
    finally:
        stops.cleaning = True
        try:
            undo_all(faults, active, progress)
            _finish(load, sessions, interrupted or stops.deferred)
        finally:
            stops.restore()
    return Played(started_us, time.time_ns() // 1000, interrupted or stops.deferred)


def _finish(load: RemoteLoad, sessions: Sessions, interrupted: bool) -> None:
    """The master ends by its own time limit and stops its workers; the probe by its duration. Stopped (by
    PID) if they do not."""
    if interrupted:
        os.killpg(load.master.pid, signal.SIGINT)
        for process in (*load.workers, load.probe):
            sessions.signal(process, "INT")
    try:
        load.master.wait(timeout=DRAIN_S)
    except subprocess.TimeoutExpired:
        os.killpg(load.master.pid, signal.SIGTERM)
        load.master.wait(timeout=10)
    for process in (*load.workers, load.probe):
        if sessions.wait(process, DRAIN_S) is None:
            sessions.signal(process, "TERM")
            sessions.wait(process, 10)


def _collect(sessions: Sessions, plan: Plan, hosts, load: RemoteLoad, out: Path, until_us: int) -> None:
    """Records, probe records and the agents' health decisions back into the results directory; the client
    machines' run directories removed."""
    run_dir = RunDir(out)
    for client, workdir in load.workdirs.items():
        renamed = partial(from_machine, machine=client)
        sessions.fetch(client, f"{workdir}/records", run_dir.records, renamed)
        sessions.fetch(client, f"{workdir}/probe", run_dir.probe, renamed)
        sessions.run(client, f"rm -rf {shlex.quote(workdir)}", check=False)
    lines = []
    for balancer in plan.balancers:
        text = sessions.run(balancer.name, f"cat {shlex.quote(hosts.health_decisions(balancer))}", check=False)
        lines += text.splitlines()
    run_dir.health_decisions.write_text("".join(json.dumps(d) + "\n" for d in sorted_decisions(lines, until_us)))
