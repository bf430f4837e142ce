"""The anycast-resilient mode on the seed's stand: the router forwards the anycast address through a resilient
nexthop group that mirrors OSPF's next hops, so a drain, an undrain or a crash of one balancer breaks no
established connection on the others (docs/ecmp.md)."""

from __future__ import annotations

import json
import time

from reports.ecmp import predicted_drain_share
from stand.faults.player import Faults
from stand.linux import process
from stand.modes.anycast_resilient import mirrored_next_hops
from stand.runtime import readiness
from stand.runtime.daemons import NexthopMirror
from tests.integration.conftest import bench_run_scenario

WAIT = 60

DRAIN_SCENARIO = """name = "resilient-drain"
description = "CI: {target} drained at 10 s and put back at 18 s, 36 persistent connections."
duration_s = 28

[load]
users = 36
spawn_rate = 36
mode = "persistent"
tags = ["point"]
rate = 90
probe_interval_ms = 100

[[timeline]]
at_s = 10
action = "fault"
fault = "drain"
target = "{target}"

[[timeline]]
at_s = 18
action = "undo"
fault = "drain"
target = "{target}"
"""


def router_json(stand, *args: str):
    router = stand.plan.shell_router
    return json.loads(process.run(["ip", "-j", *args], namespace=router.namespace).stdout or "[]")


def kernel_order(stand) -> list[str]:
    """The main table's next hops to the anycast address, in the kernel's (hash-threshold's) order."""
    routes = router_json(stand, "route", "show", str(stand.plan.topology.anycast.network), "table", "main")
    return [hop["gateway"] for hop in routes[0].get("nexthops", [routes[0]])] if routes else []


def group_members(stand) -> list[str]:
    """The gateways of the resilient group's members, sorted."""
    group = router_json(stand, "nexthop", "show", "id", str(NexthopMirror.group_id))
    if not group:
        return []
    members = {m["id"] for m in group[0].get("group", [])}
    return sorted(n["gateway"] for n in router_json(stand, "nexthop", "show") if n.get("id") in members)


def test_the_router_forwards_the_anycast_address_through_a_resilient_group_of_ospfs_next_hops(resilient_stand):
    stand = resilient_stand
    hops = readiness.anycast_next_hops(stand)
    assert len(hops) == 3
    group = router_json(stand, "nexthop", "show", "id", str(NexthopMirror.group_id))[0]
    assert group["type"] == "resilient" and group["resilient_args"]["buckets"] == NexthopMirror.buckets
    assert group_members(stand) == hops == mirrored_next_hops(stand, stand.plan.shell_router)
    rules = router_json(stand, "rule", "show")
    assert any(
        r.get("dst") == str(stand.plan.topology.anycast.ip) and r.get("table") == str(NexthopMirror.table)
        for r in rules
    ), rules


def test_a_drain_and_its_undrain_break_no_connection_on_the_other_balancers(resilient_stand, tmp_path):
    """The balancer drained is the first in the router's order: plain hash-threshold would move about a sixth
    of all connections between the other two (docs/ecmp.md); here none of theirs breaks, on the drain or on
    the return, while the connections are spread over all three."""
    from bench.results import load_run
    from reports.metrics import collateral_broken_connections

    stand = resilient_stand
    first = readiness.balancer_of_next_hop(stand, kernel_order(stand)[0])
    out = bench_run_scenario(tmp_path, DRAIN_SCENARIO.format(target=first), "--mode", "anycast-resilient")
    run = load_run(out)
    drain_us = next(e.t_us for e in run.events if e.action == "fault")
    undrain_us = next(e.t_us for e in run.events if e.action == "undo")
    before = run.requests[(run.requests["start_us"] < drain_us) & (run.requests["outcome"] == "ok")]
    spread = before.drop_duplicates(["process", "connection"])["balancer"].value_counts()
    assert len(spread) == 3 and spread.min() >= 4, spread.to_dict()  # plain ECMP would break about 36/6
    assert predicted_drain_share(0, 3) * spread.sum() >= 4
    broken_on_drain = collateral_broken_connections(run.requests, drain_us, undrain_us, first)
    broken_on_return = collateral_broken_connections(run.requests, undrain_us, run.meta.load_end_us, ())
    print(
        f"\n[figure] anycast-resilient, drain of {first} (first of {len(spread)}): connections "
        f"{spread.to_dict()}, broken elsewhere on the drain {broken_on_drain}, on the return {broken_on_return}"
    )
    assert (broken_on_drain, broken_on_return) == (0, 0)


def test_the_mirror_follows_a_crash_within_the_gap_of_plain_anycast(resilient_stand, tmp_path):
    """A balancer's links go: the main table loses its next hop (BFD, then OSPF), and the resilient group
    follows a few milliseconds later, well within plain anycast's gap of about 300 ms."""
    stand = resilient_stand
    address = kernel_order(stand)[1]
    victim = stand.plan.host(readiness.balancer_of_next_hop(stand, address))
    faults = Faults(stand, tmp_path / "events.jsonl")
    faults.inject("node-crash", victim.name)
    try:
        crashed, main_gone, group_gone = time.monotonic(), None, None
        while time.monotonic() - crashed < process.scaled(WAIT) and group_gone is None:
            now = time.monotonic()
            if main_gone is None and address not in kernel_order(stand):
                main_gone = now
            if address not in group_members(stand):
                group_gone = now
            time.sleep(0.005)
        if group_gone is not None and main_gone is None:  # both changed between this turn's two readings
            main_gone = group_gone
        assert main_gone is not None and group_gone is not None, "the next hop never left"
        lag_ms = (group_gone - main_gone) * 1000
        print(
            f"\n[figure] anycast-resilient, node-crash {victim.name}: main table after {(main_gone - crashed) * 1000:.0f} ms, "
            f"resilient group {lag_ms:.0f} ms later"
        )
        assert lag_ms < 150  # plain anycast's gap is about 300 ms: the mirror adds a fraction of it
    finally:
        faults.undo("node-crash", victim.name)
    assert process.wait_until(lambda: stand.mode.settled(stand), process.scaled(WAIT), 0.2)
