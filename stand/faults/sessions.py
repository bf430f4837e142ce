"""SSH sessions to an inventory's machines (asyncssh), for the remote path: commands and their exit
status, long-running processes stopped by PID, files both ways, and each machine's clock against this one.

asyncssh runs on an event loop in a thread of its own; the methods here block until their answer.
Before any connection, every address is checked: one in 198.18.0.0/15 (the stand's range, which leads
out of this machine) only inside a running stand (stand.safety.check_target), its socket bound to the
stand's link when this machine's namespace reaches it through one; host keys are always checked.
"""

from __future__ import annotations

import asyncio
import posixpath
import shlex
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from ipaddress import IPv4Network, ip_address
from pathlib import Path
from typing import Any

import asyncssh

from stand.model.inventory import Inventory, SshTarget
from stand.runtime.handle import StandError
from stand.safety import UnsafeTarget, bind_to_device, check_target

STAND_RANGE = IPv4Network("198.18.0.0/15")
CONNECT_TIMEOUT_S = 20.0
CLOCK_SAMPLES = 9
CLOCK_READER = "import sys, time\nfor _ in sys.stdin: print(time.time_ns(), flush=True)"


class RemoteError(StandError):
    """A machine that could not be reached, or a command that failed there; the message names the machine."""


@dataclass(frozen=True)
class ClockSample:
    """One machine's clock against this one's: `offset_ms` is its wall clock minus ours, read at the
    sample with the shortest round trip, and true to within half that round trip."""

    host: str
    offset_ms: float
    rtt_ms: float
    samples: int

    @property
    def uncertainty_ms(self) -> float:
        return self.rtt_ms / 2


def clock_offset(host: str, samples: list[tuple[int, int, int]]) -> ClockSample:
    """The offset from (sent_ns, remote_ns, received_ns) samples: the remote clock read at the middle of
    the round trip (Cristian's algorithm), at the sample whose round trip is the shortest."""
    sent, remote, received = min(samples, key=lambda s: s[2] - s[0])
    return ClockSample(host, (remote - (sent + received) / 2) / 1e6, (received - sent) / 1e6, len(samples))


def connection_socket(address: str) -> socket.socket | None:
    """An unconnected socket for an SSH connection to `address`, bound to the stand's link, after the safety
    check; None: asyncssh opens its own (inside the stand, or an address outside the stand's range: the
    operator's own network)."""
    if ip_address(address) not in STAND_RANGE:
        return None
    device = check_target(address)  # raises UnsafeTarget outside a running stand
    if device is None:
        return None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    bind_to_device(sock, device)
    sock.setblocking(False)
    return sock


@dataclass
class RemoteProcess:
    """A long-running command on one machine (a Locust worker, a probe): its PID there, its output
    copied into a local log as it comes."""

    host: str
    pid: int
    log: Path
    _process: Any
    _copy: Any

    @property
    def returncode(self) -> int | None:
        return self._process.exit_status if self._process.exit_status is not None else None


class Sessions:
    """One SSH connection per machine, opened together by `open`, closed by `close` (or `with`)."""

    def __init__(self, inventory: Inventory):
        self.inventory = inventory
        self._targets = {t.name: t for t in (*inventory.hosts, *inventory.clients)}
        self._connections: dict[str, asyncssh.SSHClientConnection] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ssh", daemon=True)
        self._thread.start()

    def __enter__(self) -> Sessions:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, coroutine: Coroutine, timeout: float | None = None):
        """Run a coroutine on the sessions' loop and wait for its answer."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def open(self, names: list[str] | None = None) -> None:
        """Connect to these machines (default: every one of the inventory) at once; RemoteError naming the
        first that failed, UnsafeTarget before any connection if an address may not be reached from here."""
        targets = [self._targets[n] for n in names] if names is not None else list(self._targets.values())
        sockets = {}
        for t in targets:
            try:
                sockets[t.name] = connection_socket(str(t.address))
            except UnsafeTarget as e:
                raise UnsafeTarget(f"{t.name}: SSH to {t.user}@{t.address}:{t.port}: {e}") from None
        results = self._call(self._connect_all(targets, sockets))
        for target, result in zip(targets, results):
            if isinstance(result, BaseException):
                self.close()
                reason = str(result).splitlines()[0] if str(result) else type(result).__name__
                if isinstance(result, TimeoutError):
                    reason = f"no answer in {CONNECT_TIMEOUT_S:.0f} s"
                    if (
                        sockets[target.name] is not None
                    ):  # through the stand's shell link, which only its router answers
                        reason += " (from this machine's shell the stand's hosts do not answer: `stand exec FRR -- bench ...`)"
                raise RemoteError(
                    f"{target.name}: SSH to {target.user}@{target.address}:{target.port} failed: {reason}"
                )
            self._connections[target.name] = result

    async def _connect_all(self, targets: list[SshTarget], sockets: dict[str, socket.socket | None]) -> list:
        connecting = (self._connect(t, sockets[t.name]) for t in targets)
        return await asyncio.gather(*connecting, return_exceptions=True)

    async def _connect(self, target: SshTarget, sock: socket.socket | None) -> asyncssh.SSHClientConnection:
        options: dict[str, Any] = {
            "username": target.user,
            "known_hosts": self.inventory.known_hosts if self.inventory.known_hosts else (),
            "connect_timeout": CONNECT_TIMEOUT_S,
            "keepalive_interval": 5,
        }
        if target.key:
            options["client_keys"] = [str(Path(target.key).expanduser())]
        if sock is None:
            return await asyncssh.connect(str(target.address), target.port, **options)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(sock, (str(target.address), target.port)), CONNECT_TIMEOUT_S
            )
        except BaseException:
            sock.close()
            raise
        return await asyncssh.connect(sock=sock, **options)

    def local_address(self, name: str) -> str:
        """This machine's address on its connection to `name`: where that machine reaches us back."""
        return self._connections[name].get_extra_info("sockname")[0]

    def run(self, name: str, command: str, timeout: float = 60.0, check: bool = True) -> str:
        """Run a shell command on one machine; its output. RemoteError if it fails (with `check`) or times out."""
        try:
            result = self._call(self._connections[name].run(command, check=False), timeout)
        except TimeoutError:
            raise RemoteError(f"{name}: `{command}` did not end in {timeout:.0f} s") from None
        if check and result.exit_status != 0:
            output = (str(result.stderr or "") + str(result.stdout or "")).strip().splitlines()
            raise RemoteError(f"{name}: `{command}` exited with {result.exit_status}: {output[-1] if output else ''}")
        return str(result.stdout or "")

    def start(self, name: str, command: str, log: Path, cwd: str | None = None) -> RemoteProcess:
        """Start a long-running command; it prints its PID first, then runs (`exec`) with its output in `log`."""
        script = f"{'cd ' + shlex.quote(cwd) + ' && ' if cwd else ''}echo $$ && exec {command}"
        return self._call(self._start(name, f"sh -c {shlex.quote(script)}", log), CONNECT_TIMEOUT_S)

    async def _start(self, name: str, command: str, log: Path) -> RemoteProcess:
        process = await self._connections[name].create_process(command, stderr=asyncssh.STDOUT)
        pid = int((await process.stdout.readline()).strip())

        async def copy() -> None:
            with open(log, "w") as out:
                async for line in process.stdout:
                    out.write(line)
                    out.flush()

        return RemoteProcess(name, pid, log, process, asyncio.ensure_future(copy()))

    def wait(self, process: RemoteProcess, timeout: float) -> int | None:
        """Its exit status once it ended (within `timeout`), else None."""
        try:
            self._call(self._wait(process, timeout), timeout + 10)
        except TimeoutError:
            return None
        return process.returncode

    async def _wait(self, process: RemoteProcess, timeout: float) -> None:
        await asyncio.wait_for(process._process.wait_closed(), timeout)
        await asyncio.wait_for(process._copy, 5)

    def signal(self, process: RemoteProcess, signal_name: str = "INT") -> None:
        """Send a signal to the process by its PID there (never by name)."""
        self.run(process.host, f"kill -{signal_name} {process.pid}", check=False)

    def write(self, name: str, path: str, text: str, mode: int = 0o600) -> None:
        """A file on one machine, `mode` from its first byte."""
        self._call(self._write(name, path, text, mode), 60)

    async def _write(self, name: str, path: str, text: str, mode: int) -> None:
        async with self._connections[name].start_sftp_client() as sftp:
            async with sftp.open(path, "w", asyncssh.SFTPAttrs(permissions=mode)) as f:
                await f.write(text)

    def fetch(self, name: str, remote_dir: str, local_dir: Path, rename: Callable[[str], str] = str) -> int:
        """Copy the files of a remote directory into `local_dir`, each under `rename(its name)`; how many."""
        local_dir.mkdir(parents=True, exist_ok=True)
        return self._call(self._fetch(name, remote_dir, local_dir, rename), 600)

    async def _fetch(self, name: str, remote_dir: str, local_dir: Path, rename: Callable[[str], str]) -> int:
        async with self._connections[name].start_sftp_client() as sftp:
            if not await sftp.isdir(remote_dir):
                return 0
            names = [n for n in await sftp.listdir(remote_dir) if n not in (".", "..")]
            for file_name in names:
                await sftp.get(posixpath.join(remote_dir, file_name), str(local_dir / rename(file_name)))
            return len(names)

    def clock(self, name: str, samples: int = CLOCK_SAMPLES) -> ClockSample:
        """The machine's clock against this one's, from `samples` round trips to one process there that
        reads its clock for each line it is sent (no process start inside a round trip)."""
        return clock_offset(name, self._call(self._clock_readings(name, samples), 120))

    async def _clock_readings(self, name: str, samples: int) -> list[tuple[int, int, int]]:
        process = await self._connections[name].create_process(f"python3 -c {shlex.quote(CLOCK_READER)}")
        readings = []
        try:
            for _ in range(samples):
                sent = time.time_ns()
                process.stdin.write("\n")
                remote = int((await process.stdout.readline()).strip())
                readings.append((sent, remote, time.time_ns()))
        finally:
            process.stdin.write_eof()
            await process.wait_closed()
        return readings

    async def _closed(self, connections: list[asyncssh.SSHClientConnection]) -> None:
        await asyncio.gather(*(c.wait_closed() for c in connections))

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        if self._connections:
            try:
                self._call(self._closed(list(self._connections.values())), 10)
            except TimeoutError:
                pass
        self._connections = {}
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
