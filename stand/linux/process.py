"""Processes of the stand: start inside a namespace, recognise by identity, stop TERM then KILL."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from stand.linux import syscalls

TIMEOUT_SCALE = float(os.environ.get("PGAB_TIMEOUT_SCALE", "1"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # /proc/PID/stat counts CPU time in these


def scaled(seconds: float) -> float:
    """A bounded wait, stretched on slow machines by PGAB_TIMEOUT_SCALE."""
    return seconds * TIMEOUT_SCALE


@dataclass(frozen=True)
class ProcessRecord:
    """What the state file keeps of a process, enough to find it again after a crash."""

    host: str
    daemon: str
    pid: int
    start_ticks: int  # field 22 of /proc/PID/stat: tells a reused PID apart
    program: str
    stop_signal: int = signal.SIGTERM  # the polite one; SIGKILL follows if it is not enough
    netns_inode: int = 0  # the inode of the network namespace it runs in (0: not recorded, older state files)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ProcessRecord:
        return cls(**data)

    def is_running(self) -> bool:
        """True while this very process lives and is not a zombie: the PID, its start time and its network
        namespace all match (a reused PID, even one started at the same tick elsewhere, is someone else's)."""
        stat = read_stat(self.pid)
        if stat is None or stat.start_ticks != self.start_ticks or stat.state == "Z":
            return False
        return not self.netns_inode or netns_inode_of(self.pid) == self.netns_inode

    def stop(self, timeout: float = 15.0) -> None:
        """The polite signal, then SIGKILL to the whole process group if it does not go."""
        if self.is_running():
            _signal(self.pid, signal.Signals(self.stop_signal))
            _signal_group(self.pid, signal.SIGCONT)  # a frozen process cannot act on the signal
            if not wait_until(lambda: not self.is_running(), scaled(timeout)):
                _signal_group(self.pid, signal.SIGKILL)
                wait_until(lambda: not self.is_running(), scaled(5))
        self.kill_leftovers()

    def kill_leftovers(self) -> None:
        """SIGKILL what is left of this process's group (children of a killed daemon)."""
        if not self.is_running():
            for pid in group_members(self.pid):
                _signal(pid, signal.SIGCONT)
                _signal(pid, signal.SIGKILL)


def netns_inode_of(pid: int) -> int | None:
    """The inode of the network namespace a process runs in (None: it is gone)."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


@dataclass(frozen=True)
class Stat:
    state: str
    ppid: int
    pgrp: int
    cpu_s: float  # user plus system time so far
    start_ticks: int
    children_cpu_s: float = 0.0  # the same, of its children that have exited and that it has reaped


def read_stat(pid: int) -> Stat | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return Stat(
        state=fields[0],
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        cpu_s=(int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
        children_cpu_s=(int(fields[13]) + int(fields[14])) / CLOCK_TICKS,
        start_ticks=int(fields[19]),
    )


def group_members(pgrp: int) -> list[int]:
    """Live processes of a process group (every daemon leads its own session and group)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None and stat.pgrp == pgrp and stat.state != "Z":
                members.append(int(entry.name))
    return members


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _signal_group(pgrp: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgrp, sig)
    except ProcessLookupError:
        pass


def wait_until(condition, timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until it is true or `timeout` seconds pass; returns whether it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _preexec(namespace: str | None, user: str | None, nice: int = 0, private_ipc: bool = False):
    """Runs in the child after fork: enter the namespace, take the CPU priority (`nice`, which needs root
    when negative), then drop to the user. The stand's own commands
    (psql as postgres, createdb, pgbench) do not follow a shell's libpq settings (`eval $(stand env)`):
    those are dropped from an inherited environment (a command given its own keeps it)."""
    account = pwd.getpwnam(user) if user else None

    def enter() -> None:
        for key in [key for key in os.environ if key.startswith("PG")]:
            del os.environ[key]
        if namespace is not None:
            syscalls.enter_netns(namespace)
        if private_ipc:
            syscalls.unshare_ipc()
        if nice:
            os.nice(nice)
        if account is not None:
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            os.environ["HOME"] = account.pw_dir

    return enter


def spawn(
    host: str,
    daemon: str,
    argv: list[str],
    namespace: str | None,
    log: Path,
    user: str | None = None,
    env: dict[str, str] | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    nice: int = 0,
    private_ipc: bool = False,
) -> tuple[subprocess.Popen, ProcessRecord]:
    """Start a long-running process in its own session, logging to `log`, at CPU priority `nice`, with an IPC
    namespace of its own if `private_ipc` (its shared memory then dies with it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_preexec(namespace, user, nice, private_ipc),
            env=env,
            cwd="/",
        )
    stat = read_stat(proc.pid)
    ticks = stat.start_ticks if stat else 0
    inode = netns_inode_of(proc.pid) or 0  # Popen returns once the child has entered the namespace and exec'd
    return proc, ProcessRecord(host, daemon, proc.pid, ticks, argv[0], int(stop_signal), inode)


def run(
    argv: list[str],
    namespace: str | None = None,
    user: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    check: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess:
    """Run a short command inside a namespace as a user; output captured as text."""
    result = subprocess.run(
        argv,
        input=input,
        capture_output=True,
        text=True,
        preexec_fn=_preexec(namespace, user),
        env=env,
        timeout=scaled(timeout),
        cwd="/",
    )
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise CommandFailed(f"{' '.join(argv[:3])}... failed ({result.returncode}): {' | '.join(detail[-3:])}")
    return result


class CommandFailed(RuntimeError):
    pass


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"
