"""The next-hop mirror's reconciliation, on a fake `ip`: FRR's next hops become the resilient group's
members (the group replaced, never rebuilt, so the kernel keeps the buckets of the ones that stay)."""

from __future__ import annotations

import argparse
import json

from stand.programs import nexthop_mirror
from stand.programs.nexthop_mirror import Mirror, NextHop, parse_route

ARGS = argparse.Namespace(
    prefix="198.18.2.0/32", table=200, rule_priority=100, group_id=1000, buckets=512, idle_timer_s=10, status_file=""
)


def multipath(*gateways: str) -> list[dict]:
    return [{"dst": "198.18.2.0", "nexthops": [{"gateway": g, "dev": "routed"} for g in gateways]}]


class FakeIp:
    def __init__(self, monkeypatch):
        self.main: list[dict] = []
        self.calls: list[str] = []
        monkeypatch.setattr(nexthop_mirror, "ip", self)

    def __call__(self, *args: str, check: bool = True) -> str:
        if args[:3] == ("-j", "route", "show"):
            return json.dumps(self.main)
        if args[:3] == ("-j", "nexthop", "show"):
            return "[]"
        self.calls.append(" ".join(args))
        return ""

    def taken(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls


def test_a_route_with_one_next_hop_or_several_is_read_in_the_kernels_order():
    assert parse_route(multipath("198.18.1.96", "198.18.1.94")) == [
        NextHop("198.18.1.96", "routed"),
        NextHop("198.18.1.94", "routed"),
    ]
    assert parse_route([{"dst": "198.18.2.0", "gateway": "198.18.1.95", "dev": "routed"}]) == [
        NextHop("198.18.1.95", "routed")
    ]
    assert parse_route([]) == []


def test_the_group_follows_frrs_next_hops_as_they_go_and_come_back(monkeypatch, tmp_path):
    ip = FakeIp(monkeypatch)
    mirror = Mirror(argparse.Namespace(**{**vars(ARGS), "status_file": str(tmp_path / "status.jsonl")}))
    ip.main = multipath("198.18.1.94", "198.18.1.95", "198.18.1.96")
    mirror.start()
    calls = ip.taken()
    assert "rule add to 198.18.2.0/32 lookup 200 priority 100" in calls
    assert "nexthop replace id 1001 via 198.18.1.94 dev routed" in calls
    assert "nexthop add id 1000 group 1001/1002/1003 type resilient buckets 512 idle_timer 10" in calls
    assert calls[-1] == "route replace 198.18.2.0/32 nhid 1000 table 200"

    ip.main = multipath("198.18.1.95", "198.18.1.96")  # the first one goes
    mirror.reconcile()
    assert ip.taken() == [
        "nexthop replace id 1000 group 1002/1003 type resilient buckets 512 idle_timer 10",
        "route replace 198.18.2.0/32 nhid 1000 table 200",
        "nexthop del id 1001",
    ]
    mirror.reconcile()
    assert ip.taken() == []  # nothing changed, nothing done

    ip.main = multipath("198.18.1.94", "198.18.1.95", "198.18.1.96")  # and comes back
    mirror.reconcile()
    assert ip.taken() == [
        "nexthop replace id 1001 via 198.18.1.94 dev routed",
        "nexthop replace id 1000 group 1001/1002/1003 type resilient buckets 512 idle_timer 10",
        "route replace 198.18.2.0/32 nhid 1000 table 200",
    ]

    ip.main = []  # no balancer left: the main table decides again
    mirror.reconcile()
    assert ip.taken()[0] == "route del 198.18.2.0/32 table 200"
    changes = [json.loads(line)["next_hops"] for line in (tmp_path / "status.jsonl").read_text().splitlines()]
    assert changes[-1] == [] and changes[0] == ["198.18.1.94", "198.18.1.95", "198.18.1.96"]


def test_the_events_that_may_change_the_next_hops_are_zebras_not_its_own():
    mirror = Mirror(ARGS)
    assert mirror.concerns("198.18.2.0 nhid 1017 proto ospf metric 20 ", "198.18.2.0")
    assert mirror.concerns("Deleted 198.18.2.0 nhid 1017 proto ospf metric 20 ", "198.18.2.0")
    assert mirror.concerns("id 17 group 14/15 proto zebra ", "198.18.2.0")  # zebra's group, changed in place
    assert not mirror.concerns("198.18.2.0 nhid 1000 table 200 ", "198.18.2.0")  # its own route
    assert not mirror.concerns("id 1000 group 1001/1002 type resilient buckets 512 ", "198.18.2.0")
    assert not mirror.concerns("Deleted id 1002 via 198.18.1.95 dev routed scope link ", "198.18.2.0")
    assert not mirror.concerns("198.18.1.0/24 dev routed proto kernel scope link src 198.18.1.90 ", "198.18.2.0")
