"""The other VIP design users pick: pgpool-II's own watchdog elects a leader among the balancers, and
the leader holds 198.18.2.0 on the router's segment (announced by gratuitous ARP). One balancer
carries every query; the VIP moves when the leader's pgpool dies or is stopped for maintenance."""

import time

import pytest

from stand.faults.player import Faults
from stand.linux import process
from stand.runtime import readiness
from tests.integration.conftest import served_by

pytestmark = pytest.mark.integration

WAIT = 60.0  # the watchdog's own timers: several seconds to elect a new leader
BASE_ADDRESS = {"PgBAL1": "198.18.0.94", "PgBAL2": "198.18.0.95", "PgBAL3": "198.18.0.96"}


def test_the_leader_holds_the_vip_and_serves_everything(watchdog_stand):
    stand = watchdog_stand
    assert process.wait_until(lambda: stand.mode.settled(stand), process.scaled(WAIT), 0.2)
    (leader,) = readiness.vip_holders(stand)
    assert served_by(stand) == {BASE_ADDRESS[leader]}
    assert readiness.anycast_next_hops(stand) == []  # no OSPF route to the VIP in this mode


@pytest.mark.parametrize("fault", ["pgpool-kill", "drain"])
def test_the_vip_moves_off_a_failed_leader(watchdog_stand, tmp_path, fault):
    stand = watchdog_stand
    assert process.wait_until(lambda: stand.mode.settled(stand), process.scaled(WAIT), 0.2), "one leader first"
    (leader,) = readiness.vip_holders(stand)
    faults = Faults(stand, tmp_path / "events.jsonl")
    faults.inject(fault, leader)
    try:
        # a SIGKILLed watchdog cannot remove the VIP: the dead leader keeps it until pgpool restarts,
        # and the router follows the new leader's gratuitous ARP
        started = time.monotonic()
        if not process.wait_until(lambda: set(readiness.vip_holders(stand)) - {leader}, process.scaled(WAIT), 0.05):
            pytest.fail(f"no other balancer holds the VIP {WAIT:.0f} s after {fault} of {leader}")
        moved = time.monotonic() - started
        (new_leader,) = set(readiness.vip_holders(stand)) - {leader}
        print(f"\n[figure] watchdog: VIP on {new_leader} {moved * 1000:.0f} ms after {fault} of {leader}")
        assert served_by(stand) == {BASE_ADDRESS[new_leader]}
    finally:
        faults.undo(fault, leader)
    assert process.wait_until(lambda: readiness.vip_holders(stand) == [new_leader], process.scaled(WAIT), 0.2), (
        f"after the undo only {new_leader} holds the VIP (the restart clears what the killed one left)"
    )
    assert process.wait_until(lambda: stand.mode.settled(stand), process.scaled(WAIT), 0.2)
