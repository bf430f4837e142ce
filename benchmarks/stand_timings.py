"""Figures for the stand: `stand up`/`stand down` wall time, and how fast the router's anycast route
follows a balancer's failure (pgpool SIGKILL; the balancer's links cut).

Run as root on a machine with no stand up:  .venv/bin/python benchmarks/stand_timings.py [--tries 7]
It brings its own stand up and down. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time

from stand import lifecycle, netns, process, readiness, topology
from stand.lifecycle import Stand

WAIT = 30.0


def next_hop_count_reaches(stand: Stand, count: int) -> float:
    """Seconds until the router's route has `count` next hops (polled every 5 ms)."""
    started = time.monotonic()
    if not process.wait_until(lambda: len(readiness.anycast_next_hops(stand)) == count, WAIT, 0.005):
        raise SystemExit(f"router still has {readiness.anycast_next_hops(stand)} after {WAIT} s")
    return time.monotonic() - started


def pgpool_kill(stand: Stand, balancer: str) -> float:
    record = stand.state_file.read().process(balancer, "pgpool")
    os.kill(record.pid, signal.SIGKILL)
    gone = next_hop_count_reaches(stand, len(stand.plan.balancers) - 1)
    lifecycle.restart(stand, balancer, "pgpool")
    next_hop_count_reaches(stand, len(stand.plan.balancers))
    return gone


def links_cut(stand: Stand, balancer: str) -> float:
    """The balancer's links go down at the switch: what the router sees of a crashed host."""
    host = stand.plan.host(balancer)
    for link in host.links:
        netns.set_link(stand.plan.switch_namespace, link.switch_ifname, up=False)
    gone = next_hop_count_reaches(stand, len(stand.plan.balancers) - 1)
    for link in host.links:
        netns.set_link(stand.plan.switch_namespace, link.switch_ifname, up=True)
    next_hop_count_reaches(stand, len(stand.plan.balancers))
    return gone


def report(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    print(f"{name}: median {statistics.median(ms):.0f} ms, min {ms[0]:.0f}, max {ms[-1]:.0f} over {len(ms)} tries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=7)
    args = parser.parse_args()
    stand = Stand.of(topology.load("seed"))
    quiet = lambda message: None  # noqa: E731
    up_seconds = lifecycle.up(stand, quiet)
    try:
        balancers = [h.name for h in stand.plan.balancers]
        kills, cuts = [], []
        for attempt in range(args.tries):
            kills.append(pgpool_kill(stand, balancers[attempt % len(balancers)]))
            cuts.append(links_cut(stand, balancers[attempt % len(balancers)]))
    finally:
        down_seconds = lifecycle.down(stand, quiet)
    print(f"stand up: {up_seconds:.1f} s; stand down: {down_seconds:.1f} s")
    report("route withdrawn after pgpool SIGKILL", kills)
    report("route withdrawn after a balancer's links are cut", cuts)


if __name__ == "__main__":
    main()
