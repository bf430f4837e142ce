"""The VIP design on the same stand: keepalived's VRRP among the balancers holds 198.18.2.0 on one of
them; the router reaches it on the segment. One balancer carries every query, and the VIP moves when
its pgpool fails or it is drained."""

import time

import pytest

from stand.faults.player import Faults
from stand.linux import process
from stand.runtime import readiness
from tests.integration.conftest import served_by
from tests.integration.test_health import BALANCERS, decisions_since, pgbench

pytestmark = pytest.mark.integration

WAIT = 30.0


def vip_moves_to(stand, holder: str) -> float:
    started = time.monotonic()
    if not process.wait_until(lambda: readiness.vip_holders(stand) == [holder], process.scaled(WAIT), 0.02):
        pytest.fail(f"VIP held by {readiness.vip_holders(stand)}, not {holder}, after {WAIT:.0f} s")
    return time.monotonic() - started


def test_one_balancer_holds_the_vip_and_serves_everything(keepalived_stand):
    vip_moves_to(keepalived_stand, "PgBAL1")
    assert served_by(keepalived_stand) == {"198.18.0.94"}
    assert readiness.anycast_next_hops(keepalived_stand) == []  # no OSPF route to the VIP in this mode


@pytest.mark.parametrize("fault", ["pgpool-kill", "drain"])
def test_the_vip_moves_to_the_next_balancer_and_back(keepalived_stand, tmp_path, fault):
    stand = keepalived_stand
    vip_moves_to(stand, "PgBAL1")
    faults = Faults(stand, tmp_path / "events.jsonl")
    faults.inject(fault, "PgBAL1")
    try:
        moved = vip_moves_to(stand, "PgBAL2")
        print(f"\n[figure] keepalived: VIP on PgBAL2 {moved * 1000:.0f} ms after {fault} of PgBAL1")
        assert served_by(stand) == {"198.18.0.95"}
    finally:
        faults.undo(fault, "PgBAL1")
    vip_moves_to(stand, "PgBAL1")  # PgBAL1 has the highest priority: it takes the VIP back


def test_keepalived_keeps_the_vip_under_sixteen_persistent_clients(keepalived_stand):
    """The same load as the anycast health test: no track script fails, the VIP stays where it is."""
    stand = keepalived_stand
    vip_moves_to(stand, "PgBAL1")
    started_us = time.time_ns() // 1000
    result = pgbench(stand, 16, 30)
    assert result.returncode == 0 and "aborted" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert readiness.vip_holders(stand) == ["PgBAL1"]
    assert {b: decisions_since(stand, b, started_us) for b in BALANCERS} == {b: [] for b in BALANCERS}
