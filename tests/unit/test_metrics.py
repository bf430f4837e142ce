"""Metric definitions on synthetic records whose answers are known by construction."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loadgen.records import SCHEMA, frame_of
from reports.metrics import (
    DISTRIBUTION_PERCENTILES,
    Gap,
    Phase,
    SiteLocality,
    backend_share,
    balancer_share,
    collateral_broken_connections,
    failed_during,
    failover_gap,
    fault_report,
    latency_distribution,
    locality,
    on_schedule,
    phases,
    probe_lag,
    recovery_after_undo,
    steady_window,
    summary,
)

T0 = 1_700_000_000_000_000  # the fault, in µs; record times below are ms relative to it


def us(ms: float) -> int:
    return T0 + round(ms * 1000)


def row(
    ms: float,
    outcome: str = "ok",
    *,
    balancer: str = "PgBAL1",
    backend: str = "PgSQL2",
    mode: str = "per-query",
    process: str = "vm:1",
    connection: str = "c",
    latency_ms: float = 1.0,
) -> dict:
    """One record with every column; a failed one has no balancer or backend, as the client records it."""
    ok = outcome == "ok"
    return dict(
        start_us=us(ms),
        latency_ms=latency_ms,
        connect_ms=None,
        outcome=outcome,
        error_class=None if ok else "ConnectionError",
        error_text=None if ok else "refused",
        workload="point",
        mode=mode,
        protocol="extended",
        site="main",
        user=0,
        process=process,
        connection=connection,
        new_connection=mode == "per-query",
        balancer=balancer if ok else None,
        backend=backend if ok else None,
        balancer_address="198.18.0.95" if ok else None,
        backend_address="198.18.0.93" if ok else None,
    )


def frame(rows: list[dict]) -> pd.DataFrame:
    """The rows as `read_records` returns them (same schema, same dtypes: categoricals included)."""
    return frame_of(pa.Table.from_pylist(rows, schema=SCHEMA))


def probes(failing, start_ms: float = -1000, end_ms: float = 3000, period_ms: float = 10) -> pd.DataFrame:
    """A probe every `period_ms` in [start_ms, end_ms); `failing(ms)` says which ones fail."""
    times = np.arange(start_ms, end_ms, period_ms)
    return frame([row(float(t), "error" if failing(float(t)) else "ok") for t in times])


# failover_gap


@pytest.mark.parametrize("fault_offset_ms", [0, 3, 9.999])
def test_a_full_outage_of_1_5_s_gives_a_gap_of_1_5_s_within_one_period(fault_offset_ms):
    fault_us = us(fault_offset_ms)
    probe = probes(lambda t: fault_offset_ms <= t < fault_offset_ms + 1500)
    gap = failover_gap(probe, fault_us, us(3000))
    assert abs(gap.gap_ms - 1500) <= 10
    assert gap.gap_ms >= 1500  # the first ok probe comes at or after the outage's end
    assert gap.recovered and gap.confirmed
    assert gap.failed_probes == 150
    assert gap.period_ms == gap.resolution_ms == 10.0


@pytest.mark.parametrize("phase, last_failure_ms", [(0, 270), (1, 280), (2, 290)])
def test_interleaved_failures_end_the_gap_when_they_stop_not_at_the_first_ok_probe(phase, last_failure_ms):
    # ECMP with 3 next hops, one dead for 300 ms: every third probe fails, the others are served
    probe = probes(lambda t: 0 <= t < 300 and round(t / 10) % 3 == phase)
    gap = failover_gap(probe, T0, us(3000))
    assert gap.gap_ms == last_failure_ms + 10  # the probe right after the last failure
    assert abs(gap.gap_ms - 300) <= 3 * gap.period_ms
    assert gap.failed_probes == 10
    assert gap.recovered and gap.confirmed


def test_no_failure_after_the_fault_is_no_gap():
    probe = probes(lambda t: -500 <= t < 0)  # failures before the fault are not the fault's
    gap = failover_gap(probe, T0, us(3000))
    assert gap == Gap(
        fault_us=T0,
        until_us=us(3000),
        gap_ms=0.0,
        recovered=True,
        recovery_us=T0,
        confirmed=True,
        probes=300,
        failed_probes=0,
        late_probes=0,
        period_ms=10.0,
        resolution_ms=10.0,
    )


def test_traffic_that_never_recovers_has_no_gap():
    probe = probes(lambda t: t >= 0)
    gap = failover_gap(probe, T0, us(2000))
    assert gap.gap_ms is None and gap.recovery_us is None
    assert not gap.recovered and not gap.confirmed
    assert gap.failed_probes == gap.probes == 200


@pytest.mark.parametrize(
    "stable_ms, gap_ms",
    [
        (1000, 1000),  # the 300 ms of ok probes between the failures is too short: the gap ends after the later ones
        (301, 1000),
        (300, 500),  # [500, 800) holds only ok probes: the failure at 800 is just outside
        (200, 500),
    ],
)
def test_failures_resuming_after_a_short_ok_run_extend_the_gap(stable_ms, gap_ms):
    probe = probes(lambda t: 0 <= t < 500 or 800 <= t < 1000)
    gap = failover_gap(probe, T0, us(3000), stable_ms=stable_ms)
    assert gap.gap_ms == gap_ms
    assert gap.failed_probes == 70


def test_an_ok_run_cut_by_the_end_of_the_window_recovers_unconfirmed():
    probe = probes(lambda t: 0 <= t < 1700)
    gap = failover_gap(probe, T0, us(2000), stable_ms=1000)
    assert gap.recovered and gap.gap_ms == 1700
    assert not gap.confirmed


def test_a_later_failure_after_a_stable_recovery_does_not_move_it():
    probe = probes(lambda t: 0 <= t < 200 or 2500 <= t < 2600)
    gap = failover_gap(probe, T0, us(3000), stable_ms=1000)
    assert gap.gap_ms == 200
    assert gap.failed_probes == 30


def test_an_ok_probe_at_the_instant_of_a_failed_one_does_not_end_the_gap():
    # two probe streams (two sites) ticking together: one fails for 300 ms, the other is always served
    failing = probes(lambda t: 0 <= t < 300)
    served = probes(lambda t: False)
    gap = failover_gap(pd.concat([served, failing], ignore_index=True), T0, us(3000))
    assert gap.gap_ms == 300
    assert gap.failed_probes == 30


def test_failures_that_begin_after_the_onset_are_not_the_faults_outage():
    probe = probes(lambda t: 1500 <= t < 1700)  # ok probes for longer than ONSET_MS, then failures
    gap = failover_gap(probe, T0, us(3000), stable_ms=1000)
    assert gap.gap_ms == 0 and gap.recovered
    assert gap.failed_probes == 20  # still counted, as failures of the fault's window


def test_one_stray_failure_40_s_after_a_fault_without_effect_is_no_gap():
    probe = probes(lambda t: t == 40_000, end_ms=45_000)
    gap = failover_gap(probe, T0, us(45_000))
    assert gap.gap_ms == 0 and gap.failed_probes == 1


def syn_probes(outage_ms: float, connect_timeout_ms: float = 2000, period_ms: float = 10, end_ms: float = 5000):
    """Probes through an outage of every path in [0, outage_ms), as TCP meets it: a SYN at the start, then
    retransmissions after 1, 2, 4 ... s; the first one sent after the outage is answered at once (1 ms),
    and none sent in time is a timeout at connect_timeout_ms."""
    records = []
    for start in np.arange(-500, end_ms, period_ms):
        start, sent, wait = float(start), float(start), 1000.0
        while 0 <= sent < outage_ms:
            sent, wait = sent + wait, wait * 2
        if sent - start < connect_timeout_ms:
            records.append(row(start, latency_ms=sent - start + 1))
        else:
            records.append(row(start, "timeout", latency_ms=connect_timeout_ms))
    return frame(records)


@pytest.mark.parametrize("outage_ms", [300, 1000, 2000, 2500])
def test_an_outage_of_every_path_is_measured_whole_though_probes_started_in_it_are_answered_after_it(outage_ms):
    """With a 2 s connect timeout, a probe that starts in the outage's last second is answered after it
    (its SYN is sent again 1 s later) and succeeds: late, it still met the outage."""
    probe = syn_probes(outage_ms)
    gap = failover_gap(probe, T0, us(5000))
    assert outage_ms <= gap.gap_ms <= outage_ms + 10
    assert gap.late_probes == min(outage_ms, 1000) // 10  # those started in the outage's last second


def test_probes_in_flight_at_the_fault_and_affected_by_it_count_from_the_fault():
    probe = frame([row(-5, "timeout", latency_ms=2000), *[row(float(t)) for t in range(10, 2000, 10)]])
    assert failover_gap(probe, T0, us(2000)).probes == 199  # without: only what started in the window
    gap = failover_gap(probe, T0, us(2000), in_flight_since_us=us(-1000))
    assert gap.probes == 200 and gap.failed_probes == 1
    assert gap.gap_ms == 10  # the first probe after the one the fault caught


def test_the_resolution_of_several_streams_is_each_streams_period_not_their_merged_spacing():
    sites = []
    for index, site in enumerate(("msk", "spb", "ekb")):
        stream = probes(lambda t: False)
        stream["site"], stream["process"] = site, f"vm:{index}"
        stream["start_us"] += index  # the three ticking together, a µs apart
        sites.append(stream)
    gap = failover_gap(pd.concat(sites, ignore_index=True), T0, us(3000))
    assert gap.period_ms == gap.resolution_ms == 10.0


def test_no_probe_in_the_window_measures_nothing():
    gap = failover_gap(probes(lambda t: False, end_ms=0), T0, us(1000))
    assert gap.probes == 0 and gap.gap_ms is None and not gap.recovered and gap.period_ms is None


# summary


def test_summary_counts_throughput_and_exact_percentiles_of_ok_latencies():
    ok = [row((i - 1) * 100, latency_ms=float(i)) for i in range(1, 101)]  # latencies 1..100 ms over 10 s
    failed = [row(50, "timeout", latency_ms=1000.0), row(60, "error", latency_ms=5000.0), row(70, "wrong_answer")]
    outside = [row(10_000, latency_ms=0.1)]
    s = summary(frame(ok + failed + outside), start_us=us(0), end_us=us(10_000))
    assert (s.requests, s.ok, s.failed) == (103, 100, 3)
    assert s.failed_by_outcome == {"error": 1, "timeout": 1, "wrong_answer": 1}
    assert s.throughput_rps == 10.0
    assert s.p50_ms == pytest.approx(50.5) and s.p95_ms == pytest.approx(95.05) and s.p99_ms == pytest.approx(99.01)
    assert s.max_ms == 100.0


def test_percentiles_are_numpys_on_the_raw_values():
    latencies = np.random.default_rng(7).lognormal(0, 1, 997)
    s = summary(frame([row(i, latency_ms=float(v)) for i, v in enumerate(latencies)]))
    assert [s.p50_ms, s.p95_ms, s.p99_ms] == np.percentile(latencies, [50, 95, 99]).tolist()
    assert s.max_ms == latencies.max()


def test_summary_without_bounds_spans_first_start_to_last_finish():
    s = summary(frame([row(0, latency_ms=5.0), row(1000, latency_ms=1000.0), row(1500, "error")]))
    assert (s.start_us, s.end_us) == (us(0), us(2000))
    assert s.throughput_rps == 1.0  # 2 ok in 2 s


def test_summary_of_nothing():
    s = summary(frame([row(0, "error")]), start_us=us(0), end_us=us(1000))
    assert s.ok == 0 and s.failed == 1 and s.throughput_rps == 0.0
    assert s.p50_ms is None and s.max_ms is None
    assert summary(frame([])).requests == 0


# latency_distribution


def test_the_distribution_runs_from_p0_to_p99_9_and_the_slowest_of_ok_latencies_in_the_window():
    ok = [row(i / 100, latency_ms=float(i + 1)) for i in range(1000)]  # 1..1000 ms, all inside [0, 10 ms)
    failed = [row(5, "timeout", latency_ms=9000.0)]
    outside = [row(10, latency_ms=0.01), row(-1, latency_ms=5000.0)]
    d = latency_distribution(frame(ok + failed + outside), us(0), us(10))
    at = dict(zip(DISTRIBUTION_PERCENTILES, d.percentiles_ms))
    assert d.count == 1000 and d.max_ms == 1000.0
    assert at[0.0] == 1.0 and at[50.0] == pytest.approx(500.5)
    assert at[90.0] == pytest.approx(900.1) and at[99.0] == pytest.approx(990.01) and at[99.9] == pytest.approx(999.001)
    assert d.percentiles_ms == sorted(d.percentiles_ms)


def test_the_distribution_of_a_window_without_an_ok_request_is_none():
    assert latency_distribution(frame([row(0, "error")]), us(0), us(1000)) is None
    assert latency_distribution(frame([row(0)]), us(1), us(1000)) is None


def test_the_distribution_of_the_probe_counts_from_when_each_was_due():
    late = row(0, latency_ms=1.0) | {"scheduled_us": us(-50)}  # sent 50 ms late: as late for a client on time
    d = latency_distribution(frame([late]), us(-100), us(100))
    assert d.max_ms == pytest.approx(51.0)


# shares


def test_shares_of_ok_requests_in_the_window_sum_to_one():
    rows = (
        [row(t, balancer="PgBAL1", backend="PgSQL2") for t in range(0, 50)]
        + [row(t, balancer="PgBAL2", backend="PgSQL3") for t in range(50, 80)]
        + [row(t, balancer="PgBAL3", backend="PgSQL3") for t in range(80, 100)]
        + [row(t, "error") for t in range(100, 200)]  # failures have no balancer and are no share
        + [row(t, balancer="PgBAL3") for t in range(-100, 0)]  # outside the window
    )
    requests = frame(rows)
    shares = balancer_share(requests, us(0), us(200))
    assert shares == {"PgBAL1": 0.5, "PgBAL2": 0.3, "PgBAL3": 0.2}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert backend_share(requests, us(0), us(200)) == {"PgSQL2": 0.5, "PgSQL3": 0.5}
    assert balancer_share(requests, us(100), us(200)) == {}


# phases


def event(ms: float, action: str, fault: str = "node-crash", target: str = "PgBAL1") -> dict:
    return {"t_us": us(ms), "action": action, "fault": fault, "target": target}


def test_phases_are_named_after_the_event_that_opens_them():
    events = [event(0, "fault"), event(3000, "undo"), event(5000, "fault", "drain", "PgBAL2")]
    assert phases(events, us(-1000), us(8000)) == [
        Phase("before", us(-1000), us(0)),
        Phase("after node-crash PgBAL1", us(0), us(3000)),
        Phase("after undo node-crash PgBAL1", us(3000), us(5000)),
        Phase("after drain PgBAL2", us(5000), us(8000)),
    ]
    assert phases([], us(0), us(10)) == [Phase("before", us(0), us(10))]


def test_phases_refuse_events_out_of_order():
    with pytest.raises(ValueError):
        phases([event(3000, "undo"), event(0, "fault")], us(-1000), us(8000))


# failed requests, collateral, recovery


def test_failed_during_counts_failures_starting_in_the_window():
    requests = frame([row(-1, "error"), row(0, "timeout"), row(5, "wrong_answer"), row(6), row(10, "error")])
    assert failed_during(requests, us(0), us(10)) == 2


def persistent(ms: float, connection: str, outcome: str = "ok", balancer: str = "PgBAL1", process: str = "vm:1"):
    return row(ms, outcome, balancer=balancer, mode="persistent", connection=connection, process=process)


def test_collateral_counts_broken_connections_of_the_surviving_balancers_only():
    requests = frame(
        [
            persistent(-20, "c1", balancer="PgBAL1"),
            persistent(10, "c1", "error"),  # on the failed one: not collateral
            persistent(-20, "c2", balancer="PgBAL2"),
            persistent(10, "c2", "error"),
            persistent(20, "c2", "timeout"),
            persistent(-20, "c3", balancer="PgBAL3"),
            persistent(30, "c3", "error"),
            persistent(-20, "c4", balancer="PgBAL2"),
            persistent(30, "c4"),  # survives
            persistent(-20, "c3", balancer="PgBAL2", process="vm:2"),
            persistent(40, "c3", "error", process="vm:2"),
            persistent(-30, "c5", balancer="PgBAL2"),
            persistent(-10, "c5", balancer="PgBAL1"),  # last on PgBAL1
            persistent(10, "c5", "error"),
            persistent(-20, "c6", balancer="PgBAL3"),
            persistent(1000, "c6", "error"),  # broken after the window
            persistent(-20, "c7", "error"),
            persistent(10, "c7", "error"),  # never served before the fault
            row(-20, balancer="PgBAL2", connection="c8"),
            row(10, "error", connection="c8"),  # per-query
        ]
    )
    assert collateral_broken_connections(requests, T0, us(1000), "PgBAL1") == 3  # c2, c3 and vm:2's c3


def test_recovery_after_undo_is_the_first_ok_request_the_target_serves():
    requests = frame(
        [
            row(-10, balancer="PgBAL1"),  # before the undo
            row(50, balancer="PgBAL2"),
            row(100, "error"),
            row(250, balancer="PgBAL1", backend="PgSQL3"),
            row(400, balancer="PgBAL1"),
        ]
    )
    assert recovery_after_undo(requests, T0, "PgBAL1", us(1000)) == 250.0
    assert recovery_after_undo(requests, T0, "PgBAL1", us(250)) is None
    assert recovery_after_undo(requests, T0, "PgSQL3", us(1000)) == 250.0  # a backend as the target
    assert recovery_after_undo(requests, T0, "PgBAL3", us(1000)) is None


# the report


def test_fault_report_ties_the_metrics_to_each_fault():
    events = [event(0, "fault"), event(5000, "fault", "pgpool-kill", "PgBAL2"), event(6000, "undo")]
    probe = probes(lambda t: 0 <= t < 400 or (5000 <= t < 5100 and round(t / 10) % 2 == 0), end_ms=8000)
    probe["balancer"] = probe["balancer"].astype(object)  # set by hand below: not a categorical of PgBAL1 alone
    probe.loc[probe.outcome == "ok", "balancer"] = "PgBAL3"
    probe.loc[(probe.start_us >= us(6120)) & (probe.outcome == "ok"), "balancer"] = "PgBAL1"
    requests = frame(
        [
            persistent(-20, "a", balancer="PgBAL1"),
            persistent(100, "a", "error"),
            persistent(-20, "b", balancer="PgBAL2"),
            persistent(150, "b", "error"),  # collateral of the crash
            persistent(200, "b2", balancer="PgBAL2"),
            persistent(2000, "b2", balancer="PgBAL3"),
            persistent(4000, "e", balancer="PgBAL2"),
            persistent(5050, "e", "error"),
            persistent(4500, "g", balancer="PgBAL3"),
            persistent(5060, "g", "error"),  # collateral of the kill
            persistent(5500, "f", balancer="PgBAL3"),
            persistent(6500, "d", balancer="PgBAL1"),  # PgBAL1 serves a request 500 ms after the undo
        ]
    )

    crash, kill = fault_report(requests, probe, events, run_end_us=us(8000))

    assert (crash.fault, crash.target, crash.fault_us, crash.undo_us) == ("node-crash", "PgBAL1", T0, us(6000))
    assert crash.gap.gap_ms == 400 and crash.gap.until_us == crash.until_us == us(5000) and crash.gap.confirmed
    assert (crash.failed_requests, crash.failed_probes, crash.collateral_broken_connections) == (2, 40, 1)
    assert crash.recovery_ms == 120.0  # the probe reached PgBAL1 before the requests did
    assert crash.balancer_share == {"PgBAL2": 0.5, "PgBAL3": 0.5}  # until the next event, not the undo

    # the undo at 6000 is the crash's: the kill is never undone, and its window ends at that undo
    assert (kill.fault, kill.target, kill.undo_us, kill.recovery_ms) == ("pgpool-kill", "PgBAL2", None, None)
    assert kill.gap.gap_ms == 90 and kill.gap.until_us == us(6000)
    assert (kill.failed_requests, kill.failed_probes, kill.collateral_broken_connections) == (2, 5, 1)
    assert kill.balancer_share == {"PgBAL3": 1.0}


def test_a_fault_is_undone_by_the_next_undo_of_the_same_fault_and_target():
    events = [
        event(0, "fault", "drain", "PgBAL1"),
        event(100, "undo", "node-crash", "PgBAL1"),
        event(200, "undo", "drain", "PgBAL2"),
        event(300, "undo", "drain", "PgBAL1"),
        event(400, "undo", "drain", "PgBAL1"),
    ]
    nothing = frame([])
    (drain,) = fault_report(nothing, nothing, events, run_end_us=us(1000))
    assert drain.undo_us == us(300)
    assert drain.gap.until_us == us(100)  # the window ends at the next event, whichever it is
    assert drain.gap.probes == 0 and drain.gap.gap_ms is None and drain.recovery_ms is None


# locality

SITES = {"PgBAL-spb": "spb", "PgBAL-msk": "msk", "PgSQL2": "spb"}


def at(site: str, ms: float, outcome: str = "ok", *, balancer: str | None = "PgBAL-spb", latency_ms: float = 1) -> dict:
    return row(ms, outcome, balancer=balancer, latency_ms=latency_ms) | {"site": site}


def test_locality_counts_ok_requests_with_a_known_balancer_of_each_client_site():
    requests = frame(
        [at("spb", t, latency_ms=ms) for t, ms in enumerate([1, 2, 3, 4])]  # local: p50 2.5
        + [at("spb", 10 + t, balancer="PgBAL-msk", latency_ms=ms) for t, ms in enumerate([20, 30])]  # remote
        + [at("spb", 20, "timeout"), at("spb", 21, balancer=None)]  # a failure, an ok one without a known balancer
        + [at("msk", 30, balancer="PgBAL-msk", latency_ms=5)]
    )
    msk_row, spb_row = locality(requests, SITES)  # in site name order
    # spb: 1, 2, 3, 4, 20, 30 ms: p50 between 3 and 4
    assert spb_row == SiteLocality(
        site="spb",
        requests=6,
        local_share=pytest.approx(4 / 6),
        p50_ms=3.5,
        p50_local_ms=2.5,
        added_ms=1.0,
        balancer_share={"PgBAL-msk": pytest.approx(2 / 6), "PgBAL-spb": pytest.approx(4 / 6)},
    )
    assert msk_row == SiteLocality(
        site="msk",
        requests=1,
        local_share=1.0,
        p50_ms=5.0,
        p50_local_ms=5.0,
        added_ms=0.0,
        balancer_share={"PgBAL-msk": 1.0},
    )


def test_locality_of_a_site_never_served_at_home_or_never_served_at_all():
    requests = frame([at("ekb", 0, latency_ms=7), at("ekb", 1, balancer="10.0.0.9"), at("nsk", 2, "error")])
    ekb, nsk = locality(requests, SITES)
    # a balancer missing from the mapping (here an address the client could not name) is not local
    assert (ekb.requests, ekb.local_share, ekb.p50_ms, ekb.p50_local_ms, ekb.added_ms) == (2, 0.0, 4.0, None, None)
    assert ekb.balancer_share == {"10.0.0.9": 0.5, "PgBAL-spb": 0.5}
    assert nsk == SiteLocality(
        site="nsk", requests=0, local_share=None, p50_ms=None, p50_local_ms=None, added_ms=None, balancer_share={}
    )


def test_locality_counts_records_by_their_start_in_the_window():
    requests = frame([at("spb", 0), at("spb", 10, balancer="PgBAL-msk"), at("spb", 20, balancer="PgBAL-msk")])
    (only,) = locality(requests, SITES, us(0), us(20))
    assert (only.requests, only.local_share) == (2, 0.5)
    assert locality(requests, SITES, us(30), us(40)) == []


# windows of faults, known answers


def test_two_faults_a_second_apart_each_get_their_own_outage():
    events = [event(0, "fault", "pgpool-kill", "PgBAL1"), event(1000, "fault", "pgpool-kill", "PgBAL2")]
    probe = probes(lambda t: 0 <= t < 300 or 1000 <= t < 1300, end_ms=4000)
    first, second = fault_report(frame([]), probe, events, run_end_us=us(4000))
    assert (first.gap.gap_ms, second.gap.gap_ms) == (300, 300)  # not 1300 and 300
    assert (first.failed_probes, second.failed_probes) == (30, 30)


def test_faults_played_together_are_measured_once():
    events = [event(0, "fault", "node-crash", h) for h in ("RtSpb", "PgSpb", "BalSpb")]
    events = [{**e, "t_us": e["t_us"] + i * 20_000} for i, e in enumerate(events)]  # 20 ms apart
    probe = probes(lambda t: 0 <= t < 500, end_ms=3000)
    requests = frame([persistent(-10, "a", balancer="BalSpb"), persistent(30, "a", "error"), row(50, "error")])
    (site,) = fault_report(requests, probe, events, run_end_us=us(3000))
    assert (site.target, site.together) == ("RtSpb", ("node-crash PgSpb", "node-crash BalSpb"))
    assert site.gap.gap_ms == 500 and site.failed_probes == 50
    assert site.failed_requests == 2 and site.collateral_broken_connections == 0  # BalSpb is one of the failed


def test_faults_of_one_block_are_one_group_however_long_they_took_to_play():
    """A site going down: three node-crashes of one scenario second, 300 ms apart because each took that
    long to play on a busy machine. The block's number makes them one; without it, they are three."""
    events = [
        {**event(i * 300, "fault", "node-crash", h), "together": 4} for i, h in enumerate(("RtSpb", "PgSpb", "BalSpb"))
    ]
    probe = probes(lambda t: 0 <= t < 500, end_ms=3000)
    (site,) = fault_report(probe.iloc[0:0], probe, events, run_end_us=us(3000))
    assert (site.target, site.together, site.together_targets) == (
        "RtSpb",
        ("node-crash PgSpb", "node-crash BalSpb"),
        ("PgSpb", "BalSpb"),
    )
    apart = [{**e, "together": None} for e in events]
    assert len(fault_report(probe.iloc[0:0], probe, apart, run_end_us=us(3000))) == 3


def test_a_request_in_flight_at_the_fault_that_fails_after_it_is_the_faults():
    events = [event(0, "fault"), event(2000, "undo")]
    requests = frame([row(-50, "timeout", latency_ms=500), row(-300, "error", latency_ms=100), row(100, "error")])
    (crash,) = fault_report(requests, frame([]), events, run_end_us=us(3000))
    assert crash.failed_requests == 2  # the one in flight and the one after; the one that failed before is not


def test_collateral_counts_connections_opened_after_the_fault_and_not_those_broken_before_it():
    requests = frame(
        [
            persistent(100, "new", balancer="PgBAL2"),  # opened after the fault
            persistent(150, "new", "error"),  # reset by the rehash a moment later
            persistent(-900, "old", balancer="PgBAL3"),
            persistent(-500, "old", "error"),  # broken before the fault
            persistent(200, "old", "error"),  # its reconnects keep failing, under the same id
            persistent(-20, "kept", balancer="PgBAL3"),
            persistent(-10, "kept", "error", balancer="PgBAL3"),  # broke and ended before the fault
        ]
    )
    assert collateral_broken_connections(requests, T0, us(1000), "PgBAL1", in_flight_since_us=us(-2000)) == 1


def test_throughput_over_the_steady_window_leaves_out_start_up_and_drain():
    rows = []
    for user in range(4):  # each starts 500 ms after the one before and sends every 10 ms until 10 s
        for t in range(user * 500, 10_000 + 300 * user, 10):  # then drains, later users later
            rows.append({**row(float(t)), "user": user})
    requests = frame(rows)
    start_us, end_us = steady_window(requests, users=4, load_end_us=us(10_000))
    assert (start_us, end_us) == (us(1500 + 5000), us(10_000))  # the last user's first request, then warm-up
    assert summary(requests, start_us, end_us).throughput_rps == pytest.approx(400)
    assert summary(requests).throughput_rps < 400  # the whole run, start-up and drain included
    assert steady_window(requests, users=4, load_end_us=us(10_000), first_fault_us=us(4000)) == (us(4000), us(10_000))
    assert steady_window(requests, users=5, load_end_us=us(10_000)) is None


# the probe's schedule


def test_a_probe_sent_late_counts_when_it_was_due_and_its_lag_is_reported():
    """The load generator fell 950 ms behind for a moment: the probes it then fired in a burst count at
    their scheduled times, late by as much as a client arriving on time would have waited."""
    records = []
    for t in range(0, 3000, 10):
        start = max(t, 1000) if 50 <= t < 1000 else t  # those due in [50, 1000) all start at 1000
        records.append({**row(float(start)), "scheduled_us": us(t)})
    probe = frame(records)
    lag = probe_lag(probe)
    assert lag.probes == 300 and lag.max_ms == 950 and lag.p50_ms == 0
    gap = failover_gap(probe, T0, us(3000))
    assert gap.late_probes == 6  # due in [50, 110): answered more than LATE_MS after they were due (lag + 1 ms)
    assert gap.gap_ms == 110  # the first probe due after them that was answered in time
    assert on_schedule(probe)["start_us"].tolist() == [us(t) for t in range(0, 3000, 10)]


def test_records_without_a_schedule_are_taken_as_they_started():
    probe = probes(lambda t: 0 <= t < 300)
    assert probe_lag(probe).p99_ms is None
    assert on_schedule(probe) is probe


PATHS = ("PgBAL1", "PgBAL2", "PgBAL3")


def path_probes(down_ms: dict[str, float | None], period_ms: float = 100, end_ms: float = 4000) -> pd.DataFrame:
    """Each path probed every `period_ms`, the paths' starts spread over the period (as loadgen.probe does);
    a path in `down_ms` fails from the fault (0) for that long (None: until the end), the others never."""
    rows = []
    step = period_ms / len(PATHS)
    for index, t in enumerate(np.arange(-1000, end_ms, step)):
        path = PATHS[index % len(PATHS)]
        down = path in down_ms and 0 <= t and (down_ms[path] is None or t < down_ms[path])
        rows.append({**row(float(t), "error" if down else "ok", balancer=path), "path": path})
    return frame(rows)


def test_the_failed_path_is_probed_at_the_period_and_its_gap_is_the_time_it_could_not_connect():
    """One path of three down for 300 ms: its own probes see all of it, to one period (100 ms); the other two
    see nothing. The gap over all clients ends at the first ok probe after the failed path's last failure
    (at 200 ms), on any path: the outage ended between the two gaps."""
    probe = path_probes({"PgBAL1": 300.0})
    report = fault_report(probe.iloc[0:0], probe, [event(0, "fault")], us(4000))[0]
    assert set(report.path_gaps) == set(PATHS)
    assert report.path_gaps["PgBAL2"].gap_ms == 0 and report.path_gaps["PgBAL3"].gap_ms == 0
    path, gap = report.failed_path
    assert path == "PgBAL1" and 300 <= gap.gap_ms < 300 + 100 and gap.failed_probes == 3
    assert gap.period_ms == pytest.approx(100)
    assert 200 < report.gap.gap_ms <= 300 <= gap.gap_ms
    assert report.gap.period_ms == pytest.approx(100)  # the failed path's own period: merged spacing says nothing


def test_the_failed_path_is_the_targeted_balancers_though_a_rehashed_path_failed_later():
    """Removing PgBAL1 rehashes part of PgBAL2's flows onto PgBAL3: a probe of PgBAL2's path caught in it
    fails 400 ms after the fault and gives that path a longer gap; the failed path is still PgBAL1's."""
    probe = path_probes({"PgBAL1": 300.0})
    caught = (probe["path"] == "PgBAL2") & (probe["start_us"] == us(400 + 100 / 3))
    probe.loc[caught, ["outcome", "balancer"]] = ["error", None]
    report = fault_report(probe.iloc[0:0], probe, [event(0, "fault")], us(4000))[0]
    assert report.path_gaps["PgBAL2"].gap_ms > report.path_gaps["PgBAL1"].gap_ms
    assert report.failed_path[0] == "PgBAL1"


def test_without_a_targeted_balancers_path_the_longest_fails_and_one_never_recovered_is_longest():
    """A fault of the router (no path of its own): the path that never recovered, whatever the others' gaps."""
    probe = path_probes({"PgBAL1": 600.0, "PgBAL2": None})
    path, gap = fault_report(probe.iloc[0:0], probe, [event(0, "fault", target="FRR")], us(4000))[0].failed_path
    assert path == "PgBAL2" and not gap.recovered and gap.gap_ms is None


def test_probes_without_paths_have_no_path_gaps():
    """Results of a probe without paths (older versions): the gap over all clients only."""
    probe = probes(lambda t: 0 <= t < 500)
    report = fault_report(probe.iloc[0:0], probe, [event(0, "fault")], us(3000))[0]
    assert report.path_gaps == {} and report.failed_path is None
    assert 500 <= report.gap.gap_ms < 510


def test_min_mean_and_stddev_of_the_ok_latencies_and_the_errors_by_class():
    from reports.metrics import ErrorClass, error_classes

    rows = [row(float(t), latency_ms=v) for t, v in zip(range(0, 4000, 1000), (1.0, 2.0, 3.0, 6.0))]
    failures = [
        (5000.0, "error", "ConnectionResetError", "reset 1"),
        (5100.0, "error", "ConnectionResetError", "reset 2"),
        (5200.0, "timeout", "TimeoutError", "timed out"),
        (5300.0, "error", None, None),
    ]
    rows += [{**row(ms, outcome), "error_class": c, "error_text": text} for ms, outcome, c, text in failures]
    totals = summary(frame(rows))
    assert (totals.min_ms, totals.mean_ms, totals.stddev_ms) == (1.0, 3.0, pytest.approx(1.8708, abs=1e-4))
    assert error_classes(frame(rows)) == [
        ErrorClass("error", "ConnectionResetError", 2, "reset 1"),
        ErrorClass("error", "", 1, ""),
        ErrorClass("timeout", "TimeoutError", 1, "timed out"),
    ]
    assert error_classes(frame(rows[:4])) == []
