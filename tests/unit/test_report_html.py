"""HTML reports: view-model figures of synthetic results directories whose answers are known by
construction, golden snapshots of the rendered HTML, and a self-contained page.

After an intended change of the HTML, regenerate the snapshots with
`UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_report_html.py` and review the diff.
"""

import json
import os
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loadgen.records import SCHEMA, Record, RecordWriter
from reports.charts import CHART_WIDTH, ERROR_COLOR, MARGIN_LEFT, MARGIN_RIGHT, log_ticks, nice_ticks, svg_line_chart
from reports.html import render_comparison, render_run, write_comparison_report, write_run_report
from reports.metrics import DISTRIBUTION_PERCENTILES
from reports.verdicts import locality_line
from reports.views import (
    ComparisonView,
    ServedBy,
    comparison_view,
    latency_distributions,
    run_view,
    workload_rows,
)

GOLDEN = Path(__file__).parent.parent / "golden" / "report"
T0 = 1_767_225_600_000_000  # 2026-01-01 00:00:00 UTC: the run's start, in µs
PROBE_PERIOD_MS = 10
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


@dataclass(frozen=True)
class Plan:
    """A synthetic run: requests at a fixed rate, round robin over `balancers`, and the fixed-rate probe.

    The first balancer fails at `fault_s`: its requests and every probe fail for `outage_s`, then its
    requests go to `standby` until the undo at `undo_s`, when it serves again. Request k's latency is
    (its second + 1) ms, ten times that for the 51st request of each second.

    Request k comes from client site `sites[k % len(sites)]`. With `routes` (client site -> balancers),
    a site's requests take its balancers in turn instead of the round robin (the fault still hits the
    first of `balancers`), and a request served by a balancer of another site than its client's (by
    `host_sites`, every host in "main" when empty) takes `remote_ms` more.
    """

    mode: str
    scenario: str = "balancer-crash"
    duration_s: int = 10
    per_second: int = 100
    fault_s: float = 3.0
    outage_s: float = 1.5
    undo_s: float = 8.0
    balancers: tuple[str, ...] = ("PgBAL1", "PgBAL2", "PgBAL3")
    standby: str = "PgBAL2"
    sites: tuple[str, ...] = ("main",)
    description: str = "PgBAL1 loses every link, then gets them back."
    host_sites: tuple[tuple[str, str], ...] = ()  # meta.json's "sites"; empty: every host in "main"
    routes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # client site -> the balancers its requests take in turn
    remote_ms: float = 0.0
    false_withdrawal_s: float | None = None  # the last balancer's agent withdraws then, with no fault

    def decisions(self) -> list[dict]:
        """health.jsonl: anycast agents all up before the run, the failed balancer out from the fault to just
        after the undo; keepalived: the first balancer the VIP's master, the standby master during the fault."""

        def state(t_s: float, host: str, name: str, announced: bool, evidence: str, source: str = "agent") -> dict:
            return {
                "t_us": T0 + round(t_s * 1e6),
                "host": host,
                "source": source,
                "kind": "state",
                "state": name,
                "announced": announced,
                "evidence": evidence,
                "reason": f"{name} ({evidence})",
            }

        failed = self.balancers[0]
        if self.mode != "anycast":
            return [
                state(-1, failed, "MASTER", True, "vrrp", "keepalived"),
                state(self.fault_s + 0.5, self.standby, "MASTER", True, "vrrp", "keepalived"),
                state(self.undo_s + 0.2, self.standby, "BACKUP", False, "vrrp", "keepalived"),
            ]
        decisions = [state(-1, b, "up", True, "answers") for b in self.balancers]
        decisions += [
            state(self.fault_s + 0.3, failed, "down", False, "unresponsive"),
            state(self.undo_s + 0.3, failed, "up", True, "answers"),
        ]
        if self.false_withdrawal_s is not None:
            decisions.append(state(self.false_withdrawal_s, self.balancers[-1], "down", False, "errors"))
        return sorted(decisions, key=lambda d: d["t_us"])

    def site(self, k: int) -> str:
        return self.sites[k % len(self.sites)]

    def sites_of_hosts(self) -> dict[str, str]:
        hosts = (*self.balancers, self.standby, "PgSQL2", "PgSQL3")
        return dict(self.host_sites) if self.host_sites else {host: "main" for host in hosts}

    def balancer(self, k: int) -> str | None:
        """The balancer that serves request k; None: it fails."""
        t = k / self.per_second
        if self.routes:
            turn = dict(self.routes)[self.site(k)]
            balancer = turn[k // len(self.sites) % len(turn)]
        else:
            balancer = self.balancers[k % len(self.balancers)]
        if balancer != self.balancers[0] or not self.fault_s <= t < self.undo_s:
            return balancer
        return None if t < self.fault_s + self.outage_s else self.standby

    def latency_ms(self, k: int) -> float:
        second = k // self.per_second
        remote = self.sites_of_hosts().get(self.balancer(k) or "") not in (None, self.site(k))
        return (second + 1) * (10.0 if k % self.per_second == self.per_second // 2 else 1.0) + self.remote_ms * remote


def record(start_us: int, balancer: str | None, latency_ms: float, site: str, user: int) -> Record:
    ok = balancer is not None
    return Record(
        start_us=start_us,
        latency_ms=latency_ms if ok else 5000.0,
        connect_ms=0.5,
        outcome="ok" if ok else "timeout",
        error_class=None if ok else "TimeoutError",
        error_text=None if ok else "timed out",
        workload="point",
        mode="per-query",
        protocol="extended",
        site=site,
        user=user,
        process="vm:1",
        connection=f"vm:1/u{user}/c{user}",
        new_connection=True,
        balancer=balancer,
        balancer_address=None,
        backend_address=None,
        backend=None if not ok else "PgSQL3" if balancer == "PgBAL3" else "PgSQL2",
    )


def write_records(directory: Path, kind: str, sites: tuple[str, ...], records: list[Record]) -> None:
    for site in sites:
        writer = RecordWriter(directory, kind, site)
        for r in records:
            if r.site == site:
                writer.add(r)
        writer.close()


def meta(plan: Plan) -> dict:
    timeline = [
        {"at_s": plan.fault_s, "action": "fault", "fault": "node-crash", "target": plan.balancers[0], "params": {}},
        {"at_s": plan.undo_s, "action": "undo", "fault": "node-crash", "target": plan.balancers[0], "params": {}},
    ]
    return {
        "mode": plan.mode,
        "scenario": {
            "name": plan.scenario,
            "description": plan.description,
            "duration_s": float(plan.duration_s),
            "load": {
                "users": 4,
                "spawn_rate": 4.0,
                "mode": "per-query",
                "tags": ["point"],
                "probe_interval_ms": float(PROBE_PERIOD_MS),
                "think_ms": 0.0,
            },
            "timeline": timeline,
            "source": "bench/scenarios/balancer-crash.toml",
        },
        "started_us": T0,
        "ended_us": T0 + plan.duration_s * 1_000_000,
        "interrupted": False,
        "versions": {"pgpool-II": "pgpool-II version 4.3.5", "frr": "zebra version 8.4.4", "suite": "abc1234"},
        "topology": "/work/main/stand/topologies/seed.toml",
        "sites": plan.sites_of_hosts(),
        "balancers": list(dict.fromkeys((*plan.balancers, plan.standby))),
        "vip_mode": plan.mode != "anycast",
        "settings": {"ospf": {"hello_interval_s": 1, "bfd_interval_ms": 100}, "health": {"interval_ms": 100}},
    }


def write_results(directory: Path, plan: Plan) -> Path:
    """A results directory as `bench run` leaves it."""
    directory.mkdir(parents=True)
    count = plan.duration_s * plan.per_second
    requests = [
        record(T0 + k * 1_000_000 // plan.per_second, plan.balancer(k), plan.latency_ms(k), plan.site(k), k % 4)
        for k in range(count)
    ]
    outage = (plan.fault_s * 1000, (plan.fault_s + plan.outage_s) * 1000)
    probes = [
        record(T0 + ms * 1000, None if outage[0] <= ms < outage[1] else plan.standby, 1.0, site, ms)
        for site in plan.sites
        for ms in range(0, plan.duration_s * 1000, PROBE_PERIOD_MS)
    ]
    write_records(directory / "records", "requests", plan.sites, requests)
    write_records(directory / "probe", "probe", plan.sites, probes)
    events = [
        {"t_us": T0 + round(step["at_s"] * 1e6), **{k: step[k] for k in ("action", "fault", "target", "params")}}
        for step in meta(plan)["scenario"]["timeline"]
    ]
    (directory / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (directory / "meta.json").write_text(json.dumps(meta(plan), indent=2))
    (directory / "health.jsonl").write_text("".join(json.dumps(d) + "\n" for d in plan.decisions()))
    return directory


ANYCAST = Plan("anycast", false_withdrawal_s=9.0)
KEEPALIVED = Plan("keepalived", balancers=("PgBAL1",), outage_s=3.0)
TINY = {
    "anycast": Plan("anycast", duration_s=4, per_second=6, fault_s=1.0, outage_s=0.5, undo_s=3.0),
    "keepalived": Plan(
        "keepalived", duration_s=4, per_second=6, fault_s=1.0, outage_s=1.0, undo_s=3.0, balancers=("PgBAL1",)
    ),
}
THREE_SITES = (("PgBAL-spb", "spb"), ("PgBAL-msk", "msk"), ("PgBAL-ekb", "ekb"), ("PgSQL2", "spb"), ("PgSQL3", "msk"))
# 30 requests a second, 10 per site. spb's go 9 in 10 to its own balancer and 1 in 10 to msk's, msk's and
# ekb's to their own; PgBAL-ekb fails at 3 s, ekb's requests fail until 4.5 s and go to PgBAL-msk until 8 s.
# A request served in another site takes 20 ms more.
SITES_ANYCAST = Plan(
    "anycast",
    per_second=30,
    balancers=("PgBAL-ekb", "PgBAL-msk", "PgBAL-spb"),
    standby="PgBAL-msk",
    sites=("spb", "msk", "ekb"),
    host_sites=THREE_SITES,
    remote_ms=20.0,
    routes=(("spb", ("PgBAL-spb",) * 9 + ("PgBAL-msk",)), ("msk", ("PgBAL-msk",)), ("ekb", ("PgBAL-ekb",))),
    description="PgBAL-ekb loses every link, then gets them back.",
)
# One VIP in spb: every site's requests go to PgBAL-spb, to PgBAL-msk while it fails.
SITES_KEEPALIVED = Plan(
    "keepalived",
    per_second=30,
    balancers=("PgBAL-spb",),
    standby="PgBAL-msk",
    sites=("spb", "msk", "ekb"),
    host_sites=THREE_SITES,
    remote_ms=20.0,
    outage_s=3.0,
    routes=(("spb", ("PgBAL-spb",)), ("msk", ("PgBAL-spb",)), ("ekb", ("PgBAL-spb",))),
    description="PgBAL-spb loses every link, then gets them back.",
)


@pytest.fixture(scope="module")
def anycast_view(tmp_path_factory):
    return run_view(write_results(tmp_path_factory.mktemp("runs") / "anycast", ANYCAST))


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("compare")
    write_results(directory / "20260101-000000-balancer-crash-anycast", ANYCAST)
    write_results(directory / "20260101-000100-balancer-crash-keepalived", KEEPALIVED)
    (directory / "20260101-000200-balancer-crash-watchdog" / "records").mkdir(parents=True)  # still running
    return directory


@pytest.fixture(scope="module")
def comparison(compare_dir):
    return comparison_view(sorted(d for d in compare_dir.iterdir() if (d / "meta.json").exists()))


@pytest.fixture(scope="module")
def sites_compare_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("compare-sites")
    write_results(directory / "20260101-000000-balancer-crash-anycast", SITES_ANYCAST)
    write_results(directory / "20260101-000100-balancer-crash-keepalived", SITES_KEEPALIVED)
    return directory


@pytest.fixture(scope="module")
def sites_comparison(sites_compare_dir):
    return comparison_view(sorted(sites_compare_dir.iterdir()))


@pytest.fixture(scope="module")
def sites_anycast_view(sites_comparison):
    return sites_comparison.scenarios[0].runs[0]


def verdict_lines(view: ComparisonView, question: str) -> list[str]:
    return next(v.lines for v in view.scenarios[0].verdicts if v.question == question)


# The run view's figures


def test_headline_totals_and_percentiles_of_ok_requests(anycast_view):
    (row,) = anycast_view.headline.rows
    # 1000 requests, 50 of PgBAL1's time out in [3, 4.5) s; ok latencies (second + 1) ms, one a second ten times
    # that; the figures are of the steady window: from the warm-up's end (5 s after the 4th user's first request)
    # or the first fault (at 3 s), whichever comes first, to the end
    assert (row.site, row.requests, row.ok, row.failed) == ("main", 700, 650, 50)
    assert row.failed_by_outcome == {"error": 0, "timeout": 50, "wrong_answer": 0}
    assert row.throughput_rps == pytest.approx(650 / 7.0)
    ok = [ANYCAST.latency_ms(k) for k in range(300, 1000) if ANYCAST.balancer(k)]  # request k starts at k * 10 ms
    assert (row.p50_ms, row.p95_ms, row.max_ms) == pytest.approx((7.0, 10.0, 100.0))
    assert row.p99_ms == pytest.approx(float(np.percentile(ok, 99)))  # numpy's, among the slow ones
    assert row.gaps == {"node-crash PgBAL1": "1500 ms"}


def test_per_second_counts_of_ok_requests_and_errors(anycast_view):
    series = anycast_view.series
    assert series.second == list(range(10))
    assert series.ok_per_s == [100, 100, 100, 66, 84, 100, 100, 100, 100, 100]
    assert series.errors_per_s == [0, 0, 0, 34, 16, 0, 0, 0, 0, 0]


def test_the_last_second_cut_short_by_the_run_end_counts_per_second_of_its_length(tmp_path):
    directory = write_results(tmp_path / "run", ANYCAST)
    (directory / "meta.json").write_text(json.dumps(meta(ANYCAST) | {"ended_us": T0 + 9_500_000}))
    series = run_view(directory).series
    assert series.second == list(range(10))
    assert series.ok_per_s[-2:] == [100, 100]  # 50 requests in [9, 9.5) s, none after the end counted


@pytest.mark.parametrize("second", range(10))
def test_per_second_p50_and_p99_are_those_of_that_seconds_ok_latencies(anycast_view, second):
    ok = [ANYCAST.latency_ms(k) for k in range(second * 100, second * 100 + 100) if ANYCAST.balancer(k)]
    assert anycast_view.series.p50_ms[second] == pytest.approx(second + 1)
    assert anycast_view.series.p99_ms[second] == pytest.approx(np.percentile(ok, 99))


def test_p99_is_taken_over_bins_wide_enough_for_a_hundred_samples_at_a_low_rate(tmp_path):
    """20 requests a second: a second's p99 would be its slowest request; bins of 5 s hold 100."""
    plan = Plan("anycast", duration_s=10, per_second=20, fault_s=4.0, outage_s=0.1, undo_s=8.0)
    view = run_view(write_results(tmp_path / "run", plan))
    assert view.series.p99_bin_s == 5 and view.charts.latency_caption.endswith("p99 over 5 s bins")
    for first in (0, 5):
        ok = [plan.latency_ms(k) for k in range(first * 20, first * 20 + 100) if plan.balancer(k)]
        assert view.series.p99_ms[first : first + 5] == pytest.approx([np.percentile(ok, 99)] * 5)


def test_p99_of_a_full_second_by_hand(anycast_view):
    # 99 values of 1 ms and one of 10 ms: rank 0.99 * 99 = 98.01 lies 1% of the way from 1 to 10
    assert anycast_view.series.p99_ms[0] == pytest.approx(1.09)


def test_balancer_shares_per_second_overall_and_before_the_fault(anycast_view):
    shares = anycast_view.series.balancer_share
    assert [shares[b][0] for b in ("PgBAL1", "PgBAL2", "PgBAL3")] == pytest.approx([0.34, 0.33, 0.33])
    assert [shares[b][3] for b in ("PgBAL1", "PgBAL2", "PgBAL3")] == pytest.approx([0, 0.5, 0.5])  # PgBAL1 fails
    assert [shares[b][6] for b in ("PgBAL1", "PgBAL2", "PgBAL3")] == pytest.approx([0, 0.67, 0.33])  # rerouted
    assert anycast_view.balancers_before_first_fault == pytest.approx({b: 1 / 3 for b in ANYCAST.balancers})
    # ok requests: PgBAL1 100 before the fault and 67 after the undo, PgBAL2 333 + 117 rerouted, PgBAL3 333
    assert anycast_view.balancer_share == pytest.approx({"PgBAL1": 167 / 950, "PgBAL2": 450 / 950, "PgBAL3": 333 / 950})
    assert anycast_view.backend_share == pytest.approx({"PgSQL2": 617 / 950, "PgSQL3": 333 / 950})


def test_failover_row_of_the_fault(anycast_view):
    (row,) = anycast_view.failover.rows
    assert (row.key, row.at_s, row.undo_at_s) == ("node-crash PgBAL1", 3.0, 8.0)
    assert abs(row.gap_ms - 1500) <= PROBE_PERIOD_MS and row.recovered and row.confirmed
    assert row.resolution_ms == PROBE_PERIOD_MS
    assert (row.probes, row.failed_probes, row.failed_requests) == (500, 150, 50)
    assert row.collateral_broken_connections == 0
    assert row.recovery_ms == pytest.approx(10.0)  # request 801 at 8.01 s is PgBAL1's first after the undo
    # ok requests in [3 s, 8 s): PgBAL2 167 of its own and 117 rerouted, PgBAL3 166
    assert row.balancer_share == pytest.approx({"PgBAL2": 284 / 450, "PgBAL3": 166 / 450})


def test_markers_at_the_seconds_of_the_fault_and_the_undo(anycast_view):
    assert [(m.t_s, m.action, m.label) for m in anycast_view.markers] == [
        (3.0, "fault", "node-crash PgBAL1"),
        (3.0 + 5.0, "undo", "undo node-crash PgBAL1"),
    ]


@pytest.mark.parametrize("chart", ["latency", "throughput", "balancers"])
def test_every_chart_draws_the_markers_on_its_time_axis(anycast_view, chart):
    drawn = getattr(anycast_view.charts, chart)
    ticks = {t.label: t.x for t in drawn.x_ticks}
    inner = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    assert [m.x for m in drawn.markers] == pytest.approx([MARGIN_LEFT + inner * 0.3, MARGIN_LEFT + inner * 0.8])
    assert ticks["2"] < drawn.markers[0].x < ticks["4"]


def test_the_view_is_plain_json(anycast_view, comparison):
    assert json.loads(json.dumps(asdict(anycast_view))) == asdict(anycast_view)
    assert json.loads(json.dumps(asdict(comparison))) == asdict(comparison)


def test_seconds_without_ok_requests_lift_the_pen(comparison):
    keepalived = comparison.scenarios[0].runs[1]
    assert keepalived.mode == "keepalived"
    assert keepalived.series.p50_ms[3:6] == [None, None, None]  # every request fails in [3, 6) s
    assert [line.path.count("M") for line in keepalived.charts.latency.lines] == [2, 2]


def test_records_of_several_sites_get_a_row_per_site_after_the_whole(tmp_path):
    view = run_view(write_results(tmp_path / "two-sites", Plan("anycast", sites=("spb", "msk"))))
    rows = view.headline.rows
    assert [r.site for r in rows] == ["all", "msk", "spb"]
    assert rows[0].requests == rows[1].requests + rows[2].requests == 700  # the steady window: see above
    assert [(r.site, r.failed_probes) for r in view.failover.rows] == [("all", 300), ("msk", 150), ("spb", 150)]


# Locality: several sites


def locality_figures(rows: list[dict]) -> list[tuple]:
    return [(r.site, r.requests, r.local_share, r.p50_ms, r.p50_local_ms, r.added_ms) for r in rows]


def test_locality_per_client_site_of_the_whole_run(sites_anycast_view):
    rows = sites_anycast_view.locality.rows
    # spb: 100 ok, 90 on PgBAL-spb. Local latencies: 8 of (second + 1) ms a second and 10 × (second + 1),
    # so the 45th and 46th of 90 are 6 ms; the 10 remote ones (21..30 ms) move the 50th and 51st of 100 to 7 ms.
    # msk: 100 ok, all local, 10 of each of 1..10 ms: p50 5.5 ms.
    # ekb: 15 fail in [3, 4.5) s, 35 go to PgBAL-msk in [4.5, 8) s (25..28 ms), 50 local in seconds 0-2 and 8-9
    # (10 each of 1, 2, 3, 9, 10 ms: p50 3 ms); the 43rd of the 85 ok ones is 10 ms.
    assert locality_figures(rows) == [
        ("ekb", 85, pytest.approx(50 / 85), 10.0, 3.0, 7.0),
        ("msk", 100, 1.0, 5.5, 5.5, 0.0),
        ("spb", 100, pytest.approx(0.9), 7.0, 6.0, 1.0),
    ]
    assert [r.labels for r in rows] == [["ekb"], ["msk"], ["spb"]]
    assert rows[2].balancers == [
        ServedBy("PgBAL-spb", "spb", pytest.approx(0.9)),
        ServedBy("PgBAL-msk", "msk", pytest.approx(0.1)),
    ]
    assert rows[0].balancers == [
        ServedBy("PgBAL-ekb", "ekb", pytest.approx(50 / 85)),
        ServedBy("PgBAL-msk", "msk", pytest.approx(35 / 85)),
    ]


def test_locality_before_the_first_fault(sites_anycast_view):
    # [0, 3) s: 30 requests per site, spb's 27 local
    rows = sites_anycast_view.locality_before_first_fault
    assert [(r.site, r.requests, r.local_share) for r in rows] == [
        ("ekb", 30, 1.0),
        ("msk", 30, 1.0),
        ("spb", 30, pytest.approx(0.9)),
    ]


def test_locality_of_one_vip_has_no_local_p50_for_a_site_never_served_at_home(sites_comparison):
    keepalived = sites_comparison.scenarios[0].runs[1]
    # every request goes to PgBAL-spb, fails in [3, 6) s and goes to PgBAL-msk in [6, 8) s: 70 ok per site.
    # spb: 50 local (1, 2, 3, 9, 10 ms, one a second ten times that: p50 3 ms) and 20 in msk (27, 28 ms;
    # 90, 100 ms): the 35th and 36th of 70 are 9 ms. msk: 20 local (7, 8 ms) and 50 in spb (21-23, 29, 30 ms).
    # ekb: never served in ekb, 21-23 and 27-30 ms: the 35th and 36th are 27 ms.
    assert locality_figures(keepalived.locality.rows) == [
        ("ekb", 70, 0.0, 27.0, None, None),
        ("msk", 70, pytest.approx(20 / 70), 22.0, 7.5, 14.5),
        ("spb", 70, pytest.approx(50 / 70), 9.0, 3.0, 6.0),
    ]


def test_the_comparison_puts_the_modes_side_by_side_per_site(sites_comparison):
    locality = sites_comparison.scenarios[0].locality
    assert locality.first_columns == ["site", "mode"]
    assert [(r.labels, r.local_share) for r in locality.rows] == [
        (["ekb", "anycast"], pytest.approx(50 / 85)),
        (["ekb", "keepalived"], 0.0),
        (["msk", "anycast"], 1.0),
        (["msk", "keepalived"], pytest.approx(20 / 70)),
        (["spb", "anycast"], pytest.approx(0.9)),
        (["spb", "keepalived"], pytest.approx(50 / 70)),
    ]
    p50 = {tuple(r.labels): r.p50_ms for r in locality.rows}
    behind = {tuple(r.labels): r.behind_fastest_ms for r in locality.rows}
    assert p50[("ekb", "keepalived")] == 27.0 and p50[("ekb", "anycast")] < 27.0
    assert behind[("ekb", "keepalived")] == pytest.approx(27.0 - p50[("ekb", "anycast")])
    assert [site for site, mode in behind if behind[(site, mode)] == 0] == ["ekb", "msk", "spb"]  # one fastest each


def test_the_locality_verdict_carries_the_local_shares_per_mode(sites_comparison):
    assert verdict_lines(sites_comparison, "Each site's clients stay on their own site's balancer?") == [
        (
            "anycast: no, 2 of 3 sites had ≥95% of their ok requests served by a balancer of their own site in the 3 s "
            "before the first fault (local share: ekb 100.0%, msk 100.0%, spb 90.0%)"
        ),
        (
            "keepalived: no, 1 of 3 sites had ≥95% of their ok requests served by a balancer of their own site in the "
            "3 s before the first fault (local share: ekb 0.0%, msk 0.0%, spb 100.0%)"
        ),
    ]


def test_the_locality_verdict_is_yes_when_every_site_stays_at_home(tmp_path):
    plan = replace(SITES_ANYCAST, routes=(("spb", ("PgBAL-spb",)), *SITES_ANYCAST.routes[1:]))
    view = run_view(write_results(tmp_path / "run", plan))
    assert locality_line(view) == (
        "anycast: yes, 3 of 3 sites had ≥95% of their ok requests served by a balancer of their own site in the 3 s "
        "before the first fault (local share: ekb 100.0%, msk 100.0%, spb 100.0%)"
    )


def test_single_site_results_have_no_locality(anycast_view, comparison, rendered):
    assert anycast_view.locality is None and anycast_view.locality_before_first_fault is None
    assert comparison.scenarios[0].locality is None
    assert "Locality" not in rendered["run"] and "Locality" not in rendered["comparison"]


def test_older_results_without_the_sites_of_hosts_have_no_locality(tmp_path):
    directory = write_results(tmp_path / "20260101-000000-balancer-crash-anycast", SITES_ANYCAST)
    (directory / "meta.json").write_text(json.dumps({k: v for k, v in meta(SITES_ANYCAST).items() if k != "sites"}))
    view = run_view(directory)
    assert view.locality is None
    assert [r.site for r in view.headline.rows] == ["all", "ekb", "msk", "spb"]
    assert "Locality" not in render_run(view)
    assert verdict_lines(comparison_view([directory]), "Cross-city traffic?") == [
        "not measured: the results do not record the site of each host"
    ]


def test_the_run_html_shows_the_locality_table(tmp_path):
    html = render_run(run_view(write_results(tmp_path / "run", SITES_ANYCAST)))
    assert "<h2>Locality</h2>" in html
    assert (
        '<tr><td class="text">spb</td><td>100</td><td>90.0%</td>\n<td>7.00</td><td>6.00</td><td>1.00</td>\n'
        '<td class="text">PgBAL-spb (spb) 90.0%, PgBAL-msk (msk) 10.0%</td></tr>'
    ) in html


def test_the_comparison_html_shows_the_locality_table_and_verdict(sites_comparison):
    html = render_comparison(sites_comparison)
    assert "<h3>Locality</h3>" in html
    assert (
        '<tr><td class="text">ekb</td><td class="text">keepalived</td><td>70</td><td>0.0%</td>\n'
        '<td>27.0</td><td>-</td><td>-</td>\n<td>17.0</td><td class="text">PgBAL-spb (spb) 71.4%, PgBAL-msk (msk) 28.6%</td></tr>'
    ) in html  # ekb's p50 is 10 ms with anycast: keepalived is 17 ms behind
    assert "Each site&#39;s clients stay on their own site&#39;s balancer?" in html
    assert "(local share: ekb 0.0%, msk 0.0%, spb 100.0%)" in html


# The comparison


@pytest.mark.parametrize(
    "question, expected",
    [
        (
            "Balancers taken out with no fault to explain it?",
            ["anycast: 1 false withdrawals", "keepalived: 0 false failovers"],
        ),
        (
            "All balancers used?",
            [
                "anycast: yes, 3 of 3 balancers carried ≥5% of the ok requests in the 3 s before the first fault "
                "(PgBAL1 33.3%, PgBAL2 33.3%, PgBAL3 33.3%)",
                "keepalived: no, 1 of 3 balancers carried ≥5% of the ok requests in the 3 s before the first fault "
                "(PgBAL1 100.0%)",
            ],
        ),
        ("Cross-city traffic?", ["not measured on a single-site stand"]),
        (
            "Failover gap per fault",
            [
                "node-crash PgBAL1 at 3.0 s: shorter in anycast: 1500 ms; keepalived 3000 ms (2.0× longer) "
                "(resolution: one probe period, 10.0 ms)"
            ],
        ),
        (
            "Failed queries per fault",
            [
                "node-crash PgBAL1 at 3.0 s: failed queries anycast 50, keepalived 300; failed probes anycast 150, "
                "keepalived 300: fewest in anycast"
            ],
        ),
    ],
)
def test_verdict_lines_carry_the_measured_figures(comparison, question, expected):
    assert verdict_lines(comparison, question) == expected


def test_modes_of_a_scenario_share_their_axes(comparison):
    (scenario,) = comparison.scenarios
    anycast, keepalived = scenario.runs
    for chart in ("latency", "throughput", "balancers"):
        assert getattr(anycast.charts, chart).x_ticks == getattr(keepalived.charts, chart).x_ticks
        assert getattr(anycast.charts, chart).y_ticks == getattr(keepalived.charts, chart).y_ticks
    # anycast's highest p99 (16.6 ms in second 3) sets the scale; keepalived's own would end at 15
    assert keepalived.charts.latency.y_ticks[-1].label == "20"
    assert [a.name for a in keepalived.charts.balancers.legend] == ["PgBAL1", "PgBAL2"]
    assert [a.color for a in keepalived.charts.balancers.legend] == [
        a.color for a in anycast.charts.balancers.legend[:2]
    ]


def test_comparison_tables_have_a_row_per_mode(comparison):
    (scenario,) = comparison.scenarios
    assert [r.label for r in scenario.headline.rows] == ["anycast", "keepalived"]
    assert [(r.label, r.gap_text) for r in scenario.failover.rows] == [
        ("anycast", "1500 ms"),
        ("keepalived", "3000 ms"),
    ]
    assert comparison.runs_table.columns == ["balancer-crash anycast", "balancer-crash keepalived"]


# SVG geometry


@pytest.mark.parametrize(
    "top, ticks",
    [
        (10, [0, 2, 4, 6, 8, 10]),
        (9.5, [0, 2, 4, 6, 8, 10]),
        (100, [0, 20, 40, 60, 80, 100]),
        (3065, [0, 1000, 2000, 3000, 4000]),
        (0.3, [0, 0.1, 0.2, 0.3]),
        (0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    ],
)
def test_nice_ticks_reach_the_top_in_1_2_5_steps(top, ticks):
    assert nice_ticks(top) == pytest.approx(ticks)


def test_a_line_chart_maps_values_into_the_plot_area():
    chart = svg_line_chart(
        [0.5, 1.5, 2.5],
        {"p50": ("#000", [0.0, None, 10.0])},
        x_max=4,
        y_max=10,
        y_unit="ms",
        markers=[],
        width=452,
        height=146,
    )
    # plot area: x from 52 to 440 (97 per second), y from 116 (0) to 16 (10)
    assert chart.lines[0].path == "M100.5,116.0 M294.5,16.0"
    assert [t.y for t in chart.y_ticks] == [116.0, 96.0, 76.0, 56.0, 36.0, 16.0]


# Rendering


@pytest.fixture(scope="module")
def rendered(anycast_view, comparison) -> dict[str, str]:
    return {"run": render_run(anycast_view), "comparison": render_comparison(comparison)}


@pytest.mark.parametrize("kind", ["run", "comparison"])
def test_the_html_is_self_contained(rendered, kind):
    html = rendered[kind]
    assert "<svg" in html
    assert set(re.findall(r"https?://[^\s\"'<>)]*", html)) == {SVG_NAMESPACE}
    assert not re.search(r"<link|<img|<iframe|@import|url\((?!#)|src=|fetch\(|XMLHttpRequest", html, re.IGNORECASE)
    assert html.count("<script") == 1 and "<script>" in html  # the page's own, inline: hover and zoom
    assert "@media print" in html


def test_the_comparison_html_shows_the_verdicts(rendered):
    assert "shorter in anycast: 1500 ms; keepalived 3000 ms (2.0× longer)" in rendered["comparison"]
    assert "not measured on a single-site stand" in rendered["comparison"]


def test_text_from_the_results_is_escaped(tmp_path):
    plan = Plan(
        "anycast", duration_s=2, per_second=5, fault_s=0.5, undo_s=1.5, description="<script>alert(1)</script> & more"
    )
    html = render_run(run_view(write_results(tmp_path / "run", plan)))
    assert html.count("<script>") == 1  # the page's own, and not the description's
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html


def tiny_html(kind: str, directory: Path) -> str:
    """The report of the tiny fixed dataset (fixed directory names: they show in the report)."""
    compare = directory / "20260101-000000-compare"
    runs = [
        write_results(compare / f"20260101-00000{i}-balancer-crash-{mode}", plan)
        for i, (mode, plan) in enumerate(TINY.items())
    ]
    if kind == "run":
        return write_run_report(runs[0]).read_text(encoding="utf-8")
    return write_comparison_report(compare).read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", ["run", "comparison"])
def test_rendered_html_matches_golden(tmp_path, kind):
    html = tiny_html(kind, tmp_path)
    golden = GOLDEN / f"{kind}.html"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(html, encoding="utf-8")
    assert html == golden.read_text(encoding="utf-8"), f"{kind} report differs from {golden}"


def test_health_decisions_of_a_run_each_false_or_explained(anycast_view):
    health = anycast_view.health
    assert health.false == 1
    assert [(r.at_s, r.host, r.state, r.false, r.explained_by) for r in health.rows] == [
        (3.3, "PgBAL1", "down", False, "node-crash PgBAL1"),
        (8.3, "PgBAL1", "up", False, "node-crash PgBAL1"),
        (9.0, "PgBAL3", "down", True, ""),
    ]
    assert health.rows[2].served_ok_before == 34  # PgBAL3 took every third request in that second (k = 800, 803 .. 899)


def test_results_without_health_decisions_say_so(tmp_path):
    directory = write_results(tmp_path / "run", ANYCAST)
    (directory / "health.jsonl").unlink()
    view = run_view(directory)
    assert view.health.recorded is False
    assert "No health decisions were recorded" in render_run(view)


def test_write_comparison_report_reads_only_complete_runs(compare_dir):
    path = write_comparison_report(compare_dir)
    html = path.read_text(encoding="utf-8")
    assert path == compare_dir / "report.html"
    assert "keepalived" in html and "watchdog" not in html


def test_the_last_resort_is_labelled_and_never_counted_as_a_balancer(tmp_path):
    """The last resort (PgSQL1, no pgpool in front) serving part of the load is not a fourth balancer."""
    plan = Plan("anycast", balancers=("PgBAL1", "PgBAL2", "last resort PgSQL1"))
    directory = write_results(tmp_path / "20260101-000000-balancer-crash-anycast", plan)
    (directory / "meta.json").write_text(json.dumps(meta(plan) | {"balancers": ["PgBAL1", "PgBAL2", "PgBAL3"]}))
    (line,) = verdict_lines(comparison_view([directory]), "All balancers used?")
    assert line.startswith("anycast: no, 2 of 3 balancers carried")
    assert "last resort PgSQL1 33.3%" in line


def test_repeated_runs_give_medians_ranges_and_how_many_runs_agree(tmp_path):
    for repetition in (1, 2):
        for plan in (ANYCAST, KEEPALIVED):
            out = write_results(tmp_path / f"20260101-00000{repetition}-balancer-crash-{plan.mode}-r{repetition}", plan)
            (out / "meta.json").write_text(json.dumps(meta(plan) | {"repetition": repetition}))
    view = comparison_view(sorted(tmp_path.iterdir()))
    (gaps,) = verdict_lines(view, "Failover gap per fault")
    assert gaps == "node-crash PgBAL1 at 3.0 s: shorter in anycast in 2 of 2 runs: anycast 1500 ms; keepalived 3000 ms"
    assert [r.label for r in view.scenarios[0].headline.rows] == [
        "anycast #1",
        "keepalived #1",
        "anycast #2",
        "keepalived #2",
    ]


def test_connect_time_and_the_requests_due_each_second(anycast_view):
    from reports.views import _offered_per_second

    assert set(anycast_view.series.connect_p50_ms) == {0.5}  # every ok request opened a connection in 0.5 ms
    assert anycast_view.charts.connect is not None
    assert anycast_view.series.offered_per_s is None  # a closed-loop load: nothing was due
    assert "open loop" not in anycast_view.charts.throughput_caption
    due = pd.Series([T0 + 100_000, T0 + 200_000, T0 + 1_500_000, None, T0 + 9_000_000], dtype="float64")
    assert _offered_per_second(due, T0, 3, np.array([1.0, 1.0, 0.5])) == [2.0, 1.0, 0.0]  # 9 s: after the end


# The latency distribution, the probes around each fault, the workloads


def test_the_latency_distribution_is_the_measured_windows(anycast_view):
    (row,) = anycast_view.headline.rows
    distributions = anycast_view.series.distributions
    assert list(distributions) == ["all"]  # one workload, one site
    at = dict(zip(DISTRIBUTION_PERCENTILES, distributions["all"].percentiles_ms))
    assert at[50.0] == pytest.approx(row.p50_ms) and distributions["all"].max_ms == row.max_ms == 100.0
    assert distributions["all"].count == row.ok
    chart = anycast_view.charts.percentiles
    readout = chart.readout
    assert readout.x_labels[0] == "p0" and "p50" in readout.x_labels and readout.x_labels[-2:] == ["p99.9", "max"]
    assert readout.series[0].values[-1] == 100.0 and not readout.zoomable
    assert [t.label for t in chart.x_ticks] == ["p0", "p50", "p90", "p99", "p99.9", "max"]
    assert [t.label for t in chart.y_ticks][0] == "1" and [t.label for t in chart.y_ticks][-1] == "100"


def test_modes_of_a_scenario_share_the_distributions_axis(comparison):
    anycast, keepalived = comparison.scenarios[0].runs
    assert anycast.charts.percentiles.y_ticks == keepalived.charts.percentiles.y_ticks


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.3, 45, (0.1, 100, [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100])),
        (0.5, 5000, (0.1, 10_000, [0.1, 1, 10, 100, 1000, 10_000])),  # four decades: the decades only
        (10, 10, (10, 100, [10, 20, 50, 100])),
    ],
)
def test_log_ticks_span_whole_decades(low, high, expected):
    bottom, top, ticks = log_ticks(low, high)
    assert (bottom, top) == pytest.approx(expected[:2]) and ticks == pytest.approx(expected[2])


def test_the_probes_around_a_fault_show_what_its_gap_is_measured_from(anycast_view):
    (strip,) = anycast_view.probe_strips
    (row,) = anycast_view.failover.rows
    # the fault at 3 s, a gap of 1.5 s: from 1 s before the fault to 1.5 s after the gap's end, a probe each 10 ms
    assert strip.rows[0].label == "no path" and len(strip.rows) == 1
    assert strip.caption == f"Probes around node-crash PgBAL1 at 3.0 s: gap {row.gap_text}"
    assert strip.gap.label == f"gap {row.gap_text}"
    assert len(strip.marks) == 400  # due in [2 s, 6 s)
    failed = [m for m in strip.marks if m.color == ERROR_COLOR]
    assert len(failed) == row.failed_probes == 150
    assert min(m.x for m in failed) == strip.fault_x == strip.gap.x
    assert max(m.x for m in failed) < strip.gap.x + strip.gap.width  # every failed probe inside the gap
    assert all(m.x + m.width <= strip.right for m in strip.marks)  # a timeout's bar is cut at the strip's end


def test_the_probe_strip_of_several_sites_has_a_row_per_site(sites_anycast_view):
    strip = sites_anycast_view.probe_strips[0]
    assert [r.label for r in strip.rows] == ["ekb no path", "msk no path", "spb no path"]


def test_a_row_per_workload_when_there_are_several(anycast_view):
    assert anycast_view.workloads is None  # one workload
    rows = [
        record(T0 + k * 10_000, "PgBAL1", float(1 + k % 2 * 9), "main", 0)._replace(workload=("point", "mix")[k % 2])
        for k in range(100)
    ]
    requests = pa.Table.from_pylist([r._asdict() for r in rows], schema=SCHEMA).to_pandas()
    mix, point = workload_rows(requests, (T0, T0 + 1_000_000))  # in name order
    assert (mix.label, mix.requests, mix.p50_ms) == ("mix", 50, 10.0)
    assert (point.label, point.requests, point.p50_ms) == ("point", 50, 1.0)
    distributions = latency_distributions(requests, (T0, T0 + 1_000_000))
    assert list(distributions) == ["all", "mix", "point"]


def test_each_sites_locality_before_the_first_fault_and_during_it(sites_compare_dir):
    from reports.run_summary import summarize_run

    figures = {f.site: f for f in summarize_run(sites_compare_dir / "20260101-000000-balancer-crash-anycast").locality}
    # before the fault at 3 s: spb's requests go 9 in 10 to its own balancer, msk's and ekb's all to theirs;
    # during it (from 4 s to the undo at 8 s) ekb's go to PgBAL-msk, 20 ms away
    assert {s: f.local_share_before for s, f in figures.items()} == pytest.approx({"ekb": 1.0, "msk": 1.0, "spb": 0.9})
    assert {s: f.local_share_during for s, f in figures.items()} == pytest.approx({"ekb": 0.0, "msk": 1.0, "spb": 0.9})
    plan = SITES_ANYCAST
    ekb = [k for k in range(4 * plan.per_second, 8 * plan.per_second) if plan.site(k) == "ekb" and plan.balancer(k)]
    during = [plan.latency_ms(k) for k in ekb]
    assert figures["ekb"].p50_during_ms == pytest.approx(float(np.median(during)))
    assert summarize_run(sites_compare_dir / "20260101-000000-balancer-crash-anycast").locality == figures_list(figures)


def figures_list(figures: dict) -> list:
    return [figures[site] for site in sorted(figures)]


def test_repeated_runs_of_several_sites_get_the_locality_over_the_runs(tmp_path):
    from bench.compare import locality_lines
    from reports.run_summary import summarize_run

    for repetition in (1, 2):
        directory = write_results(tmp_path / f"2026010{repetition}-000000-balancer-crash-anycast", SITES_ANYCAST)
        data = json.loads((directory / "meta.json").read_text())
        (directory / "meta.json").write_text(json.dumps(data | {"repetition": repetition}))
    runs = sorted(tmp_path.iterdir())
    section = comparison_view(runs).scenarios[0]
    assert [(r.site, r.runs, r.home_before) for r in section.locality_over_runs] == [
        ("ekb", 2, "100%"),
        ("msk", 2, "100%"),
        ("spb", 2, "90%"),
    ]
    lines = locality_lines([summarize_run(d) for d in runs])
    assert lines[0].startswith("locality: ") and len(lines) == 2 + 3
    assert lines[2].split()[:6] == ["anycast", "ekb", "2", "100%", "2.00", "ms"]  # (second + 1) ms over [0, 3 s)
