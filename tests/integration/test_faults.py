"""Every fault primitive and its undo, on the running anycast stand: the router's next hops for the
anycast address, replication and pgpool's view of its backends show each one take effect and go."""

import os
import subprocess
import time

import pytest

from stand.faults.player import Faults
from stand.linux import process
from stand.model.events import read_events
from stand.runtime import readiness
from stand.runtime.handle import StandError
from tests.integration.conftest import failures, queries_through_anycast

pytestmark = pytest.mark.integration

ALL_HOPS = ["198.18.1.94", "198.18.1.95", "198.18.1.96"]
WAIT = 30.0


def wait_for(condition, what: str) -> None:
    if not process.wait_until(condition, process.scaled(WAIT), 0.05):
        pytest.fail(f"not within {WAIT:.0f} s: {what}")


def queries_succeed(stand, count: int = 10) -> list[str]:
    return queries_through_anycast(stand, "select host(inet_server_addr())", count)


@pytest.mark.parametrize(
    ("fault", "params"),
    [
        ("pgpool-kill", {}),
        ("pgpool-stop", {}),
        ("node-crash", {}),
        ("node-freeze", {}),
        ("frr-kill", {}),
        ("link-cut", {"network": "routed"}),
        ("drain", {}),
    ],
)
def test_balancer_fault_withdraws_it_and_undo_returns_it(stand, tmp_path, fault, params):
    faults = Faults(stand, tmp_path / "events.jsonl")
    wait_for(lambda: readiness.anycast_next_hops(stand) == ALL_HOPS, "three next hops before the fault")
    faults.inject(fault, "pgbal2", **params)
    try:
        wait_for(
            lambda: readiness.anycast_next_hops(stand) == ["198.18.1.94", "198.18.1.96"], f"{fault} withdraws PgBAL2"
        )
        assert failures(queries_succeed(stand)) == []
    finally:
        faults.undo(fault, "PgBAL2", **params)
    wait_for(lambda: readiness.anycast_next_hops(stand) == ALL_HOPS, f"undo of {fault} returns PgBAL2")
    events = read_events(tmp_path / "events.jsonl")
    assert [(e.action, e.fault, e.target, e.params) for e in events] == [
        ("fault", fault, "PgBAL2", params),
        ("undo", fault, "PgBAL2", params),
    ]
    assert events[0].t_us < events[1].t_us <= time.time_ns() // 1000


def pool_nodes(stand, balancer) -> dict[str, str]:
    """Backend address to its status, as one balancer's pgpool sees it (asked at its own address)."""
    env = {**os.environ, **readiness.client_env(stand)}
    address = str(balancer.data_address.ip)
    result = process.run(
        ["psql", "-h", address, "-XAt", "-c", "show pool_nodes"],
        namespace=stand.plan.host("FRR").namespace,
        env=env,
        check=False,
    )
    return {row.split("|")[1]: row.split("|")[3] for row in result.stdout.splitlines() if "|" in row}


def every_balancer_sees(stand, address: str, status: str) -> bool:
    return all(pool_nodes(stand, balancer).get(address) == status for balancer in stand.plan.balancers)


@pytest.mark.parametrize(("backend", "address"), [("PgSQL2", "198.18.0.92"), ("PgSQL1", "198.18.0.91")])
def test_backend_kill_and_return(stand, tmp_path, backend, address):
    """pgpool detaches a dead backend and keeps answering SELECTs from the others (also when the
    primary dies: there is no promotion here); the undo restarts it and pgpool attaches it again."""
    faults = Faults(stand, tmp_path / "events.jsonl")
    faults.inject("backend-kill", backend)
    try:
        wait_for(lambda: every_balancer_sees(stand, address, "down"), f"every pgpool detaches {backend}")
        wait_for(lambda: readiness.anycast_next_hops(stand) == ALL_HOPS, "every balancer in service after the failover")
        answers = queries_succeed(stand)
        assert failures(answers) == []
        assert address not in answers
    finally:
        faults.undo("backend-kill", backend)
    wait_for(lambda: every_balancer_sees(stand, address, "up"), f"every pgpool attaches {backend}")
    wait_for(lambda: readiness.replication(stand) == {"PgSQL2": "streaming", "PgSQL3": "streaming"}, "replicas stream")


def ping_from(stand, host: str, address: str) -> subprocess.CompletedProcess:
    argv = ["ping", "-c", "4", "-i", "0.2", "-W", "1", address]
    return process.run(argv, namespace=stand.plan.host(host).namespace, check=False, timeout=30)


def average_ms(ping: subprocess.CompletedProcess) -> float:
    assert ping.returncode == 0, ping.stdout + ping.stderr
    return float(ping.stdout.rsplit("=", 1)[1].split("/")[1])


def test_link_netem_delays_and_loses_what_a_host_sends(stand, tmp_path):
    """netem where the kernel has it; here (no netem) a one-way delay line spliced into the link."""
    faults = Faults(stand, tmp_path / "events.jsonl")
    assert average_ms(ping_from(stand, "PgSQL2", "198.18.0.93")) < 20
    faults.inject("link-netem", "PgSQL3", network="base", delay_ms=50)
    try:
        delayed = average_ms(ping_from(stand, "PgSQL2", "198.18.0.93"))
        print(f"\n[figure] link-netem 50 ms on PgSQL3's base link: ping from PgSQL2 {delayed:.1f} ms")
        assert 50 <= delayed < 80  # once: only PgSQL3's replies wait
    finally:
        faults.undo("link-netem", "PgSQL3", network="base")
    assert average_ms(ping_from(stand, "PgSQL2", "198.18.0.93")) < 20
    faults.inject("link-netem", "PgSQL3", network="base", loss_pct=100)
    try:
        assert " 100% packet loss" in ping_from(stand, "PgSQL2", "198.18.0.93").stdout
    finally:
        faults.undo("link-netem", "PgSQL3", network="base")
    assert average_ms(ping_from(stand, "PgSQL2", "198.18.0.93")) < 20
    assert failures(queries_succeed(stand)) == []  # the bridge took PgSQL3's link back


def test_unknown_fault_and_wrong_target_are_refused(stand, tmp_path):
    faults = Faults(stand, tmp_path / "events.jsonl")
    with pytest.raises(StandError, match="unknown fault 'reboot'"):
        faults.inject("reboot", "PgBAL1")
    with pytest.raises(StandError, match="PgSQL2 is not a balancer"):
        faults.inject("pgpool-kill", "PgSQL2")
    assert read_events(tmp_path / "events.jsonl") == []


def test_pgpool_and_postgres_have_ipc_namespaces_of_their_own(stand):
    """pgpool's 135 MB System V segment outlived every SIGKILLed pgpool (377 leaked here until the machine ran
    out of memory): each pgpool and PostgreSQL runs in an IPC namespace of its own, which the kernel frees
    with its last process. That nothing is left after a whole run: test_teardown."""
    ours = os.stat("/proc/self/ns/ipc").st_ino
    state = stand.state_file.read()
    for host, daemon in [("PgBAL1", "pgpool"), ("PgSQL2", "postgres")]:
        record = state.process(host, daemon)
        assert os.stat(f"/proc/{record.pid}/ns/ipc").st_ino != ours, f"{host}'s {daemon} shares this IPC namespace"
