"""`bench versions`: what a run's results will carry."""

import json
import re
from pathlib import Path

from bench import cli, versions
from stand.modes import open_stand, plan_of


def test_versions_names_every_component(capsys, monkeypatch):
    monkeypatch.setattr(
        versions, "VERSION_COMMANDS", {"present": ["echo", "present 1.2"], "absent": ["/nonexistent/x"]}
    )
    assert cli.main(["versions", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["present"] == "present 1.2"
    assert found["absent"] == "not installed"
    assert found["kernel"]
    assert found["suite"] != ""


def test_a_bad_scenario_file_is_rejected_with_every_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "bad"\ndescription = "x"\nduration_s = 10\n'
        '[load]\nusers = 0\nspawn_rate = 1\nmode = "pooled"\nprobe_interval_ms = 50\n'
        '[[timeline]]\nat_s = 12\naction = "fault"\nfault = "reboot"\ntarget = "PgBAL1"\n'
    )
    assert cli.main(["run", "--mode", "anycast", "--scenario", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "bench: bad input:"
    assert f"{bad}: load.users: must be at least 1 (got 0)" in err
    assert f"{bad}: load.mode: unknown mode 'pooled' (known: persistent, per-query)" in err
    assert any(line.startswith(f"{bad}: timeline[0].fault: unknown fault 'reboot'") for line in err)


def test_an_unknown_mode_is_one_line(capsys):
    assert cli.main(["run", "--mode", "vip", "--scenario", "smoke"]) == 1
    assert (
        capsys.readouterr().err
        == "bench: error: unknown mode 'vip' (modes: anycast, anycast-pinned, anycast-resilient, anycast-tuned, keepalived, keepalived-tuned, watchdog)\n"
    )


def test_verdict_table_shows_each_mode_and_fault():
    from bench.compare import verdict_table
    from reports.health import HealthChange
    from reports.run_summary import FaultFigures, RunSummary

    fault = FaultFigures(
        "node-crash", "PgBAL1", 202.0, True, 1, 3, 0, 4100.0, path="PgBAL1", path_gap_ms=310.0, path_recovered=True
    )
    never = FaultFigures("node-crash", "PgBAL1", None, False, 50, 60, 2, None, path="PgBAL1", path_recovered=False)
    false = HealthChange(
        3_500_000, "PgBAL2", "agent", "down", False, "unresponsive", "no answer (kept) in 2001 ms", True, "", 40
    )
    table = verdict_table(
        [
            RunSummary(
                "a",
                "anycast",
                "smoke",
                400,
                1,
                22.0,
                20.2,
                202.0,
                {"PgBAL1": 0.3, "PgBAL2": 0.7},
                [fault],
                [false],
                True,
                False,
                1_000_000,
            ),
            RunSummary(
                "b",
                "keepalived",
                "smoke",
                380,
                50,
                19.0,
                32.5,
                1112.0,
                {"PgBAL1": 1.0},
                [never],
                [],
                False,
                True,
                1_000_000,
            ),
        ]
    )
    lines = table.splitlines()
    assert lines[0] == "== smoke"
    assert lines[2].split() == ["anycast", "-", "22", "20.2", "202", "1", "PgBAL1", "30%", "PgBAL2", "70%"]
    assert lines[4].split()[-2:] == ["failed", "path"]
    assert lines[5].split() == ["anycast", "node-crash", "PgBAL1", "202", "310", "1", "3", "0", "PgBAL1"]
    assert lines[6].split() == ["keepalived", "node-crash", "PgBAL1", "never", "never", "50", "60", "2", "PgBAL1"]
    assert lines[7] == "anycast          false withdrawals: 1 (PgBAL2 at 2.5 s: no answer (kept) in 2001 ms)"
    assert lines[8] == "keepalived       health decisions: not recorded in this mode"


def test_meta_records_the_site_of_every_host():
    from dataclasses import replace

    from bench.run import sites_of_hosts
    from stand.model import topology

    plan = plan_of(topology.load("seed"))
    assert sites_of_hosts(plan) == {
        name: "main" for name in ("FRR", "PgSQL1", "PgSQL2", "PgSQL3", "PgBAL1", "PgBAL2", "PgBAL3")
    }
    moved = replace(
        plan, hosts=tuple(replace(h, host=replace(h.host, site="msk")) if h.name == "PgBAL2" else h for h in plan.hosts)
    )
    assert sites_of_hosts(moved)["PgBAL2"] == "msk" and sites_of_hosts(moved)["PgBAL1"] == "main"


def test_load_comes_from_the_shell_or_from_each_site_client_host():
    from bench.run import load_hosts
    from stand.model import topology
    from stand.modes import open_stand

    assert load_hosts(open_stand(topology.load("seed"))) == []  # the seed's client is its router: load from here
    sites = [h.name for h in load_hosts(open_stand(topology.load("sites")))]
    assert sites == ["CliMsk", "CliSpb", "CliEkb"]


def test_site_scenarios_fit_the_sites_topology_only():
    from bench.scenario import load, validate_targets
    from stand.model import topology

    for name in ("hub-balancer-crash", "site-balancer-crash", "site-down", "wan-cut"):
        scenario = load(name)
        sites = {h.name: set(h.roles) for h in topology.load("sites").hosts}
        seed = {h.name: set(h.roles) for h in topology.load("seed").hosts}
        assert validate_targets(scenario, sites) == []
        assert validate_targets(scenario, seed) != []


def test_the_scenario_protocol_reaches_locust_and_the_probe(tmp_path, monkeypatch):
    from dataclasses import replace

    from bench import run
    from bench.scenario import load
    from stand.model import topology

    spawned: dict[str, list[str]] = {}
    monkeypatch.setattr(run, "_spawn", lambda stand, host, name, argv, namespace, log: spawned.setdefault(name, argv))
    smoke = load("smoke")
    simple = replace(smoke, load=replace(smoke.load, protocol="simple"))
    run.start_load(open_stand(topology.load("seed")), simple, tmp_path)
    locust, probe = spawned["locust"], spawned["probe"]
    assert locust[locust.index("--pg-protocol") + 1] == "simple"
    assert probe[probe.index("--protocol") + 1] == "simple"


def test_compare_picks_the_scenarios_of_the_topology_and_refuses_misfits_before_any_stand(capsys, tmp_path):
    from bench.cli import SEED_SCENARIOS, SITES_SCENARIOS, default_scenarios, main
    from stand.model import topology

    assert default_scenarios(topology.load("seed")) == SEED_SCENARIOS
    assert default_scenarios(topology.load("sites")) == SITES_SCENARIOS
    code = main(
        [
            "compare",
            "anycast",
            "keepalived",
            "--topology",
            "sites",
            "--scenario",
            "balancer-crash",
            "--results",
            str(tmp_path),
        ]
    )
    assert code == 1
    error = capsys.readouterr().err
    assert error.startswith("bench: error: scenario balancer-crash does not fit the topology")
    assert "PgBAL1" in error and list(tmp_path.iterdir()) == []  # nothing started, nothing written


STOP_SIGNALS_SCRIPT = """
import os, signal, sys, time
from bench.run import StopSignals
stops = StopSignals()
child = os.fork()
if child == 0:  # a forked helper that has not exec'd (as pyroute2's): SIGTERM must just end it
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    except KeyboardInterrupt:
        os._exit(3)  # it unwound bench's stack in the child
    os._exit(4)
_, status = os.waitpid(child, 0)
print("child", os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
try:
    os.kill(os.getpid(), signal.SIGHUP)
    time.sleep(5)
except KeyboardInterrupt:
    print("bench interrupted")
stops.cleaning = True
os.kill(os.getpid(), signal.SIGINT)
print("deferred", stops.deferred)
stops.restore()
"""


def test_stop_signals_end_a_run_in_bench_only_and_wait_during_the_clean_up():
    import signal
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", STOP_SIGNALS_SCRIPT], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.stdout.split("\n") == [f"child {int(signal.SIGTERM)}", "bench interrupted", "deferred True", ""], (
        result.stderr
    )


def test_a_link_fault_on_a_network_the_host_does_not_have_is_refused_before_any_stand(tmp_path, capsys):
    from bench import cli

    bad = tmp_path / "bad.toml"
    smoke = Path(cli.__file__).parent / "scenarios" / "smoke.toml"
    bad.write_text(
        smoke.read_text().replace(
            'fault = "node-crash"\ntarget = "PgBAL1"',
            'fault = "link-cut"\ntarget = "PgSQL2"\nparams = { network = "routed" }',
        )
    )
    assert cli.main(["run", "--mode", "anycast", "--scenario", str(bad)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("bench: error: scenario smoke does not fit the topology") and "routed" in error, error


def test_what_is_still_in_effect_is_undone_as_an_undo_step_names_it_and_one_failure_skips_nothing():
    import contextlib

    from bench.run import undo_all
    from bench.scenario import Step
    from stand.runtime.handle import StandError

    undone, said = [], []

    class Recording:
        @contextlib.contextmanager
        def together(self):
            yield

        def undo(self, fault, target, **params):
            undone.append((fault, target, params))
            if fault == "drain":
                raise StandError("PgBAL2: the health agent did not announce in 30 s")

    active = [
        Step(5, "fault", "link-netem", "PgBAL1", {"network": "routed", "delay_ms": 50.0}),
        Step(6, "fault", "drain", "PgBAL2"),
        Step(7, "fault", "node-crash", "PgBAL3"),
    ]
    undo_all(Recording(), active, said.append)
    assert undone == [
        ("node-crash", "PgBAL3", {}),
        ("drain", "PgBAL2", {}),
        ("link-netem", "PgBAL1", {"network": "routed"}),
    ]
    assert said == ["undo of drain PgBAL2 failed: PgBAL2: the health agent did not announce in 30 s"]


def test_a_scenario_that_finds_the_stand_unsettled_is_marked_not_run_and_the_compare_goes_on(monkeypatch, tmp_path):
    import shutil
    from dataclasses import replace

    from bench import compare as comparing
    from bench import run as running
    from bench.scenario import load
    from reports.run_summary import RunSummary
    from stand.runtime.readiness import NotReady

    today = Path(__file__).parent / "data" / "run-anycast" / "meta.json"
    played, rebuilt = [], []

    def run(stand, scenario, out, progress, repetition, attempt):
        played.append(scenario.name)
        if scenario.name == "second":
            raise NotReady("stand not settled after 120 s (next hops: ['198.18.1.94'])")
        shutil.copy(today, out / "meta.json")
        return out

    def summary(out):
        return RunSummary(str(out), "anycast", "x", 0, 0, 0.0, None, None, {}, [], [], False, False, 0)

    monkeypatch.setattr(comparing, "ensure_stand", lambda mode, progress, topology: ("stand", True))
    monkeypatch.setattr(running, "run", run)
    monkeypatch.setattr(running, "summarize_run", summary)
    monkeypatch.setattr(comparing.teardown, "down", lambda stand, progress: rebuilt.append("down"))
    monkeypatch.setattr(comparing.build, "up", lambda stand, progress: rebuilt.append("up"))
    smoke = load("smoke")
    scenarios = [replace(smoke, name=name) for name in ("first", "second", "third")]

    directory = comparing.compare(["anycast"], scenarios, tmp_path, lambda message: None)

    assert played == ["first", "second", "third"]  # the compare went on after the unsettled one
    assert rebuilt == ["down", "up", "down"]  # the stand rebuilt for the third, then taken down at the end
    ((path, reason),) = comparing.not_run(directory)
    assert path.name.endswith("-second-anycast")
    assert reason == "stand not settled after 120 s (next hops: ['198.18.1.94'])"
    assert len(json.loads((directory / "comparison.json").read_text())) == 2


def test_repeated_runs_take_turns_and_are_numbered(monkeypatch, tmp_path):
    import shutil

    from bench import compare as comparing
    from bench import run as running
    from bench.scenario import load
    from reports.run_summary import RunSummary

    today = Path(__file__).parent / "data" / "run-anycast" / "meta.json"
    played = []

    def run(stand, scenario, out, progress, repetition, attempt):
        played.append((stand, repetition, out.name.rsplit("-", 2)[-2:]))
        shutil.copy(today, out / "meta.json")
        return out

    monkeypatch.setattr(comparing, "ensure_stand", lambda mode, progress, topology: (mode, False))
    monkeypatch.setattr(running, "run", run)
    monkeypatch.setattr(
        running,
        "summarize_run",
        lambda out: RunSummary(str(out), "m", "s", 0, 0, 0.0, None, None, {}, [], [], False, False, 0),
    )
    comparing.compare(["anycast", "keepalived"], [load("smoke")], tmp_path, lambda message: None, repeat=3)
    assert played == [
        ("anycast", 1, ["anycast", "r1"]),
        ("keepalived", 1, ["keepalived", "r1"]),
        ("keepalived", 2, ["keepalived", "r2"]),
        ("anycast", 2, ["anycast", "r2"]),
        ("anycast", 3, ["anycast", "r3"]),
        ("keepalived", 3, ["keepalived", "r3"]),
    ]


def test_repeat_out_of_range_is_one_line(capsys):
    code = cli.main(["compare", "anycast", "keepalived", "--repeat", "0"])
    assert code == 1
    assert capsys.readouterr().err == "bench: error: --repeat must be 1 to 20, not 0\n"


def test_the_terminal_table_of_repeated_runs_gives_medians_and_leaves_out_invalid_runs():
    from dataclasses import replace

    from bench.compare import verdict_table
    from reports.run_summary import FaultFigures, RunSummary
    from reports.validity import Validity

    def summary(mode: str, repetition: int, gap_ms: float, valid: bool = True) -> RunSummary:
        fault = FaultFigures("node-crash", "PgBAL1", gap_ms, True, 0, 3, 0, None)
        base = RunSummary(f"r{repetition}", mode, "smoke", 100, 0, 20.0, 2.0, 9.0, {}, [fault], [], True, False, 0)
        validity = Validity(valid, [] if valid else ["the machine was saturated"], 20, 0 if valid else 20, 0.3, 0.2)
        return replace(base, repetition=repetition, validity=validity)

    runs = [
        summary("anycast", 1, 300),
        summary("keepalived", 1, 2900),
        summary("anycast", 2, 350),
        summary("keepalived", 2, 3000),
        summary("anycast", 3, 9000, valid=False),
    ]
    table = verdict_table(runs)
    assert "anycast #3       INVALID, no verdict from this run: the machine was saturated" in table
    assert "medians [ranges] of the valid runs (anycast 2, keepalived 2):" in table
    assert (
        "node-crash PgBAL1: shorter in anycast in 2 of 2 runs: anycast 325 ms [300-350]; keepalived 2950 ms [2900-3000]"
        in table
    )
    only_invalid = verdict_table([summary("anycast", 2, 1, valid=False), summary("keepalived", 2, 1, valid=False)])
    assert "no verdict: no run of this scenario was a valid measurement" in only_invalid


def _played(monkeypatch, tmp_path, validities, retries=1):
    """`played_until_valid` with a fake run whose n-th attempt has the n-th validity: the directories played."""
    import shutil
    from dataclasses import replace

    from bench import run as running
    from bench.scenario import load
    from reports.run_summary import RunSummary

    today = Path(__file__).parent / "data" / "run-anycast" / "meta.json"
    played = []

    def run(stand, scenario, out, progress, repetition, attempt):
        played.append((out.name.rsplit("-", 1)[-1], repetition, attempt))
        shutil.copy(today, out / "meta.json")
        return out

    def summary(out):
        base = RunSummary(str(out), "anycast", "smoke", 0, 0, 0.0, None, None, {}, [], [], False, False, 0)
        return replace(base, validity=validities[len(played) - 1], attempt=len(played))

    monkeypatch.setattr(running, "run", run)
    monkeypatch.setattr(running, "summarize_run", summary)
    messages = []
    attempts = running.Attempts(tmp_path, load("smoke"), "anycast", repetition=2)
    summaries = list(running.played_until_valid("stand", attempts, messages.append, retries))
    return played, summaries, messages


def test_a_run_invalid_because_of_the_machine_is_played_again_and_the_last_attempt_counts(monkeypatch, tmp_path):
    from bench.compare import last_attempts
    from reports.validity import Validity

    steal = Validity(False, ["the hypervisor took 7% of the CPU (steal)"], 20, 0, 0.5, 0.2, by_the_machine=True)
    valid = Validity(True, [], 20, 0, 0.5, 0.2)
    played, summaries, messages = _played(monkeypatch, tmp_path / "one", [steal, valid])
    assert played == [("r2", 2, 1), ("try2", 2, 2)]  # the same repetition, its second attempt in its own directory
    assert messages == ["  not a valid measurement (the hypervisor took 7% of the CPU (steal)): playing it again"]
    assert last_attempts(summaries) == [summaries[1]]
    assert cli._invalid_exit(last_attempts(summaries)) == 0

    played, summaries, _ = _played(monkeypatch, tmp_path / "two", [steal, steal, valid])  # the retries run out
    assert len(played) == 2 and cli._invalid_exit(last_attempts(summaries)) == cli.INVALID_RUN


def test_a_run_invalid_because_of_the_stand_is_not_played_again(monkeypatch, tmp_path):
    from reports.validity import Validity

    withdrawn = Validity(False, ["PgBAL2 withdrawn before the first fault"], 20, 0, 0.5, 0.2, by_the_machine=False)
    played, _, messages = _played(monkeypatch, tmp_path, [withdrawn, withdrawn], retries=3)
    assert len(played) == 1 and messages == []  # a finding about the design, not noise


def test_retries_out_of_range_is_one_line(capsys):
    code = cli.main(["run", "--mode", "anycast", "--scenario", "smoke", "--retries", "9"])
    assert code == 1
    assert capsys.readouterr().err == "bench: error: --retries must be 0 to 5, not 9\n"


def test_topology_is_taken_before_or_after_the_command_in_both_clis():
    from stand import cli as stand_cli

    run = ["run", "--mode", "anycast", "--scenario", "smoke"]
    assert cli.build_parser().parse_args(["-t", "sites", *run]).topology == "sites"
    assert cli.build_parser().parse_args([*run, "--topology", "sites"]).topology == "sites"
    assert cli.build_parser().parse_args(["-t", "seed", *run, "-t", "sites"]).topology == "sites"  # after wins
    assert cli.build_parser().parse_args(run).topology is None
    assert stand_cli.build_parser().parse_args(["-t", "sites", "status"]).topology == "sites"
    assert stand_cli.build_parser().parse_args(["status", "--topology", "sites", "--json"]).topology == "sites"
    assert stand_cli.build_parser().parse_args(["down"]).topology is None


def test_both_clis_print_their_version(capsys):
    import pytest

    from stand import cli as stand_cli

    for main in (cli.main, stand_cli.main):
        with pytest.raises(SystemExit) as exited:
            main(["--version"])
        assert exited.value.code == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed] == ["bench", "stand"]
    assert all(re.fullmatch(r"\w+ \d+\.\d+\.\d+ \(git \w+\)", line) for line in printed), printed


def test_progress_gives_the_last_intervals_rates_and_the_time_left(monkeypatch, tmp_path):
    from bench import run as running

    now = [1000.0]
    monkeypatch.setattr(running.time, "monotonic", lambda: now[0])
    rates = running.IntervalRates(tmp_path, start=1000.0, duration_s=40)
    assert rates.line() == "  0.0 s  load starting  (40 s left)"
    header = "Type,Name,Request Count,Failure Count,Requests/s\n"

    def locust_wrote(requests: int, failures: int) -> None:
        (tmp_path / "locust_stats.csv").write_text(header + f",Aggregated,{requests},{failures},99\n")

    now[0], _ = 1005.0, locust_wrote(100, 0)
    assert rates.line() == "  5.0 s       20 req/s  0 failed  (35 s left)"
    now[0], _ = 1010.0, locust_wrote(400, 7)  # 300 in the last 5 s, not 400 in 10
    assert rates.line() == " 10.0 s       60 req/s  7 failed  (30 s left)"


def test_a_comparison_tells_which_run_of_how_many_and_the_time_left(monkeypatch):
    from bench import compare as comparing

    now = [0.0]
    monkeypatch.setattr(comparing.time, "monotonic", lambda: now[0])
    tally = comparing.Tally(4)
    assert tally.next() == "run 1 of 4"
    now[0] = 120.0
    assert tally.next() == "run 2 of 4, about 6 min left"  # 2 min a run, 3 to go


def test_the_medians_name_the_modes_in_the_order_compared_when_the_first_run_was_invalid():
    """anycast's first run invalid (and its retry): keepalived's valid run comes first, the order stays the
    comparison's (CI's compare test met it on a busy machine)."""
    from dataclasses import replace

    from bench.compare import verdict_table
    from reports.run_summary import FaultFigures, RunSummary
    from reports.validity import Validity

    def summary(mode: str, repetition: int, valid: bool) -> RunSummary:
        fault = FaultFigures("node-crash", "PgBAL1", 300.0 if mode == "anycast" else 2900.0, True, 0, 3, 0, None)
        base = RunSummary(f"r{repetition}", mode, "smoke", 100, 0, 20.0, 2.0, 9.0, {}, [fault], [], True, False, 0)
        validity = Validity(valid, [] if valid else ["the load generator fell behind its schedule"], 20, 0, 0.3, 0.2)
        return replace(base, repetition=repetition, validity=validity)

    runs = [
        summary("anycast", 1, valid=False),
        summary("keepalived", 1, valid=True),
        summary("keepalived", 2, valid=True),
        summary("anycast", 2, valid=True),
    ]
    assert "medians [ranges] of the valid runs (anycast 1, keepalived 2):" in verdict_table(runs)
