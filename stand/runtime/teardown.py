"""`stand down`: every trace of the stand removed, from its state file or by its prefix."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time

from stand.linux import netns, process
from stand.linux.state import CorruptState, StandState, command_lock
from stand.model.daemons import STOP_ORDER
from stand.runtime.handle import Progress, Stand, StandError
from stand.runtime.prerequisites import check_prerequisites


def down(stand: Stand, progress: Progress, force: bool = False) -> float:
    """Remove every trace of the stand, from its state file (or, with force, from its prefix)."""
    started = time.monotonic()
    check_prerequisites()
    with command_lock(stand.command_lock_path, exclusive=True, what="`stand down`"):
        return down_under_lock(stand, progress, force, started)


def down_under_lock(stand: Stand, progress: Progress, force: bool, started: float) -> float:
    state_file = stand.state_file
    by_prefix = StandState(
        prefix=stand.plan.topology.prefix,
        topology="",
        namespaces=list(stand.plan.namespaces),
        root_links=[stand.plan.shell_ifname],
    )
    if state_file.exists():
        try:
            state = state_file.read()
        except CorruptState as e:
            progress(f"{e}: removing what the stand's prefix {stand.plan.topology.prefix!r} names instead")
            state = by_prefix
    elif force:
        state = by_prefix
    else:
        progress("no stand is up (no state file); nothing to do")
        return 0.0
    if state.topology and state.topology != stand.plan.topology.source:
        progress(f"note: the stand was started from {state.topology}")
    for namespace in state.namespaces:
        netns.signal_inside(namespace, signal.SIGCONT)  # a frozen host (node-freeze) must not hang teardown
    by_order = sorted(
        state.processes, key=lambda p: STOP_ORDER.index(p.daemon) if p.daemon in STOP_ORDER else len(STOP_ORDER)
    )
    for record in by_order:
        record.stop()
    for namespace in state.namespaces:
        _kill_what_runs_inside(namespace)
    for ifname in state.root_links:
        netns.remove_link(netns.ROOT, ifname)  # its routes go with it
    for namespace in state.namespaces:
        netns.remove(namespace)
    for made in state.made_dirs:
        with contextlib.suppress(OSError):  # not empty: something else uses it now
            os.rmdir(made)
    shutil.rmtree(stand.layout.root, ignore_errors=True)
    progress(f"stopped {len(state.processes)} processes, removed {len(state.namespaces)} namespaces")
    return time.monotonic() - started


def _kill_what_runs_inside(namespace: str) -> None:
    """Anything still inside one of the stand's namespaces is the stand's own (found by the namespace, not
    by name): SIGKILL each process directly, then wait until they are all gone."""
    for pid in netns.processes_inside(namespace):
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
    if not process.wait_until(lambda: not _live(netns.processes_inside(namespace)), process.scaled(10)):
        left = _live(netns.processes_inside(namespace))
        raise StandError(f"processes still inside {namespace} 10 s after SIGKILL: {left}")


def _live(pids: list[int]) -> list[int]:
    """Those not yet zombies (a zombie's parent reaps it; it holds nothing)."""
    return [pid for pid in pids if (stat := process.read_stat(pid)) is not None and stat.state != "Z"]
