"""`bench calibrate` on the running anycast stand, then a run whose rate is a share of what it measured:
open-loop arrivals at that rate, each request recorded with when it was due."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.calibrate import read_calibrations
from bench.results import RunDir
from loadgen.records import read_records
from tests.integration.conftest import measured

pytestmark = pytest.mark.integration

SHARE_SCENARIO = """name = "half"
description = "No fault: half of the calibrated capacity, open loop, from 8 connections, for the test of bench calibrate."
duration_s = 15

[load]
users = 8
spawn_rate = 8
mode = "per-query"
tags = ["point"]
rate = "50%"
probe_interval_ms = 100
"""


def bench(tmp_path, *args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args, "--results", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )


def test_a_calibration_then_a_run_at_half_of_it(stand, tmp_path):
    # a limit no step of a healthy stand misses: the test is of the mechanics, whatever the machine serves
    calibrated = bench(tmp_path, "calibrate", "anycast", "--pg-mode", "per-query", "--steps", "2", "--p99-ms", "3000")
    assert calibrated.returncode == 0, calibrated.stdout + calibrated.stderr
    (calibration,) = read_calibrations(tmp_path / "results")
    assert calibration.mode == "anycast" and calibration.kind.pg_mode == "per-query"
    assert calibration.p99_limit_ms == 3000
    assert [s.rate_rps for s in calibration.steps] == [20.0, 30.0], calibration.steps  # two steps, as asked
    assert calibration.capacity_rps == max(s.served_rps for s in calibration.steps if s.kept_up)
    assert f"capacity: {calibration.capacity_rps:.1f} requests a second" in calibrated.stdout

    (tmp_path / "half.toml").write_text(SHARE_SCENARIO)
    ran = bench(tmp_path, "run", "--mode", "anycast", "--scenario", str(tmp_path / "half.toml"))
    (last,) = measured(ran, tmp_path / "results")  # this test is of the mechanics: the machine's noise is warned about
    assert f"half: 50% of the capacity ({calibration.capacity_rps:.1f}/s, anycast mode" in ran.stdout
    out = Path(last.directory)
    load = json.loads(RunDir(out).meta.read_text())["scenario"]["load"]
    assert load["rate"] == pytest.approx(calibration.capacity_rps / 2, abs=0.01) and load["rate_share"] == 0.5
    records = read_records(out / "records")
    assert records["scheduled_us"].notna().all()  # every request knows when it was due
    summary = last
    assert summary.offered_rps == pytest.approx(load["rate"], rel=0.15)  # the arrivals came at the rate
    assert summary.throughput_rps == pytest.approx(summary.offered_rps, rel=0.1)  # and half the capacity was served
