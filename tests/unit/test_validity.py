"""When a run was not a valid measurement, on synthetic runs whose answer is known by construction."""

from dataclasses import replace
from pathlib import Path

from bench.results import MachineSample, Run, RunDir
from reports.validity import validity
from stand.model.events import FaultEvent
from tests.unit.test_metrics import T0, frame, probes, row, us

META = RunDir(Path(__file__).parent / "data" / "run-anycast").read_meta()
WINDOW = (us(0), us(20_000))
FAULT = [
    FaultEvent(us(10_000), "fault", "node-crash", "PgBAL1"),
    FaultEvent(us(15_000), "undo", "node-crash", "PgBAL1"),
]


def second(s: int, idle: float = 0.5, steal: float = 0.0) -> MachineSample:
    return MachineSample(us(1000 * (s + 1)), 1 - idle - steal, idle, 0.0, steal, 0.2, {"PgBAL1": 0.1})


def a_run(*, machine=(), probe=None, requests=None, decisions=(), meta=META, events=FAULT) -> Run:
    requests = (
        requests
        if requests is not None
        else frame([row(float(t), balancer=f"PgBAL{t % 3 + 1}") for t in range(0, 20_000, 7)])
    )
    return Run(
        Path("run"),
        replace(meta, started_us=T0, ended_us=us(20_000)),
        list(events),
        requests,
        probe if probe is not None else probes(lambda t: False, 0, 20_000),
        list(decisions),
        list(machine),
    )


def test_a_quiet_run_is_valid():
    result = validity(a_run(machine=[second(s) for s in range(20)]), WINDOW)
    assert result.valid and result.reasons == []
    assert (result.measured_s, result.saturated_s, result.idle_median) == (20, 0, 0.5)


def test_a_saturated_machine_makes_the_run_invalid():
    hog = [second(s, idle=0.01 if s % 4 == 0 else 0.5) for s in range(20)]  # 0, 4, 8 of the 10 s before the fault
    result = validity(a_run(machine=hog), WINDOW)
    assert not result.valid
    assert result.reasons == [
        "the machine was saturated: under 5% of its CPU idle in 3 of 10 s (not counting the seconds after each fault and undo)"
    ]
    assert result.by_the_machine
    one = [second(s, idle=0.01 if s == 3 else 0.5) for s in range(20)]  # one second may be chance
    assert validity(a_run(machine=one), WINDOW).valid


def test_a_failovers_reconnections_saturate_the_machine_for_seconds_and_that_is_the_designs_work():
    storm = [second(s, idle=0.01 if 10 <= s < 15 or 15 <= s < 20 else 0.5) for s in range(20)]  # after fault, undo
    assert validity(a_run(machine=storm), WINDOW).valid
    everything = [second(s, idle=0.01) for s in range(20)]
    assert not validity(a_run(machine=everything), WINDOW).valid


def test_steal_makes_the_run_invalid():
    result = validity(a_run(machine=[second(s, idle=0.4, steal=0.1) for s in range(20)]), WINDOW)
    assert result.reasons == ["the hypervisor took 10% of the CPU (steal)"]
    assert result.by_the_machine  # played again by `bench run` and `bench compare` (--retries)


def test_a_run_invalid_for_the_stand_too_is_not_the_machines_alone():
    decisions = [{"t_us": us(3000), "host": "PgBAL2", "kind": "state", "state": "down", "announced": False}]
    stolen = [second(s, idle=0.4, steal=0.1) for s in range(20)]
    result = validity(a_run(machine=stolen, decisions=decisions), WINDOW)
    assert result.reasons == ["the hypervisor took 10% of the CPU (steal)", "PgBAL2 withdrawn before the first fault"]
    assert not result.by_the_machine
    assert not validity(a_run(machine=[second(s) for s in range(20)]), WINDOW).by_the_machine  # valid


def test_a_load_generator_behind_its_schedule_makes_the_run_invalid():
    probe = probes(lambda t: False, 0, 20_000)
    probe["scheduled_us"] = probe["start_us"]
    late = probe["start_us"] >= us(5000)
    probe.loc[late & (probe["start_us"] < us(5300)), "start_us"] += 200_000  # 30 probes sent 200 ms late
    behind = validity(a_run(probe=probe), WINDOW)
    (reason,) = behind.reasons
    assert reason.startswith("the load generator fell behind its schedule: the probe started")
    assert behind.by_the_machine


def test_the_last_resort_serving_before_the_first_fault_makes_the_run_invalid():
    served = [row(float(t), balancer="last resort PgSQL1" if t % 10 == 0 else "PgBAL2") for t in range(0, 20_000, 5)]
    (reason,) = validity(a_run(requests=frame(served)), WINDOW).reasons
    assert reason == "the last resort served 50% of the ok requests before the first fault"


def test_a_balancer_withdrawn_before_the_first_fault_makes_the_run_invalid():
    decisions = [
        {"t_us": us(-5000), "host": h, "kind": "state", "state": "up", "announced": True} for h in META.balancers
    ] + [{"t_us": us(3000), "host": "PgBAL2", "kind": "state", "state": "down", "announced": False}]
    (reason,) = validity(a_run(decisions=decisions), WINDOW).reasons
    assert reason == "PgBAL2 withdrawn before the first fault"


def test_a_vip_already_moved_before_the_first_fault_makes_the_run_invalid():
    meta = replace(META, mode="keepalived", vip_mode=True)
    decisions = [
        {"t_us": us(-5000), "host": "PgBAL1", "kind": "state", "state": "MASTER", "announced": True},
        {"t_us": us(2000), "host": "PgBAL1", "kind": "state", "state": "FAULT", "announced": False},
        {"t_us": us(2100), "host": "PgBAL2", "kind": "state", "state": "MASTER", "announced": True},
    ]
    (reason,) = validity(a_run(meta=meta, decisions=decisions), WINDOW).reasons
    assert reason == "before the first fault the VIP was held by PgBAL2, not PgBAL1"


def test_results_without_machine_samples_are_not_called_invalid_for_it():
    assert validity(a_run(machine=[]), WINDOW).valid
    assert validity(a_run(events=[]), WINDOW).valid


def test_a_run_that_lost_its_load_is_invalid():
    """Locust or a probe exiting non-zero, a worker gone missing, most probes failing before the first fault."""
    exited = replace(META, locust_exit_code=1, probe_exit_code=2)
    assert validity(a_run(meta=exited), WINDOW).reasons == ["Locust exited with 1", "a probe exited with 2"]
    missing = replace(a_run(), missing_workers=2)
    assert validity(missing, WINDOW).reasons == ["a Locust worker went missing 2 times (it missed its heartbeats)"]
    unreached = a_run(probe=probes(lambda t: t < 9000, 0, 20_000))  # 900 of the 1000 probes before the fault
    assert validity(unreached, WINDOW).reasons == [
        "900 of 1000 probes failed before the first fault: the baseline reached nothing"
    ]
    interrupted = replace(META, locust_exit_code=1, interrupted=True)
    assert validity(a_run(meta=interrupted), WINDOW).valid  # Ctrl-C's exit code is the interruption's


def test_a_missing_worker_is_read_from_locusts_log(tmp_path):
    from bench.results import missing_workers

    log = tmp_path / "locust.log"
    assert missing_workers(log) == 0
    log.write_text(
        "[2026-12-01 10:00:06,1] vm/INFO/locust.runners: Worker vm_9 failed to send heartbeat, setting state to missing.\n"
        "[2026-12-01 10:00:06,2] vm/INFO/locust.runners: The last worker went missing, stopping test.\n"
    )
    assert missing_workers(log) == 1
