"""What the plan and the templates need to know of a design under test; stand/modes/ adds how each behaves."""

from __future__ import annotations

from dataclasses import dataclass

from stand.model.daemons import DaemonKind
from stand.model.topology import KeepalivedSettings, OspfSettings, Topology


@dataclass(frozen=True)
class Design:
    """The facts of one design: who holds the anycast address and which daemon keeps it there."""

    name: str
    holds_vip: bool  # one balancer at a time holds the anycast address as a VIP on the routers' segment
    balancer_companion: DaemonKind | None  # started after pgpool on every balancer (the agent, keepalived), or none
    pgpool_watchdog: bool = False  # pgpool's own watchdog moves the VIP (pgpool runs as root to do so)
    router_companion: DaemonKind | None = None  # started after FRR on every router (the next-hop mirror), or none
    # The routers remember each new flow's balancer (a conntrack mark) and route its later packets there, and
    # a balancer takes the anycast address in while withdrawn: its open sessions outlive its route (a drain)
    pins_flows: bool = False

    def ospf_settings(self, topology: Topology) -> OspfSettings:
        """The topology's OSPF and BFD settings as this design runs them."""
        return topology.ospf

    def vrrp_settings(self, topology: Topology) -> KeepalivedSettings | None:
        """The topology's VRRP settings that this design uses (keepalived's designs only)."""
        return None
