"""The seed's stand, for real: namespaces, PostgreSQL, pgpool, FRR, health agents.

Every packet here goes to a host of the stand (inside its namespaces, or through the route the
stand installed into this machine's namespace).
"""

import os
import signal
import time

import pytest

from stand.linux import netns, process
from stand.runtime import daemons, readiness
from stand.safety import UnsafeTarget, check_target
from tests.integration.conftest import failures, queries_through_anycast, stand_cli

pytestmark = pytest.mark.integration

ALL_HOSTS = ["FRR", "PgSQL1", "PgSQL2", "PgSQL3", "PgBAL1", "PgBAL2", "PgBAL3"]
ROUTED_HOSTS = ["FRR", "PgSQL1", "PgBAL1", "PgBAL2", "PgBAL3"]
BASE_ADDRESSES = [f"198.18.0.{i}" for i in range(90, 97)]
ROUTED_ADDRESSES = ["198.18.1.90", "198.18.1.91", "198.18.1.94", "198.18.1.95", "198.18.1.96"]
BALANCER_BASE = {"198.18.0.94": "PgBAL1", "198.18.0.95": "PgBAL2", "198.18.0.96": "PgBAL3"}
SEED_QUERY = "select inet_client_addr(), inet_server_addr()"
ROUTE_TIMEOUT = 20.0


def unreachable(stand, host: str, targets: list[str]) -> list[str]:
    namespace = stand.plan.host(host).namespace
    return [
        target
        for target in targets
        if process.run(["ping", "-c", "1", "-W", "2", target], namespace=namespace, check=False).returncode != 0
    ]


def queries_from(stand, host: str, count: int) -> list[str]:
    return queries_through_anycast(stand, SEED_QUERY, count, host)


def wait_for_next_hops(stand, count: int) -> float:
    """Seconds until the router holds `count` next hops for the anycast address."""
    started = time.monotonic()
    if not process.wait_until(lambda: len(readiness.anycast_next_hops(stand)) == count, ROUTE_TIMEOUT, 0.01):
        pytest.fail(f"router kept {readiness.anycast_next_hops(stand)} instead of {count} next hops")
    return time.monotonic() - started


@pytest.mark.parametrize("host", ALL_HOSTS)
def test_every_host_reaches_the_base_network(stand, host):
    assert unreachable(stand, host, BASE_ADDRESSES) == []


@pytest.mark.parametrize("host", ROUTED_HOSTS)
def test_routed_hosts_reach_the_routed_network(stand, host):
    assert unreachable(stand, host, ROUTED_ADDRESSES) == []


def test_router_has_three_equal_cost_next_hops(stand):
    assert readiness.anycast_next_hops(stand) == ["198.18.1.94", "198.18.1.95", "198.18.1.96"]
    kernel = process.run(["ip", "route", "show", "198.18.2.0"], namespace=stand.plan.host("FRR").namespace).stdout
    assert sorted(line.split()[2] for line in kernel.splitlines() if "nexthop via" in line) == [
        "198.18.1.94",
        "198.18.1.95",
        "198.18.1.96",
    ]


def test_replicas_are_streaming(stand):
    assert readiness.replication(stand) == {"PgSQL2": "streaming", "PgSQL3": "streaming"}


def test_seed_check_works_verbatim(stand):
    result = stand_cli("exec", "FRR", "--", "psql", "-h", "198.18.2.0", "-c", SEED_QUERY)
    assert result.returncode == 0, result.stderr
    assert "inet_client_addr" in result.stdout
    assert "(1 row)" in result.stdout


def test_new_connections_reach_every_balancer_and_several_backends(stand):
    answers = queries_from(stand, "FRR", 60)
    assert failures(answers) == []
    assert len(answers) == 60
    balancers = {BALANCER_BASE[a.split()[0]] for a in answers}
    backends = {a.split()[1] for a in answers}
    assert balancers == {"PgBAL1", "PgBAL2", "PgBAL3"}
    assert len(backends) > 1, backends


def test_this_shell_reaches_the_anycast_address(stand):
    check_target("198.18.2.0")
    client, server = readiness.query_anycast_from_shell(stand).split("|")
    assert client in BALANCER_BASE
    assert server in BASE_ADDRESSES


def test_targets_outside_the_stand_are_refused_while_it_runs(stand):
    with pytest.raises(UnsafeTarget, match="refusing to send traffic to 198.18.7.7: its route leaves through"):
        check_target("198.18.7.7")


def test_pgpool_sigkill_withdraws_the_route_and_restart_returns_it(stand):
    record = stand.state_file.read().process("PgBAL1", "pgpool")
    os.kill(record.pid, signal.SIGKILL)
    gone = wait_for_next_hops(stand, 2)
    print(f"\n[figure] route to the anycast address withdrawn {gone * 1000:.0f} ms after SIGKILL of pgpool")
    assert "198.18.1.94" not in readiness.anycast_next_hops(stand)
    answers = queries_from(stand, "FRR", 20)
    assert failures(answers) == []
    assert {BALANCER_BASE[a.split()[0]] for a in answers} <= {"PgBAL2", "PgBAL3"}
    daemons.restart(stand, "PgBAL1", "pgpool")
    wait_for_next_hops(stand, 3)


def test_agent_stop_withdraws_and_a_new_agent_announces_again(stand):
    namespace = stand.plan.host("PgBAL3").namespace
    stand.state_file.read().process("PgBAL3", "agent").stop()
    wait_for_next_hops(stand, 2)
    assert not netns.has_address(namespace, stand.plan.topology.anycast.ip)
    assert readiness.agent_status(stand, "PgBAL3")["state"] == "stopped"
    daemons.restart(stand, "PgBAL3", "agent")
    wait_for_next_hops(stand, 3)
    assert netns.has_address(namespace, stand.plan.topology.anycast.ip)


def test_drain_and_undrain(stand):
    result = stand_cli("drain", "pgbal2")
    assert result.returncode == 0, result.stderr
    assert readiness.anycast_next_hops(stand) == ["198.18.1.94", "198.18.1.96"]
    answers = queries_from(stand, "FRR", 20)
    assert failures(answers) == []
    assert "PgBAL2" not in {BALANCER_BASE[a.split()[0]] for a in answers}
    result = stand_cli("undrain", "PgBAL2")
    assert result.returncode == 0, result.stderr
    wait_for_next_hops(stand, 3)


def test_with_every_balancer_drained_the_primary_answers_as_last_resort(stand):
    for balancer in ("PgBAL1", "PgBAL2", "PgBAL3"):
        assert stand_cli("drain", balancer).returncode == 0
    try:
        wait_for_next_hops(stand, 1)
        assert readiness.anycast_next_hops(stand) == ["198.18.1.91"]
        answers = queries_from(stand, "FRR", 5)
        assert answers == ["198.18.1.90 198.18.2.0"] * 5  # straight to PgSQL1, at the anycast address
    finally:
        for balancer in ("PgBAL1", "PgBAL2", "PgBAL3"):
            stand_cli("undrain", balancer)
    wait_for_next_hops(stand, 3)


def test_status_shows_hosts_next_hops_and_replication(stand):
    result = stand_cli("status")
    assert result.returncode == 0, result.stderr
    assert "198.18.1.94 (PgBAL1), 198.18.1.95 (PgBAL2), 198.18.1.96 (PgBAL3)" in result.stdout
    assert "replication: PgSQL2 streaming, PgSQL3 streaming" in result.stdout
    for host in ALL_HOSTS:
        assert f"  {host} " in result.stdout
    assert "DOWN" not in result.stdout


def test_a_second_stand_up_is_refused(stand):
    result = stand_cli("up")
    assert result.returncode == 1
    assert "a stand with prefix 'pgab' is already up (run `stand down` first)" in result.stderr


def test_exec_into_an_unknown_host_names_the_hosts(stand):
    result = stand_cli("exec", "PgBAL7", "--", "true")
    assert result.returncode == 1
    assert "unknown host 'PgBAL7' (hosts: FRR, PgSQL1, PgSQL2, PgSQL3, PgBAL1, PgBAL2, PgBAL3)" in result.stderr


def test_namespaces_exist(stand):
    assert all(netns.exists(n) for n in stand.plan.namespaces)


@pytest.mark.parametrize(("host", "allowed"), [("PgBAL1", True), ("PgSQL2", False), ("FRR", False)])
def test_the_application_user_reaches_a_backend_only_from_a_balancer(stand, host, allowed):
    """pg_hba.conf: the application's user only from the balancers' addresses (the primary's last-resort
    path aside, which is for the anycast address, not PgSQL3's own); PgSQL3 is a replica, no last resort."""
    replica = str(stand.plan.host("PgSQL3").data_address.ip)
    env = {**readiness.client_env(stand), "PATH": os.environ["PATH"]}
    argv = ["psql", "-h", replica, "-XAtq", "-c", "select 1"]
    result = process.run(argv, namespace=stand.plan.host(host).namespace, env=env, check=False, timeout=30)
    if allowed:
        assert (result.returncode, result.stdout.strip()) == (0, "1"), result.stderr
    else:
        assert result.returncode != 0 and "no pg_hba.conf entry" in result.stderr, result.stderr
