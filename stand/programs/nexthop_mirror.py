"""A router's next hops to the anycast address, mirrored into a resilient nexthop group.

Runs as root inside a router's namespace: ``python -m stand.programs.nexthop_mirror --prefix P
--table T --rule-priority R --group-id G --buckets B --idle-timer-s I --status-file PATH``.

FRR 8.4 installs OSPF's equal-cost route as a plain multipath route, which Linux routes by hash-threshold:
a next hop that goes or comes back moves flows between the others too. This program keeps FRR's route as
the source of truth and follows it (netlink route and nexthop events, through `ip monitor`): the same next hops
become the members of resilient group G (the kernel's bucket table: a next hop that goes takes only its
own buckets with it; one that comes back gets only buckets idle for `idle_timer`), routed to by table T,
which a policy rule at priority R puts before the main table for the prefix. When FRR's route has no next
hop left, table T's route goes, and the main table decides again (as in plain anycast). On SIGTERM it
removes the rule, the route and the group, and the router routes by FRR's route alone.

Each change is appended to the status file (JSON lines: wall-clock µs, next hops) for readiness checks.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MAX_MEMBERS = 64  # member next hops take the ids just above the group's
RECHECK_S = 5.0


@dataclass(frozen=True)
class NextHop:
    gateway: str
    device: str


def parse_route(routes: list[dict]) -> list[NextHop]:
    """The next hops of the prefix's route in `ip -j route show` output, in the kernel's order."""
    if not routes:
        return []
    route = routes[0]
    hops = route.get("nexthops") or [route]
    return [NextHop(h["gateway"], h["dev"]) for h in hops if "gateway" in h and "dev" in h]


def ip(*args: str, check: bool = True) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


class Mirror:
    """Keeps group `group_id` (and table `table`'s route to the prefix) equal to the main table's next hops."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ids: dict[NextHop, int] = {}
        self.current: list[NextHop] = []
        self.status = Path(args.status_file)

    @property
    def rule(self) -> tuple[str, ...]:
        """The policy rule that sends the prefix to this mirror's table, as `ip rule` takes it."""
        return ("to", self.args.prefix, "lookup", str(self.args.table), "priority", str(self.args.rule_priority))

    @property
    def member_ids(self) -> range:
        return range(self.args.group_id + 1, self.args.group_id + 1 + MAX_MEMBERS)

    def concerns(self, event: str, address: str) -> bool:
        """Whether a line of `ip -o monitor route nexthop` may change the prefix's next hops: a route to it
        in another table than this mirror's, or a nexthop object that is not this mirror's (zebra changes
        the members of its own group in place, without a route event)."""
        if event.startswith("Deleted "):
            event = event[len("Deleted ") :]
        if event.startswith("id "):
            return int(event.split()[1]) not in (self.args.group_id, *self.member_ids)
        return address in event and f"table {self.args.table}" not in event

    def main_next_hops(self) -> list[NextHop]:
        return parse_route(json.loads(ip("-j", "route", "show", self.args.prefix, "table", "main") or "[]"))

    def start(self) -> None:
        self.stop()  # what an earlier run left (it was killed)
        ip("rule", "add", *self.rule)
        self.reconcile(force=True)

    def reconcile(self, force: bool = False) -> None:
        hops = self.main_next_hops()
        if hops == self.current and not force:
            return
        args = self.args
        if not hops:
            ip("route", "del", args.prefix, "table", str(args.table), check=False)
        else:
            for hop in hops:
                if hop not in self.ids:
                    self.ids[hop] = next(i for i in self.member_ids if i not in self.ids.values())
                    ip("nexthop", "replace", "id", str(self.ids[hop]), "via", hop.gateway, "dev", hop.device)
            members = "/".join(str(self.ids[hop]) for hop in hops)
            verb = "replace" if self.current else "add"
            if verb == "add":
                ip("nexthop", "del", "id", str(args.group_id), check=False)
            ip(
                "nexthop", verb, "id", str(args.group_id), "group", members, "type", "resilient",
                "buckets", str(args.buckets), "idle_timer", str(args.idle_timer_s),
            )  # fmt: skip
            ip("route", "replace", args.prefix, "nhid", str(args.group_id), "table", str(args.table))
        for hop in [h for h in self.ids if h not in hops]:
            ip("nexthop", "del", "id", str(self.ids.pop(hop)), check=False)
        self.current = hops
        with self.status.open("a") as status:
            status.write(json.dumps({"t_us": time.time_ns() // 1000, "next_hops": [h.gateway for h in hops]}) + "\n")

    def stop(self) -> None:
        """Remove the rule, the route, the group and its members (also those a killed run left)."""
        args = self.args
        ip("rule", "del", *self.rule, check=False)
        ip("route", "del", args.prefix, "table", str(args.table), check=False)
        ip("nexthop", "del", "id", str(args.group_id), check=False)
        for found in json.loads(ip("-j", "nexthop", "show") or "[]"):
            if found.get("id") in self.member_ids:
                ip("nexthop", "del", "id", str(found["id"]), check=False)
        self.ids.clear()
        self.current = []


class Stop(Exception):
    """SIGTERM or SIGINT arrived."""


def _stop(signum: int, frame: object) -> None:
    raise Stop


def run(args: argparse.Namespace) -> None:
    mirror = Mirror(args)
    monitor = subprocess.Popen(["ip", "-o", "monitor", "route", "nexthop"], stdout=subprocess.PIPE)
    try:
        mirror.start()
        Path(args.status_file + ".ready").write_text("ready\n")
        address = args.prefix.split("/")[0]
        with selectors.DefaultSelector() as selector:
            selector.register(monitor.stdout, selectors.EVENT_READ)
            pending = b""
            while True:
                # a line per route or nexthop event; any that concerns the prefix may change its next hops.
                # Now and then a look without one: an event from before `ip monitor` listened is not lost
                if not selector.select(RECHECK_S):
                    mirror.reconcile()
                    continue
                chunk = os.read(monitor.stdout.fileno(), 65536)  # not readline: its buffer would hide lines from select
                if not chunk:
                    raise OSError("ip monitor exited")
                *lines, pending = (pending + chunk).split(b"\n")
                if any(mirror.concerns(line.decode(errors="replace"), address) for line in lines):
                    mirror.reconcile()
    except Stop:
        pass
    finally:
        monitor.terminate()
        monitor.wait()
        mirror.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stand.programs.nexthop_mirror``."""
    parser = argparse.ArgumentParser(
        prog="python -m stand.programs.nexthop_mirror", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--prefix", required=True, help="the anycast prefix, e.g. 198.18.2.0/32")
    parser.add_argument("--table", type=int, required=True, help="the routing table the rule sends the prefix to")
    parser.add_argument("--rule-priority", type=int, required=True, help="the policy rule's priority (before main's)")
    parser.add_argument(
        "--group-id", type=int, required=True, help="the resilient group's nexthop id, above zebra's own (1 << 28)"
    )
    parser.add_argument("--buckets", type=int, default=512, help="the group's buckets")
    parser.add_argument(
        "--idle-timer-s", type=int, default=10, help="a bucket idle this long may move to a new next hop"
    )
    parser.add_argument("--status-file", required=True, help="JSON lines, one per change; PATH.ready once it mirrors")
    args = parser.parse_args(argv)
    if not 1 <= args.group_id < 2**31 - MAX_MEMBERS:
        parser.error("--group-id must leave room for the member ids above it")
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        run(args)
    except OSError as e:
        print(f"nexthop_mirror: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
