"""The kinds of daemon a stand host runs, in start order, and the load processes a run adds."""

from __future__ import annotations

from enum import StrEnum


class DaemonKind(StrEnum):
    """A daemon of a stand host; the value is how the state file and the logs name it. Start order."""

    ZEBRA = "zebra"
    BFDD = "bfdd"
    OSPFD = "ospfd"
    NEXTHOP_MIRROR = "nexthop-mirror"  # stand/programs/nexthop_mirror.py, on the routers
    POSTGRES = "postgres"
    PGPOOL = "pgpool"
    AGENT = "agent"  # the health agent (stand/programs/agent.py)
    KEEPALIVED = "keepalived"


FRR = (DaemonKind.ZEBRA, DaemonKind.BFDD, DaemonKind.OSPFD)  # zebra first: the others connect to it
START_ORDER = tuple(DaemonKind)
LOAD_PROCESSES = ("locust", "locust-worker", "probe")  # what `bench run` records; stopped before any daemon
STOP_ORDER = (*LOAD_PROCESSES, *(kind.value for kind in reversed(START_ORDER)))  # WAN delay lines after these
