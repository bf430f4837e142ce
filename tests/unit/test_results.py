"""The results contract (bench/results.py) on fixed results directories: one as today's `bench run` writes
it, one from before the health decisions (no "balancers" or "vip_mode" in its meta.json, no health.jsonl)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.results import RunDir, RunMeta, complete_runs, load_run
from reports.html import render_run
from reports.run_summary import summarize_run
from reports.views import run_view
from stand.model.events import FaultEvent, append_event, as_fault_events, read_events

DATA = Path(__file__).parent / "data"
TODAY = DATA / "run-anycast"
OLDER = DATA / "run-keepalived-before-health-decisions"
REPO = Path(__file__).resolve().parents[2]
T0 = 1_764_590_400_000_000  # the fixtures' start, µs
SEED_HOSTS = ("FRR", "PgSQL1", "PgSQL2", "PgSQL3", "PgBAL1", "PgBAL2", "PgBAL3")
CRASH = [
    FaultEvent(T0 + 6_000_123, "fault", "node-crash", "PgBAL1"),
    FaultEvent(T0 + 12_000_456, "undo", "node-crash", "PgBAL1"),
]


def test_meta_json_of_today_loads_every_field():
    meta = RunDir(TODAY).read_meta()
    assert (meta.mode, meta.started_us, meta.ended_us, meta.interrupted) == ("anycast", T0, T0 + 20_000_000, False)
    assert meta.scenario["name"] == "smoke" and meta.scenario["load"]["users"] == 6
    assert [step["at_s"] for step in meta.scenario["timeline"]] == [6.0, 12.0]
    assert meta.versions["suite"] == "23d59f3"
    assert meta.topology == "/work/main/stand/topologies/seed.toml"
    assert meta.sites == {host: "main" for host in SEED_HOSTS}
    assert meta.balancers == ("PgBAL1", "PgBAL2", "PgBAL3") and meta.vip_mode is False
    assert set(meta.settings) == {"ospf", "health", "pgpool", "keepalived"}
    assert meta.settings["health"]["unresponsive_ms"] == 2000
    assert (meta.locust_exit_code, meta.probe_exit_code, meta.load_hosts) == (0, 0, ("shell",))


def test_run_meta_writes_meta_json_as_bench_run_did():
    text = RunDir(TODAY).meta.read_text()
    assert RunMeta.from_json(text).to_json() == text


def test_meta_json_from_before_the_health_decisions_loads_with_what_it_lacks_not_recorded():
    meta = RunDir(OLDER).read_meta()
    assert (meta.mode, meta.scenario["name"], meta.started_us) == ("keepalived", "smoke", T0)
    assert meta.sites == {host: "main" for host in SEED_HOSTS}
    assert meta.balancers == ()
    assert meta.vip_mode is False  # not recorded: the readers took False before there was a contract
    assert meta.load_hosts == ("shell",)


def test_meta_json_from_before_the_sites_and_the_load_hosts_loads():
    raw = json.loads(RunDir(OLDER).meta.read_text())
    del raw["sites"], raw["load_hosts"]
    meta = RunMeta.from_json(json.dumps(raw))
    assert (meta.sites, meta.load_hosts) == (None, ())


def test_load_run_reads_meta_events_records_and_health_decisions():
    run = load_run(TODAY)
    assert run.directory == TODAY and run.meta == RunDir(TODAY).read_meta()
    assert run.events == CRASH
    assert (len(run.requests), len(run.probe)) == (20, 40)
    assert (run.requests["outcome"] != "ok").sum() == 1  # PgBAL1's at 6.5 s
    assert (run.probe["outcome"] != "ok").sum() == 4
    changes = [(d["host"], d["state"]) for d in run.decisions[3:]]
    assert changes == [("PgBAL1", "down"), ("PgBAL1", "up"), ("PgBAL3", "down")]


def test_an_older_run_loads_and_reports():
    run = load_run(OLDER)
    assert run.events == CRASH and run.decisions == []
    assert (len(run.requests), len(run.probe)) == (20, 40)
    summary = summarize_run(OLDER)
    assert (summary.mode, summary.requests, summary.health_recorded) == ("keepalived", 20, False)
    assert "No health decisions were recorded" in render_run(run_view(OLDER))


def test_the_runs_of_a_directory_are_those_with_their_meta_json():
    assert complete_runs(DATA) == [TODAY, OLDER]
    assert complete_runs(DATA / "no such directory") == []


def test_fault_events_read_back_as_written_and_as_json_lines(tmp_path):
    events = tmp_path / "events.jsonl"
    link = FaultEvent(T0, "fault", "link-cut", "RtSpb", {"network": "spbmsk"})
    append_event(events, link)
    append_event(events, CRASH[0])
    assert read_events(events) == [link, CRASH[0]]
    assert read_events(tmp_path / "none.jsonl") == []
    line = {"t_us": T0, "action": "undo", "fault": "drain", "target": "PgBAL2"}
    assert as_fault_events([link, line]) == [link, FaultEvent(T0, "undo", "drain", "PgBAL2")]


def test_reading_results_needs_no_stand():
    code = "import sys, bench.results; print(sorted(m for m in sys.modules if m.startswith(('stand', 'pyroute2'))))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert found.stdout.strip() == "['stand', 'stand.model', 'stand.model.events']"
