"""Scenarios: a load shape, a duration and a timeline of faults that `bench run` plays.

While Locust users and the fixed-rate probe run against the service address, `bench run` plays
the timeline: each step, at its second from the start, injects a fault on one host or undoes it.
A scenario is a TOML file; the built-in ones live in `bench/scenarios/NAME.toml` and are loaded
by name (`load("balancer-crash")`), any other file by path.

    name = "balancer-crash"          # letters, digits, '.', '_' or '-' (it names result files)
    description = "PgBAL1 (the VIP's first master) loses every link, then comes back"
    duration_s = 40                  # the whole run; every step happens before its end

    [load]
    users = 12                       # Locust users (at least 1)
    spawn_rate = 12                  # users started per second (more than 0)
    mode = "per-query"               # "persistent": one connection per user;
                                     # "per-query": a new TCP connection for each query
    protocol = "simple"              # optional (default "extended"): the users' and the probe's queries;
                                     # "simple": the key in the SQL text (loadgen --pg-protocol)
    tags = ["point"]                 # which requests: "point", "mix"; optional, [] = all
    think_ms = 200                   # optional (default 0): each user's pause between its requests
    # session_s = 5                  # optional, persistent only (default 0: never): a user closes its
                                     # connection after a request once it is this old and opens a new one
                                     # for the next, as an application's pool retires its connections
    # rate = "40%"                   # optional, instead of think_ms (and stages): requests a second over
                                     # all users, open loop (loadgen --pg-rate): a number (40), or a share
                                     # of the stand's capacity measured by `bench calibrate` ("40%"); the
                                     # users are then the connections the arrivals share
    probe_interval_ms = 100          # the probe's period on each path: one new connection and query each time

    [[load.stages]]                  # optional: the number of users changes during the run
    at_s = 10                        # after 0, before the end, each after the one before
    users = 96                       # from then on (Locust starts or stops users at spawn_rate)

    [[timeline]]                     # optional: no steps = a baseline run without faults
    at_s = 10                        # seconds from the start: 0 <= at_s < duration_s
    action = "fault"                 # "fault" injects it, "undo" takes it back
    fault = "node-crash"             # one of stand.faults.registry.FAULTS
    target = "PgBAL1"                # a host of the stand (any case)

    [[timeline]]
    at_s = 25
    action = "undo"
    fault = "node-crash"
    target = "PgBAL1"

    [[timeline]]                     # faults on a link name it in `params`
    at_s = 30
    action = "fault"
    fault = "link-netem"
    target = "PgBAL2"
    params = { network = "routed", delay_ms = 50, loss_pct = 2 }

    [expect]                         # optional: bounds on the run's figures (reports/expect.py); a valid
    gap_ms.max = 500                 # run that misses one makes `bench run` / `bench compare` exit 99
    [expect.mode.keepalived]         # a mode's own bound for a figure, instead of the general one
    gap_ms.max = 4000

Rules of the timeline: steps are listed in time order (steps at the same second are played in
the order written); an `undo` needs an earlier `fault` of the same kind on the same target that is
still active; a `fault` cannot be injected again on a target where it is already active, nor on a
target where another fault is active (their undos would undo each other: a node-crash's return brings
a cut link up too), except link faults on different networks of one host. Link
faults are told apart by their `network` too: cutting `base` and `routed` of one host are two
faults, and the undo of a link fault names the network (and nothing else). Faults still active at
the end of the run are allowed (`bench run` undoes them when it stops).

Every mistake in a file is reported at once, each as `file: field: reason`; the steps are numbered
from 0 as in `Scenario.timeline` (`timeline[0]` is the first `[[timeline]]`). Whether targets exist
on a stand, and have the roles a fault needs, is checked apart by `validate_targets`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen.client import EXTENDED, MODES, PERSISTENT, PROTOCOLS, WORKLOADS
from reports.expect import PER_FAULT, Expectation, parse_expectations
from stand.faults.registry import FAULTS
from stand.model.errors import FieldReader, FileErrors, read_toml
from stand.modes import MODE_NAMES

BUILTIN_DIR = Path(__file__).parent / "scenarios"

TAGS = tuple(WORKLOADS)  # Locust's --tags: the loadgen's workloads
FAULT, UNDO = "fault", "undo"
ACTIONS = (FAULT, UNDO)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # full-string matches: it names files
NETWORK_PATTERN = re.compile(r"[a-z][a-z0-9]{0,5}")  # stand.model.topology's network names

TOP_FIELDS = ("name", "description", "duration_s", "load", "timeline", "expect")
LOAD_FIELDS = (
    "users",
    "spawn_rate",
    "mode",
    "protocol",
    "tags",
    "think_ms",
    "session_s",
    "rate",
    "probe_interval_ms",
    "stages",
)
RATE_SHARE = re.compile(r"(\d+(?:\.\d+)?)%")  # "40%": a share of the calibrated capacity
STAGE_FIELDS = ("at_s", "users")
STEP_FIELDS = ("at_s", "action", "fault", "target", "params")


class ScenarioError(FileErrors):
    """A scenario file with mistakes; `errors` lists every one of them."""


@dataclass(frozen=True)
class Stage:
    """From `at_s` on, the load runs `users` users (Locust starts or stops users at the spawn rate)."""

    at_s: float
    users: int


@dataclass(frozen=True)
class Load:
    users: int
    spawn_rate: float
    mode: str  # persistent or per-query
    tags: tuple[str, ...]  # a subset of TAGS; () = every request
    probe_interval_ms: float
    think_ms: float = 0.0
    protocol: str = EXTENDED  # extended or simple
    stages: tuple[Stage, ...] = ()  # changes of the number of users during the run; () = `users` throughout
    rate: float | None = None  # open-loop requests a second over all users; None: closed loop (or a share)
    rate_share: float | None = None  # the rate as a share of the calibrated capacity (0.4 for "40%")
    capacity_rps: float | None = None  # the capacity the share was taken of, once resolved (bench.calibrate)
    session_s: float = 0.0  # persistent: a connection is closed after a request once this old (0: never)

    @property
    def open_loop(self) -> bool:
        return self.rate is not None or self.rate_share is not None

    @property
    def rate_text(self) -> str:
        """As written: "40/s", "40% of capacity"; "" for a closed-loop load."""
        if self.rate_share is not None:
            return f"{self.rate_share * 100:g}% of capacity"
        return "" if self.rate is None else f"{self.rate:g}/s"

    @property
    def stages_option(self) -> str:
        """loadgen's --pg-stages: the users from the start, then at each stage."""
        return ",".join(
            f"{at_s:g}:{users}" for at_s, users in ((0.0, self.users), *((s.at_s, s.users) for s in self.stages))
        )


@dataclass(frozen=True)
class Step:
    at_s: float
    action: str  # fault or undo
    fault: str  # a key of FAULTS
    target: str  # a host name, as written
    params: dict[str, float | str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str | None]:
        """What an undo must match: the fault, the target (any case) and, for link faults, the network."""
        network = self.params.get("network")
        return self.fault, self.target.lower(), network if isinstance(network, str) else None

    def describe(self) -> str:
        """One line for logs: `10 s: fault node-crash PgBAL1` (with its params, if any)."""
        params = "".join(f" {k}={_num(v) if not isinstance(v, str) else v}" for k, v in self.params.items())
        return f"{_num(self.at_s)} s: {self.action} {self.fault} {self.target}{params}"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration_s: float
    load: Load
    timeline: tuple[Step, ...]
    source: str = ""
    expect: tuple[Expectation, ...] = ()  # bounds on the run's figures (reports/expect.py): exit 99 if one fails


def builtin_names() -> list[str]:
    """The built-in scenarios, by name, sorted."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def resolve_path(name_or_path: str) -> Path:
    """A built-in scenario name (`balancer-crash`) or a path to a TOML file."""
    builtin = BUILTIN_DIR / f"{name_or_path}.toml"
    if "/" not in name_or_path and not name_or_path.endswith(".toml") and builtin.exists():
        return builtin
    return Path(name_or_path)


def load(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario; raises ScenarioError with every mistake."""
    path = resolve_path(str(name_or_path))
    raw = read_toml(path, ScenarioError, f"built-in scenarios: {', '.join(builtin_names())}")
    return parse(raw, str(path))


def parse(raw: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Turn a parsed TOML document into a Scenario, collecting every error in reading order."""
    errors: list[str] = []
    reader = _Reader(errors)
    reader.no_unknown_keys(raw, "", TOP_FIELDS)

    name = reader.text(raw, "name")
    if name is not None and not NAME_PATTERN.fullmatch(name):
        errors.append(
            f"name: {name!r} must be letters, digits, '.', '_' or '-' (at most 64, not starting with '.', '_' or '-')"
        )
        name = None
    description = reader.text(raw, "description")
    if description is not None and not description.strip():
        errors.append("description: must not be empty")
    duration_s = reader.number(raw, "duration_s")
    if duration_s is not None and duration_s <= 0:
        errors.append(f"duration_s: must be more than 0 (got {_num(duration_s)})")
        duration_s = None

    load_shape = _parse_load(raw, reader, duration_s)
    timeline = _parse_timeline(raw, reader, duration_s)
    expect = _parse_expect(raw, reader, timeline)

    if errors:
        raise ScenarioError(source, errors)
    return Scenario(
        name=name,
        description=description,
        duration_s=duration_s,
        load=load_shape,
        timeline=timeline,
        source=source,
        expect=expect,
    )


def _parse_expect(raw: dict[str, Any], reader: _Reader, timeline: tuple[Step, ...] | None) -> tuple[Expectation, ...]:
    """`[expect]`: bounds on the run's figures, for every mode or for one (`[expect.mode.NAME]`)."""
    if "expect" not in raw:
        return ()
    table = reader.table(raw, "expect")
    if table is None:
        return ()
    expectations, errors = parse_expectations(table, MODE_NAMES)
    reader.errors.extend(errors)
    if timeline is not None and not timeline:
        for metric in sorted({e.metric for e in expectations} & PER_FAULT):
            reader.errors.append(f"expect.{metric}: a figure of each fault, and the timeline plays none")
    return tuple(expectations)


def _parse_load(raw: dict[str, Any], reader: _Reader, duration_s: float | None) -> Load | None:
    table = reader.table(raw, "load")
    if table is None:
        return None
    errors = reader.errors
    reader.no_unknown_keys(table, "load", LOAD_FIELDS)
    users = reader.integer(table, "load.users")
    if users is not None and users < 1:
        errors.append(f"load.users: must be at least 1 (got {users})")
    spawn_rate = reader.number(table, "load.spawn_rate")
    if spawn_rate is not None and spawn_rate <= 0:
        errors.append(f"load.spawn_rate: must be more than 0 (got {_num(spawn_rate)})")
    connections = reader.text(table, "load.mode")
    if connections is not None and connections not in MODES:
        errors.append(f"load.mode: unknown mode {connections!r} (known: {', '.join(MODES)})")
    protocol = reader.text(table, "load.protocol") if "protocol" in table else EXTENDED
    if protocol is not None and protocol not in PROTOCOLS:
        errors.append(f"load.protocol: unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
        protocol = None
    tags: list[str] = []
    raw_tags = table.get("tags", [])
    if not isinstance(raw_tags, list) or not all(isinstance(t, str) for t in raw_tags):
        errors.append("load.tags: must be a list of tag names")
    else:
        for tag in raw_tags:
            if tag not in TAGS:
                errors.append(f"load.tags: unknown tag {tag!r} (known: {', '.join(TAGS)})")
            elif tag in tags:
                errors.append(f"load.tags: {tag!r} is listed twice")
            else:
                tags.append(tag)
    think = reader.number(table, "load.think_ms") if "think_ms" in table else 0.0
    if think is not None and think < 0:
        errors.append(f"load.think_ms: must not be negative (got {_num(think)})")
    session = reader.number(table, "load.session_s") if "session_s" in table else 0.0
    if session is not None and session < 0:
        errors.append(f"load.session_s: must not be negative (got {_num(session)})")
    if session and connections != PERSISTENT:
        errors.append('load.session_s: a connection\'s lifetime is for mode = "persistent" (per-query closes each)')
    rate, rate_share = _parse_rate(table, reader)
    if "rate" in table and "think_ms" in table:
        errors.append("load.rate: paces the users open loop, instead of load.think_ms: give one of them")
    if "rate" in table and "stages" in table:
        errors.append("load.rate: a rate is for a fixed number of users: give load.stages or load.rate")
    probe = reader.number(table, "load.probe_interval_ms")
    if probe is not None and probe <= 0:
        errors.append(f"load.probe_interval_ms: must be more than 0 (got {_num(probe)})")
    stages = _parse_stages(table, reader, duration_s)
    if None in (users, spawn_rate, connections, protocol, think, session, probe, stages):
        return None
    return Load(
        users=users,
        spawn_rate=spawn_rate,
        mode=connections,
        tags=tuple(tags),
        probe_interval_ms=probe,
        think_ms=think,
        session_s=session,
        protocol=protocol,
        stages=stages,
        rate=rate,
        rate_share=rate_share,
    )


def _parse_rate(table: dict[str, Any], reader: _Reader) -> tuple[float | None, float | None]:
    """`rate`: a number of requests a second above 0, or "N%" of the capacity (above 0, at most 1000%)."""
    if "rate" not in table:
        return None, None
    raw = table["rate"]
    if isinstance(raw, str):
        share = RATE_SHARE.fullmatch(raw.strip())
        if share and 0 < float(share.group(1)) <= 1000:
            return None, float(share.group(1)) / 100
        reader.errors.append(
            f'load.rate: {raw!r} is not a share of the capacity such as "40%" (above 0, at most 1000%)'
        )
        return None, None
    rate = reader.number(table, "load.rate")
    if rate is not None and rate <= 0:
        reader.errors.append(f"load.rate: must be more than 0 requests a second (got {_num(rate)})")
        return None, None
    return rate, None


def _parse_stages(table: dict[str, Any], reader: _Reader, duration_s: float | None) -> tuple[Stage, ...] | None:
    """`[[load.stages]]`: each `at_s` after the previous one and before the run's end, `users` at least 1."""
    entries = table.get("stages", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        reader.errors.append("load.stages: must be a list of [[load.stages]] tables")
        return None
    stages, ok = [], True
    for index, entry in enumerate(entries):
        where = f"load.stages[{index}]"
        reader.no_unknown_keys(entry, where, STAGE_FIELDS)
        at_s, users = reader.number(entry, f"{where}.at_s"), reader.integer(entry, f"{where}.users")
        if at_s is not None and not (0 < at_s < (duration_s if duration_s is not None else math.inf)):
            reader.errors.append(f"{where}.at_s: must be after 0 and before the end of the run (got {_num(at_s)})")
            at_s = None
        elif at_s is not None and stages and at_s <= stages[-1].at_s:
            reader.errors.append(f"{where}.at_s: {_num(at_s)} is not after the stage before ({_num(stages[-1].at_s)})")
            at_s = None
        if users is not None and users < 1:
            reader.errors.append(f"{where}.users: must be at least 1 (got {users})")
            users = None
        if at_s is None or users is None:
            ok = False
            continue
        stages.append(Stage(at_s, users))
    return tuple(stages) if ok else None


def _parse_timeline(raw: dict[str, Any], reader: _Reader, duration_s: float | None) -> tuple[Step, ...]:
    errors = reader.errors
    entries = raw.get("timeline", [])
    if not isinstance(entries, list):
        errors.append("timeline: must be a list of [[timeline]] tables")
        return ()
    steps: list[Step] = []
    active: dict[tuple, int] = {}  # Step.key -> index of the fault step that made it active
    unplayable: set[str | None] = set()  # faults of steps too broken to follow (None: fault unknown)
    last_at: tuple[int, float] | None = None  # index and time of the latest step with a valid time
    for index, entry in enumerate(entries):
        where = f"timeline[{index}]"
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be a table")
            continue
        reader.no_unknown_keys(entry, where, STEP_FIELDS)

        at_s = reader.number(entry, f"{where}.at_s")
        if at_s is not None:
            if at_s < 0:
                errors.append(f"{where}.at_s: must not be negative (got {_num(at_s)})")
                at_s = None
            elif duration_s is not None and at_s >= duration_s:
                errors.append(
                    f"{where}.at_s: {_num(at_s)} is not before the end of the run (duration_s = {_num(duration_s)})"
                )
                at_s = None
        if at_s is not None:
            if last_at is not None and at_s < last_at[1]:
                errors.append(
                    f"{where}.at_s: {_num(at_s)} is earlier than timeline[{last_at[0]}].at_s ({_num(last_at[1])});"
                    " steps must be in time order"
                )
            else:
                last_at = (index, at_s)

        action = reader.text(entry, f"{where}.action")
        if action is not None and action not in ACTIONS:
            errors.append(f"{where}.action: unknown action {action!r} (known: {', '.join(ACTIONS)})")
            action = None
        fault = reader.text(entry, f"{where}.fault")
        if fault is not None and fault not in FAULTS:
            errors.append(f"{where}.fault: unknown fault {fault!r} (known: {', '.join(FAULTS)})")
            fault = None
        target = reader.text(entry, f"{where}.target")
        if target is not None and not target.strip():
            errors.append(f"{where}.target: must name a host")
            target = None

        params, params_ok = _parse_params(entry, where, reader, action, fault)
        if None in (action, fault, target) or not params_ok:
            unplayable.add(fault)  # later steps may match it: do not echo its error as theirs
            continue
        step = Step(at_s=at_s if at_s is not None else -1.0, action=action, fault=fault, target=target, params=params)
        if fault not in unplayable and None not in unplayable:
            _play(step, index, active, errors)
        if at_s is not None:
            steps.append(step)
    return tuple(steps)


def _parse_params(
    entry: dict[str, Any], where: str, reader: _Reader, action: str | None, fault: str | None
) -> tuple[dict[str, float | str], bool]:
    """The step's params, and whether they are good enough to tell which fault an undo matches."""
    errors = reader.errors
    before = len(errors)
    raw = entry.get("params", {})
    if not isinstance(raw, dict):
        errors.append(f"{where}.params: must be a table")
        return {}, False
    params: dict[str, float | str] = {}
    kind = FAULTS.get(fault) if fault is not None else None
    if kind is not None:
        allowed = kind.required if action == UNDO else kind.params
        for key in raw:
            if key not in allowed:
                whose = f"an undo of {fault}" if action == UNDO else fault
                takes = ", ".join(allowed) if allowed else "none"
                errors.append(f"{where}.params.{key}: unknown param for {whose} (takes: {takes})")
        for key in kind.required:
            if key not in raw:
                errors.append(f"{where}.params.{key}: missing ({fault} needs it)")
        if action != UNDO and kind.needs_one_optional and not any(k in raw for k in kind.optional):
            errors.append(f"{where}.params: {fault} needs {' or '.join(kind.optional)} (or both)")
    for key, value in raw.items():
        if kind is not None and key not in (kind.required if action == UNDO else kind.params):
            continue
        checked = _param_value(key, value, f"{where}.params.{key}", errors)
        if checked is not None:
            params[key] = checked
    return params, len(errors) == before


def _param_value(key: str, value: Any, where: str, errors: list[str]) -> float | str | None:
    if key == "network":
        if not isinstance(value, str) or not NETWORK_PATTERN.fullmatch(value):
            errors.append(f"{where}: must be a network name (1-6 lower-case letters or digits)")
            return None
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.append(f"{where}: must be a number")
        return None
    if not math.isfinite(value):
        errors.append(f"{where}: must be a finite number (got {value})")
        return None
    if value < 0:
        errors.append(f"{where}: must not be negative (got {_num(value)})")
        return None
    if key == "delay_ms" and value > 10_000:
        errors.append(f"{where}: must be at most 10000 (got {_num(value)})")
        return None
    if key == "loss_pct" and value > 100:
        errors.append(f"{where}: must be at most 100 (got {_num(value)})")
        return None
    return float(value)


def _play(step: Step, index: int, active: dict[tuple, int], errors: list[str]) -> None:
    """Follow which faults are active, step by step, and refuse impossible steps."""
    where = f"timeline[{index}]"
    on = f"{step.fault} on {step.target}" + (f" (network {step.key[2]})" if step.key[2] is not None else "")
    if step.action == FAULT:
        clash = next((key for key in active if _overlap(key, step.key)), None)
        if step.key in active:
            errors.append(f"{where}: {on} is already active (since timeline[{active[step.key]}])")
        elif clash is not None:
            since = f"active since timeline[{active[clash]}]"
            errors.append(
                f"{where}: {on} overlaps {clash[0]} on {step.target} ({since}): one fault at a time on a "
                "host, except link faults on different networks"
            )
        else:
            active[step.key] = index
    elif step.key in active:
        del active[step.key]
    else:
        errors.append(f"{where}: undo of {on} with no earlier fault to undo")


def _overlap(active: tuple[str, str, str | None], new: tuple[str, str, str | None]) -> bool:
    """Two faults on one host at once, whose undos would undo each other (a node-crash's return brings a
    cut link up too; pgpool started again ends a drain): refused. Link faults on different networks of the
    host do not touch each other."""
    if active[1] != new[1]:
        return False
    links = active[2] is not None and new[2] is not None
    return not links or active[2] == new[2]


def validate_targets(
    scenario: Scenario, hosts: dict[str, set[str]], links: dict[str, set[str]] | None = None
) -> list[str]:
    """Check every fault's target against a stand; returns the errors as `field: reason`.

    `hosts` maps each host name to its roles ({"balancer"}, {"primary", "last-resort"}, ...);
    names match without regard to case. With `links` (host name -> names of its networks), the
    `network` of link faults is checked too. Undo steps name the same target as their fault, so
    only fault steps are checked: one mistake, one error.
    """
    errors: list[str] = []
    by_lower = {name.lower(): name for name in hosts}
    links_lower = {name.lower(): nets for name, nets in (links or {}).items()}
    for index, step in enumerate(scenario.timeline):
        if step.action != FAULT:
            continue
        where = f"timeline[{index}]"
        name = by_lower.get(step.target.lower())
        if name is None:
            errors.append(f"{where}.target: unknown host {step.target!r} (hosts: {', '.join(hosts)})")
            continue
        roles = hosts[name]
        kind = FAULTS[step.fault]
        if kind.roles and not roles & set(kind.roles):
            needs = " or ".join(_article(r) for r in kind.roles)
            has = ", ".join(sorted(roles)) or "none"
            errors.append(f"{where}.target: {step.fault} needs {needs}; {name} is not one (roles: {has})")
        network = step.params.get("network")
        if links is not None and isinstance(network, str):
            nets = links_lower.get(name.lower(), set())
            if network not in nets:
                known = ", ".join(sorted(nets)) or "none"
                errors.append(f"{where}.params.network: {name} has no link on {network!r} (links: {known})")
    return errors


def _article(role: str) -> str:
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"


def _num(value: float) -> str:
    """40.0 -> '40', 2.5 -> '2.5': numbers in messages as a person would write them."""
    return f"{value:g}"


class _Reader(FieldReader):
    """The scenario file's field types."""

    def table(self, parent: dict[str, Any], where: str) -> dict[str, Any] | None:
        value = self._value(parent, where)
        if value is not None and not isinstance(value, dict):
            self.errors.append(f"{where}: must be a table")
            return None
        return value

    def integer(self, parent: dict[str, Any], where: str) -> int | None:
        value = self._value(parent, where)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            self.errors.append(f"{where}: must be an integer")
            return None
        return value

    def number(self, parent: dict[str, Any], where: str) -> float | None:
        value = self._value(parent, where)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.errors.append(f"{where}: must be a number")
            return None
        if not math.isfinite(value):
            self.errors.append(f"{where}: must be a finite number (got {value})")
            return None
        return float(value)
