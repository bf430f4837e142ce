"""What ECMP does to established TCP connections, measured against the theory (docs/ecmp.md).

Linux routes a multipath route by hash-threshold (RFC 2992): each next hop owns an equal slice of the hash
space, in the order the router lists them. With three next hops, taking out the first or the last moves
1/6 of all flows between the two that stay; taking out the middle one moves none. Putting it back moves
1/2 of the open flows (the end one) or 1/3 (the middle one, all of them onto it).

Run as root with no stand up (or the seed stand up in anycast mode):
    .venv/bin/python benchmarks/ecmp_theory.py [--users 48] [--rate 150] [--repeat 2] [--mode anycast]
For each balancer in the shell router's next-hop order, `--repeat` runs of a planned drain of it with
`--users` persistent connections at `--rate` queries a second: the drain at 10 s, the undrain at 25 s.
Prints the open connections before each change and those broken on the other balancers (the metric
`collateral_broken_connections`) beside the prediction; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.results import load_run
from bench.run import ensure_stand, results_dir, run
from bench.scenario import load as load_scenario
from reports.ecmp import predicted_drain_share, predicted_return_share
from reports.metrics import OK, PERSISTENT, collateral_broken_connections
from stand.linux import process
from stand.runtime import readiness, teardown
from stand.runtime.handle import Stand

DRAIN_S, UNDRAIN_S, DURATION_S = 10, 25, 40
OPEN_WINDOW_US = 2_000_000  # a connection is open at a change if it answered in the 2 s before it

SCENARIO = """name = "ecmp-drain-{target}"
description = "{target} drained at {drain} s and put back at {undrain} s, {users} persistent connections."
duration_s = {duration}

[load]
users = {users}
spawn_rate = {users}
mode = "persistent"
tags = ["point"]
rate = {rate}
probe_interval_ms = 100

[[timeline]]
at_s = {drain}
action = "fault"
fault = "drain"
target = "{target}"

[[timeline]]
at_s = {undrain}
action = "undo"
fault = "drain"
target = "{target}"
"""


def kernel_next_hops(stand: Stand) -> list[str]:
    """The shell router's next hops to the anycast address, in the kernel's order (hash-threshold's)."""
    router = stand.plan.shell_router
    prefix = str(stand.plan.topology.anycast.network)
    out = process.run(["ip", "-j", "route", "show", prefix], namespace=router.namespace).stdout
    routes = json.loads(out or "[]")
    if not routes:
        return []
    route = routes[0]
    return [hop["gateway"] for hop in route.get("nexthops", [route])]


@dataclass(frozen=True)
class Change:
    """One drain or undrain of one run: connections open before it, broken on the other balancers after."""

    open_connections: int
    broken_elsewhere: int
    predicted: float


def open_connections(requests, at_us: int) -> int:
    """Persistent connections that answered ok in the 2 s before `at_us`."""
    rows = requests[
        (requests["mode"] == PERSISTENT)
        & (requests["outcome"] == OK)
        & (requests["start_us"] >= at_us - OPEN_WINDOW_US)
        & (requests["start_us"] < at_us)
    ]
    return len(rows[["process", "connection"]].drop_duplicates())


def measure(stand: Stand, target: str, position: int, hops: int, args, work: Path) -> tuple[Change, Change]:
    path = work / f"drain-{target}.toml"
    path.write_text(
        SCENARIO.format(
            target=target, users=args.users, rate=args.rate, drain=DRAIN_S, undrain=UNDRAIN_S, duration=DURATION_S
        )
    )
    scenario = load_scenario(str(path))
    out = run(stand, scenario, results_dir(work, scenario, stand.plan.mode), lambda message: None)
    data = load_run(out)
    drain_us = next(e.t_us for e in data.events if e.action == "fault")
    undrain_us = next(e.t_us for e in data.events if e.action == "undo")
    drained = collateral_broken_connections(data.requests, drain_us, undrain_us, target)
    returned = collateral_broken_connections(data.requests, undrain_us, data.meta.load_end_us, ())
    opened_drain, opened_return = open_connections(data.requests, drain_us), open_connections(data.requests, undrain_us)
    return (
        Change(opened_drain, drained, opened_drain * predicted_drain_share(position, hops)),
        Change(opened_return, returned, opened_return * predicted_return_share(position, hops)),
    )


def span(values: list[float]) -> str:
    return f"{statistics.median(values):g} [{min(values):g}-{max(values):g}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="anycast")
    parser.add_argument("--users", type=int, default=48)
    parser.add_argument("--rate", type=float, default=150.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--results", type=Path, help="keep every run's results here (default: a temporary directory)")
    args = parser.parse_args()
    stand, started_here = ensure_stand(args.mode, lambda message: None, "seed")
    rows = []
    try:
        hops = kernel_next_hops(stand)
        with tempfile.TemporaryDirectory() as directory:
            work = args.results or Path(directory)
            work.mkdir(parents=True, exist_ok=True)
            for position, hop in enumerate(hops):
                target = readiness.balancer_of_next_hop(stand, hop)
                for _ in range(args.repeat):
                    drained, returned = measure(stand, target, position, len(hops), args, work)
                    rows.append((position, target, drained, returned, kernel_next_hops(stand)))
    finally:
        if started_here:
            teardown.down(stand, lambda message: None)
    print(
        f"{args.mode}, {args.users} persistent connections at {args.rate:g} queries/s; next hops in the kernel's order: {hops}"
    )
    print(
        f"  {'position':<10}{'drained':<9}{'runs':>5}  {'open':>12}{'broken elsewhere':>20}{'predicted':>12}   {'on return: open':>16}{'broken':>16}{'predicted':>12}"
    )
    for position in range(len(hops)):
        mine = [r for r in rows if r[0] == position]
        if not mine:
            continue
        drains, returns = [r[2] for r in mine], [r[3] for r in mine]
        print(
            f"  {position + 1:<10}{mine[0][1]:<9}{len(mine):>5}  {span([c.open_connections for c in drains]):>12}"
            f"{span([c.broken_elsewhere for c in drains]):>20}{statistics.mean(c.predicted for c in drains):>12.1f}"
            f"   {span([c.open_connections for c in returns]):>16}{span([c.broken_elsewhere for c in returns]):>16}"
            f"{statistics.mean(c.predicted for c in returns):>12.1f}"
        )
    moved = {tuple(r[4]) for r in rows} - {tuple(hops)}
    print(f"  the next hops' order after every return: {'as before' if not moved else sorted(moved)}")


if __name__ == "__main__":
    main()
