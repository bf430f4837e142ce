"""One small controller per daemon: how to start it, how to tell it is ready, how to stop it, its log.

Faults are built from these primitives.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Interface
from pathlib import Path

from stand.linux import netns, process
from stand.linux.process import ProcessRecord
from stand.linux.state import StateFile
from stand.model.credentials import CLIENT_USER, Credentials
from stand.model.daemons import FRR, DaemonKind
from stand.model.layout import HostPaths
from stand.model.plan import HostPlan
from stand.model.system import FRR_BIN, KEEPALIVED, PG_BIN, PGPOOL, PSQL
from stand.runtime.handle import Stand, StandError

REPO_ROOT = Path(__file__).resolve().parents[2]
# The control plane of every design (FRR, the health agent, keepalived) runs at this CPU priority: on real
# hosts it would not share two cores with the load generator and the databases (docs/timers.md).
CONTROL_PLANE_NICE = -10


class DaemonFailed(RuntimeError):
    """A daemon that did not come up: names the host, the daemon, and the tail of its log."""

    def __init__(self, host: str, daemon: str, reason: str, log: Path):
        self.log = log
        super().__init__(f"{host}: {daemon} {reason} (log {log})\n{process.tail(log)}")  # the CLIs print line 1


@dataclass
class Daemon:
    """A long-running program inside one host's namespace."""

    host: HostPlan
    paths: HostPaths
    name: str = ""
    user: str | None = None
    polite_signal: signal.Signals = signal.SIGTERM
    ready_timeout: float = 30.0
    nice: int = 0
    private_ipc: bool = False  # System V shared memory of its own, gone with its last process (even SIGKILLed)

    @property
    def log(self) -> Path:
        return self.paths.log_dir / f"{self.name}.log"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def pid_files(self) -> list[Path]:
        """Pid files the daemon refuses to start over while their PID exists (a zombie counts)."""
        return []

    def start(self, state_file: StateFile) -> ProcessRecord:
        """Start the daemon and record it in the state file (it is not waited for)."""
        _, record = process.spawn(
            self.host.name,
            self.name,
            self.argv(),
            self.host.namespace,
            self.log,
            user=self.user,
            env=self.env(),
            stop_signal=self.polite_signal,
            nice=self.nice,
            private_ipc=self.private_ipc,
        )
        state_file.record_process(record)
        return record

    def env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}

    def wait_ready(self, record: ProcessRecord) -> None:
        """Bounded wait for readiness; fails early, with the log, if the process dies."""

        def ready_or_dead() -> bool:
            return not record.is_running() or self.is_ready()

        if not process.wait_until(ready_or_dead, process.scaled(self.ready_timeout), interval=0.1):
            raise DaemonFailed(self.host.name, self.name, f"not ready after {self.ready_timeout:.0f} s", self.log)
        if not record.is_running():
            raise DaemonFailed(self.host.name, self.name, "exited during start-up", self.log)


@dataclass
class FrrDaemon(Daemon):
    """zebra, bfdd or ospfd, each with its own config, pid file and vty socket in the host's run dir."""

    def argv(self) -> list[str]:
        run = self.paths.frr_run_dir
        argv = [
            str(FRR_BIN / self.name),
            "-f",
            str(self.paths.frr_conf_dir / f"{self.name}.conf"),
            "-i",
            str(run / f"{self.name}.pid"),
            "-z",
            str(run / "zserv.api"),
            "--vty_socket",
            str(run),
            "-u",
            "frr",
            "-g",
            "frr",
            "-P",
            "0",
            "--log",
            "stdout",
        ]
        if self.name == "bfdd":
            argv += ["--bfdctl", str(run / "bfdd.sock")]
        return argv

    def is_ready(self) -> bool:
        return (self.paths.frr_run_dir / f"{self.name}.vty").exists()


def vtysh(host: HostPlan, paths: HostPaths, command: str) -> str:
    """One vtysh command against this host's FRR."""
    argv = ["vtysh", "--vty_socket", str(paths.frr_run_dir), "-c", command]
    return process.run(argv, namespace=host.namespace, timeout=20).stdout


@dataclass
class Postgres(Daemon):
    name: str = DaemonKind.POSTGRES
    user: str | None = "postgres"
    polite_signal: signal.Signals = signal.SIGINT  # fast shutdown: do not wait for pgpool's connections
    ready_timeout: float = 60.0
    private_ipc: bool = True

    def argv(self) -> list[str]:
        return [str(PG_BIN / "postgres"), "-D", str(self.paths.pg_conf_dir)]

    def pid_files(self) -> list[Path]:
        return [self.paths.pg_data / "postmaster.pid", self.paths.pg_socket_dir / ".s.PGSQL.5432.lock"]

    def is_ready(self) -> bool:
        argv = [str(PG_BIN / "pg_isready"), "-q", "-h", str(self.paths.pg_socket_dir), "-p", "5432"]
        return process.run(argv, user="postgres", check=False, timeout=10).returncode == 0


def psql_local(paths: HostPaths, sql: str, database: str = "postgres") -> str:
    """Run SQL as the postgres superuser over this host's unix socket; returns unaligned output. The SQL goes
    on psql's standard input, never on its command line (where `ps` shows it to every user: passwords)."""
    argv = [PSQL, "-h", str(paths.pg_socket_dir), "-d", database, "-XAtq", "-v", "ON_ERROR_STOP=1", "-f", "-"]
    return process.run(argv, user="postgres", timeout=60, input=sql).stdout.strip()


@dataclass
class Pgpool(Daemon):
    name: str = DaemonKind.PGPOOL
    user: str | None = "postgres"
    polite_signal: signal.Signals = signal.SIGINT  # fast shutdown
    private_ipc: bool = True
    client_password: str = ""
    database: str = "postgres"
    port: int = 5432
    delegate_ip: IPv4Interface | None = None  # the watchdog mode's VIP, which this pgpool's watchdog moves

    def start(self, state_file: StateFile) -> ProcessRecord:
        if self.delegate_ip is not None:  # a SIGKILLed watchdog leaves its VIP behind; a restart clears it
            netns.remove_address(self.host.namespace, self.delegate_ip)
        return super().start(state_file)

    def argv(self) -> list[str]:
        conf = self.paths.pgpool_conf_dir
        return [
            str(PGPOOL),
            "-n",
            "-D",
            "-f",
            str(conf / "pgpool.conf"),
            "-a",
            str(conf / "pool_hba.conf"),
            "-F",
            str(conf / "pcp.conf"),
        ]

    def pid_files(self) -> list[Path]:
        return [self.paths.pgpool_pid_file]

    def is_ready(self) -> bool:
        """A real query through this pgpool, over TCP, as a client would send it."""
        argv = [
            PSQL,
            "-h",
            str(self.host.host.loopback.ip),
            "-p",
            str(self.port),
            "-U",
            CLIENT_USER,
            "-d",
            self.database,
            "-XAtq",
            "-c",
            "SELECT 1",
        ]
        env = {**self.env(), "PGPASSWORD": self.client_password, "PGCONNECT_TIMEOUT": "3"}
        result = process.run(argv, namespace=self.host.namespace, env=env, check=False, timeout=10)
        return result.returncode == 0 and result.stdout.strip() == "1"


@dataclass
class HealthAgent(Daemon):
    name: str = DaemonKind.AGENT
    nice: int = CONTROL_PLANE_NICE

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "stand.programs.agent", str(self.paths.agent_config)]

    def env(self) -> dict[str, str]:
        return {**super().env(), "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}

    def is_ready(self) -> bool:
        return self.paths.agent_status.exists()


@dataclass
class NexthopMirror(Daemon):
    """The anycast-resilient mode's program on a router: FRR's next hops to the anycast address as a
    resilient nexthop group, which a policy rule puts before the main table (docs/ecmp.md)."""

    name: str = DaemonKind.NEXTHOP_MIRROR
    nice: int = CONTROL_PLANE_NICE
    prefix: str = ""
    table: int = 200
    rule_priority: int = 100  # before the main table's rule (32766)
    group_id: int = 1 << 29  # zebra numbers its own nexthops from 1 and keeps below 1 << 28 (ZEBRA_NHG_PROTO_LOWER)
    buckets: int = 512  # many more than flows on one router here: a flow seldom shares its bucket
    idle_timer_s: int = 10  # a returning next hop gets the buckets no packet used for this long

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "stand.programs.nexthop_mirror", "--prefix", self.prefix,
            "--table", str(self.table), "--rule-priority", str(self.rule_priority), "--group-id", str(self.group_id),
            "--buckets", str(self.buckets), "--idle-timer-s", str(self.idle_timer_s),
            "--status-file", str(self.paths.mirror_status),
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        return {**super().env(), "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}

    def start(self, state_file: StateFile) -> ProcessRecord:
        self.paths.mirror_ready.unlink(missing_ok=True)
        return super().start(state_file)

    def is_ready(self) -> bool:
        return self.paths.mirror_ready.exists()


@dataclass
class Keepalived(Daemon):
    """VRRP for the keepalived modes: the parent and its VRRP child, each with a pid file."""

    name: str = DaemonKind.KEEPALIVED
    nice: int = CONTROL_PLANE_NICE  # its track script inherits it, as the agent's checks do

    def argv(self) -> list[str]:
        conf = self.paths.keepalived_dir
        return [
            KEEPALIVED,
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--no-syslog",
            "--vrrp",
            "--use-file",
            str(conf / "keepalived.conf"),
            "--pid",
            str(conf / "keepalived.pid"),
            "--vrrp_pid",
            str(conf / "vrrp.pid"),
        ]

    def pid_files(self) -> list[Path]:
        return [self.paths.keepalived_dir / "keepalived.pid", self.paths.keepalived_dir / "vrrp.pid"]

    def is_ready(self) -> bool:
        return (self.paths.keepalived_dir / "vrrp.pid").exists()


Controller = Callable[[Stand, HostPlan, HostPaths, Credentials | None], Daemon]


def _pgpool(stand: Stand, host: HostPlan, paths: HostPaths, credentials: Credentials | None) -> Daemon:
    credentials = credentials or stand.credentials()
    return Pgpool(
        host,
        paths,
        client_password=credentials.client_password,
        database=stand.plan.topology.postgres.database,
        port=stand.plan.topology.pgpool.port,
        user=None if host.pgpool_watchdog else "postgres",  # the watchdog adds and removes the VIP itself
        delegate_ip=stand.plan.topology.anycast if host.pgpool_watchdog else None,
    )


def _frr(kind: DaemonKind) -> Controller:
    return lambda stand, host, paths, credentials: FrrDaemon(host, paths, kind, nice=CONTROL_PLANE_NICE)


CONTROLLERS: dict[DaemonKind, Controller] = {
    **{kind: _frr(kind) for kind in FRR},
    DaemonKind.POSTGRES: lambda stand, host, paths, credentials: Postgres(host, paths),
    DaemonKind.PGPOOL: _pgpool,
    DaemonKind.AGENT: lambda stand, host, paths, credentials: HealthAgent(host, paths),
    DaemonKind.KEEPALIVED: lambda stand, host, paths, credentials: Keepalived(host, paths),
    DaemonKind.NEXTHOP_MIRROR: lambda stand, host, paths, credentials: NexthopMirror(
        host, paths, prefix=str(stand.plan.topology.anycast.network)
    ),
}


def controller(stand: Stand, host: HostPlan, kind: DaemonKind | str, credentials: Credentials | None = None) -> Daemon:
    """The controller of one daemon of one host (credentials: those being set up, before they are saved)."""
    if kind not in {k.value for k in host.daemons}:
        raise StandError(f"{host.name} has no daemon {kind!r}")
    return CONTROLLERS[DaemonKind(kind)](stand, host, stand.layout.host(host.name), credentials)


def running_record(stand: Stand, host_name: str, name: str) -> process.ProcessRecord | None:
    """The record of one daemon of a host if it is running (None: not started, or gone)."""
    record = stand.state_file.read().process(host_name, name)
    return record if record is not None and record.is_running() else None


def restart(stand: Stand, host_name: str, name: str) -> process.ProcessRecord:
    """Start one daemon again (after a fault), once what is left of its last run is gone."""
    host = stand.plan.host(host_name)
    daemon = controller(stand, host, name)
    previous = stand.state_file.read().process(host.name, name)
    if previous is not None:
        previous.stop()
    for pid_file in daemon.pid_files():  # left by the dead one; its PID may linger as a zombie a while
        pid_file.unlink(missing_ok=True)
    record = daemon.start(stand.state_file)
    daemon.wait_ready(record)
    return record
