"""How Faults plays steps (the primitives themselves act on a real stand: tests/integration)."""

import inspect
from dataclasses import replace
from types import SimpleNamespace

import pytest

from stand.faults import player
from stand.faults import primitives as faults
from stand.faults.registry import FAULTS
from stand.model import topology
from stand.model.events import read_events
from stand.modes import plan_of


def test_steps_played_together_reattach_the_backends_once_after_the_last(monkeypatch, tmp_path):
    played = []
    crash = replace(
        FAULTS["node-crash"],
        inject=lambda stand, host: played.append(("crash", host.name)),
        undo=lambda stand, host: played.append(("return", host.name)),
    )
    monkeypatch.setitem(FAULTS, "node-crash", crash)
    monkeypatch.setattr(player, "reattach_backends", lambda stand: played.append(("reattach", None)))
    stand = SimpleNamespace(plan=plan_of(topology.load("sites")))
    site = player.Faults(stand, tmp_path / "events.jsonl")

    with site.together():
        for host in ("RtSpb", "PgSpb", "BalSpb"):
            site.inject("node-crash", host)
    assert ("reattach", None) not in played  # a fault takes nothing back
    with site.together():
        for host in ("RtSpb", "PgSpb", "BalSpb"):
            site.undo("node-crash", host)
    assert played[3:] == [("return", "RtSpb"), ("return", "PgSpb"), ("return", "BalSpb"), ("reattach", None)]

    site.undo("node-crash", "BalMsk")  # alone: at once
    assert played[-2:] == [("return", "BalMsk"), ("reattach", None)]
    assert [e.together for e in read_events(tmp_path / "events.jsonl")] == [1, 1, 1, 2, 2, 2, None]  # the blocks


def test_a_wan_cut_also_cuts_the_l2_segments_stretched_over_that_link(monkeypatch):
    switched = []
    monkeypatch.setattr(faults.netns, "set_link", lambda namespace, ifname, up: switched.append((ifname, up)))
    plan = plan_of(topology.load("sites"), "keepalived")
    stand = SimpleNamespace(plan=plan)

    faults.link_cut(stand, plan.host("RtSpb"), "spbmsk")
    assert switched == [("rtspb-spbmsk", False), ("vip-spbmsk1", False), ("vip-spbmsk3", False)]
    faults.link_restore(stand, plan.host("RtSpb"), "spbmsk")
    assert switched[3:] == [("rtspb-spbmsk", True), ("vip-spbmsk1", True), ("vip-spbmsk3", True)]

    switched.clear()
    faults.link_cut(stand, plan.host("BalSpb"), "spb")  # a site's own network: nothing stretched rides on it
    assert switched == [(plan.host("BalSpb").links[0].switch_ifname, False)]


@pytest.mark.parametrize(
    ("action", "fault", "params", "message"),
    [
        ("fault", "link-cut", {}, "link-cut needs --network (it takes: --network)"),
        ("fault", "pgpool-kill", {"network": "routed"}, "pgpool-kill takes no --network (it takes: no options)"),
        (
            "fault",
            "link-netem",
            {"network": "routed", "jitter_ms": 3},
            "link-netem takes no --jitter-ms (it takes: --network, --delay-ms, --loss-pct)",
        ),
        (
            "undo",
            "link-netem",
            {"network": "routed", "delay_ms": 5},
            "the undo of link-netem takes no --delay-ms (it takes: --network)",
        ),
    ],
)
def test_a_fault_given_the_wrong_options_is_one_line_before_it_touches_anything(action, fault, params, message):
    from stand.faults.player import Faults
    from stand.model import topology
    from stand.modes import open_stand
    from stand.runtime.handle import StandError

    faults = Faults(open_stand(topology.load("seed")), events_file=None)
    with pytest.raises(StandError) as refused:
        (faults.inject if action == "fault" else faults.undo)(fault, "PgBAL1", **params)
    assert str(refused.value) == message


@pytest.mark.parametrize("fault", FAULTS.values(), ids=lambda f: f.name)
def test_each_faults_params_are_those_its_primitives_take(fault):
    """The registry's params (what the scenario loader checks) are the primitive's own keyword arguments
    (what `stand fault` checks); an undo takes only those that identify the fault."""

    def takes(primitive) -> list[str]:
        return list(inspect.signature(primitive).parameters)[2:]  # after the stand and the host

    assert takes(fault.inject) == list(fault.params)
    assert takes(fault.undo) == list(fault.required)
