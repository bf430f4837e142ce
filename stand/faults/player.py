"""Playing faults on a running stand: each fault and undo is run and logged as an event (JSON lines) with a
wall-clock timestamp in µs, on the same clock as the request records, taken just before it takes effect."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from stand.faults.primitives import reattach_backends
from stand.faults.registry import FAULTS
from stand.model.events import FaultEvent, append_event
from stand.runtime.handle import Stand, StandError


class Faults:
    """Inject and undo faults on one running stand, logging each as an event.

    Undoing a fault that cut a network (`Fault.reattaches`) ends with every pgpool taking back the backends it
    detached meanwhile, which takes seconds; steps played `together()` do that once, after the last one,
    so that a whole site returns at once."""

    def __init__(self, stand: Stand, events_file: Path | None = None):
        self.stand = stand
        self.events_file = events_file or stand.layout.root / "events.jsonl"
        self._together = False
        self._blocks = 0  # blocks played together so far: each event of one carries its number
        self._reattach_due = False

    @contextmanager
    def together(self) -> Iterator[None]:
        self._blocks += 1
        self._together = True
        try:
            yield
        finally:
            self._together = False
            if self._reattach_due:
                self._reattach_due = False
                reattach_backends(self.stand)

    def inject(self, fault: str, target: str, **params) -> FaultEvent:
        return self._play("fault", fault, target, params)

    def undo(self, fault: str, target: str, **params) -> FaultEvent:
        return self._play("undo", fault, target, params)

    def _play(self, action: str, fault: str, target: str, params: dict) -> FaultEvent:
        if fault not in FAULTS:
            raise StandError(f"unknown fault {fault!r} (faults: {', '.join(FAULTS)})")
        host = self.stand.plan.host(target)
        primitive = FAULTS[fault].inject if action == "fault" else FAULTS[fault].undo
        _check_params(fault, action, primitive, params)
        block = self._blocks if self._together else None
        event = FaultEvent(time.time_ns() // 1000, action, fault, host.name, params, together=block)
        primitive(self.stand, host, **params)
        append_event(self.events_file, event)
        if action == "undo" and FAULTS[fault].reattaches:
            if self._together:
                self._reattach_due = True
            else:
                reattach_backends(self.stand)
        return event


def _check_params(fault: str, action: str, primitive: Callable[..., None], params: dict) -> None:
    """The options a fault (or its undo) takes, before it touches anything: one line naming what is wrong."""
    takes = list(inspect.signature(primitive).parameters.values())[2:]  # after the stand and the host
    missing = [p.name for p in takes if p.default is inspect.Parameter.empty and p.name not in params]
    unknown = [name for name in params if name not in {p.name for p in takes}]
    if missing or unknown:
        options = ", ".join(f"--{p.name.replace('_', '-')}" for p in takes) or "no options"
        what = f"needs --{missing[0].replace('_', '-')}" if missing else f"takes no --{unknown[0].replace('_', '-')}"
        raise StandError(f"{'the undo of ' if action == 'undo' else ''}{fault} {what} (it takes: {options})")
