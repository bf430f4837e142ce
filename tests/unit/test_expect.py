"""A scenario's `[expect]` bounds: parsed with every mistake named, checked against a run's figures (values
known by construction), shown in the report, and exit 99 when a valid run misses one."""

import json
import shutil
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from bench import cli
from bench import scenario as scenarios
from reports.expect import EXPECTATION_FAILED, Expectation, check, for_mode, parse_expectations
from reports.html import render_run
from reports.run_summary import FaultFigures, RunSummary, summarize_run
from reports.views import run_view
from stand.modes import MODE_NAMES

TODAY = Path(__file__).parent / "data" / "run-anycast"


def summary(mode="anycast", gaps=(347.0,), failed=3, recovered=True) -> RunSummary:
    faults = [FaultFigures("node-crash", "PgBAL1", g, recovered, 0, 3, 1, None) for g in gaps]
    return RunSummary("r1", mode, "smoke", 100, failed, 20.0, 2.0, 9.0, {}, faults, [], True, False, 0)


def expectations(text: str) -> list[Expectation]:
    found, errors = parse_expectations(tomllib.loads(text), MODE_NAMES)
    assert errors == []
    return found


BOUNDS = """
gap_ms.max = 500
failed.max = 10
throughput_rps.min = 15
[mode.keepalived]
gap_ms.max = 4000
"""


def test_every_bound_is_checked_and_a_modes_own_bound_replaces_the_general_one():
    bounds = expectations(BOUNDS)
    checks = check(bounds, summary(gaps=(347.0, 512.5)))  # the worst of the two faults counts
    assert [(c.expectation.text, c.value, c.passed) for c in checks] == [
        ("gap_ms <= 500", "512.5", False),
        ("failed <= 10", "3", True),
        ("throughput_rps >= 15", "20", True),
    ]
    assert checks[0].line == "expect gap_ms <= 500: 512.5 FAILED"
    keepalived = check(bounds, summary("keepalived", gaps=(2980.0,)))
    assert [(c.expectation.text, c.passed) for c in keepalived] == [
        ("failed <= 10", True),
        ("throughput_rps >= 15", True),
        ("gap_ms <= 4000 in keepalived mode", True),
    ]
    assert len(for_mode(bounds, "watchdog")) == 3  # the general ones


def test_a_gap_that_never_ended_fails_its_bound_and_a_run_without_faults_has_nothing_to_bound():
    (never,) = check(expectations("gap_ms.max = 500"), summary(recovered=False))
    assert (never.value, never.passed) == ("never", False)
    (nothing,) = check(expectations("broken.max = 0"), summary(gaps=()))
    assert (nothing.value, nothing.passed) == ("-", True)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("gap.max = 1", "expect.gap: unknown figure (known: gap_ms, path_gap_ms, failed, broken, p50_ms, p99_ms"),
        ("gap_ms.most = 1", "expect.gap_ms.most: unknown bound (known: max, min)"),
        ("gap_ms = 1", "expect.gap_ms: give a bound, as gap_ms.max = N or gap_ms.min = N"),
        ('failed.max = "ten"', "expect.failed.max: must be a finite number (got 'ten')"),
        ("failed.max = true", "expect.failed.max: must be a finite number (got True)"),
        ("[mode.vrrp]\nfailed.max = 1", "expect.mode.vrrp: unknown mode (modes: anycast, "),
    ],
)
def test_a_bad_expectation_is_one_line_naming_its_key(text, error):
    _, errors = parse_expectations(tomllib.loads(text), MODE_NAMES)
    assert len(errors) == 1 and errors[0].startswith(error), errors


def test_a_scenario_carries_its_expectations_and_refuses_a_fault_figure_without_faults(tmp_path):
    smoke = Path(scenarios.resolve_path("smoke")).read_text()
    (tmp_path / "bounded.toml").write_text(smoke + "\n[expect]\ngap_ms.max = 500\n")
    loaded = scenarios.load(str(tmp_path / "bounded.toml"))
    assert loaded.expect == (Expectation("gap_ms", "max", 500.0),)
    steady = Path(scenarios.resolve_path("steady")).read_text()
    (tmp_path / "calm.toml").write_text(steady + "\n[expect]\ngap_ms.max = 500\nfailed.max = 0\n")
    with pytest.raises(scenarios.ScenarioError) as raised:
        scenarios.load(str(tmp_path / "calm.toml"))
    assert raised.value.errors == ["expect.gap_ms: a figure of each fault, and the timeline plays none"]


def test_a_missed_bound_exits_99_with_a_line_naming_it(capsys):
    missed = replace(summary(), checks=check(expectations("gap_ms.max = 300"), summary()))
    assert cli._expectations_exit([missed]) == EXPECTATION_FAILED == 99
    assert capsys.readouterr().err == "bench: error: r1 missed gap_ms <= 300: 347\n"
    kept = replace(summary(), checks=check(expectations("gap_ms.max = 400"), summary()))
    assert cli._expectations_exit([kept]) == 0


def test_the_run_report_and_the_terminal_table_show_the_checks(tmp_path):
    from bench.compare import verdict_table

    run = tmp_path / "run"
    shutil.copytree(TODAY, run)
    meta = json.loads((run / "meta.json").read_text())
    meta["scenario"]["expect"] = [{"metric": "failed", "bound": "max", "limit": 1000000.0, "mode": None}]
    (run / "meta.json").write_text(json.dumps(meta))
    figures = summarize_run(run)
    (passed,) = figures.checks
    assert passed.passed and passed.expectation.text == "failed <= 1e+06"
    assert f"expect failed <= 1e+06: {figures.failed} ok" in verdict_table([figures])
    html = render_run(run_view(run))
    assert "<h2>Expectations</h2>" in html and "failed &lt;= 1e+06" in html
    meta["scenario"].pop("expect")  # results of older versions: no expectations, no section
    (run / "meta.json").write_text(json.dumps(meta))
    assert summarize_run(run).checks == [] and "<h2>Expectations</h2>" not in render_run(run_view(run))
