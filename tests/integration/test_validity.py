"""A run knows when it was not a valid measurement: a short scenario on the anycast stand on the quiet
machine, and one with every core busy with something else."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.results import RunDir, complete_runs, read_machine
from tests.integration.conftest import measured

pytestmark = pytest.mark.integration
INVALID_RUN = 3


CALM = """name = "calm"
description = "smoke's load, without a fault: every second counts for the machine's validity"
duration_s = 15

[load]
users = 6
spawn_rate = 6
mode = "per-query"
tags = ["point"]
think_ms = 200
probe_interval_ms = 50
"""


def bench_smoke(results, scenario: str = "smoke") -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "bench.cli", "run", "--mode", "anycast", "--scenario", scenario]
    return subprocess.run([*argv, "--results", str(results)], capture_output=True, text=True, timeout=300)


def test_a_quiet_run_is_valid_and_records_the_machine(stand, tmp_path):
    """Valid on a quiet machine; on this shared host another guest's steal or load may make even the run
    played again invalid: then every reason must be the machine's (`measured` warns)."""
    result = bench_smoke(tmp_path)
    (last,) = measured(result, tmp_path)
    run = Path(last.directory)
    samples = read_machine(RunDir(run).machine)
    assert len(samples) >= 15  # a sample a second of the 20 s scenario
    assert all(abs(s.busy + s.idle + s.iowait + s.steal - 1) < 1e-6 for s in samples)
    assert max(s.load_cores for s in samples) > 0  # Locust and the probe, by their process groups
    assert {"PgBAL1", "PgBAL2", "PgBAL3", "PgSQL1"} <= set(samples[0].host_cores)
    assert max(s.host_cores["PgBAL2"] for s in samples) > 0  # pgpool's processes, by their namespace


def test_a_run_on_a_saturated_machine_is_marked_invalid(stand, tmp_path):
    """Without a fault: the seconds after a fault or an undo are the design's own work (reconnections,
    failback) and do not count, so that a short run with faults would leave nothing to judge the machine by."""
    calm = tmp_path / "calm.toml"
    calm.write_text(CALM)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range((os.cpu_count() or 1) + 1)]
    try:
        result = bench_smoke(tmp_path / "results", str(calm))
    finally:
        for hog in hogs:  # ours: stopped by their PIDs
            hog.kill()
            hog.wait()
    output = result.stdout + result.stderr
    assert result.returncode == INVALID_RUN, output
    assert "INVALID, no verdict from this run: the machine was saturated" in output
    assert "is not a valid measurement: the machine was saturated" in result.stderr
    assert "not a valid measurement (the machine was saturated" in result.stdout  # the machine's: played again,
    attempts = sorted(RunDir(d).read_meta().attempt for d in complete_runs(tmp_path / "results"))
    assert attempts == [1, 2]  # once (--retries 1), the hogs still running
