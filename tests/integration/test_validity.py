"""A run knows when it was not a valid measurement: the same short scenario on the anycast stand, once on
the quiet machine and once with every core busy with something else."""

import os
import subprocess
import sys

import pytest

from bench.results import RunDir, complete_runs, read_machine
from reports.run_summary import summarize_run

pytestmark = pytest.mark.integration
INVALID_RUN = 3


def bench_smoke(results) -> subprocess.CompletedProcess:
    argv = [
        sys.executable,
        "-m",
        "bench.cli",
        "run",
        "--mode",
        "anycast",
        "--scenario",
        "smoke",
        "--results",
        str(results),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def test_a_quiet_run_is_valid_and_records_the_machine(stand, tmp_path):
    result = bench_smoke(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = complete_runs(tmp_path)
    summary = summarize_run(run)
    assert summary.validity.valid, summary.validity.reasons
    samples = read_machine(RunDir(run).machine)
    assert len(samples) >= 15  # a sample a second of the 20 s scenario
    assert all(abs(s.busy + s.idle + s.iowait + s.steal - 1) < 1e-6 for s in samples)
    assert max(s.load_cores for s in samples) > 0  # Locust and the probe, by their process groups
    assert {"PgBAL1", "PgBAL2", "PgBAL3", "PgSQL1"} <= set(samples[0].host_cores)
    assert max(s.host_cores["PgBAL2"] for s in samples) > 0  # pgpool's processes, by their namespace


def test_a_run_on_a_saturated_machine_is_marked_invalid(stand, tmp_path):
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range((os.cpu_count() or 1) + 1)]
    try:
        result = bench_smoke(tmp_path)
    finally:
        for hog in hogs:  # ours: stopped by their PIDs
            hog.kill()
            hog.wait()
    output = result.stdout + result.stderr
    assert result.returncode == INVALID_RUN, output
    assert "INVALID, no verdict from this run: the machine was saturated" in output
    assert "is not a valid measurement: the machine was saturated" in result.stderr
