"""The state file: what a stand made (namespaces, links, routes, processes), so teardown works
even after the process that built it was killed."""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stand.linux.files import write_atomically
from stand.linux.process import ProcessRecord

BUILDING = "building"
UP = "up"


@dataclass
class StandState:
    prefix: str
    topology: str
    mode: str = "anycast"
    status: str = BUILDING
    created: float = field(default_factory=time.time)
    namespaces: list[str] = field(default_factory=list)
    root_links: list[str] = field(default_factory=list)
    root_routes: list[str] = field(default_factory=list)
    processes: list[ProcessRecord] = field(default_factory=list)
    made_dirs: list[str] = field(
        default_factory=list
    )  # outside the state directory (sshd's /run/sshd): removed if empty
    boot_id: str = field(default_factory=lambda: current_boot_id())  # the kernel's, when the state was made

    def to_json(self) -> dict:
        data = dict(vars(self))
        data["processes"] = [p.to_json() for p in self.processes]
        return data

    @classmethod
    def from_json(cls, data: dict) -> StandState:
        data = dict(data)
        data["processes"] = [ProcessRecord.from_json(p) for p in data.get("processes", [])]
        return cls(**data)

    def process(self, host: str, daemon: str) -> ProcessRecord | None:
        """The latest record of one daemon of one host."""
        found = [p for p in self.processes if p.host == host and p.daemon == daemon]
        return found[-1] if found else None


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def current_boot_id() -> str:
    return BOOT_ID.read_text().strip()


class CorruptState(RuntimeError):
    """A state file that cannot be read (truncated, not JSON, fields missing); the message says which."""


class StandBusy(RuntimeError):
    """Another command holds the stand's command lock; the message says which kind."""


@contextmanager
def command_lock(path: Path, exclusive: bool, what: str) -> Iterator[None]:
    """Hold the stand's command lock for a whole command: exclusive for `stand up` and `stand down`,
    shared while `bench run` plays its faults. Never waits: a taken lock is a clear StandBusy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        try:
            fcntl.flock(lock, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = "another command" if exclusive else "a `stand up` or `stand down`"
            raise StandBusy(f"{holder} is using this stand, {what} cannot run beside it (lock {path})") from None
        yield


class StateFile:
    """The state file, read and changed under an exclusive lock."""

    def __init__(self, path: Path):
        self.path = path
        self.lock_path = path.with_suffix(".lock")

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> StandState:
        """The state; CorruptState if the file cannot be read as one. After a reboot (another boot id) the
        recorded processes are gone and their PIDs may be anyone's: they are forgotten, never signalled."""
        try:
            state = StandState.from_json(json.loads(self.path.read_text()))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise CorruptState(f"the state file {self.path} is corrupt ({type(e).__name__}: {e})") from None
        if state.boot_id != current_boot_id():
            state.processes = []
        return state

    def write(self, state: StandState) -> None:
        write_atomically(self.path, json.dumps(state.to_json(), indent=2) + "\n")

    @contextmanager
    def change(self) -> Iterator[StandState]:
        """Read, let the caller change, write back: one writer at a time."""
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.read()
            yield state
            self.write(state)

    def record_process(self, record: ProcessRecord) -> None:
        with self.change() as state:
            state.processes = [p for p in state.processes if not (p.host == record.host and p.daemon == record.daemon)]
            state.processes.append(record)
