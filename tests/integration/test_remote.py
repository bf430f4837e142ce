"""`bench run --inventory` end to end against the stand's own hosts over SSH (stand up --ssh), as on real
machines: the runner inside the stand (the shell router's namespace, on the stand's management network, where
nothing leads out), the faults played over SSH by each host's own `stand fault` (node-crash too: SSH
comes in off the topology's networks), Locust's
master in the runner with a worker on the client machine, the probe there too, everything fetched back
into one results directory that the same reports read."""

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bench.results import RunDir
from loadgen.records import read_records
from stand.linux import process
from stand.runtime import readiness
from tests.integration.conftest import measured, stand_cli

pytestmark = pytest.mark.integration

SCENARIO = """name = "remote-balancer-crash"
description = "PgBAL1 loses every link at 6 s and gets them back at 13 s, over SSH; a light open-loop load."
duration_s = 20

[load]
users = 6
spawn_rate = 6
mode = "per-query"
tags = ["point"]
rate = 15
probe_interval_ms = 100

[[timeline]]
at_s = 6
action = "fault"
fault = "node-crash"
target = "PgBAL1"

[[timeline]]
at_s = 13
action = "undo"
fault = "node-crash"
target = "PgBAL1"
"""


def test_a_scenario_over_ssh_gives_the_same_kind_of_figures_as_on_the_stand(stand, tmp_path):
    hosts = stand_cli("inventory")
    assert hosts.returncode == 0, hosts.stderr
    (tmp_path / "hosts.toml").write_text(hosts.stdout)
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    bench = [sys.executable, "-m", "bench.cli", "run", "--mode", "anycast", "--inventory", "hosts.toml"]
    bench += ["--scenario", "scenario.toml", "--results", "results"]
    result = subprocess.run(
        ["ip", "netns", "exec", stand.plan.shell_router.namespace, *bench],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    (summary,) = measured(result, tmp_path / "results")
    run_dir = RunDir(Path(summary.directory))
    meta = run_dir.read_meta()

    # every machine's clock measured against the runner's: on the stand they are one clock
    assert meta.inventory == "hosts.toml" and set(meta.clocks) == {h.name for h in stand.plan.hosts} | {"load1"}
    for name, clock in meta.clocks.items():
        assert abs(clock["offset_ms"]) <= clock["rtt_ms"] / 2 + 1.0, f"{name}: {clock}"

    # the faults, played by the host's own `stand fault`, stamped when they took effect, in the run
    events = [json.loads(line) for line in run_dir.events.read_text().splitlines()]
    assert [(e["action"], e["fault"], e["target"]) for e in events] == [
        ("fault", "node-crash", "PgBAL1"),
        ("undo", "node-crash", "PgBAL1"),
    ]
    assert meta.started_us < events[0]["t_us"] < events[1]["t_us"] < meta.ended_us
    stand_events = [json.loads(line) for line in (stand.layout.root / "events.jsonl").read_text().splitlines()]
    for event in events:  # the host's own stamps, less its measured offset (on one clock: under a millisecond)
        assert min(abs(event["t_us"] - e["t_us"]) for e in stand_events) < 1000, event

    # the records came back from the client machine, under names of their own
    assert [p.name.split("-")[1] for p in run_dir.records.glob("*.arrows")] == ["load1"]
    assert [p.name.split("-")[1] for p in run_dir.probe.glob("*.arrows")] == ["load1"]
    requests = read_records(run_dir.records, "requests")
    before = requests[(requests.start_us < events[0]["t_us"]) & (requests.outcome == "ok")]
    assert set(before.balancer) == {"PgBAL1", "PgBAL2", "PgBAL3"}
    during = requests[(requests.start_us > events[0]["t_us"] + 2_000_000) & (requests.start_us < events[1]["t_us"])]
    assert len(during) > 0 and "PgBAL1" not in set(during.balancer)  # withdrawn: the others carried the load

    # the same figures as the local path: a gap measured for the fault, which the design recovered from
    (fault,) = summary.faults
    assert (fault.fault, fault.target, fault.recovered) == ("node-crash", "PgBAL1", True)
    assert fault.gap_ms is not None and fault.path == "PgBAL1"
    assert summary.requests > 0 and not summary.false_health_changes
    assert (run_dir.root / "report.html").exists()

    # nothing left on the client machine
    assert not list(Path("/tmp").glob("pgab-run.*"))


def test_what_would_cut_the_runners_own_session_is_refused_before_anything_starts(stand, tmp_path):
    hosts = stand_cli("inventory")
    (tmp_path / "hosts.toml").write_text(hosts.stdout)
    (tmp_path / "scenario.toml").write_text(SCENARIO.replace('"node-crash"', '"node-freeze"'))
    bench = [sys.executable, "-m", "bench.cli", "run", "--mode", "anycast", "--inventory", "hosts.toml"]
    bench += ["--scenario", "scenario.toml", "--results", "results"]
    result = subprocess.run(
        ["ip", "netns", "exec", stand.plan.shell_router.namespace, *bench],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "bench: error: node-freeze on PgBAL1 over SSH on the stand: every process of the host stops, its sshd "
        "too (on the stand play it with `bench run` without --inventory)"
    ]
    assert not list((tmp_path / "results").glob("*/meta.json"))


def test_from_this_machines_shell_the_stands_hosts_are_not_reached(stand, tmp_path):
    """Outside the stand's namespaces the management network is not routed: its route here would be the
    default one, out of this machine, so the run refuses before any connection, with one line."""
    hosts = stand_cli("inventory")
    (tmp_path / "hosts.toml").write_text(hosts.stdout)
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    bench = [sys.executable, "-m", "bench.cli", "run", "--mode", "anycast", "--inventory", "hosts.toml"]
    result = subprocess.run(
        [*bench, "--scenario", "scenario.toml", "--results", "results"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "SSH to root@198.19.255." in line and "refusing to send traffic to 198.19.255." in line
    assert not list((tmp_path / "results").glob("*/records"))


def test_ctrl_c_over_ssh_undoes_the_fault_keeps_the_records_and_leaves_nothing_on_the_client(stand, tmp_path):
    hosts = stand_cli("inventory")
    (tmp_path / "hosts.toml").write_text(hosts.stdout)
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    bench = [sys.executable, "-m", "bench.cli", "run", "--mode", "anycast", "--inventory", "hosts.toml"]
    bench += ["--scenario", "scenario.toml", "--results", "results"]
    run = subprocess.Popen(
        ["ip", "netns", "exec", stand.plan.shell_router.namespace, *bench],  # ip execs bench: the signal reaches it
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(run.stdout), daemon=True)
    reader.start()
    try:
        injected = lambda: any("fault node-crash PgBAL1 (over SSH)" in line for line in lines)  # noqa: E731
        assert process.wait_until(injected, 300, 0.1), "".join(lines)
        run.send_signal(signal.SIGINT)
        run.wait(timeout=180)
        reader.join(timeout=10)
    finally:
        if run.poll() is None:
            run.kill()
    output = "".join(lines)
    assert run.returncode == 0, output[-3000:]
    assert "interrupted: stopping the load, undoing active faults" in output
    (directory,) = (tmp_path / "results").glob("*")
    run_dir = RunDir(directory)
    assert run_dir.read_meta().interrupted
    actions = [json.loads(line)["action"] for line in run_dir.events.read_text().splitlines()]
    assert actions == ["fault", "undo"]  # the active fault undone over SSH

    def back() -> bool:  # its links up again: the router takes it back as a next hop
        return "PgBAL1" in {readiness.balancer_of_next_hop(stand, hop) for hop in readiness.anycast_next_hops(stand)}

    assert process.wait_until(back, 120, 0.5), readiness.describe(stand)
    assert list(run_dir.records.glob("requests-load1-*.arrows")) and list(run_dir.probe.glob("probe-load1-*"))
    assert not list(Path("/tmp").glob("pgab-run.*"))
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and b"pgab-run." in _cmdline(p)]
    assert left == [], "a worker or the probe outlived the run"


def _cmdline(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:
        return b""
