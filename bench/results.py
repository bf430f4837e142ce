"""The results contract: one run's results directory as types, what `bench run` writes and every reader loads.

    RESULTS/
      meta.json        `RunMeta`: mode, scenario, versions, settings, start and end (µs, same clock as the
                       records), the site of every host ("sites": host name -> site name)
      scenario.toml    the scenario as it ran
      events.jsonl     every fault and undo, with its wall-clock time (`stand.model.events.FaultEvent`)
      health.jsonl     every health decision of the balancers' agents (or keepalived), with its evidence
      machine.jsonl    every second of the run: the machine's CPU, the load's and each stand host's
      records/         the users' request records (Arrow IPC, see loadgen/records.py)
      probe/           the probe's records
      locust*          Locust's own statistics (csv, json) and its log (locust.log: the master's)
      stand-logs/      after a failed run: every daemon's log and the stand's status
      not-run.txt      instead of meta.json: why the run could not be played (the stand was not settled)

Only the standard library, pandas, `loadgen.records` and `stand.model` are imported here: reading
results needs no stand.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from loadgen.records import read_records
from stand.model.events import FaultEvent, read_events

META_FILE = "meta.json"


@dataclass(frozen=True)
class RunDir:
    """The paths of one run's results directory."""

    root: Path

    @property
    def meta(self) -> Path:
        return self.root / META_FILE

    @property
    def scenario(self) -> Path:
        return self.root / "scenario.toml"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def health_decisions(self) -> Path:
        return self.root / "health.jsonl"

    @property
    def machine(self) -> Path:
        return self.root / "machine.jsonl"

    @property
    def records(self) -> Path:
        return self.root / "records"

    @property
    def probe(self) -> Path:
        return self.root / "probe"

    @property
    def locust_log(self) -> Path:
        """Locust's own log (the master's, when there are workers)."""
        return self.root / "locust.log"

    @property
    def locust_report(self) -> Path:
        """Locust's own HTML report of the run (`--html`), which `bench publish` links."""
        return self.root / "locust.html"

    @property
    def stand_logs(self) -> Path:
        return self.root / "stand-logs"

    @property
    def not_run(self) -> Path:
        """Written instead of meta.json when the run could not be played: why (bench compare goes on)."""
        return self.root / "not-run.txt"

    def read_meta(self) -> RunMeta:
        return RunMeta.from_json(self.meta.read_text())

    def write_meta(self, meta: RunMeta) -> None:
        self.meta.write_text(meta.to_json())


@dataclass(frozen=True)
class RunMeta:
    """meta.json, in the order of its keys. Results of older versions lack the keys added since (`from_json`)."""

    mode: str
    scenario: dict[str, Any]  # the scenario as it ran: bench.scenario.Scenario as JSON
    started_us: int  # wall clock, µs, the clock of the records
    ended_us: int
    interrupted: bool
    versions: dict[str, str]  # component -> its version line
    topology: str  # the topology file
    sites: dict[str, str] | None  # host name -> site name for every host; None: not recorded
    balancers: tuple[str, ...]  # host names; (): not recorded
    vip_mode: bool  # one balancer holds a VIP (a false health change is a false failover); False: not recorded
    settings: dict[str, Any]  # the topology's ospf, health, pgpool and keepalived settings
    locust_exit_code: int | None  # None: not recorded
    probe_exit_code: int | None  # the first non-zero exit of a probe, else 0; None: not recorded
    load_hosts: tuple[str, ...]  # the hosts the load came from ("shell": this machine); (): not recorded
    repetition: int = 1  # which run of its scenario and mode in a `bench compare --repeat N` (from 1)
    attempt: int = 1  # 2 and on: played again, the attempt before was not a valid measurement because of the machine
    inventory: str | None = None  # the inventory file of a run on real hosts (bench run --inventory); None: the stand
    clocks: dict[str, dict[str, float]] | None = None  # per machine of the inventory: its clock against the runner's
    # ({"offset_ms", "rtt_ms"}: its wall clock minus the runner's, true to within half the round trip); None: one clock

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str) + "\n"

    @property
    def initial_users(self) -> int:
        """The users the load starts with (a staged load changes them later)."""
        return int(self.scenario.get("load", {}).get("users", 0))

    @property
    def load_end_us(self) -> int:
        """The end of the load's schedule: its duration after the start, or the run's end if earlier."""
        duration_us = int(float(self.scenario.get("duration_s", 0)) * 1e6)
        return min(self.ended_us, self.started_us + duration_us) if duration_us else self.ended_us

    @classmethod
    def from_json(cls, text: str) -> RunMeta:
        """The keys every meta.json has had are required; the later ones default to "not recorded", as the
        readers took them before there was a contract."""
        raw = json.loads(text)
        sites = raw.get("sites")
        return cls(
            mode=raw["mode"],
            scenario=raw["scenario"],
            started_us=raw["started_us"],
            ended_us=raw["ended_us"],
            interrupted=raw["interrupted"],
            versions=raw["versions"],
            topology=raw["topology"],
            sites=sites if isinstance(sites, dict) else None,
            balancers=tuple(raw.get("balancers", ())),
            vip_mode=raw.get("vip_mode", False),
            settings=raw["settings"],
            locust_exit_code=raw.get("locust_exit_code"),
            probe_exit_code=raw.get("probe_exit_code"),
            load_hosts=tuple(raw.get("load_hosts", ())),
            repetition=int(raw.get("repetition", 1)),
            attempt=int(raw.get("attempt", 1)),
            inventory=raw.get("inventory"),
            clocks=raw.get("clocks"),
        )

    @property
    def clock_spread_ms(self) -> float:
        """How far apart the run's clocks may be at most: the widest offset between the runner and any
        machine, plus its uncertainty (half the round trip); 0 on the stand, which reads one clock."""
        return max((abs(c["offset_ms"]) + c["rtt_ms"] / 2 for c in (self.clocks or {}).values()), default=0.0)


def run_label(mode: str, repetition: int, attempt: int, numbered: bool) -> str:
    """How the tables name a run: its mode, "#n" for the n-th of repeated runs (`numbered`), and "try k" when
    it was played again because the attempt before was not a valid measurement."""
    name = f"{mode} #{repetition}" if numbered else mode
    return name if attempt == 1 else f"{name} try {attempt}"


@dataclass(frozen=True)
class MachineSample:
    """One second of the machine while a run played (a line of machine.jsonl)."""

    t_us: int  # the end of the second, on the records' clock
    busy: float  # parts of the machine's CPU (all cores) in that second: busy + idle + iowait + steal = 1
    idle: float
    iowait: float
    steal: float
    load_cores: float  # CPU of the load (Locust and the probes, their children too), in cores
    host_cores: dict[str, float]  # CPU of every stand host's processes, in cores

    def to_json(self) -> str:
        return json.dumps(asdict(self)) + "\n"


def read_machine(path: Path) -> list[MachineSample]:
    """The samples of a machine.jsonl (none for runs from before it existed); a torn last line is skipped."""
    if not path.exists():
        return []
    samples = []
    for line in path.read_text().splitlines():
        try:
            samples.append(MachineSample(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return samples


@dataclass(frozen=True)
class Run:
    """Everything the figures read from one results directory."""

    directory: Path
    meta: RunMeta
    events: list[FaultEvent]  # in time order
    requests: pd.DataFrame  # loadgen.records.read_records of records/
    probe: pd.DataFrame  # of probe/
    decisions: list[dict]  # the balancers' health decisions (health.jsonl), as written
    machine: list[MachineSample]  # machine.jsonl: [] for runs from before it
    missing_workers: int = 0  # times Locust's master found a worker missing (it missed its heartbeats)


def load_run(directory: Path) -> Run:
    """The meta data, fault events, request and probe records and health decisions of a results directory."""
    paths = RunDir(directory)
    return Run(
        directory=directory,
        meta=paths.read_meta(),
        events=sorted(read_events(paths.events), key=lambda e: e.t_us),
        requests=read_records(paths.records),
        probe=read_records(paths.probe, "probe"),
        decisions=read_decisions(paths.health_decisions),
        machine=read_machine(paths.machine),
        missing_workers=missing_workers(paths.locust_log),
    )


MISSING_WORKER = "failed to send heartbeat, setting state to missing"  # Locust's master's log line


def missing_workers(log: Path) -> int:
    """How often Locust's master found a worker missing, from its log (0 without a log)."""
    if not log.exists():
        return 0
    return sum(MISSING_WORKER in line for line in log.read_text(errors="replace").splitlines())


def read_decisions(path: Path) -> list[dict]:
    """The health decisions of a `health.jsonl` (none for runs from before it existed)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def complete_runs(directory: Path) -> list[Path]:
    """The results directories in a comparison directory that have their meta.json (`bench run` writes it
    last: a run without it is still going, or died), in name order."""
    return sorted(meta.parent for meta in directory.glob(f"*/{META_FILE}") if meta.is_file())
