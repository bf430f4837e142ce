"""Repeated runs: medians with ranges, and verdicts that say how many runs agree."""

from reports.repeats import NEVER, Spread, gap_verdict, spread


def test_a_spread_is_the_median_and_the_range():
    assert spread([310, 280, 350]) == Spread(310, 280, 350, 3)
    assert spread([2900.0]).text(" ms") == "2900 ms"
    assert spread([310, 280, 350]).text(" ms") == "310 ms [280-350]"
    assert spread([100, None, 120]) == Spread(120, 100, NEVER, 3)  # a gap that never closed is the longest
    assert spread([]) is None


def test_separate_ranges_give_the_shorter_mode_and_how_many_runs_agree():
    verdict = gap_verdict("node-crash PgBAL1", {"anycast": [310, 280, 350], "keepalived": [2900, 2800, 3000]})
    assert verdict == (
        "node-crash PgBAL1: shorter in anycast in 3 of 3 runs: anycast 310 ms [280-350]; keepalived 2900 ms [2800-3000]"
    )


def test_overlapping_ranges_are_no_clear_difference():
    verdict = gap_verdict("pgpool-kill PgBAL1", {"anycast": [200, 900, 250], "keepalived": [800, 700, 2100]})
    assert verdict.startswith("pgpool-kill PgBAL1: no clear difference (the ranges overlap): anycast 250 ms")


def test_a_gap_that_never_closed_loses_every_pair():
    verdict = gap_verdict("drain PgBAL1", {"keepalived": [None, None], "anycast": [0, 0]})
    assert verdict == "drain PgBAL1: shorter in anycast in 2 of 2 runs: anycast 0 ms; keepalived never"


def test_one_mode_alone_is_only_measured():
    assert gap_verdict("x", {"anycast": [1, 2, 3]}) == "x: only anycast measured: 2 ms [1-3]"


def test_locality_over_runs_gives_medians_ranges_and_sites_cut_off():
    from reports.repeats import locality_spreads
    from reports.run_summary import SiteFigures

    runs = [
        ("anycast", [SiteFigures("spb", 1.0, 1.2, 0.0, 11.5), SiteFigures("msk", 1.0, 1.1, None, None)]),
        ("keepalived", [SiteFigures("spb", 0.0, 12.7, 0.0, 12.3)]),
        ("anycast", [SiteFigures("spb", 0.98, 1.8, 0.0, 11.9), SiteFigures("msk", 1.0, 1.3, 1.0, 1.0)]),
    ]
    msk, spb, keepalived = locality_spreads(runs)  # modes in order of appearance, sites by name
    assert (msk.mode, msk.site, msk.runs) == ("anycast", "msk", 2)
    assert msk.home_during == "100% (1 of 2 runs cut off)" and msk.p50_before == "1.20 ms [1.10-1.30]"
    assert (spb.home_before, spb.p50_during) == ("99% [98-100]", "11.70 ms [11.50-11.90]")
    assert (keepalived.mode, keepalived.home_before, keepalived.p50_before) == ("keepalived", "0%", "12.70 ms")
    assert locality_spreads([("anycast", [SiteFigures("spb", 1.0, 1.0, None, None)])])[0].p50_during == "cut off"
