"""Derived facts: namespace and link names, OSPF roles, which daemons run where.

Everything a template or the builder needs is computed here, in Python, from the topology.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network

from stand.topology import Host, Network, Topology

ANYCAST = "anycast"
KEEPALIVED = "keepalived"
KEEPALIVED_TUNED = "keepalived-tuned"
WATCHDOG = "watchdog"
MODES = (ANYCAST, KEEPALIVED, KEEPALIVED_TUNED, WATCHDOG)
LAN_COST = 10
RTT_COST_PER_MS = 10
VRRP_TOP_PRIORITY = 150  # the first balancer is the VIP's first master; each next one 10 less

ROUTER_PRIORITY = 255  # the client-side router is always the DR: it re-originates the network LSA itself
DEFAULT_PRIORITY = 1
BALANCER_PRIORITY = 0  # balancers come and go; they must never be DR or BDR

ROUTER_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.fib_multipath_hash_policy": "1",  # L4 hash: one TCP flow sticks to one balancer
    "net.ipv4.fib_multipath_use_neigh": "1",  # skip next hops whose neighbour entry failed
}
HOST_SYSCTLS = {
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
}


@dataclass(frozen=True)
class Link:
    """A veth from a host to a network's bridge in the switch namespace."""

    network: str
    ifname: str  # inside the host: the network's name
    switch_ifname: str  # inside the switch namespace
    address: IPv4Interface
    ospf: bool
    ospf_cost: int  # follows the link's latency: WAN links cost more the farther they reach


@dataclass(frozen=True)
class HostPlan:
    host: Host
    namespace: str
    links: tuple[Link, ...]
    runs_frr: bool
    runs_postgres: bool
    runs_pgpool: bool
    ospf_priority: int
    loopback_cost: int  # OSPF cost of `lo`, which carries the loopback and the anycast address
    sysctls: dict[str, str]
    data_network: str  # where pgpool reaches PostgreSQL and replicas stream
    announces_anycast: bool  # OSPF carries the anycast /32 from this host (anycast mode only)
    runs_agent: bool  # the health agent: anycast mode's balancers
    runs_keepalived: bool  # VRRP: the keepalived modes' balancers
    runs_watchdog: bool  # pgpool's watchdog moves the VIP: the watchdog mode's balancers
    vrrp_priority: int

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def data_address(self) -> IPv4Interface | None:
        """Where pgpool and replicas reach this host: its address on the data network, or (sites) on its
        first network, its own site's."""
        if self.data_network:
            return self.host.address_on(self.data_network)
        return self.host.interfaces[0].address

    @property
    def ospf_links(self) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.ospf)


@dataclass(frozen=True)
class Plan:
    topology: Topology
    mode: str
    switch_namespace: str
    shell_ifname: str  # the root namespace's end of the shell link
    shell_router_ifname: str  # the router's end
    hosts: tuple[HostPlan, ...]

    def host(self, name: str) -> HostPlan:
        wanted = self.topology.host(name).name
        return next(h for h in self.hosts if h.name == wanted)

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.switch_namespace, *(h.namespace for h in self.hosts))

    @property
    def shell_router(self) -> HostPlan:
        return self.host(self.topology.shell.router)

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h.host.site for h in self.hosts))

    def backend_weight(self, balancer: HostPlan, backend: HostPlan) -> int:
        """pgpool's load-balancing weight: with several sites a balancer reads from its own site's node
        only (the others weigh 0; pgpool then falls back to the primary), otherwise from every node."""
        return int(len(self.sites) == 1 or backend.host.site == balancer.host.site)

    @property
    def routers(self) -> tuple[HostPlan, ...]:
        return tuple(h for h in self.hosts if h.host.has("router"))

    def ospf_peers_of(self, router: HostPlan) -> int:
        """How many OSPF neighbours a router has when every host is up: FRR hosts on its OSPF networks."""
        networks = {link.network for link in router.ospf_links}
        return sum(1 for h in self.hosts if h is not router and h.runs_frr and networks & {l.network for l in h.ospf_links})

    def anycast_next_hops_of(self, router: HostPlan) -> list[str]:
        """Where a healthy stand's router sends the anycast address (anycast mode): its own site's
        balancers on the networks it shares with them, sorted."""
        hops = []
        for balancer in self.balancers:
            if balancer.host.site != router.host.site:
                continue
            for link in balancer.ospf_links:
                if router.host.address_on(link.network) is not None:
                    hops.append(str(link.address.ip))
        return sorted(hops)

    @property
    def balancers(self) -> tuple[HostPlan, ...]:
        return tuple(h for h in self.hosts if h.runs_pgpool)

    @property
    def postgres_hosts(self) -> tuple[HostPlan, ...]:
        """The primary first, then the replicas."""
        return tuple(sorted((h for h in self.hosts if h.runs_postgres), key=lambda h: not h.host.has("primary")))

    @property
    def has_vip(self) -> bool:
        """A VIP design: one balancer at a time holds the anycast address, on the router's segment."""
        return self.mode != ANYCAST

    @property
    def keepalived(self):
        """The VRRP settings of this mode (keepalived modes only)."""
        t = self.topology
        return t.keepalived_tuned if self.mode == KEEPALIVED_TUNED else t.keepalived

    @property
    def stand_networks(self) -> tuple[IPv4Network, ...]:
        """Every prefix of the stand: where clients may connect from."""
        t = self.topology
        return (*(n.prefix for n in t.networks), t.loopbacks, t.shell.prefix)


def ospf_cost(network: Network) -> int:
    """10 for a LAN, plus 10 per millisecond of round trip on a WAN link (so OSPF prefers near sites)."""
    return LAN_COST + round(RTT_COST_PER_MS * 2 * network.delay_ms)


class UnknownMode(ValueError):
    pass


def derive(topology: Topology, mode: str = ANYCAST) -> Plan:
    """Compute every name and role of the stand from its topology, in one mode."""
    if mode not in MODES:
        raise UnknownMode(f"unknown mode {mode!r} (modes: {', '.join(MODES)})")
    if mode != ANYCAST and len({h.site for h in topology.hosts}) > 1:
        raise UnknownMode(f"{mode} mode needs one L2 segment for the VIP; across several sites that means a "
                          f"segment stretched over the WAN, which the stand does not build yet: use anycast")  # fmt: skip
    networks = {n.name: n for n in topology.networks}
    balancers = [h.name for h in topology.with_role("balancer")]
    anycast = mode == ANYCAST
    hosts = []
    for host in topology.hosts:
        links = tuple(
            Link(
                network=iface.network,
                ifname=iface.network,
                switch_ifname=f"{host.name.lower()}-{iface.network}",
                address=iface.address,
                ospf=networks[iface.network].ospf,
                ospf_cost=ospf_cost(networks[iface.network]),
            )
            for iface in host.interfaces
        )
        is_router = host.has("router")
        hosts.append(
            HostPlan(
                host=host,
                namespace=f"{topology.prefix}-{host.name.lower()}",
                links=links,
                runs_frr=any(link.ospf for link in links),
                runs_postgres=host.has("primary") or host.has("replica"),
                runs_pgpool=host.has("balancer"),
                ospf_priority=(
                    ROUTER_PRIORITY if is_router else BALANCER_PRIORITY if host.has("balancer") else DEFAULT_PRIORITY
                ),
                loopback_cost=(
                    topology.ospf.last_resort_cost if host.has("last-resort") else topology.ospf.balancer_cost
                ),
                sysctls={**HOST_SYSCTLS, **(ROUTER_SYSCTLS if is_router else {})},
                data_network=topology.data_network,
                announces_anycast=anycast and (host.has("balancer") or host.has("last-resort")),
                runs_agent=anycast and host.has("balancer"),
                runs_keepalived=mode in (KEEPALIVED, KEEPALIVED_TUNED) and host.has("balancer"),
                runs_watchdog=mode == WATCHDOG and host.has("balancer"),
                vrrp_priority=VRRP_TOP_PRIORITY - 10 * balancers.index(host.name) if host.has("balancer") else 0,
            )
        )
    return Plan(
        topology=topology,
        mode=mode,
        switch_namespace=f"{topology.prefix}-switch",
        shell_ifname=f"{topology.prefix}-shell",
        shell_router_ifname="shell",
        hosts=tuple(hosts),
    )
