"""Scenarios: every built-in loads, and every mistake of a bad file is reported at once, exactly."""

import copy
import textwrap
import tomllib

import pytest

from bench import scenario
from bench.scenario import FAULTS, Load, Scenario, ScenarioError, Step

SEED_HOSTS = {  # the seed topology's hosts and roles
    "FRR": {"router", "client"},
    "PgSQL1": {"primary", "last-resort"},
    "PgSQL2": {"replica"},
    "PgSQL3": {"replica"},
    "PgBAL1": {"balancer"},
    "PgBAL2": {"balancer"},
    "PgBAL3": {"balancer"},
}
SEED_LINKS = {name: {"base", "routed"} for name in SEED_HOSTS} | {"PgSQL2": {"base"}, "PgSQL3": {"base"}}

EXPECTED_BUILTINS = [
    "all-balancers-down",
    "balancer-crash",
    "flap",
    "hub-balancer-crash",
    "node-freeze",
    "overload",
    "overload-per-query",
    "pgpool-crash",
    "planned-drain",
    "pool-drain",
    "replica-crash",
    "site-balancer-crash",
    "site-down",
    "smoke",
    "steady",
    "wan-cut",
]
NO_FAULT_SCENARIOS = ("overload", "overload-per-query", "steady")
# for the sites topology; the others fit the seed
SITES_SCENARIOS = ("hub-balancer-crash", "site-balancer-crash", "site-down", "wan-cut")


def good_raw() -> dict:
    """The module docstring's example, as tomllib gives it."""
    return {
        "name": "balancer-crash",
        "description": "PgBAL1 loses every link, then comes back",
        "duration_s": 40,
        "load": {"users": 12, "spawn_rate": 12, "mode": "per-query", "tags": ["point"], "probe_interval_ms": 10},
        "timeline": [
            {"at_s": 10, "action": "fault", "fault": "node-crash", "target": "PgBAL1"},
            {"at_s": 25, "action": "undo", "fault": "node-crash", "target": "PgBAL1"},
        ],
    }


def errors_of(raw: dict) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        scenario.parse(raw, "s.toml")
    return caught.value.errors


def step(at_s, action, fault, target="PgBAL1", **params) -> dict:
    entry = {"at_s": at_s, "action": action, "fault": fault, "target": target}
    if params:
        entry["params"] = params
    return entry


def with_timeline(*steps) -> dict:
    raw = good_raw()
    raw["timeline"] = list(steps)
    return raw


def set_in(raw: dict, path: str, value) -> dict:
    """`load.users` or `timeline.1.at_s`; a value of DELETE removes the key."""
    *parents, key = path.split(".")
    table = raw
    for p in parents:
        table = table[int(p)] if isinstance(table, list) else table[p]
    if value is DELETE:
        del table[key]
    else:
        table[key] = value
    return raw


DELETE = object()


# --- built-ins ----------------------------------------------------------------------------------------------


def test_builtin_names_are_the_expected_ones():
    assert scenario.builtin_names() == EXPECTED_BUILTINS


@pytest.mark.parametrize("name", scenario.builtin_names())
def test_builtin_loads_and_fits_its_stand(name):
    loaded = scenario.load(name)
    assert loaded.name == name  # the name inside is the file's
    assert loaded.source.endswith(f"bench/scenarios/{name}.toml")
    assert len(loaded.description) > 80  # says what it shows
    assert bool(loaded.timeline) is (name not in NO_FAULT_SCENARIOS), "a built-in plays faults, or is a baseline"
    if name not in SITES_SCENARIOS:
        assert scenario.validate_targets(loaded, SEED_HOSTS, SEED_LINKS) == []
    if name not in NO_FAULT_SCENARIOS:  # the baselines load the stand on purpose, to count false withdrawals
        assert loaded.load.probe_interval_ms >= 10  # modest for a 2-core machine
        if name in (*SITES_SCENARIOS, "smoke"):
            assert loaded.load.users <= 12  # closed loop, modest
        else:
            assert loaded.load.rate_share == 0.5  # a stated share of the calibrated capacity
    assert loaded.duration_s <= 45  # a compare of every built-in stays within minutes
    # every fault is undone before the end, with time left to watch the recovery
    faults = [s for s in loaded.timeline if s.action == "fault"]
    undos = [s for s in loaded.timeline if s.action == "undo"]
    assert sorted(s.key for s in faults) == sorted(s.key for s in undos)
    assert not loaded.timeline or loaded.timeline[-1].at_s <= loaded.duration_s - 5


def test_balancer_crash_is_exactly_the_documented_example():
    loaded = scenario.load("balancer-crash")
    assert loaded.duration_s == 40
    assert loaded.load == Load(
        users=24, spawn_rate=24, mode="per-query", tags=("point",), probe_interval_ms=100, rate_share=0.5
    )
    assert loaded.timeline == (
        Step(10, "fault", "node-crash", "PgBAL1", {}),
        Step(25, "undo", "node-crash", "PgBAL1", {}),
    )


def test_flap_is_four_cycles_of_three_seconds_down_four_up():
    timeline = scenario.load("flap").timeline
    assert [(s.at_s, s.action) for s in timeline] == [
        (t + d, a) for t in (10, 17, 24, 31) for d, a in ((0, "fault"), (3, "undo"))
    ]
    assert {(s.fault, s.target) for s in timeline} == {("node-crash", "PgBAL1")}


def test_all_balancers_down_kills_each_a_second_apart_then_undoes_all():
    timeline = scenario.load("all-balancers-down").timeline
    faults = [(s.at_s, s.target) for s in timeline if s.action == "fault"]
    assert faults == [(10, "PgBAL1"), (11, "PgBAL2"), (12, "PgBAL3")]
    assert {s.target for s in timeline if s.action == "undo"} == {"PgBAL1", "PgBAL2", "PgBAL3"}
    assert {s.fault for s in timeline} == {"pgpool-kill"}


@pytest.mark.parametrize(
    ("name", "fault", "target", "mode"),
    [
        ("balancer-crash", "node-crash", "PgBAL1", "per-query"),
        ("pgpool-crash", "pgpool-kill", "PgBAL1", "per-query"),
        ("node-freeze", "node-freeze", "PgBAL1", "per-query"),
        ("flap", "node-crash", "PgBAL1", "per-query"),
        ("planned-drain", "drain", "PgBAL1", "persistent"),
        ("pool-drain", "drain", "PgBAL1", "persistent"),
        ("replica-crash", "backend-kill", "PgSQL2", "per-query"),
        ("smoke", "node-crash", "PgBAL1", "per-query"),
    ],
)
def test_builtin_plays_its_fault(name, fault, target, mode):
    loaded = scenario.load(name)
    assert {(s.fault, s.target) for s in loaded.timeline} == {(fault, target)}
    assert loaded.load.mode == mode


def test_smoke_is_short_and_light():
    smoke = scenario.load("smoke")
    assert (smoke.duration_s, smoke.load.users) == (20, 6)
    assert [(s.at_s, s.action) for s in smoke.timeline] == [(6, "fault"), (12, "undo")]


def test_every_fault_has_a_one_line_description():
    assert set(FAULTS) == {
        "pgpool-kill",
        "pgpool-stop",
        "node-crash",
        "node-freeze",
        "frr-kill",
        "backend-kill",
        "link-cut",
        "link-netem",
        "drain",
    }
    for kind in FAULTS.values():
        assert kind.description and "\n" not in kind.description
        assert kind.undo_description and "\n" not in kind.undo_description
    assert FAULTS["link-cut"].required == ("network",)
    assert FAULTS["link-netem"].params == ("network", "delay_ms", "loss_pct")


# --- parsing ------------------------------------------------------------------------------------------------


def test_good_raw_parses_into_the_dataclasses():
    parsed = scenario.parse(good_raw(), "s.toml")
    assert parsed == Scenario(
        name="balancer-crash",
        description="PgBAL1 loses every link, then comes back",
        duration_s=40.0,
        load=Load(12, 12.0, "per-query", ("point",), 10.0),
        timeline=(Step(10.0, "fault", "node-crash", "PgBAL1"), Step(25.0, "undo", "node-crash", "PgBAL1")),
        source="s.toml",
    )
    assert isinstance(parsed.duration_s, float) and isinstance(parsed.load.users, int)


def test_optional_fields_default():
    raw = good_raw()
    del raw["load"]["tags"], raw["timeline"]
    parsed = scenario.parse(raw)
    assert parsed.load.tags == () and parsed.timeline == ()  # every request; a baseline run
    assert parsed.load.protocol == "extended"


def test_the_simple_protocol_is_read():
    raw = good_raw()
    raw["load"]["protocol"] = "simple"
    assert scenario.parse(raw).load.protocol == "simple"


def test_link_faults_keep_their_params():
    raw = with_timeline(
        step(5, "fault", "link-netem", network="routed", delay_ms=50, loss_pct=2.5),
        step(6, "fault", "link-cut", network="base"),  # another link of the same host: another fault
        step(7, "undo", "link-netem", network="routed"),
        step(8, "fault", "link-cut", network="routed"),  # that link is free again
        step(9, "undo", "link-cut", "pgbal1", network="base"),  # host names ignore case
    )
    timeline = scenario.parse(raw).timeline
    assert timeline[0].params == {"network": "routed", "delay_ms": 50.0, "loss_pct": 2.5}
    assert timeline[0].describe() == "5 s: fault link-netem PgBAL1 network=routed delay_ms=50 loss_pct=2.5"
    assert timeline[4].key == ("link-cut", "pgbal1", "base")


def test_steps_at_the_same_second_are_fine():
    raw = with_timeline(step(10, "fault", "pgpool-kill"), step(10, "fault", "pgpool-kill", "PgBAL2"))
    assert len(scenario.parse(raw).timeline) == 2


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("colour", "blue", "colour: unknown field (known: name, description, duration_s, load, timeline, expect)"),
        (
            "load.user",
            3,
            "load.user: unknown field (known: users, spawn_rate, mode, protocol, tags, think_ms, session_s, rate, probe_interval_ms, stages)",
        ),
        ("timeline.0.when", 3, "timeline[0].when: unknown field (known: at_s, action, fault, target, params)"),
        ("name", DELETE, "name: missing"),
        ("description", DELETE, "description: missing"),
        ("duration_s", DELETE, "duration_s: missing"),
        ("load", DELETE, "load: missing"),
        ("load.users", DELETE, "load.users: missing"),
        ("load.mode", DELETE, "load.mode: missing"),
        ("load.probe_interval_ms", DELETE, "load.probe_interval_ms: missing"),
        ("timeline.0.at_s", DELETE, "timeline[0].at_s: missing"),
        ("timeline.1.target", DELETE, "timeline[1].target: missing"),
        ("name", 7, "name: must be a string"),
        (
            "name",
            "balancer crash",
            "name: 'balancer crash' must be letters, digits, '.', '_' or '-' (at most 64, not starting with '.', '_' or '-')",
        ),
        ("description", " ", "description: must not be empty"),
        ("duration_s", "40", "duration_s: must be a number"),
        ("duration_s", True, "duration_s: must be a number"),
        ("load", [], "load: must be a table"),
        ("load.users", 12.5, "load.users: must be an integer"),
        ("load.users", 0, "load.users: must be at least 1 (got 0)"),
        ("load.spawn_rate", 0, "load.spawn_rate: must be more than 0 (got 0)"),
        ("load.spawn_rate", -0.5, "load.spawn_rate: must be more than 0 (got -0.5)"),
        ("load.mode", "pooled", "load.mode: unknown mode 'pooled' (known: persistent, per-query)"),
        ("load.protocol", "binary", "load.protocol: unknown protocol 'binary' (known: extended, simple)"),
        ("load.protocol", "Simple", "load.protocol: unknown protocol 'Simple' (known: extended, simple)"),
        ("load.protocol", 1, "load.protocol: must be a string"),
        ("load.tags", ["point", "write"], "load.tags: unknown tag 'write' (known: point, mix)"),
        ("load.tags", "point", "load.tags: must be a list of tag names"),
        ("load.tags", ["mix", "mix"], "load.tags: 'mix' is listed twice"),
        ("load.probe_interval_ms", 0, "load.probe_interval_ms: must be more than 0 (got 0)"),
        ("duration_s", 0, "duration_s: must be more than 0 (got 0)"),
        ("duration_s", -40, "duration_s: must be more than 0 (got -40)"),
        ("timeline", {"at_s": 1}, "timeline: must be a list of [[timeline]] tables"),
        ("timeline.0.at_s", -1, "timeline[0].at_s: must not be negative (got -1)"),
        ("timeline.1.at_s", 40, "timeline[1].at_s: 40 is not before the end of the run (duration_s = 40)"),
        ("timeline.1.at_s", 52.5, "timeline[1].at_s: 52.5 is not before the end of the run (duration_s = 40)"),
        (
            "timeline.1.at_s",
            5,
            "timeline[1].at_s: 5 is earlier than timeline[0].at_s (10); steps must be in time order",
        ),
        (
            "timeline.0.fault",
            "reboot",
            "timeline[0].fault: unknown fault 'reboot' (known: pgpool-kill, pgpool-stop, node-crash, node-freeze, "
            "frr-kill, backend-kill, link-cut, link-netem, drain)",
        ),
        ("timeline.0.action", "redo", "timeline[0].action: unknown action 'redo' (known: fault, undo)"),
        ("timeline.0.target", "", "timeline[0].target: must name a host"),
        ("timeline.0.params", "routed", "timeline[0].params: must be a table"),
        (
            "timeline.0.params",
            {"network": "routed"},
            "timeline[0].params.network: unknown param for node-crash (takes: none)",
        ),
    ],
)
def test_bad_field_is_reported_exactly(path, value, error):
    assert errors_of(set_in(good_raw(), path, value)) == [error]


@pytest.mark.parametrize(
    ("steps", "error"),
    [
        ([step(1, "fault", "link-cut")], "timeline[0].params.network: missing (link-cut needs it)"),
        (
            [step(1, "fault", "link-cut", network="base", delay_ms=5)],
            "timeline[0].params.delay_ms: unknown param for link-cut (takes: network)",
        ),
        (
            [step(1, "fault", "link-netem", network="base")],
            "timeline[0].params: link-netem needs delay_ms or loss_pct (or both)",
        ),
        (
            [step(1, "fault", "link-netem", network="base", jitter_ms=3, delay_ms=5)],
            "timeline[0].params.jitter_ms: unknown param for link-netem (takes: network, delay_ms, loss_pct)",
        ),
        (
            [step(1, "fault", "link-netem", network="base", delay_ms="5ms")],
            "timeline[0].params.delay_ms: must be a number",
        ),
        (
            [step(1, "fault", "link-netem", network="base", delay_ms=-5)],
            "timeline[0].params.delay_ms: must not be negative (got -5)",
        ),
        (
            [step(1, "fault", "link-netem", network="base", loss_pct=101)],
            "timeline[0].params.loss_pct: must be at most 100 (got 101)",
        ),
        (
            [step(1, "fault", "link-cut", network=3)],
            "timeline[0].params.network: must be a network name (1-6 lower-case letters or digits)",
        ),
        (
            [
                step(1, "fault", "link-netem", network="base", delay_ms=5),
                step(2, "undo", "link-netem", network="base", delay_ms=5),
            ],
            "timeline[1].params.delay_ms: unknown param for an undo of link-netem (takes: network)",
        ),
        (
            [step(1, "fault", "link-cut", network="base"), step(2, "undo", "link-cut")],
            "timeline[1].params.network: missing (link-cut needs it)",
        ),
        ([step(1, "undo", "node-crash")], "timeline[0]: undo of node-crash on PgBAL1 with no earlier fault to undo"),
        (
            [step(1, "fault", "node-crash"), step(2, "undo", "node-crash", "PgBAL2")],
            "timeline[1]: undo of node-crash on PgBAL2 with no earlier fault to undo",
        ),
        (
            [step(1, "fault", "node-crash"), step(2, "undo", "pgpool-kill")],
            "timeline[1]: undo of pgpool-kill on PgBAL1 with no earlier fault to undo",
        ),
        (
            [step(1, "fault", "node-crash"), step(2, "undo", "node-crash"), step(3, "undo", "node-crash")],
            "timeline[2]: undo of node-crash on PgBAL1 with no earlier fault to undo",
        ),
        (
            [step(1, "fault", "link-cut", network="base"), step(2, "undo", "link-cut", network="routed")],
            "timeline[1]: undo of link-cut on PgBAL1 (network routed) with no earlier fault to undo",
        ),
        (
            [step(1, "fault", "node-crash"), step(2, "fault", "node-crash", "pgbal1")],
            "timeline[1]: node-crash on pgbal1 is already active (since timeline[0])",
        ),
        (
            [step(1, "fault", "drain"), step(3, "fault", "drain")],
            "timeline[1]: drain on PgBAL1 is already active (since timeline[0])",
        ),
        (
            [step(1, "fault", "drain"), step(2, "fault", "pgpool-kill")],
            "timeline[1]: pgpool-kill on PgBAL1 overlaps drain on PgBAL1 (active since timeline[0]): one fault at a "
            "time on a host, except link faults on different networks",
        ),
        (
            [step(1, "fault", "node-crash"), step(2, "fault", "link-cut", network="routed")],
            "timeline[1]: link-cut on PgBAL1 (network routed) overlaps node-crash on PgBAL1 (active since timeline[0]): "
            "one fault at a time on a host, except link faults on different networks",
        ),
        (
            [
                step(1, "fault", "link-cut", network="routed"),
                step(2, "fault", "link-netem", network="routed", delay_ms=5),
            ],
            "timeline[1]: link-netem on PgBAL1 (network routed) overlaps link-cut on PgBAL1 (active since timeline[0]): "
            "one fault at a time on a host, except link faults on different networks",
        ),
    ],
)
def test_bad_timeline_is_reported_exactly(steps, error):
    assert errors_of(with_timeline(*steps)) == [error]


def test_undo_matches_even_when_the_undo_comes_at_the_same_second():
    raw = with_timeline(step(3, "fault", "frr-kill", "FRR"), step(3, "undo", "frr-kill", "FRR"))
    assert [s.action for s in scenario.parse(raw).timeline] == ["fault", "undo"]


def test_a_fault_can_be_injected_again_after_its_undo():
    raw = with_timeline(*(step(t, a, "node-freeze") for t, a in ((1, "fault"), (2, "undo"), (3, "fault"))))
    assert len(scenario.parse(raw).timeline) == 3


def test_a_broken_fault_step_does_not_echo_in_its_undo():
    raw = with_timeline(step(1, "fault", "node-crsh"), step(2, "undo", "node-crash"))
    errors = errors_of(raw)
    assert len(errors) == 1 and errors[0].startswith("timeline[0].fault: unknown fault 'node-crsh'")


def test_every_error_is_reported_at_once_in_reading_order():
    raw = good_raw()
    raw["colour"] = "blue"
    raw["duration_s"] = 0
    raw["load"]["users"] = 0
    raw["load"]["mode"] = "pooled"
    raw["load"]["protocol"] = "binary"
    raw["timeline"] = [
        step(10, "fault", "node-crash"),
        step(5, "fault", "link-cut"),
        step(12, "unplug", "node-crash"),
        step(20, "undo", "pgpool-kill", "PgBAL2"),
    ]
    assert errors_of(raw) == [
        "colour: unknown field (known: name, description, duration_s, load, timeline, expect)",
        "duration_s: must be more than 0 (got 0)",
        "load.users: must be at least 1 (got 0)",
        "load.mode: unknown mode 'pooled' (known: persistent, per-query)",
        "load.protocol: unknown protocol 'binary' (known: extended, simple)",
        "timeline[1].at_s: 5 is earlier than timeline[0].at_s (10); steps must be in time order",
        "timeline[1].params.network: missing (link-cut needs it)",
        "timeline[2].action: unknown action 'unplug' (known: fault, undo)",
        "timeline[3]: undo of pgpool-kill on PgBAL2 with no earlier fault to undo",
    ]


def test_error_message_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(scenario.resolve_path("smoke").read_text().replace("users = 6", "users = 0"))
    with pytest.raises(ScenarioError) as caught:
        scenario.load(str(bad))
    assert str(caught.value) == f"{bad}: load.users: must be at least 1 (got 0)"
    assert caught.value.source == str(bad)


def test_several_errors_are_one_line_each(tmp_path):
    bad = tmp_path / "bad.toml"
    text = scenario.resolve_path("smoke").read_text().replace("users = 6", "users = 0")
    bad.write_text(text.replace('mode = "per-query"', 'mode = "pooled"'))
    with pytest.raises(ScenarioError) as caught:
        scenario.load(bad)
    assert str(caught.value).splitlines() == [
        f"{bad}: load.users: must be at least 1 (got 0)",
        f"{bad}: load.mode: unknown mode 'pooled' (known: persistent, per-query)",
    ]


def test_missing_file_lists_builtin_scenarios():
    with pytest.raises(ScenarioError) as caught:
        scenario.load("/nonexistent/scenario.toml")
    assert caught.value.errors == [f"no such file (built-in scenarios: {', '.join(EXPECTED_BUILTINS)})"]


def test_unknown_builtin_name_lists_builtin_scenarios():
    with pytest.raises(ScenarioError, match=r"^balancer-crush: no such file \(built-in scenarios: all-balancers-down,"):
        scenario.load("balancer-crush")


def test_not_toml_is_reported(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[load\nusers=")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        scenario.load(str(bad))


def test_parse_does_not_change_its_input():
    raw = with_timeline(step(5, "fault", "link-netem", network="routed", delay_ms=50))
    before = copy.deepcopy(raw)
    scenario.parse(raw)
    assert raw == before


# --- targets against a stand --------------------------------------------------------------------------------


def targets_errors(*steps, links=None) -> list[str]:
    return scenario.validate_targets(scenario.parse(with_timeline(*steps)), SEED_HOSTS, links)


@pytest.mark.parametrize(
    ("fault", "target"),
    [
        ("pgpool-kill", "PgBAL2"),
        ("pgpool-stop", "pgbal3"),
        ("drain", "PGBAL1"),
        ("backend-kill", "PgSQL1"),
        ("backend-kill", "PgSQL3"),
        ("frr-kill", "FRR"),
        ("frr-kill", "PgSQL1"),
        ("node-crash", "PgSQL2"),
        ("node-freeze", "FRR"),
    ],
)
def test_good_targets_pass(fault, target):
    assert targets_errors(step(1, "fault", fault, target), step(2, "undo", fault, target)) == []


@pytest.mark.parametrize(
    ("fault", "target", "error"),
    [
        (
            "node-crash",
            "PgBAL9",
            "timeline[0].target: unknown host 'PgBAL9' (hosts: FRR, PgSQL1, PgSQL2, PgSQL3, PgBAL1, PgBAL2, PgBAL3)",
        ),
        (
            "pgpool-kill",
            "PgSQL2",
            "timeline[0].target: pgpool-kill needs a balancer; PgSQL2 is not one (roles: replica)",
        ),
        (
            "pgpool-stop",
            "FRR",
            "timeline[0].target: pgpool-stop needs a balancer; FRR is not one (roles: client, router)",
        ),
        (
            "drain",
            "pgsql1",
            "timeline[0].target: drain needs a balancer; PgSQL1 is not one (roles: last-resort, primary)",
        ),
        (
            "backend-kill",
            "PgBAL1",
            "timeline[0].target: backend-kill needs a primary or a replica; PgBAL1 is not one (roles: balancer)",
        ),
        (
            "frr-kill",
            "PgSQL2",
            "timeline[0].target: frr-kill needs a router or a balancer or a last-resort; PgSQL2 is not one (roles: replica)",
        ),
    ],
)
def test_bad_target_is_reported_once(fault, target, error):
    # the undo names the same target: still one error
    assert targets_errors(step(1, "fault", fault, target), step(2, "undo", fault, target)) == [error]


def test_link_networks_are_checked_when_links_are_given():
    steps = (
        step(1, "fault", "link-cut", "PgSQL2", network="routed"),
        step(2, "fault", "link-netem", "pgbal2", network="base", delay_ms=20),
    )
    assert targets_errors(*steps) == []
    assert targets_errors(*steps, links=SEED_LINKS) == [
        "timeline[0].params.network: PgSQL2 has no link on 'routed' (links: base)"
    ]


def test_several_target_errors_come_in_timeline_order():
    errors = targets_errors(
        step(1, "fault", "drain", "PgSQL3"),
        step(2, "fault", "node-crash", "PgBAL1"),
        step(3, "fault", "node-crash", "Ghost"),
    )
    assert errors == [
        "timeline[0].target: drain needs a balancer; PgSQL3 is not one (roles: replica)",
        "timeline[2].target: unknown host 'Ghost' (hosts: FRR, PgSQL1, PgSQL2, PgSQL3, PgBAL1, PgBAL2, PgBAL3)",
    ]


def stages(*entries) -> dict:
    raw = good_raw()
    raw["load"]["stages"] = list(entries)
    return raw


def test_stages_change_the_users_during_the_run():
    load = scenario.parse(stages({"at_s": 10, "users": 96}, {"at_s": 25.5, "users": 12})).load
    assert load.stages == (scenario.Stage(10.0, 96), scenario.Stage(25.5, 12))
    assert load.stages_option == "0:12,10:96,25.5:12"
    assert scenario.parse(good_raw()).load.stages == ()


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        ([{"at_s": 0, "users": 5}], "load.stages[0].at_s: must be after 0 and before the end of the run (got 0)"),
        ([{"at_s": 40, "users": 5}], "load.stages[0].at_s: must be after 0 and before the end of the run (got 40)"),
        (
            [{"at_s": 10, "users": 5}, {"at_s": 10, "users": 6}],
            "load.stages[1].at_s: 10 is not after the stage before (10)",
        ),
        ([{"at_s": 10, "users": 0}], "load.stages[0].users: must be at least 1 (got 0)"),
        ([{"at_s": 10}], "load.stages[0].users: missing"),
        ([{"at_s": 10, "users": 5, "think_ms": 3}], "load.stages[0].think_ms: unknown field (known: at_s, users)"),
    ],
)
def test_bad_stages_are_reported_exactly(entries, error):
    assert errors_of(stages(*entries)) == [error]


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("duration_s", float("inf"), "duration_s: must be a finite number (got inf)"),
        ("load.think_ms", float("nan"), "load.think_ms: must be a finite number (got nan)"),
        ("timeline.0.at_s", float("nan"), "timeline[0].at_s: must be a finite number (got nan)"),
        (
            "name",
            "smoke\n",
            "name: 'smoke\\n' must be letters, digits, '.', '_' or '-' (at most 64, not starting with '.', '_' or '-')",
        ),
    ],
)
def test_nan_inf_and_a_trailing_newline_are_refused(path, value, error):
    assert error in errors_of(set_in(good_raw(), path, value))


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (
            {"network": "routed; reboot", "delay_ms": 5},
            "timeline[0].params.network: must be a network name (1-6 lower-case letters or digits)",
        ),
        (
            {"network": "routed", "delay_ms": float("inf")},
            "timeline[0].params.delay_ms: must be a finite number (got inf)",
        ),
        ({"network": "routed", "delay_ms": 20_000}, "timeline[0].params.delay_ms: must be at most 10000 (got 20000)"),
    ],
)
def test_link_fault_params_get_their_real_ranges(params, error):
    assert error in errors_of(with_timeline(step(1, "fault", "link-netem", **params)))


def test_stages_must_be_tables():
    raw = good_raw()
    raw["load"]["stages"] = [10, 96]
    assert errors_of(raw) == ["load.stages: must be a list of [[load.stages]] tables"]


def test_module_docstring_example_is_a_valid_scenario():
    doc = scenario.__doc__
    example = textwrap.dedent(doc[doc.index("    name = ") : doc.index("Rules of the timeline")])
    parsed = scenario.parse(tomllib.loads(example), "docstring")
    assert parsed.name == "balancer-crash"
    assert (parsed.load.protocol, parsed.load.think_ms) == ("simple", 200.0)
    assert [s.fault for s in parsed.timeline] == ["node-crash", "node-crash", "link-netem"]
    assert parsed.timeline[2].params == {"network": "routed", "delay_ms": 50.0, "loss_pct": 2.0}
    assert [e.text for e in parsed.expect] == ["gap_ms <= 500", "gap_ms <= 4000 in keepalived mode"]


def test_a_session_lifetime_is_for_persistent_connections():
    persistent = set_in(set_in(good_raw(), "load.mode", "persistent"), "load.session_s", 5)
    assert scenario.parse(persistent, "s.toml").load.session_s == 5.0
    assert scenario.parse(good_raw(), "s.toml").load.session_s == 0.0  # kept for good
    assert errors_of(set_in(good_raw(), "load.session_s", 5)) == [
        'load.session_s: a connection\'s lifetime is for mode = "persistent" (per-query closes each)'
    ]
    assert errors_of(set_in(persistent, "load.session_s", -1)) == ["load.session_s: must not be negative (got -1)"]


def open_loop(rate) -> dict:
    """The docstring's example with an open-loop rate instead of think_ms."""
    raw = good_raw()
    raw["load"].pop("think_ms", None)
    raw["load"]["rate"] = rate
    return raw


def test_a_rate_is_requests_a_second_or_a_share_of_the_capacity():
    absolute = scenario.parse(open_loop(40), "s.toml").load
    assert (absolute.rate, absolute.rate_share, absolute.open_loop, absolute.rate_text) == (40.0, None, True, "40/s")
    share = scenario.parse(open_loop("40%"), "s.toml").load
    assert (share.rate, share.rate_share, share.rate_text) == (None, 0.4, "40% of capacity")
    closed = scenario.parse(good_raw(), "s.toml").load
    assert not closed.open_loop and closed.rate_text == ""


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (open_loop(0), "load.rate: must be more than 0 requests a second (got 0)"),
        (open_loop("40"), "load.rate: '40' is not a share of the capacity such as \"40%\" (above 0, at most 1000%)"),
        (open_loop("0%"), "load.rate: '0%' is not a share of the capacity such as \"40%\" (above 0, at most 1000%)"),
        (open_loop(True), "load.rate: must be a number"),
        (
            set_in(open_loop(40), "load.think_ms", 200),
            "load.rate: paces the users open loop, instead of load.think_ms: give one of them",
        ),
        (
            set_in(open_loop(40), "load.stages", [{"at_s": 10, "users": 20}]),
            "load.rate: a rate is for a fixed number of users: give load.stages or load.rate",
        ),
    ],
)
def test_a_bad_rate_is_reported_exactly(raw, error):
    assert errors_of(raw) == [error]
