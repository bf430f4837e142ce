"""The runtime handle of one stand: its plan bound to its state directory, and the error every step raises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stand.linux.state import UP, StateFile
from stand.model.credentials import Credentials
from stand.model.design import Design
from stand.model.layout import StandLayout, state_dir
from stand.model.plan import HostPlan, Plan, derive
from stand.model.topology import Topology

Progress = Callable[[str], None]


class StandError(RuntimeError):
    """A stand that cannot be built, found or removed; the message says why in one line."""


@dataclass
class Stand:
    """A topology's plan bound to its state directory."""

    plan: Plan
    layout: StandLayout

    @classmethod
    def of(cls, topology: Topology, mode: Mode) -> Stand:
        return cls(derive(topology, mode), StandLayout(state_dir(topology.prefix)))

    @property
    def mode(self) -> Mode:
        """The design under test (stand/modes/)."""
        mode = self.plan.design
        assert isinstance(mode, Mode), f"{mode!r} is a Design without behaviour"
        return mode

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
        return self.layout.credentials_file

    @property
    def client_passfile(self) -> Path:
        return self.layout.client_passfile

    def credentials(self) -> Credentials:
        return Credentials.load(self.credentials_file)

    def is_up(self) -> bool:
        return self.state_file.exists() and self.state_file.read().status == UP


class Mode(Design):
    """One design under test: its facts (`Design`, which the plan reads) and how a running stand of it
    behaves. Each lives in a module of stand/modes/; nothing outside them asks which mode it is."""

    def prepare_network(self, stand: Stand) -> None:
        """Addresses, routes and rules the design needs once the stand's network and config files exist."""

    def routing_ready(self, stand: Stand) -> tuple[str, Callable[[], bool]]:
        """What `stand up` waits for before it queries the anycast address: a description and a check."""
        raise NotImplementedError

    def settled(self, stand: Stand) -> bool:
        """Every balancer back in service, as before a run."""
        raise NotImplementedError

    def drain(self, stand: Stand, host: HostPlan, drained: bool) -> None:
        """Planned maintenance of one balancer (drained), or its return to service."""
        raise NotImplementedError

    def before_run(self, stand: Stand, progress: Progress) -> None:
        """What a run needs beyond a settled stand, so that its faults hit the balancers they name."""

    def balancer_status(self, stand: Stand, host: HostPlan) -> str:
        """A balancer's part in the design, for `stand status` (a short word or two)."""
        return ""

    def routing_status(self, stand: Stand) -> list[str]:
        """Where the anycast address leads now, for `stand status` and `stand drain`."""
        raise NotImplementedError
