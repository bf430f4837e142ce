"""The designs under test, one module each; a module lists its modes in `MODES`. Adding a design is a new
module here (plus its templates), found by name at import."""

from __future__ import annotations

import importlib
import pkgutil

from stand.model.plan import Plan, UnknownMode, derive
from stand.model.topology import Topology, running_topology
from stand.runtime.handle import Mode, Stand

DEFAULT_MODE = "anycast"


def _discover() -> dict[str, Mode]:
    found: dict[str, Mode] = {}
    for module in pkgutil.iter_modules(__path__):
        for mode in getattr(importlib.import_module(f"{__name__}.{module.name}"), "MODES", ()):
            found[mode.name] = mode
    return dict(sorted(found.items(), key=lambda item: (item[0] != DEFAULT_MODE, item[0])))  # the default first


MODES = _discover()
MODE_NAMES = tuple(MODES)


def mode_named(name: str) -> Mode:
    try:
        return MODES[name]
    except KeyError:
        raise UnknownMode(f"unknown mode {name!r} (modes: {', '.join(MODE_NAMES)})") from None


def plan_of(topology: Topology, mode: str = DEFAULT_MODE) -> Plan:
    return derive(topology, mode_named(mode))


def open_stand(topology: Topology, mode: str = DEFAULT_MODE) -> Stand:
    """The stand of this topology in this mode (running or not)."""
    return Stand.of(topology, mode_named(mode))


def running(stand: Stand) -> Stand:
    """This stand as it was started: the topology `stand up` read (its snapshot), in that mode."""
    state = stand.state_file.read()
    source = state.topology or stand.plan.topology.source
    return open_stand(running_topology(stand.layout.topology_snapshot, source), state.mode)
