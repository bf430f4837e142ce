"""Figures for the stand: `stand up`/`stand down` wall time, and how fast the router's anycast route
follows a balancer's failure (pgpool SIGKILL; the balancer's links cut), timed by the kernel's own
route events on the router (`ip -ts monitor route`), not by polling.

Run as root on a machine with no stand up:  .venv/bin/python benchmarks/stand_timings.py [--tries 7]
It brings its own stand up and down. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import time
from datetime import UTC, datetime

from stand.linux import netns, process
from stand.model import topology
from stand.modes import open_stand
from stand.runtime import build, daemons, readiness, teardown
from stand.runtime.handle import Stand

WAIT = 30.0


class RouteWatch:
    """`ip -ts monitor route` in the router's namespace: the kernel's own time of each change of the anycast
    route, so that the figure holds no polling delay."""

    def __init__(self, stand: Stand):
        router = stand.plan.shell_router
        self.prefix = str(stand.plan.topology.anycast.ip)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", router.namespace, "ip", "-ts", "monitor", "route"],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.3)  # subscribed before the fault

    def first_change_after(self, started: float, hops: int, stand: Stand) -> float:
        """Seconds from `started` (wall clock) to the first change that left the route with `hops` next hops."""
        if not process.wait_until(lambda: len(readiness.anycast_next_hops(stand)) == hops, WAIT, 0.05):
            raise SystemExit(f"router still has {readiness.anycast_next_hops(stand)} after {WAIT} s")
        time.sleep(0.2)
        self.proc.terminate()
        output = self.proc.communicate()[0]
        stamps = re.findall(r"^\[([0-9T:.-]+)\] " + re.escape(self.prefix) + " ", output, re.MULTILINE)
        changed = [datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp() for s in stamps]
        return min(t for t in changed if t >= started) - started


def next_hops_back(stand: Stand) -> None:
    if not process.wait_until(lambda: len(readiness.anycast_next_hops(stand)) == len(stand.plan.balancers), WAIT):
        raise SystemExit(f"router still has {readiness.anycast_next_hops(stand)} after {WAIT} s")


def pgpool_kill(stand: Stand, balancer: str, whole_group: bool) -> float:
    """SIGKILL of pgpool's main process alone, or of its whole process group (the `pgpool-kill` fault)."""
    record = stand.state_file.read().process(balancer, "pgpool")
    watch = RouteWatch(stand)
    started = time.time()
    (os.killpg if whole_group else os.kill)(record.pid, signal.SIGKILL)
    gone = watch.first_change_after(started, len(stand.plan.balancers) - 1, stand)
    daemons.restart(stand, balancer, "pgpool")
    next_hops_back(stand)
    return gone


def links_cut(stand: Stand, balancer: str) -> float:
    """The balancer's links go down at the switch: what the router sees of a crashed host."""
    host = stand.plan.host(balancer)
    watch = RouteWatch(stand)
    started = time.time()
    for link in host.links:
        netns.set_link(stand.plan.switch_namespace, link.switch_ifname, up=False)
    gone = watch.first_change_after(started, len(stand.plan.balancers) - 1, stand)
    for link in host.links:
        netns.set_link(stand.plan.switch_namespace, link.switch_ifname, up=True)
    next_hops_back(stand)
    return gone


def report(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    print(f"{name}: median {statistics.median(ms):.0f} ms, min {ms[0]:.0f}, max {ms[-1]:.0f} over {len(ms)} tries")


def quiet(message: str) -> None:
    """Progress lines are not needed here: the figures are."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=7)
    args = parser.parse_args()
    stand = open_stand(topology.load("seed"))
    up_seconds = build.up(stand, quiet)
    try:
        balancers = [h.name for h in stand.plan.balancers]
        kills, group_kills, cuts = [], [], []
        for attempt in range(args.tries):
            balancer = balancers[attempt % len(balancers)]
            kills.append(pgpool_kill(stand, balancer, whole_group=False))
            group_kills.append(pgpool_kill(stand, balancer, whole_group=True))
            cuts.append(links_cut(stand, balancer))
    finally:
        down_seconds = teardown.down(stand, quiet)
    print(f"stand up: {up_seconds:.1f} s; stand down: {down_seconds:.1f} s")
    report("route withdrawn after SIGKILL of pgpool's main process", kills)
    report("route withdrawn after SIGKILL of pgpool's process group (pgpool-kill)", group_kills)
    report("route withdrawn after a balancer's links are cut", cuts)


if __name__ == "__main__":
    main()
