"""The anycast-pinned mode on the seed's stand: the router pins each flow to the balancer it started on, so a
drain is hitless (the route goes, the drained balancer's open sessions go on until they end, then its pgpool
stops), and a balancer's return moves no open session (docs/ecmp.md, "Pinned flows")."""

from __future__ import annotations

import sys
import threading
import time

from bench.results import load_run
from reports.metrics import collateral_broken_connections
from stand.faults.player import Faults
from stand.linux import process
from stand.model.daemons import DaemonKind
from stand.modes.anycast_pinned import open_sessions
from stand.runtime import daemons, readiness
from tests.integration.conftest import bench_run_scenario

SESSION_S = 4
# The drain's event is logged as it starts; the route is gone once the agent has seen the drain file and
# OSPF has flooded the withdrawal (a few hundred ms): a new connection in that time still reaches it
WITHDRAWN_US = 1_000_000

POOL_DRAIN = f"""name = "pinned-drain"
description = "CI: PgBAL1 drained at 8 s and put back at 20 s, 36 persistent connections retired after {SESSION_S} s."
duration_s = 28

[load]
users = 36
spawn_rate = 36
mode = "persistent"
session_s = {SESSION_S}
tags = ["point"]
rate = 90
probe_interval_ms = 100

[[timeline]]
at_s = 8
action = "fault"
fault = "drain"
target = "PgBAL1"

[[timeline]]
at_s = 20
action = "undo"
fault = "drain"
target = "PgBAL1"
"""

HOLD_ONE = """
import asyncio, sys, time, asyncpg
async def main(host, port, user, database, password):
    conn = await asyncpg.connect(host=host, port=port, user=user, database=database, password=password)
    print("held", await conn.fetchval("SELECT host(inet_client_addr())"), flush=True)
    while True:  # a session that never ends: a query a second (pgpool drops a client idle for 15 s)
        try:
            await conn.fetchval("SELECT 1", timeout=2)
        except Exception as e:
            print("broken", time.monotonic(), type(e).__name__, flush=True)
            return
        await asyncio.sleep(1)
asyncio.run(main(*sys.argv[1:]))
"""


def test_a_drain_fails_no_query_and_the_drained_balancers_sessions_go_on_until_they_retire(pinned_stand, tmp_path):
    stand = pinned_stand
    run = load_run(bench_run_scenario(tmp_path, POOL_DRAIN, "--mode", "anycast-pinned"))
    requests = run.requests
    drain_us = next(e.t_us for e in run.events if e.action == "fault")
    undrain_us = next(e.t_us for e in run.events if e.action == "undo")
    ok = requests[requests["outcome"] == "ok"]
    before = ok[ok["start_us"] < drain_us].drop_duplicates(["process", "connection"])["balancer"].value_counts()
    assert len(before) == 3 and before.min() >= 4, before.to_dict()  # the sessions spread over all three
    on_drained = ok[(ok["balancer"] == "PgBAL1") & (ok["start_us"] > drain_us) & (ok["start_us"] < undrain_us)]
    kept = on_drained[~on_drained["new_connection"]]
    opened = on_drained[on_drained["new_connection"] & (on_drained["start_us"] > drain_us + WITHDRAWN_US)]
    last_kept_s = (kept["start_us"].max() - drain_us) / 1e6 if len(kept) else None
    broken = collateral_broken_connections(requests, drain_us, run.meta.load_end_us, ())
    failed = int(((requests["outcome"] != "ok") & (requests["start_us"] >= drain_us)).sum())  # from the drain on
    at_start = int(((requests["outcome"] != "ok") & (requests["start_us"] < drain_us)).sum())  # 36 users connecting
    print(
        f"\n[figure] anycast-pinned, drain of PgBAL1: connections {before.to_dict()}, failed queries {failed} "
        f"(before the drain {at_start}), "
        f"broken {broken}; PgBAL1 served {len(kept)} requests of its open sessions after the drain, the last "
        f"{last_kept_s} s after it"
    )
    assert (failed, broken) == (0, 0)
    assert len(kept) > 0 and last_kept_s < SESSION_S + 2  # pinned until they retired, then no more
    assert len(opened) == 0  # no new session reached the drained balancer once its route was gone
    assert process.wait_until(lambda: stand.mode.settled(stand), process.scaled(60), 0.2)


def test_a_session_that_outlives_the_drain_timeout_is_cut_when_the_balancer_stops(pinned_stand, tmp_path):
    """A session that never ends: the route goes at once, the session stays pinned to its balancer and
    answered, and after `health.drain_timeout_s` the balancer's pgpool stops (the session with it)."""
    stand = pinned_stand
    topology = stand.plan.topology
    argv = [sys.executable, "-c", HOLD_ONE, str(topology.anycast.ip), str(topology.pgpool.port), "bench"]
    argv += [topology.postgres.database, stand.credentials().client_password]
    log = tmp_path / "hold-one.log"
    holder, _ = process.spawn("shell", "hold-one", argv, None, log)  # from this machine, through the router
    faults = Faults(stand, tmp_path / "events.jsonl")
    drained = None
    try:
        assert process.wait_until(lambda: "held" in log.read_text(), process.scaled(60)), process.tail(log)
        address = log.read_text().split()[1]
        balancer = next(b for b in stand.plan.balancers if any(str(i.address.ip) == address for i in b.host.interfaces))
        hop = next(str(link.address.ip) for link in balancer.ospf_links)
        assert open_sessions(stand, balancer) == 1
        drained = balancer
        started = time.monotonic()
        drain = threading.Thread(target=faults.inject, args=("drain", balancer.name))
        drain.start()
        assert process.wait_until(lambda: hop not in readiness.anycast_next_hops(stand), process.scaled(10), 0.05)
        time.sleep(3)
        assert open_sessions(stand, balancer) == 1  # withdrawn, and its session still open
        drain.join(timeout=process.scaled(topology.health.drain_timeout_s + 60))
        took = time.monotonic() - started
        print(
            f"\n[figure] anycast-pinned, drain of {balancer.name} with a session that never ends: pgpool stopped after {took:.1f} s"
        )
        assert not drain.is_alive()
        assert took >= topology.health.drain_timeout_s - 0.5
        assert daemons.running_record(stand, balancer.name, DaemonKind.PGPOOL) is None
        assert process.wait_until(lambda: "broken" in log.read_text(), process.scaled(10)), log.read_text()
        broken_after = float(log.read_text().split("broken")[1].split()[0]) - started
        assert broken_after >= topology.health.drain_timeout_s - 0.5, broken_after  # answered until pgpool stopped
    finally:
        if holder.poll() is None:
            holder.terminate()  # ours, by its PID
            holder.wait(timeout=10)
        if drained is not None:
            faults.undo("drain", drained.name)
    assert process.wait_until(lambda: stand.mode.settled(stand), process.scaled(60), 0.2)
