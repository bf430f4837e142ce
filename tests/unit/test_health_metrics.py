"""Known-answer cases of reports.health: which withdrawals and VIP moves the faults explain."""

import pandas as pd
import pytest

from reports.health import health_changes

S = 1_000_000  # µs in a second
BALANCERS = ("PgBAL1", "PgBAL2", "PgBAL3")


def agent(t_s: float, host: str, state: str, evidence: str, reason: str = "") -> dict:
    return {
        "t_us": int(t_s * S),
        "host": host,
        "source": "agent",
        "kind": "state",
        "state": state,
        "announced": state == "up",
        "evidence": evidence,
        "reason": reason,
    }


def vrrp(t_s: float, host: str, state: str) -> dict:
    return {
        "t_us": int(t_s * S),
        "host": host,
        "source": "keepalived",
        "kind": "state",
        "state": state,
        "announced": state == "MASTER",
        "evidence": "vrrp",
        "reason": "",
    }


def event(t_s: float, action: str, fault: str, target: str) -> dict:
    return {"t_us": int(t_s * S), "action": action, "fault": fault, "target": target}


UP_BEFORE_THE_RUN = [agent(-5, b, "up", "answers") for b in BALANCERS]
CRASH_PGBAL1 = [event(10, "fault", "pgpool-kill", "PgBAL1"), event(25, "undo", "pgpool-kill", "PgBAL1")]


def changes(decisions, events, vip_mode=False, requests=None):
    return health_changes(decisions, events, BALANCERS, 0, 60 * S, requests, vip_mode=vip_mode)


def test_no_change_no_false_one():
    assert changes(UP_BEFORE_THE_RUN, []) == []


def test_a_withdrawal_without_a_fault_is_false():
    [change] = changes([*UP_BEFORE_THE_RUN, agent(12, "PgBAL2", "down", "unresponsive", "no answer")], [])
    assert change.withdrawal and change.false and change.explained_by == ""


def test_the_crashed_balancers_withdrawal_and_return_are_explained():
    decisions = [
        *UP_BEFORE_THE_RUN,
        agent(10.02, "PgBAL1", "pgpool-gone", "pgpool-exit"),
        agent(26, "PgBAL1", "down", "pgpool-running"),
        agent(26.3, "PgBAL1", "up", "answers"),
    ]
    found = changes(decisions, CRASH_PGBAL1)
    assert [(c.state, c.withdrawal, c.false) for c in found] == [("pgpool-gone", True, False), ("up", False, False)]
    assert found[0].explained_by == "pgpool-kill PgBAL1"


def test_another_balancer_withdrawn_during_the_fault_is_a_cascade():
    decisions = [
        *UP_BEFORE_THE_RUN,
        agent(10.02, "PgBAL1", "pgpool-gone", "pgpool-exit"),
        agent(14, "PgBAL2", "down", "errors"),
    ]
    assert [c.host for c in changes(decisions, CRASH_PGBAL1) if c.false] == ["PgBAL2"]


@pytest.mark.parametrize(("t_s", "false"), [(29.9, False), (30.1, True)])
def test_the_grace_after_an_undo_is_five_seconds(t_s, false):
    decisions = [*UP_BEFORE_THE_RUN, agent(t_s, "PgBAL1", "down", "errors")]
    assert changes(decisions, CRASH_PGBAL1)[0].false is false


@pytest.mark.parametrize(("t_s", "false"), [(44.9, False), (45.1, True)])
def test_after_a_network_returns_pgpools_repair_is_the_faults_for_20_s(t_s, false):
    """keepalived's check fails while pgpool takes its backends back (its children restart): seen 7 s after
    the undo of a node-crash in CI; the VIP comes back 5 s later."""
    cut = [event(10, "fault", "node-crash", "PgBAL1"), event(25, "undo", "node-crash", "PgBAL1")]
    before = [vrrp(-5, "PgBAL1", "MASTER"), vrrp(-5, "PgBAL2", "BACKUP")]
    assert changes([*before, vrrp(t_s, "PgBAL1", "FAULT")], cut, vip_mode=True)[0].false is false


def test_the_faults_that_reattach_are_the_stands():
    from reports.health import REATTACH_FAULTS
    from stand.faults.registry import FAULTS

    assert REATTACH_FAULTS == tuple(f.name for f in FAULTS.values() if f.reattaches)


def test_a_fault_on_a_backend_explains_any_balancer():
    events = [event(10, "fault", "backend-kill", "PgSQL2")]  # never undone: in effect to the run's end
    decisions = [*UP_BEFORE_THE_RUN, agent(40, "PgBAL3", "down", "errors")]
    assert changes(decisions, events)[0].explained_by == "backend-kill PgSQL2"


def test_a_withdrawal_before_the_fault_is_not_explained_by_it():
    decisions = [*UP_BEFORE_THE_RUN, agent(9.9, "PgBAL1", "down", "errors")]
    assert changes(decisions, CRASH_PGBAL1)[0].false


def test_decisions_before_the_run_only_set_the_starting_state():
    decisions = [agent(-9, "PgBAL1", "up", "answers"), agent(-8, "PgBAL1", "down", "errors")]
    assert changes(decisions, []) == []
    assert changes([*decisions, agent(5, "PgBAL1", "up", "answers")], [])[0].withdrawal is False


def test_a_drain_is_explained_by_the_drain():
    events = [event(10, "fault", "drain", "PgBAL2"), event(20, "undo", "drain", "PgBAL2")]
    decisions = [*UP_BEFORE_THE_RUN, agent(10.01, "PgBAL2", "drained", "drain")]
    assert not changes(decisions, events)[0].false


def test_keepalived_takeover_and_preemption_are_explained_a_fault_elsewhere_is_not():
    before = [vrrp(-5, "PgBAL1", "MASTER"), vrrp(-5, "PgBAL2", "BACKUP"), vrrp(-5, "PgBAL3", "BACKUP")]
    crash = [event(10, "fault", "node-crash", "PgBAL1"), event(25, "undo", "node-crash", "PgBAL1")]
    decisions = [
        *before,
        vrrp(12.8, "PgBAL2", "MASTER"),
        vrrp(26, "PgBAL2", "BACKUP"),  # takeover, preemption
        vrrp(27, "PgBAL3", "FAULT"),
    ]  # PgBAL3's check failed: no fault of its own
    found = changes(decisions, crash, vip_mode=True)
    assert [(c.host, c.state, c.false) for c in found] == [
        ("PgBAL2", "MASTER", False),
        ("PgBAL2", "BACKUP", False),
        ("PgBAL3", "FAULT", True),
    ]


def test_keepalived_handing_the_vip_back_after_the_grace_is_no_false_failover():
    """pgpool-crash in the main job: PgBAL1's pgpool restarted at the undo, its check rose, and it took
    the VIP back 5.9 s later; PgBAL2 stepping down then is preemption, not a false failover."""
    kill = [event(10, "fault", "pgpool-kill", "PgBAL1"), event(25, "undo", "pgpool-kill", "PgBAL1")]
    before = [vrrp(-5, "PgBAL1", "MASTER"), vrrp(-5, "PgBAL2", "BACKUP")]
    decisions = [
        *before,
        vrrp(10.5, "PgBAL1", "FAULT"),
        vrrp(11.4, "PgBAL2", "MASTER"),
        vrrp(30.9, "PgBAL1", "MASTER"),
        vrrp(30.9, "PgBAL2", "BACKUP"),
    ]
    assert [(c.host, c.state, c.false) for c in changes(decisions, kill, vip_mode=True)] == [
        ("PgBAL1", "FAULT", False),
        ("PgBAL2", "MASTER", False),
        ("PgBAL1", "MASTER", False),
        ("PgBAL2", "BACKUP", False),
    ]


def test_a_vip_move_with_no_fault_at_all_is_false():
    before = [vrrp(-5, "PgBAL1", "MASTER"), vrrp(-5, "PgBAL2", "BACKUP")]
    found = changes([*before, vrrp(3, "PgBAL1", "FAULT"), vrrp(3.1, "PgBAL2", "MASTER")], [], vip_mode=True)
    assert [(c.host, c.false) for c in found] == [("PgBAL1", True), ("PgBAL2", False)]


def test_served_ok_before_counts_the_hosts_answers_in_the_last_second():
    requests = pd.DataFrame(
        {
            "start_us": [int(11.2 * S), int(11.5 * S), int(11.9 * S), int(11.95 * S), int(10.5 * S)],
            "balancer": ["PgBAL2", "PgBAL2", "PgBAL1", "PgBAL2", "PgBAL2"],
            "outcome": ["ok", "ok", "ok", "error", "ok"],
        }
    )
    [change] = changes([*UP_BEFORE_THE_RUN, agent(12, "PgBAL2", "down", "unresponsive")], [], requests=requests)
    assert change.served_ok_before == 2
