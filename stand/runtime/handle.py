"""The runtime handle of one stand: its plan bound to its state directory, and the error every step raises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stand.linux.state import UP, StateFile
from stand.model.credentials import Credentials
from stand.model.layout import StandLayout, state_dir
from stand.model.plan import ANYCAST, Plan, derive
from stand.model.topology import Topology
from stand.model.topology import load as load_topology

Progress = Callable[[str], None]


class StandError(RuntimeError):
    """A stand that cannot be built, found or removed; the message says why in one line."""


@dataclass
class Stand:
    """A topology's plan bound to its state directory."""

    plan: Plan
    layout: StandLayout

    @classmethod
    def of(cls, topology: Topology, mode: str = ANYCAST) -> Stand:
        return cls(derive(topology, mode), StandLayout(state_dir(topology.prefix)))

    def as_running(self) -> Stand:
        """This stand as its state file says it was started: that topology file, that mode."""
        state = self.state_file.read()
        if state.mode == self.plan.mode and state.topology in ("", self.plan.topology.source):
            return self
        topology = load_topology(state.topology) if state.topology else self.plan.topology
        return Stand.of(topology, state.mode)

    @property
    def state_file(self) -> StateFile:
        return StateFile(self.layout.state_file)

    @property
    def failure_logs(self) -> Path:
        """Where a failed `stand up` keeps the daemons' logs (beside the state directory, which it removes)."""
        return self.layout.root.with_name(f"{self.layout.root.name}-last-failure")

    @property
    def command_lock_path(self) -> Path:
        """Beside the state directory, which `stand down` removes."""
        return self.layout.root.with_name(f"{self.layout.root.name}.lock")

    @property
    def credentials_file(self) -> Path:
        return self.layout.client_dir / "credentials.json"

    @property
    def client_passfile(self) -> Path:
        return self.layout.client_dir / "pgpass"

    def credentials(self) -> Credentials:
        return Credentials.load(self.credentials_file)

    def is_up(self) -> bool:
        return self.state_file.exists() and self.state_file.read().status == UP
