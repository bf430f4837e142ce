"""What delays the WAN: the kernel's netem where it has one (a bridge of each line's two ends, netem on
both), else a userspace delay line per line; the stand says which."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from stand.model.plan import DelayLine
from stand.runtime import build
from stand.runtime.handle import StandError

LINES = (DelayLine("spbmsk", "rtspb-spbmsk", "rtmsk-spbmsk", 5, 0.5), DelayLine("vip-spbmsk", "v1", "v2", 5, 0.5))


def fake_stand():
    return SimpleNamespace(plan=SimpleNamespace(delay_lines=LINES, switch_namespace="pgab-switch"))


def record(monkeypatch, netem_works):
    made = []
    monkeypatch.setattr(
        build.netns, "add_netem", lambda ns, ifname, d, j: made.append(("netem", ifname, d, j)) or netem_works(ifname)
    )
    monkeypatch.setattr(build.netns, "add_bridge", lambda ns, name: made.append(("bridge", name)))
    monkeypatch.setattr(
        build.netns, "attach_to_bridge", lambda ns, ifname, bridge: made.append(("attach", ifname, bridge))
    )
    monkeypatch.setattr(build, "start_delay_line", lambda stand, line: made.append(("line", line.name)))
    return made


def test_a_kernel_with_netem_delays_each_direction_once_and_runs_no_delay_line(monkeypatch):
    made = record(monkeypatch, lambda ifname: True)
    said = []
    build.start_delay_lines(fake_stand(), said.append)
    assert ("netem", "rtspb-spbmsk", 5, 0.5) in made and ("netem", "rtmsk-spbmsk", 5, 0.5) in made
    assert ("attach", "rtspb-spbmsk", "l-spbmsk") in made and ("attach", "v2", "l-vip-spbmsk") in made
    assert not [m for m in made if m[0] == "line"]
    assert said[-1].endswith("delayed by netem")


def test_a_kernel_without_netem_gets_a_delay_line_per_line_and_says_so(monkeypatch):
    made = record(monkeypatch, lambda ifname: False)
    said = []
    build.start_delay_lines(fake_stand(), said.append)
    assert [m for m in made if m[0] == "line"] == [("line", "spbmsk"), ("line", "vip-spbmsk")]
    assert not [m for m in made if m[0] in ("bridge", "attach")]
    assert said[-1].endswith(f"delayed by {build.WAN_DELAY_LINES}")


def test_netem_that_takes_one_line_and_not_the_next_is_an_error(monkeypatch):
    record(monkeypatch, lambda ifname: ifname.startswith("rt"))
    with pytest.raises(StandError, match="netem took the WAN line spbmsk but not vip-spbmsk"):
        build.start_delay_lines(fake_stand(), lambda message: None)


def test_bridge_names_fit_the_kernels_limit():
    assert all(len(line.bridge) <= 15 for line in LINES)
