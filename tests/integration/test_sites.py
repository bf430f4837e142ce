"""The `sites` topology: Saint Petersburg, Moscow and Yekaterinburg, joined by WAN links with the
cities' round trips. In anycast mode each site's client is served by its own site's balancer and
PostgreSQL node, well below any WAN round trip; when that balancer crashes, the nearest other site
serves it, and its latency now includes the WAN round trip."""

import json
import os
import subprocess
import sys
import time

import pytest

from stand.faults.player import Faults
from stand.linux import process
from stand.model import topology
from stand.modes import open_stand
from stand.runtime import readiness
from stand.runtime.handle import Stand
from tests.integration.conftest import bench_run_scenario, stand_cli

pytestmark = pytest.mark.integration

WAIT = 60.0
QUERIES = 30
# One connection: who serves it (balancer, backend), then the median latency of QUERIES queries in the
# simple protocol (they go to the load-balance node alone) and in the extended protocol, where pgpool
# 4.3 sends each Sync to every backend of the session and waits for all of them: that median is the
# round trip to the farthest backend, wherever the balancer is (printed as a figure, docs/sites.md).
MEASURE = """
import asyncio, json, statistics, time, asyncpg
async def timed(call):
    latencies = []
    for _ in range(QUERIES):
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1000)
    return statistics.median(latencies), min(latencies), max(latencies)
async def main():
    conn = await asyncpg.connect(host="198.18.2.0", port=5432, timeout=5)
    row = await conn.fetchrow("select host(inet_client_addr()), host(inet_server_addr())", timeout=5)
    simple, fastest, slowest = await timed(lambda: conn.execute("SELECT 1", timeout=5))
    extended = (await timed(lambda: conn.fetchrow("SELECT $1::int", 1, timeout=5)))[0]
    await conn.close()
    print(json.dumps({"served": list(row), "p50_ms": simple, "min_ms": fastest, "max_ms": slowest, "p50_extended_ms": extended}))
asyncio.run(main())
""".replace("QUERIES", str(QUERIES))


class SitesStands:
    """The sites stand, in the mode the current test wants (anycast tests first, then keepalived)."""

    def __init__(self):
        self.mode: str | None = None

    def ensure(self, mode: str) -> Stand:
        if self.mode != mode:
            self.down()
            result = stand_cli("--topology", "sites", "up", "--mode", mode, timeout=600)
            if result.returncode != 0:
                pytest.fail(f"stand --topology sites up --mode {mode} failed:\n{result.stdout}\n{result.stderr}")
            self.mode = mode
        return open_stand(topology.load("sites"), mode)

    def down(self) -> None:
        if self.mode is not None:
            stand_cli("down")
            self.mode = None


@pytest.fixture(scope="module")
def sites(stands):
    stands.down()  # one stand at a time: the seed's goes first
    manager = SitesStands()
    try:
        yield manager
    finally:
        manager.down()


@pytest.fixture
def sites_stand(sites):
    return sites.ensure("anycast")


@pytest.fixture
def sites_keepalived(sites):
    return sites.ensure("keepalived")


def measure_from(stand: Stand, client: str) -> dict:
    """Who serves a site's client, and how fast, through the anycast address."""
    env = {**os.environ, **readiness.client_env(stand)}
    result = process.run(
        [sys.executable, "-c", MEASURE], namespace=stand.plan.host(client).namespace, env=env, timeout=120
    )
    return json.loads(result.stdout)


def balancer_serving(stand: Stand, client: str) -> str | None:
    """The balancer's address that serves a new connection from the client; None while none answers."""
    try:
        return measure_from(stand, client)["served"][0]
    except (process.CommandFailed, subprocess.TimeoutExpired):
        return None


def address(stand: Stand, host: str) -> str:
    return str(stand.plan.host(host).data_address.ip)


@pytest.mark.parametrize("site", ["Spb", "Msk", "Ekb"])
def test_each_site_is_served_at_home_fast(sites_stand, site):
    stand = sites_stand
    measured = measure_from(stand, f"Cli{site}")
    assert measured["served"] == [address(stand, f"Bal{site}"), address(stand, f"Pg{site}")]
    shortest_wan_rtt = 2 * min(n.delay_ms for n in stand.plan.topology.networks if n.delay_ms)
    print(
        f"\n[figure] sites: Cli{site} served at home, p50 {measured['p50_ms']:.2f} ms "
        f"(extended protocol {measured['p50_extended_ms']:.2f} ms)"
    )
    assert measured["p50_ms"] < shortest_wan_rtt / 2


def test_a_probe_records_the_site_of_the_host_it_runs_in(sites_stand, tmp_path):
    """Site by site, the loadgen and the probe take their site from where they run (no option needed)."""
    from loadgen.records import read_records

    process.run(
        [sys.executable, "-m", "loadgen.probe", "--duration", "1", "--interval-ms", "100", "--out", str(tmp_path)],
        namespace=sites_stand.plan.host("CliEkb").namespace,
        timeout=60,
    )
    records = read_records(tmp_path, "probe")
    assert len(records) >= 5 and set(records["site"]) == {"ekb"}
    assert set(records["balancer"].dropna()) == {"BalEkb"}


def test_a_crashed_site_balancer_sends_its_clients_to_the_nearest_site(sites_stand, tmp_path):
    stand = sites_stand
    faults = Faults(stand, tmp_path / "events.jsonl")
    spb = stand.plan.host("RtSpb")
    faults.inject("node-crash", "BalSpb")
    try:
        msk_route = lambda: readiness.anycast_next_hops(stand, spb) == ["198.18.20.2"]  # noqa: E731 - over spb-msk
        assert process.wait_until(msk_route, process.scaled(WAIT), 0.1), readiness.anycast_next_hops(stand, spb)
        measured = measure_from(stand, "CliSpb")
        assert measured["served"] == [address(stand, "BalMsk"), address(stand, "PgMsk")]
        rtt = 2 * stand.plan.topology.network("spbmsk").delay_ms
        print(
            f"\n[figure] sites: CliSpb served by Moscow after BalSpb crashed, p50 {measured['p50_ms']:.2f} ms "
            f"(extended protocol {measured['p50_extended_ms']:.2f} ms; spb-msk round trip {rtt:g} ms)"
        )
        assert measured["p50_ms"] >= rtt * 0.9
        assert measured["p50_ms"] < rtt * 3  # one WAN round trip a query, not several
    finally:
        faults.undo("node-crash", "BalSpb")
    home = lambda: readiness.anycast_next_hops(stand, spb) == ["198.18.10.94"]  # noqa: E731
    assert process.wait_until(home, process.scaled(WAIT), 0.1)


def test_the_idle_sites_stand_costs_little_of_the_machine(sites_stand):
    """The sites stand with nothing but itself, 10 s: its share of the machine and its parts (docs/sites.md
    has the budget: at most 10% of the two cores; the bound here is generous, for a shared machine)."""
    from stand.linux.cpu import OUTSIDE, cpu_window

    readiness.wait_settled(sites_stand)  # the test before returned a balancer: its failback is over
    time.sleep(5)
    window = cpu_window(10)
    cores = os.cpu_count() or 1
    parts = sorted(window.components.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{component} {used / cores:.1%}" for component, used in parts if used * 10 >= 0.05)
    print(
        f"\n[figure] sites stand idle, anycast: the stand {window.stand / cores:.1%} of the machine "
        f"(busy {window.busy / cores:.1%}, {OUTSIDE} {window.outside / cores:.1%}, steal {window.steal / cores:.1%}; {shown})"
    )
    assert window.stand / cores < 0.20


SHORT_SITE_SCENARIO = """name = "short-site-balancer-crash"
description = "CI's short site scenario: BalSpb loses every link at 15 s and gets them back at 22 s, in a 30 s run with site-balancer-crash's load."
duration_s = 30

[load]
users = 12
spawn_rate = 12
mode = "persistent"
protocol = "simple"
tags = ["point"]
think_ms = 200
probe_interval_ms = 100

[[timeline]]
at_s = 15
action = "fault"
fault = "node-crash"
target = "BalSpb"

[[timeline]]
at_s = 22
action = "undo"
fault = "node-crash"
target = "BalSpb"
"""


def test_a_short_site_scenario_serves_every_site_at_home_with_all_of_its_load_and_is_valid(sites_stand, tmp_path):
    """Before the fault every site's clients are served at home; no Locust worker misses a heartbeat; the
    run is a valid measurement (bench run exits 0), or invalid only because of the host (warned about)."""
    from bench.results import load_run
    from reports.run_summary import summarize_run
    from reports.views import run_view

    out = bench_run_scenario(tmp_path, SHORT_SITE_SCENARIO, "--topology", "sites", "--mode", "anycast")
    assert load_run(out).missing_workers == 0
    validity = summarize_run(out).validity
    assert validity.valid or validity.by_the_machine, validity.reasons
    home = {row.site: row.local_share for row in run_view(out).locality_before_first_fault}
    assert home == {"msk": 1.0, "spb": 1.0, "ekb": 1.0}, home
    probe = load_run(out).probe  # each site's probe found its own site's path, and probed it from there
    paths = probe.groupby("site")["path"].agg(lambda p: sorted(set(p.dropna())))
    assert paths.to_dict() == {"ekb": ["BalEkb"], "msk": ["BalMsk"], "spb": ["BalSpb"]}, paths


def test_keepalived_sends_every_site_to_the_vip_in_moscow_across_the_stretched_segment(sites_keepalived):
    """The VIP design across cities: one L2 segment stretched over the WAN, the VIP on Moscow's balancer.
    Every site's client is served there, and pays its WAN round trip to Moscow on every query."""
    stand = sites_keepalived
    assert readiness.vip_holders(stand) == ["BalMsk"]
    for site, wan in (("Msk", None), ("Spb", "spbmsk"), ("Ekb", "mskekb")):
        measured = measure_from(stand, f"Cli{site}")
        assert measured["served"] == [address(stand, "BalMsk"), address(stand, "PgMsk")]
        rtt = 2 * stand.plan.topology.network(wan).delay_ms if wan else 0
        print(
            f"\n[figure] sites, keepalived: Cli{site} served by BalMsk, p50 {measured['p50_ms']:.2f} ms "
            f"(round trip to Moscow {rtt:g} ms)"
        )
        # the fastest query measures the path (a busy machine only adds to it): at least the round trip to
        # Moscow, and less than one more crossing of the WAN (the shortest is 10 ms)
        assert rtt * 0.9 <= measured["min_ms"] < rtt + 5, measured


def test_keepalived_moves_every_site_when_the_vip_balancer_crashes(sites_keepalived, tmp_path):
    stand = sites_keepalived
    faults = Faults(stand, tmp_path / "events.jsonl")
    faults.inject("node-crash", "BalMsk")
    try:
        moved = lambda: readiness.vip_holders(stand) == ["BalSpb"]  # noqa: E731 - the next VRRP priority
        assert process.wait_until(moved, process.scaled(WAIT), 0.1), readiness.vip_holders(stand)
        measured = measure_from(stand, "CliEkb")
        assert measured["served"] == [address(stand, "BalSpb"), address(stand, "PgSpb")]
        rtt = 2 * stand.plan.topology.network("spbekb").delay_ms  # ekb-msk-spb on the stretched segment
        print(
            f"\n[figure] sites, keepalived: CliEkb served by BalSpb after BalMsk crashed, p50 "
            f"{measured['p50_ms']:.2f} ms (ekb-spb round trip {rtt:g} ms)"
        )
        # p50 once 48 ms in CI, and 30.3 against 25 + 5 in the test above: the machine, not the path; the
        # fastest query tells a longer path from a slow machine
        assert rtt * 0.9 <= measured["min_ms"] < rtt + 5, measured
    finally:
        faults.undo("node-crash", "BalMsk")
    assert process.wait_until(lambda: readiness.vip_holders(stand) == ["BalMsk"], process.scaled(WAIT), 0.1)


def test_keepalived_splits_in_two_when_a_wan_cut_cuts_the_stretched_segment(sites_keepalived, tmp_path):
    """The stretched segment follows the spb-msk WAN link, so cutting that link cuts it too: BalSpb no
    longer hears BalMsk's VRRP adverts and takes the VIP on its side (split brain; harmless for reads,
    and Saint Petersburg's clients are then served at home). When the link returns, BalMsk wins again."""
    stand = sites_keepalived
    faults = Faults(stand, tmp_path / "events.jsonl")
    faults.inject("link-cut", "RtSpb", network="spbmsk")
    try:
        split = lambda: readiness.vip_holders(stand) == ["BalMsk", "BalSpb"]  # noqa: E731
        assert process.wait_until(split, process.scaled(WAIT), 0.1), readiness.vip_holders(stand)
        assert process.wait_until(
            lambda: balancer_serving(stand, "CliSpb") == address(stand, "BalSpb"), process.scaled(WAIT), 1.0
        )
        measured = measure_from(stand, "CliSpb")
        print(f"\n[figure] sites, keepalived, spb-msk cut: CliSpb served by BalSpb, p50 {measured['p50_ms']:.2f} ms")
        assert measured["served"] == [address(stand, "BalSpb"), address(stand, "PgSpb")]
        assert measure_from(stand, "CliEkb")["served"][0] == address(stand, "BalMsk")  # ekb still sees Moscow's
    finally:
        faults.undo("link-cut", "RtSpb", network="spbmsk")
    assert process.wait_until(lambda: readiness.vip_holders(stand) == ["BalMsk"], process.scaled(WAIT), 0.1)
