"""Per-balancer health agent: announce the anycast address only while pgpool is healthy.

Runs as root inside the balancer's network namespace: ``python -m stand.agent CONFIG.json``.
It adds the anycast address to an interface when healthy and removes it when not;
FRR (OSPF) sees the address come and go and announces or withdraws the route.
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
from datetime import datetime
from pathlib import Path

import asyncpg
from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError


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
    """Everything one agent needs; see the module docstring for the JSON shape."""

    balancer: str
    anycast: str
    interface: str
    check: CheckConfig
    interval_ms: int
    timeout_ms: int
    rise: int
    fall: int
    new_connection_every: int
    pgpool_pid_file: str
    drain_file: str
    status_file: str

    def __post_init__(self):
        try:
            ipaddress.ip_interface(self.anycast)
        except ValueError:
            raise ConfigError(f"bad key 'anycast': {self.anycast!r} is not an address/prefix") from None

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
        elif field.type is str and (type(value) is not str or not value):
            raise ConfigError(f"bad key '{key}': expected a non-empty string, got {value!r}")
        values[field.name] = value
    return cls(**values)


class HealthState:
    """Rise/fall counters deciding whether the address is announced; starts withdrawn."""

    def __init__(self, rise: int, fall: int):
        self.rise = rise
        self.fall = fall
        self.reset()

    def reset(self) -> None:
        """Withdraw and forget all counted results."""
        self.announced = False
        self.successes = 0
        self.failures = 0

    def record(self, healthy: bool) -> bool:
        """Count one check result; return True if `announced` changed."""
        if healthy:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1
        threshold_reached = self.failures >= self.fall if self.announced else self.successes >= self.rise
        if threshold_reached:
            self.announced = not self.announced
            return True
        return False


def read_live_pid(pid_file: str | os.PathLike) -> int | None:
    """The pid on the first line of `pid_file` if that process is alive (not a zombie), else None.

    pgpool ends its pid file with a NUL byte instead of a newline.
    """
    try:
        with open(pid_file) as file:
            pid = int(file.readline().rstrip("\0\n"))
        with open(f"/proc/{pid}/stat") as file:
            process_state = file.read().rpartition(")")[2].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if process_state in ("Z", "X") else pid


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


class PgpoolCheck:
    """The health query through pgpool, on a kept connection.

    Every `new_connection_every`-th check opens a new connection instead, so that a pgpool which still
    serves its sessions but accepts no new client (every child busy) fails too. A new connection on
    every check would cost far more CPU than pgpool's own work on an idle stand.
    """

    def __init__(self, check: CheckConfig, timeout: float, new_connection_every: int):
        self.check = check
        self.timeout = timeout
        self.new_connection_every = new_connection_every
        self._connection: asyncpg.Connection | None = None
        self._checks = 0

    async def run(self) -> str | None:
        """None if healthy, else why not (one line)."""
        self._checks += 1
        if self._checks % self.new_connection_every == 0:
            await self.close()
        try:
            if self._connection is None:
                password = Path(self.check.password_file).read_text().rstrip("\r\n")
                self._connection = await asyncpg.connect(
                    host=self.check.host, port=self.check.port, user=self.check.user,
                    database=self.check.database, password=password, timeout=self.timeout,
                )  # fmt: skip
            await self._connection.execute(self.check.query, timeout=self.timeout)
        except Exception as exc:
            await self.close()
            return f"{type(exc).__name__}: {exc}".replace("\n", " ")
        return None

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()


class HealthAgent:
    """Announces `config.anycast` while pgpool runs, is not drained and passes its checks."""

    def __init__(self, config: AgentConfig):
        self.config = config
        self.health = HealthState(config.rise, config.fall)
        self.state: str | None = None
        self.reason = ""
        self.since = time.time()
        self._address = ipaddress.ip_interface(config.anycast)
        self._transition_lock = asyncio.Lock()
        self._pidfd: int | None = None
        self._watched_pid: int | None = None
        self._exit_task: asyncio.Task | None = None
        self._check = PgpoolCheck(config.check, config.timeout_ms / 1000, config.new_connection_every)

    def status(self) -> dict:
        """What the status file says."""
        return {"balancer": self.config.balancer, "announced": self.state == "up", "state": self.state,
                "reason": self.reason, "since": self.since, "pid": os.getpid()}

    async def run(self) -> None:
        """Supervise until SIGTERM/SIGINT, then withdraw and record state "stopped"."""
        async with AsyncIPRoute() as self._ipr:
            self._ifindex = await self._interface_index()
            supervision = asyncio.create_task(self._supervise())
            for signum in (signal.SIGTERM, signal.SIGINT):
                asyncio.get_running_loop().add_signal_handler(signum, supervision.cancel)
            try:
                await supervision
            except asyncio.CancelledError:
                pass
            finally:
                self._unwatch_pgpool()
                await self._set_state("stopped", "agent stopped")

    async def _interface_index(self) -> int:
        indexes = await self._ipr.link_lookup(ifname=self.config.interface)
        if not indexes:
            raise ConfigError(f"bad key 'interface': no {self.config.interface!r} in this network namespace")
        return indexes[0]

    async def _supervise(self) -> None:
        await self._set_state("starting", "agent started")
        while True:
            await self._evaluate()
            await asyncio.sleep(self.config.interval_ms / 1000)

    async def _evaluate(self) -> None:
        """One round: drain file, then pgpool process, then one health check."""
        config = self.config
        if os.path.exists(config.drain_file):
            self._unwatch_pgpool()
            await self._set_state("drained", f"drain file {config.drain_file} exists")
            return
        pid = read_live_pid(config.pgpool_pid_file)
        if pid is None or not self._watch_pgpool(pid):
            self._unwatch_pgpool()
            await self._set_state("pgpool-gone", f"no live pgpool process in {config.pgpool_pid_file}")
            return
        if self.state != "up":
            await self._set_state("down", f"pgpool pid {pid} running, waiting for {config.rise} good checks")
        error = await self._check.run()
        if pid != self._watched_pid:
            return  # pgpool exited during the check and has already been withdrawn
        if self.health.record(error is None):
            if self.health.announced:
                await self._set_state("up", f"{config.rise} consecutive good checks")
            else:
                await self._set_state("down", f"{config.fall} consecutive failed checks, last: {error}")

    def _watch_pgpool(self, pid: int) -> bool:
        """Be woken the moment `pid` exits; False if it is already gone."""
        if pid == self._watched_pid:
            return True
        self._unwatch_pgpool()
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return False
        self._watched_pid = pid
        asyncio.get_running_loop().add_reader(self._pidfd, self._on_pgpool_exit)
        return True

    def _unwatch_pgpool(self) -> None:
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
        self._pidfd = self._watched_pid = None

    def _on_pgpool_exit(self) -> None:
        reason = f"pgpool pid {self._watched_pid} exited"
        self._unwatch_pgpool()
        self._exit_task = asyncio.create_task(self._set_state("pgpool-gone", reason))

    async def _set_state(self, state: str, reason: str) -> None:
        """Enter `state`: add or remove the address, write the status file, log one line."""
        async with self._transition_lock:
            if state == self.state:
                return
            announce = state == "up"
            if not announce:
                self.health.reset()
                await self._check.close()
            await self._set_address(announce)
            self.state, self.reason, self.since = state, reason, time.time()
            write_status_file(self.config.status_file, self.status())
            timestamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
            print(f"{timestamp} {self.config.balancer} {state} announced={announce}: {reason}", flush=True)

    async def _set_address(self, present: bool) -> None:
        """Add or remove the anycast address; being in that state already is fine."""
        command, already_done = ("add", errno.EEXIST) if present else ("del", errno.EADDRNOTAVAIL)
        try:
            await self._ipr.addr(command, index=self._ifindex, address=str(self._address.ip),
                                 prefixlen=self._address.network.prefixlen)
        except NetlinkError as exc:
            if exc.code != already_done:
                raise


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stand.agent CONFIG.json``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m stand.agent CONFIG.json", file=sys.stderr)
        return 2
    try:
        config = AgentConfig.from_file(args[0])
        asyncio.run(HealthAgent(config).run())
    except ConfigError as exc:
        print(f"stand.agent: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
