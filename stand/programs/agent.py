"""Per-balancer health agent: announce the anycast address only while pgpool is alive, tell busy from dead.

Runs as root inside the balancer's network namespace: ``python -m stand.programs.agent CONFIG.json``.
It adds the anycast address to an interface when healthy and removes it when not;
FRR (OSPF) sees the address come and go and announces or withdraws the route.

What counts as death, and what does not (docs/timers.md has the sources and the reasons):
- pgpool's main process exits: withdrawn at once (a pidfd wakes the agent);
- `fall` consecutive errors (refused, reset, an error from pgpool) on the agent's kept session, or on
  the new connections it opens now and then: withdrawn;
- no answer at all for `unresponsive_ms` (a frozen pgpool): withdrawn;
- a slow answer is an answer: counted apart, never a reason to withdraw by itself; a new connection
  that pgpool does not accept in time (every child busy) is slowness too.
A withdrawal for failed checks never takes out the last balancer still announcing the address, as the
agent's own OSPF routes show (unless `protect_last_announcer` is off): all balancers failing their
checks at once is overload, and one left is better than clients sent to the last resort. A balancer
with no Full OSPF neighbour (its links cut) is nobody's last one and withdraws as any other.

Every decision is appended to `decisions_file` (JSON lines, wall-clock µs) with its evidence.
"""

import asyncio
import dataclasses
import errno
import ipaddress
import json
import os
import signal
import sys
import tempfile
import time
from collections import deque
from datetime import datetime
from pathlib import Path

import asyncpg
from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

OK, SLOW, ERROR, UNRESPONSIVE = "ok", "slow", "error", "unresponsive"
KEPT, NEW = "kept", "new"  # the agent's own session, and the new connections it opens now and then
STATS_EVERY_S = 10.0
LSA_SETTLE_S = 0.5  # after a withdrawal: long enough for the others' withdrawals to reach this router's OSPF


class ConfigError(ValueError):
    """A missing or invalid key in the agent configuration."""


@dataclasses.dataclass(frozen=True)
class CheckConfig:
    """How to reach pgpool for one health check."""

    host: str
    port: int
    user: str
    database: str
    password_file: str
    query: str

    def __post_init__(self):
        if self.port > 65535:
            raise ConfigError(f"bad key 'check.port': {self.port} is not a TCP port")


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    """Everything one agent needs; see the module docstring for what the settings mean."""

    balancer: str
    anycast: str
    interface: str
    check: CheckConfig
    interval_ms: int
    timeout_ms: int  # an answer later than this is slow (still an answer)
    unresponsive_ms: int  # no answer for this long: pgpool is taken for dead
    rise: int
    fall: int
    new_connection_every: int
    protect_last_announcer: bool
    withdraw_holdoff_ms: int  # per rank among the balancers announcing, before a withdrawal for failed checks
    last_resort_cost: int  # OSPF cost of the last resort's announcement: it is no balancer
    vtysh_socket_dir: str
    pgpool_pid_file: str
    drain_file: str
    status_file: str
    decisions_file: str

    def __post_init__(self):
        try:
            ipaddress.ip_interface(self.anycast)
        except ValueError:
            raise ConfigError(f"bad key 'anycast': {self.anycast!r} is not an address/prefix") from None
        if self.unresponsive_ms <= self.timeout_ms:
            raise ConfigError(f"bad key 'unresponsive_ms': {self.unresponsive_ms} must exceed timeout_ms")

    @classmethod
    def from_dict(cls, data: object) -> "AgentConfig":
        """Build from parsed JSON; raises ConfigError naming the missing or bad key."""
        return _build(cls, data, "")

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "AgentConfig":
        """Load a JSON config; any problem is a one-line ConfigError naming the file and key."""
        try:
            with open(path) as config_file:
                return cls.from_dict(json.load(config_file))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"config {path}: {exc}") from None


def _build(cls, data: object, prefix: str):
    """Build dataclass `cls` from a JSON object, requiring every field with the right type."""
    if not isinstance(data, dict):
        where = f"bad key '{prefix[:-1]}': " if prefix else ""
        raise ConfigError(f"{where}expected a JSON object, got {type(data).__name__}")
    values = {}
    for field in dataclasses.fields(cls):
        key = prefix + field.name
        if field.name not in data:
            raise ConfigError(f"missing key '{key}'")
        value = data[field.name]
        if dataclasses.is_dataclass(field.type):
            value = _build(field.type, value, key + ".")
        elif field.type is int and (type(value) is not int or value <= 0):
            raise ConfigError(f"bad key '{key}': expected a positive integer, got {value!r}")
        elif field.type is bool and type(value) is not bool:
            raise ConfigError(f"bad key '{key}': expected true or false, got {value!r}")
        elif field.type is str and (type(value) is not str or not value):
            raise ConfigError(f"bad key '{key}': expected a non-empty string, got {value!r}")
        values[field.name] = value
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class Answer:
    """One health check's result: ok, slow (answered late), error (refused, reset, an SQL error) or
    unresponsive (no answer within the deadline)."""

    outcome: str
    latency_ms: float
    error: str = ""


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A change the checks call for: announce, or withdraw with the evidence."""

    announce: bool
    evidence: str  # "answers", "errors", "unresponsive"
    reason: str


class HealthJudge:
    """Decides from check answers alone; starts withdrawn.

    Announced: `fall` consecutive errors of one stream (the kept session, or the new connections), or
    one unresponsive check of the kept session, withdraw; slow answers reset the error count like good
    ones, and a new connection left unanswered (pgpool's children all busy) is slowness. Withdrawn:
    `rise` consecutive answers (ok or slow) of the kept session announce."""

    def __init__(self, rise: int, fall: int):
        self.rise = rise
        self.fall = fall
        self.reset()

    def reset(self, announced: bool = False) -> None:
        """Forget every counted result; `announced` is the state to judge from."""
        self.announced = announced
        self.answers = 0
        self.errors = {KEPT: 0, NEW: 0}

    def record(self, stream: str, answer: Answer) -> Verdict | None:
        """Count one answer of `stream`; the verdict when it calls for a change, else None."""
        if answer.outcome in (OK, SLOW):
            self.errors[stream] = 0
            self.answers = self.answers + 1 if stream == KEPT else self.answers
        elif answer.outcome == ERROR:
            self.errors[stream] += 1
            self.answers = 0
        else:
            self.answers = 0
        if self.announced:
            if answer.outcome == UNRESPONSIVE and stream == KEPT:  # a new client left waiting is slowness
                return self._change(False, "unresponsive", f"no answer ({stream}) in {answer.latency_ms:.0f} ms")
            if self.errors[stream] >= self.fall:
                return self._change(False, "errors", f"{self.fall} consecutive errors ({stream}), last: {answer.error}")
        elif stream == KEPT and self.answers >= self.rise:
            return self._change(True, "answers", f"{self.rise} consecutive answers")
        return None

    def _change(self, announce: bool, evidence: str, reason: str) -> Verdict:
        self.reset(announce)
        return Verdict(announce, evidence, reason)


class LatencyStats:
    """Outcomes and latencies of one stream since the last report."""

    def __init__(self) -> None:
        self.outcomes = {OK: 0, SLOW: 0, ERROR: 0, UNRESPONSIVE: 0}
        self.latencies: deque[float] = deque(maxlen=1000)

    def add(self, answer: Answer) -> None:
        self.outcomes[answer.outcome] += 1
        if answer.outcome in (OK, SLOW):
            self.latencies.append(answer.latency_ms)

    def report(self) -> dict:
        """Counts, and p50/p99/max of the answered checks' latency (ms); then start counting anew."""
        ordered = sorted(self.latencies)

        def quantile(q: float) -> float | None:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None

        figures = {**self.outcomes, "p50_ms": quantile(0.5), "p99_ms": quantile(0.99), "max_ms": quantile(1.0)}
        self.__init__()
        return figures


def read_live_pid(pid_file: str | os.PathLike) -> int | None:
    """The pid on the first line of `pid_file` if that process is alive and not exiting, else None.

    pgpool ends its pid file with a NUL byte instead of a newline.
    """
    try:
        with open(pid_file) as file:
            pid = int(file.readline().rstrip("\0\n"))
    except (OSError, ValueError):
        return None
    return None if pid <= 0 or is_exiting(pid) else pid


PF_EXITING = 0x4  # include/linux/sched.h: the task has begun to exit


def is_exiting(pid: int) -> bool:
    """Whether the process has begun to exit (a SIGKILL it cannot escape), is a zombie, or is gone."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rpartition(")")[2].split()
    except OSError:
        return True
    return fields[0] in ("Z", "X") or bool(int(fields[6]) & PF_EXITING)


def children_of(pid: int) -> list[int]:
    """The children of `pid` (every thread's)."""
    children = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as file:
                children += [int(child) for child in file.read().split()]
    except OSError:
        pass
    return children


def write_status_file(path: str | os.PathLike, status: dict) -> None:
    """Replace `path` atomically with `status` as JSON."""
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".agent-status-")
    try:
        with os.fdopen(fd, "w") as file:
            os.fchmod(fd, 0o644)
            json.dump(status, file)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def has_full_neighbor(neighbors: dict) -> bool:
    """Whether FRR's `show ip ospf neighbor json` lists a neighbour in state Full: this balancer is part of the
    routing domain, and a client can be routed to it."""
    return any(
        (entry.get("nbrState") or entry.get("state", "")).startswith("Full")
        for entries in neighbors.get("neighbors", {}).values()
        for entry in entries
    )


def other_announcers(router_lsas: dict, ospf_routes: dict, me: str, anycast: str, last_resort_cost: int) -> list[str]:
    """Router ids of the balancers other than `me` that announce `anycast` and that OSPF reaches.

    `router_lsas` is `show ip ospf database router json`, `ospf_routes` is `show ip ospf route json`.
    A router's LSA stays in the database for a while after it died; it counts only while the route to
    its router id (its loopback) is in the OSPF routes. Announcements at the last resort's cost or more
    are the last resort's, not a balancer's."""
    address = str(ipaddress.ip_interface(anycast).ip)
    announcers = []
    for lsas in router_lsas.get("routerLinkStates", {}).get("areas", {}).values():
        for lsa in lsas:
            router = lsa.get("advertisingRouter", "")
            for link in lsa.get("routerLinks", {}).values():
                stub = link.get("linkType") == "Stub Network" and link.get("networkAddress") == address
                if stub and link.get("tos0Metric", last_resort_cost) < last_resort_cost:
                    announcers.append(router)
    return sorted({r for r in announcers if r != me and f"{r}/32" in ospf_routes})


def rank(me: str, others: list[str]) -> int:
    """This balancer's place, by router id (an IPv4 address), among itself and the others announcing."""

    def key(router_id: str) -> tuple[int, ...]:
        return tuple(int(part) for part in router_id.split(".")) if router_id else ()

    return sorted([me, *others], key=key).index(me)


class PgpoolCheck:
    """The health query through pgpool: on the agent's kept session (its own pgpool child, not queued
    behind clients), or on a new connection, which is what a new client gets."""

    def __init__(self, check: CheckConfig, slow_ms: int, deadline_ms: int):
        self.check = check
        self.slow_ms = slow_ms
        self.deadline_s = deadline_ms / 1000
        self._connection: asyncpg.Connection | None = None

    async def kept(self) -> Answer:
        """The query on the kept session; a lost session is opened again as part of the check."""
        return await self._timed(self._on_kept_session, drop_session=True)

    async def new_connection(self) -> Answer:
        """A new connection and the query on it, then closed."""
        return await self._timed(self._on_new_connection, drop_session=False)

    async def _on_kept_session(self) -> None:
        if self._connection is None or self._connection.is_closed():
            self._connection = await self._connect()
        try:
            await self._connection.execute(self.check.query)
        except BaseException:
            await self.close()
            raise

    async def _on_new_connection(self) -> None:
        connection = await self._connect()
        try:
            await connection.execute(self.check.query)
        finally:
            connection.terminate()

    async def _connect(self) -> asyncpg.Connection:
        password = Path(self.check.password_file).read_text().rstrip("\r\n")
        return await asyncpg.connect(
            host=self.check.host,
            port=self.check.port,
            user=self.check.user,
            database=self.check.database,
            password=password,
            timeout=self.deadline_s,
        )

    async def _timed(self, check, drop_session: bool) -> Answer:
        started = time.monotonic()
        task = asyncio.ensure_future(check())
        await asyncio.wait([task], timeout=self.deadline_s)
        if not task.done():  # not asyncio.wait_for: it would wait on asyncpg's own cancellation (a frozen
            if drop_session:  # pgpool answers no cancel request either): drop the session at once
                await self.close()
            task.cancel()
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            return Answer(UNRESPONSIVE, (time.monotonic() - started) * 1000)
        try:
            task.result()
        except Exception as exc:
            return Answer(ERROR, (time.monotonic() - started) * 1000, f"{type(exc).__name__}: {exc}".replace("\n", " "))
        latency_ms = (time.monotonic() - started) * 1000
        return Answer(SLOW if latency_ms > self.slow_ms else OK, latency_ms)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()


class HealthAgent:
    """Announces `config.anycast` while pgpool runs, is not drained and passes its checks."""

    def __init__(self, config: AgentConfig):
        self.config = config
        self.judge = HealthJudge(config.rise, config.fall)
        self.state: str | None = None
        self.reason = ""
        self.since = time.time()
        self._address = ipaddress.ip_interface(config.anycast)
        self._transition_lock = asyncio.Lock()
        self._pidfd: int | None = None
        self._watched_pid: int | None = None
        self._child_pidfds: dict[int, int] = {}
        self._exit_task: asyncio.Task | None = None
        self._check = PgpoolCheck(config.check, config.timeout_ms, config.unresponsive_ms)
        self._stats = {KEPT: LatencyStats(), NEW: LatencyStats()}
        self._holding = False  # a withdrawal is held back: this is the last announcer
        self._router_id = ""  # this balancer's, as its OSPF says

    def status(self) -> dict:
        """What the status file says."""
        return {
            "balancer": self.config.balancer,
            "announced": self.state == "up",
            "state": self.state,
            "reason": self.reason,
            "since": self.since,
            "pid": os.getpid(),
        }

    async def run(self) -> None:
        """Supervise until SIGTERM/SIGINT, then withdraw and record state "stopped"."""
        async with AsyncIPRoute() as self._ipr:
            self._ifindex = await self._interface_index()
            tasks = [
                asyncio.create_task(self._supervise()),
                asyncio.create_task(self._probe_new_connections()),
                asyncio.create_task(self._report_stats()),
            ]
            for signum in (signal.SIGTERM, signal.SIGINT):
                asyncio.get_running_loop().add_signal_handler(signum, tasks[0].cancel)
            try:
                await tasks[0]
            except asyncio.CancelledError:
                pass
            finally:
                for task in tasks[1:]:
                    task.cancel()
                self._unwatch_pgpool()
                await self._set_state("stopped", "agent stopped", "stopped")

    async def _interface_index(self) -> int:
        indexes = await self._ipr.link_lookup(ifname=self.config.interface)
        if not indexes:
            raise ConfigError(f"bad key 'interface': no {self.config.interface!r} in this network namespace")
        return indexes[0]

    async def _supervise(self) -> None:
        await self._set_state("starting", "agent started", "start")
        while True:
            await self._evaluate()
            await asyncio.sleep(self.config.interval_ms / 1000)

    async def _evaluate(self) -> None:
        """One round: drain file, then pgpool process, then one check on the kept session."""
        config = self.config
        if os.path.exists(config.drain_file):
            self._unwatch_pgpool()
            await self._set_state("drained", f"drain file {config.drain_file} exists", "drain")
            return
        pid = read_live_pid(config.pgpool_pid_file)
        if pid is None or not self._watch_pgpool(pid):
            self._unwatch_pgpool()
            reason = f"no live pgpool process in {config.pgpool_pid_file}"
            await self._set_state("pgpool-gone", reason, "pgpool-missing")
            return
        if self.state not in ("up", "down"):
            await self._set_state(
                "down", f"pgpool pid {pid} running, waiting for {config.rise} answers", "pgpool-running"
            )
        answer = await self._check.kept()
        if pid == self._watched_pid:  # else pgpool exited during the check and has already been withdrawn
            await self._judge(KEPT, answer)

    async def _probe_new_connections(self) -> None:
        """Every `new_connection_every` intervals, a new connection, as a new client makes one: a pgpool that
        refuses new clients fails; one that accepts them late (every child busy) is only slow."""
        while True:
            await asyncio.sleep(self.config.interval_ms * self.config.new_connection_every / 1000)
            if self.state == "up":
                await self._judge(NEW, await self._check.new_connection())

    async def _judge(self, stream: str, answer: Answer) -> None:
        self._stats[stream].add(answer)
        verdict = self.judge.record(stream, answer)
        if verdict is None or self.state not in ("up", "down"):
            return
        if verdict.announce:
            self._holding = False
            await self._set_state("up", verdict.reason, verdict.evidence)
            return
        if self.config.protect_last_announcer:
            # Agents failing at once (overload) decide one after another, by the rank of their router id among
            # the balancers announcing, `withdraw_holdoff_ms` apart: each sees the withdrawals before its own,
            # and the last one keeps announcing. A random wait would leave two in the same instant now and then.
            others = await self._other_announcers()
            if others:
                await asyncio.sleep(rank(self._router_id, others) * self.config.withdraw_holdoff_ms / 1000)
                others = await self._other_announcers()
            if self.state != "up":
                return
            if others is not None and not others and await self._connected():
                self.judge.reset(announced=True)
                if not self._holding:
                    self._holding = True
                    self._decide(
                        "hold", "up", True, verdict.evidence, f"kept announcing, the last balancer to: {verdict.reason}"
                    )
                return
        self._holding = False
        await self._set_state("down", verdict.reason, verdict.evidence)
        if self.config.protect_last_announcer:  # two agents may have counted each other in the same instant
            await asyncio.sleep(LSA_SETTLE_S)
            if self.state == "down" and await self._other_announcers() == [] and await self._connected():
                self._holding = True
                await self._set_state(
                    "up", f"announcing again, no other balancer does: {verdict.reason}", "last-announcer"
                )
                self.judge.reset(announced=True)

    async def _other_announcers(self) -> list[str] | None:
        """The other balancers OSPF reaches that announce the address (None: FRR did not answer)."""
        try:
            lsas, routes = [
                json.loads(await self._vtysh(command))
                for command in ("show ip ospf database router json", "show ip ospf route json")
            ]
        except (OSError, ValueError, TimeoutError):
            return None
        self._router_id = lsas.get("routerId", "")
        return other_announcers(lsas, routes, self._router_id, self.config.anycast, self.config.last_resort_cost)

    async def _connected(self) -> bool:
        """Whether this balancer has a Full OSPF neighbour (True when FRR did not answer: nothing known). One cut
        off from every neighbour sees no other announcer, but it is nobody's last balancer: no client reaches
        it, and kept announcing it would draw traffic the instant its links return, before pgpool serves."""
        try:
            return has_full_neighbor(json.loads(await self._vtysh("show ip ospf neighbor json")))
        except (OSError, ValueError, TimeoutError):
            return True

    async def _vtysh(self, command: str) -> str:
        process = await asyncio.create_subprocess_exec(
            "vtysh",
            "--vty_socket",
            self.config.vtysh_socket_dir,
            "-c",
            command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        if process.returncode != 0:
            raise OSError(f"vtysh exited with {process.returncode}")
        return output.decode()

    async def _report_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            self._write_decision({"kind": "stats", **{stream: s.report() for stream, s in self._stats.items()}})

    def _watch_pgpool(self, pid: int) -> bool:
        """Be woken the moment `pid` starts to exit; False if it is already gone.

        Besides pgpool's main process, the agent watches its children: a SIGKILL of the whole group kills
        them all at once, and the main process, which has the most to tear down, is often among the last
        to finish. When a child goes, the main process is looked at: already exiting means pgpool is dead."""
        if pid == self._watched_pid:
            self._watch_children(pid)
            return True
        self._unwatch_pgpool()
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return False
        self._watched_pid = pid
        asyncio.get_running_loop().add_reader(self._pidfd, self._on_pgpool_exit)
        self._watch_children(pid)
        return True

    def _watch_children(self, pid: int) -> None:
        for child in set(children_of(pid)) - self._child_pidfds.keys():
            try:
                pidfd = os.pidfd_open(child)
            except ProcessLookupError:
                continue
            self._child_pidfds[child] = pidfd
            asyncio.get_running_loop().add_reader(pidfd, self._on_child_exit, child)

    def _unwatch_pgpool(self) -> None:
        loop = asyncio.get_running_loop()
        for pidfd in [self._pidfd, *self._child_pidfds.values()]:
            if pidfd is not None:
                loop.remove_reader(pidfd)
                os.close(pidfd)
        self._pidfd = self._watched_pid = None
        self._child_pidfds = {}

    def _on_child_exit(self, child: int) -> None:
        pidfd = self._child_pidfds.pop(child)
        asyncio.get_running_loop().remove_reader(pidfd)
        os.close(pidfd)
        if self._watched_pid is not None and is_exiting(self._watched_pid):
            self._on_pgpool_exit()

    def _on_pgpool_exit(self) -> None:
        reason = f"pgpool pid {self._watched_pid} exited"
        self._unwatch_pgpool()
        self._exit_task = asyncio.create_task(self._set_state("pgpool-gone", reason, "pgpool-exit"))

    async def _set_state(self, state: str, reason: str, evidence: str) -> None:
        """Enter `state`: add or remove the address first, then the status file, the decision, a log line."""
        async with self._transition_lock:
            if state == self.state:
                return
            announce = state == "up"
            await self._set_address(announce)
            if not announce:
                self.judge.reset()
                await self._check.close()
            self.state, self.reason, self.since = state, reason, time.time()
            write_status_file(self.config.status_file, self.status())
            self._decide("state", state, announce, evidence, reason)

    def _decide(self, kind: str, state: str, announced: bool, evidence: str, reason: str) -> None:
        self._write_decision(
            {"kind": kind, "state": state, "announced": announced, "evidence": evidence, "reason": reason}
        )
        timestamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
        print(f"{timestamp} {self.config.balancer} {state} announced={announced}: {reason}", flush=True)

    def _write_decision(self, fields: dict) -> None:
        line = {"t_us": time.time_ns() // 1000, "host": self.config.balancer, "source": "agent", **fields}
        with open(self.config.decisions_file, "a") as file:
            file.write(json.dumps(line) + "\n")

    async def _set_address(self, present: bool) -> None:
        """Add or remove the anycast address; being in that state already is fine."""
        command, already_done = ("add", errno.EEXIST) if present else ("del", errno.EADDRNOTAVAIL)
        try:
            await self._ipr.addr(
                command, index=self._ifindex, address=str(self._address.ip), prefixlen=self._address.network.prefixlen
            )
        except NetlinkError as exc:
            if exc.code != already_done:
                raise


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stand.programs.agent CONFIG.json``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m stand.programs.agent CONFIG.json", file=sys.stderr)
        return 2
    try:
        config = AgentConfig.from_file(args[0])
        asyncio.run(HealthAgent(config).run())
    except ConfigError as exc:
        print(f"stand.programs.agent: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
