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
