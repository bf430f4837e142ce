"""False withdrawals (anycast) and false failovers (keepalived) under load without any fault.

For each mode: bring the stand up, measure what it serves (pgbench -S from the stand's router, 16 persistent
clients, as many transactions as it can), then offer 50%, 80% and 120% of that open-loop (pgbench --rate, 32 clients,
latency measured from the schedule) in repeated runs, and count the health decisions that no fault
explains: with no fault at all, every withdrawal or VIP move is a false one.

Run as root with no stand up:  .venv/bin/python benchmarks/false_withdrawals.py [--seconds 30] [--repeat 2]
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import time

from reports.health import false_changes, health_changes, read_decisions
from stand.linux import process
from stand.model import topology
from stand.modes import open_stand
from stand.runtime import build, readiness, teardown
from stand.runtime.handle import Stand

FRACTIONS = (0.5, 0.8, 1.2)


def pgbench(stand: Stand, seconds: int, clients: int, rate: float | None = None) -> tuple[float, str]:
    """tps and whether pgbench -S through the anycast address ran to its end, from the stand's router (the
    seed's client): inside the stand, where no route leads out."""
    address = str(stand.plan.topology.anycast.ip)
    env = {"PATH": os.environ["PATH"], **readiness.client_env(stand), "PGHOST": address}
    argv = ["pgbench", "-n", "-S", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds)]
    if rate is not None:
        argv += ["-R", f"{rate:.0f}"]
    argv.append(stand.plan.topology.postgres.database)
    result = process.run(argv, namespace=stand.plan.shell_router.namespace, env=env, timeout=seconds + 120, check=False)
    found = re.search(r"tps = ([0-9.]+)", result.stdout)
    aborted = "aborted" in result.stdout + result.stderr or result.returncode != 0
    return (float(found.group(1)) if found else 0.0), ("ABORTED" if aborted else "ok")


def false_count(stand: Stand, started_us: int, ended_us: int) -> tuple[int, list[str]]:
    decisions = []
    for host in stand.plan.balancers:
        decisions += read_decisions(stand.layout.host(host.name).health_decisions)
    balancers = [h.name for h in stand.plan.balancers]
    changes = false_changes(health_changes(decisions, [], balancers, started_us, ended_us, vip_mode=stand.plan.has_vip))
    return len(changes), [f"{c.host} {c.state}: {c.reason}" for c in changes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--modes", nargs="+", default=["anycast", "keepalived", "keepalived-tuned"])
    args = parser.parse_args()
    rows = []
    for mode in args.modes:
        stand = open_stand(topology.load("seed"), mode)
        build.up(stand, lambda message: None)
        try:
            capacity, _ = pgbench(stand, 10, 16)
            print(f"{mode}: serves {capacity:.0f} tps (pgbench -S, 16 clients)", flush=True)
            for repeat in range(args.repeat):
                for fraction in FRACTIONS:
                    started_us = time.time_ns() // 1000
                    tps, status = pgbench(stand, args.seconds, 32, fraction * capacity)
                    time.sleep(1)  # decisions written as the run ended
                    count, what = false_count(stand, started_us, time.time_ns() // 1000)
                    rows.append((mode, fraction, repeat, tps, status, count))
                    print(
                        f"{mode:<17} {fraction:>4.0%} run {repeat + 1}: offered {fraction * capacity:6.0f}/s, "
                        f"served {tps:6.0f} tps, pgbench {status}, false: {count} {'; '.join(what)}",
                        flush=True,
                    )
        finally:
            teardown.down(stand, lambda message: None)
    print("\nmode              load   false withdrawals or failovers per run")
    for mode in args.modes:
        for fraction in FRACTIONS:
            counts = [r[5] for r in rows if r[0] == mode and r[1] == fraction]
            print(f"{mode:<17} {fraction:>5.0%}   {counts}")


if __name__ == "__main__":
    main()
