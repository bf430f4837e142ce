"""Health checks that tell busy from dead, on the real stand: load does not withdraw a balancer, a
slow pgpool that still answers stays, a dead or frozen one goes, and the last announcer stays.

Every packet goes to hosts of the stand (inside its namespaces, or through the stand's shell route)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from stand.linux import process
from stand.runtime import daemons, readiness

pytestmark = pytest.mark.integration

BALANCERS = ("PgBAL1", "PgBAL2", "PgBAL3")
HOPS = {"PgBAL1": "198.18.1.94", "PgBAL2": "198.18.1.95", "PgBAL3": "198.18.1.96"}


def decisions_since(stand, host: str, since_us: int) -> list[dict]:
    """The host's health decisions (not the periodic statistics) from `since_us` on."""
    path = stand.layout.host(host).health_decisions
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [d for d in lines if d["t_us"] >= since_us and d["kind"] != "stats"]


def pgbench(stand, clients: int, seconds: int) -> subprocess.CompletedProcess:
    """pgbench -S with persistent connections through the anycast address, from the stand's router (the
    seed's client): inside the stand, where no route leads out."""
    address = str(stand.plan.topology.anycast.ip)
    env = {"PATH": os.environ["PATH"], **readiness.client_env(stand), "PGHOST": address}
    argv = ["pgbench", "-n", "-S", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds)]
    return process.run(
        [*argv, stand.plan.topology.postgres.database],
        namespace=stand.plan.shell_router.namespace,
        env=env,
        timeout=seconds + 120,
        check=False,
    )


def every_balancer_announces(stand) -> None:
    if not process.wait_until(lambda: len(readiness.anycast_next_hops(stand)) == 3, process.scaled(30), 0.1):
        pytest.fail(f"next hops {readiness.anycast_next_hops(stand)}, not all three balancers")


def test_sixteen_persistent_clients_for_30_s_withdraw_nothing_and_abort_nothing(stand):
    every_balancer_announces(stand)
    started_us = time.time_ns() // 1000
    result = pgbench(stand, 16, 30)
    changes = {b: decisions_since(stand, b, started_us) for b in BALANCERS}
    assert result.returncode == 0 and "aborted" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert changes == {b: [] for b in BALANCERS}
    print(f"\n[figure] pgbench -c 16 -T 30: {next(line for line in result.stdout.splitlines() if 'tps' in line)}")


HOLD_CHILDREN = """
import asyncio, sys, asyncpg
async def main(host, port, user, database, password, count):
    connections = [await asyncpg.connect(host=host, port=port, user=user, database=database, password=password)
                   for _ in range(count)]
    print("held", len(connections), flush=True)
    await asyncio.sleep(3600)
asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])))
"""


def test_every_pgpool_child_busy_does_not_withdraw_a_balancer_that_still_answers(stand):
    """PgBAL2's pgpool accepts no new client while every child is taken; its sessions still answer."""
    every_balancer_announces(stand)
    host = stand.plan.host("PgBAL2")
    credentials = stand.credentials()
    children = stand.plan.topology.pgpool.num_init_children
    argv = [
        sys.executable,
        "-c",
        HOLD_CHILDREN,
        str(host.host.loopback.ip),
        str(stand.plan.topology.pgpool.port),
        "bench",
        stand.plan.topology.postgres.database,
        credentials.client_password,
        str(children - 1),
    ]  # the agent's own session holds the last child
    log = stand.layout.root / "hold-children.log"
    holder, _ = process.spawn("PgBAL2", "hold-children", argv, host.namespace, log)
    try:
        assert process.wait_until(lambda: "held" in log.read_text(), process.scaled(60)), process.tail(log)
        started_us = time.time_ns() // 1000
        time.sleep(8)  # eight of the agent's new-connection checks, each left waiting
        assert decisions_since(stand, "PgBAL2", started_us) == []
        assert HOPS["PgBAL2"] in readiness.anycast_next_hops(stand)
        stats = [
            json.loads(line)
            for line in stand.layout.host("PgBAL2").health_decisions.read_text().splitlines()
            if '"stats"' in line
        ]
        print(f"\n[figure] PgBAL2 with every child busy, the agent's last statistics: {stats[-1]}")
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    every_balancer_announces(stand)


def test_a_killed_pgpool_is_withdrawn_on_its_exit(stand):
    every_balancer_announces(stand)
    started_us = time.time_ns() // 1000
    os.killpg(stand.state_file.read().process("PgBAL3", "pgpool").pid, signal.SIGKILL)
    try:
        assert process.wait_until(lambda: HOPS["PgBAL3"] not in readiness.anycast_next_hops(stand), 10, 0.005)
        [decision] = decisions_since(stand, "PgBAL3", started_us)
        assert (decision["state"], decision["evidence"]) == ("pgpool-gone", "pgpool-exit")
        print(
            f"\n[figure] PgBAL3 withdrawn {(decision['t_us'] - started_us) / 1000:.0f} ms after SIGKILL of pgpool"
            f" ({decision['reason']})"
        )
    finally:
        daemons.restart(stand, "PgBAL3", "pgpool")
    every_balancer_announces(stand)


def freeze_pgpools(stand, balancers) -> list[int]:
    groups = [stand.state_file.read().process(b, "pgpool").pid for b in balancers]
    for group in groups:
        os.killpg(group, signal.SIGSTOP)
    return groups


def thaw(groups: list[int]) -> None:
    for group in groups:
        os.killpg(group, signal.SIGCONT)


def test_a_frozen_pgpool_is_withdrawn_by_its_checks(stand):
    every_balancer_announces(stand)
    started_us = time.time_ns() // 1000
    groups = freeze_pgpools(stand, ["PgBAL1"])
    try:
        assert process.wait_until(lambda: HOPS["PgBAL1"] not in readiness.anycast_next_hops(stand), 15, 0.05)
        [decision] = decisions_since(stand, "PgBAL1", started_us)
        assert (decision["state"], decision["evidence"]) == ("down", "unresponsive")
    finally:
        thaw(groups)
    every_balancer_announces(stand)


def test_the_last_announcer_keeps_announcing_when_every_check_fails(stand):
    every_balancer_announces(stand)
    started_us = time.time_ns() // 1000
    groups = freeze_pgpools(stand, BALANCERS)
    try:
        assert process.wait_until(lambda: len(readiness.anycast_next_hops(stand)) == 1, 15, 0.05)
        time.sleep(3)  # the last one's checks go on failing
        [last] = readiness.anycast_next_hops(stand)
        holder = next(b for b, hop in HOPS.items() if hop == last)
        kept = [d for d in decisions_since(stand, holder, started_us) if d["announced"]]
        assert kept and kept[0]["evidence"] in ("unresponsive", "last-announcer"), kept
    finally:
        thaw(groups)
    every_balancer_announces(stand)
