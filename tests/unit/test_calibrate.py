"""`bench calibrate`: the ladder, the judgement of a step, and the capacity a scenario's share is taken of."""

from dataclasses import replace

import pytest

from bench import calibrate, scenario
from bench.calibrate import (
    Calibration,
    CalibrationStep,
    LoadKind,
    NoCalibration,
    capacity,
    judge,
    latest,
    next_rate,
    read_calibrations,
    save_calibration,
    with_rates,
)
from stand.runtime.handle import StandError

KIND = LoadKind("/repo/stand/topologies/seed.toml", "per-query", "extended", ("point",))


def ladder(capacity_rps: float, first: float = 20.0) -> list[float]:
    """The rates the ladder asks for against a stand that keeps up with anything up to `capacity_rps`."""
    steps = []
    while (rate := next_rate(steps, first)) is not None:
        steps.append((rate, rate <= capacity_rps))
    return [rate for rate, _ in steps]


def test_the_ladder_grows_until_a_step_fails_then_halves_the_gap():
    assert ladder(50) == [20, 30, 45, 67.5, 56.25]


def test_the_ladder_shrinks_when_the_first_step_fails_then_halves_the_gap():
    assert ladder(10) == pytest.approx([20, 20 / 1.5, 20 / 1.5**2, (20 / 1.5**2 + 20 / 1.5) / 2])


def test_the_ladder_stops_below_the_lowest_rate_and_after_the_most_steps():
    assert ladder(0.1)[-1] >= calibrate.MIN_RATE and len(ladder(0.1)) < calibrate.MAX_STEPS
    assert len(ladder(1e9)) == calibrate.MAX_STEPS


@pytest.mark.parametrize(
    ("offered", "served", "p99", "requests", "failed", "why"),
    [
        (50, 49.9, 120, 500, 0, ""),
        (50, 47.0, 120, 500, 0, "served 47.0/s of 50.0/s due"),
        (50, 50, 120, 500, 6, "6 of 500 requests failed"),
        (50, 50, 251, 500, 0, "p99 251 ms over 250 ms"),
        (50, 0, None, 0, 0, "nothing was recorded"),
    ],
)
def test_a_step_keeps_up_when_it_serves_what_was_due_in_time_without_failures(
    offered, served, p99, requests, failed, why
):
    assert judge(offered, served, p99, requests, failed, 250) == why


def calibration(mode: str, capacity_rps: float | None, measured_at: str = "2026-12-01T10:00:00") -> Calibration:
    step = CalibrationStep(20, 20, 20, 80, 400, 0, True, "", "/results/calibrate/x")
    return Calibration(KIND, mode, 250, 24, 100, capacity_rps, (step,), measured_at, {"suite": "test"})


def test_calibrations_are_kept_the_latest_per_kind_and_mode(tmp_path):
    save_calibration(tmp_path, calibration("anycast", 40))
    save_calibration(tmp_path, calibration("keepalived", 30))
    save_calibration(tmp_path, calibration("anycast", 50, "2026-12-01T11:00:00"))
    assert [(c.mode, c.capacity_rps) for c in read_calibrations(tmp_path)] == [("keepalived", 30), ("anycast", 50)]
    assert read_calibrations(tmp_path)[1] == calibration("anycast", 50, "2026-12-01T11:00:00")  # a round trip
    assert latest(tmp_path, replace(KIND, pg_mode="persistent"), "anycast") is None


def test_a_share_is_of_the_lowest_capacity_of_the_modes_run(tmp_path):
    """A comparison offers every design the same load: the one the weakest serves."""
    save_calibration(tmp_path, calibration("anycast", 50))
    save_calibration(tmp_path, calibration("keepalived", 30))
    assert capacity(tmp_path, KIND, ["anycast"])[0] == 50
    rps, source = capacity(tmp_path, KIND, ["anycast", "keepalived"])
    assert rps == 30 and source.startswith("30.0/s, keepalived mode")
    raw = {
        "name": "s",
        "description": "d",
        "duration_s": 10,
        "load": {
            "users": 24,
            "spawn_rate": 24,
            "mode": "per-query",
            "tags": ["point"],
            "rate": "40%",
            "probe_interval_ms": 100,
        },
    }
    (resolved,) = with_rates(tmp_path, [scenario.parse(raw, "s.toml")], ["anycast", "keepalived"], KIND.topology, print)
    assert (resolved.load.rate, resolved.load.rate_share, resolved.load.capacity_rps) == (12.0, 0.4, 30)


def test_a_capacity_never_measured_is_one_line_naming_the_command(tmp_path):
    save_calibration(tmp_path, calibration("anycast", 50))
    with pytest.raises(NoCalibration, match=r"in keepalived mode: run `bench calibrate keepalived`"):
        capacity(tmp_path, KIND, ["anycast", "keepalived"])
    save_calibration(tmp_path, calibration("keepalived", None))
    with pytest.raises(NoCalibration, match="not even the lowest rate kept up in keepalived mode"):
        capacity(tmp_path, KIND, ["anycast", "keepalived"])


def test_a_broken_calibration_file_is_one_line(tmp_path):
    (tmp_path / "calibration.json").write_text("[{")
    with pytest.raises(StandError, match="not a calibration file"):
        read_calibrations(tmp_path)
