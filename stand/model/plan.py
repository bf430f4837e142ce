"""Derived facts: namespace and link names, OSPF roles, which daemons run where.

Everything a template or the builder needs is computed here, in Python, from the topology.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from stand.model.daemons import FRR, DaemonKind
from stand.model.design import Design
from stand.model.topology import Host, KeepalivedSettings, Network, OspfSettings, Topology

LAN_COST = 10
RTT_COST_PER_MS = 10
VRRP_TOP_PRIORITY = 150  # the first balancer is the VIP's first master; each next one 10 less

PINNED_TABLE_BASE = 300  # a router's pinned flows with mark m are routed by table 300 + m
PINNED_RULE_PRIORITY = 90  # before the resilient mirror's rule (100) and the main table's (32766)


@dataclass(frozen=True)
class Pin:
    """On a router that pins flows: the flows that started towards `next_hop` carry `mark` and are routed by
    `table` (its one route: the anycast address via that next hop) for as long as they last."""

    mark: int
    next_hop: str
    table: int


ROUTER_PRIORITY = 255  # the client-side router is always the DR: it re-originates the network LSA itself
DEFAULT_PRIORITY = 1
BALANCER_PRIORITY = 0  # balancers come and go; they must never be DR or BDR

ROUTER_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    # One TCP flow sticks to one balancer, by its 5-tuple alone, as on a real router: policy 1 (L4) would take
    # the hash a frame carries when it has one, and over a veth every frame carries its sending socket's random
    # hash, which TCP draws anew on a SYN or RTO retransmission: a flow would change balancers when it retransmits,
    # and no source port could choose a path. Policy 3 hashes exactly the fields below, always (docs/metrics.md).
    "net.ipv4.fib_multipath_hash_policy": "3",
    "net.ipv4.fib_multipath_hash_fields": "0x0037",  # source and destination address, protocol, both ports
    "net.ipv4.fib_multipath_use_neigh": "1",  # skip next hops whose neighbour entry failed
    # A client on a balancer's own LAN would be told to bypass the router, and keep doing so (for minutes)
    # after that balancer is withdrawn: routing decides at the router, always.
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.default.send_redirects": "0",
}
HOST_SYSCTLS = {
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv4.conf.default.accept_redirects": "0",
}


@dataclass(frozen=True)
class Link:
    """A veth from a host to a network's bridge (or, on a WAN link, a delay line) in the switch namespace."""

    network: str
    ifname: str  # inside the host: the network's name
    switch_ifname: str  # inside the switch namespace
    address: IPv4Interface
    ospf: bool
    ospf_cost: int  # follows the link's latency: WAN links cost more the farther they reach
    bridge: str  # in the switch namespace; "" on a WAN link
    delayed: bool  # its frames cross a delay line (WAN links, stretched networks): offloads must be off
    wan: bool = False  # a WAN link (its network has a delay): the WAN's BFD timers


@dataclass(frozen=True)
class BridgePort:
    """A veth inside the switch namespace: one end on a stretched network's bridge in one site, the other
    an end of the delay line to another site."""

    bridge: str
    bridge_ifname: str
    line_ifname: str
    wan: str  # the WAN link whose path the hop follows: a cut of that link cuts the hop too


@dataclass(frozen=True)
class DelayLine:
    """A userspace delay line (stand/programs/delayline.py) joining two interfaces of the switch namespace."""

    name: str
    a: str
    b: str
    delay_ms: float
    jitter_ms: float
    loss_pct: float = 0.0
    one_way: bool = False  # only frames from `a` to `b` are delayed and lost (the link-netem fault)

    @property
    def bridge(self) -> str:
        """The bridge that joins the line's two ends where the kernel delays (netem): named after the line."""
        return f"l-{self.name}"[:15]

    @property
    def options(self) -> list[str]:
        """The command-line options of `python -m stand.programs.delayline` for this line."""
        options = ["--a", self.a, "--b", self.b]
        options += ["--delay-ms", f"{self.delay_ms:g}", "--jitter-ms", f"{self.jitter_ms:g}"]
        if self.loss_pct:
            options += ["--loss-pct", f"{self.loss_pct:g}"]
        return options + (["--one-way"] if self.one_way else [])


@dataclass(frozen=True)
class StaticRoute:
    destination: IPv4Network
    gateway: IPv4Address
    ifname: str


@dataclass(frozen=True)
class HostPlan:
    host: Host
    namespace: str
    links: tuple[Link, ...]
    daemons: tuple[DaemonKind, ...]  # in start order: FRR on routers and announcers, PostgreSQL, pgpool, companion
    static_routes: tuple[StaticRoute, ...]  # hosts on an OSPF network without FRR: the stand via its router
    ospf_priority: int
    loopback_cost: int  # OSPF cost of `lo`, which carries the loopback and the anycast address
    sysctls: dict[str, str]
    data_network: str  # where pgpool reaches PostgreSQL and replicas stream
    announces_anycast: bool  # OSPF carries the anycast /32 from this host (anycast mode only)
    pgpool_watchdog: bool  # pgpool's watchdog moves the VIP: the watchdog mode's balancers
    vrrp_priority: int

    @property
    def name(self) -> str:
        return self.host.name

    def runs(self, kind: DaemonKind) -> bool:
        return kind in self.daemons

    @property
    def runs_frr(self) -> bool:
        return self.runs(DaemonKind.ZEBRA)

    @property
    def is_balancer(self) -> bool:
        return self.runs(DaemonKind.PGPOOL)

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

    def link_on(self, network: str) -> Link | None:
        return next((link for link in self.links if link.network == network), None)


@dataclass(frozen=True)
class Plan:
    topology: Topology
    design: Design
    switch_namespace: str
    shell_ifname: str  # the root namespace's end of the shell link
    shell_router_ifname: str  # the router's end
    hosts: tuple[HostPlan, ...]
    bridges: tuple[str, ...]
    bridge_ports: tuple[BridgePort, ...]
    delay_lines: tuple[DelayLine, ...]
    vip_network: str  # the segment that carries the VIP in the VIP modes

    @property
    def mode(self) -> str:
        """The design's name, as `--mode` takes it."""
        return self.design.name

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
    def pgpool_check_cycle_s(self) -> int:
        """The longest a pgpool health check started during an outage may take to report it: the longest
        period any balancer uses for any backend, then the timeout."""
        settings = self.topology.pgpool
        across = any(self.across_wan(b, n) for b in self.balancers for n in self.postgres_hosts)
        period = max(settings.health_check_period_s, settings.wan_health_check_period_s if across else 0)
        return period + settings.health_check_timeout_s

    def across_wan(self, balancer: HostPlan, backend: HostPlan) -> bool:
        """Whether the balancer reaches the backend across a WAN link (it is in another site)."""
        return backend.host.site != balancer.host.site

    @property
    def routers(self) -> tuple[HostPlan, ...]:
        return tuple(h for h in self.hosts if h.host.has("router"))

    def ospf_peers_of(self, router: HostPlan) -> int:
        """How many OSPF neighbours a router has when every host is up: FRR hosts on its OSPF networks."""
        networks = {link.network for link in router.ospf_links}
        return sum(
            1
            for h in self.hosts
            if h is not router and h.runs_frr and networks & {link.network for link in h.ospf_links}
        )

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

    def pins_of(self, router: HostPlan) -> list[Pin]:
        """How the router pins flows (a design that `pins_flows`): a mark and a table for each next hop of its
        own site's balancers, in `anycast_next_hops_of`'s order."""
        return [
            Pin(mark, hop, PINNED_TABLE_BASE + mark) for mark, hop in enumerate(self.anycast_next_hops_of(router), 1)
        ]

    @property
    def balancers(self) -> tuple[HostPlan, ...]:
        return tuple(h for h in self.hosts if h.is_balancer)

    @property
    def postgres_hosts(self) -> tuple[HostPlan, ...]:
        """The primary first, then the replicas."""
        running = (h for h in self.hosts if h.runs(DaemonKind.POSTGRES))
        return tuple(sorted(running, key=lambda h: not h.host.has("primary")))

    @property
    def has_vip(self) -> bool:
        """A VIP design: one balancer at a time holds the anycast address, on the router's segment."""
        return self.design.holds_vip

    @property
    def ospf(self) -> OspfSettings:
        """The OSPF and BFD settings of this design (the topology's, or its tuned BFD)."""
        return self.design.ospf_settings(self.topology)

    @property
    def keepalived(self) -> KeepalivedSettings:
        """The VRRP settings of this design (the deployed ones where the design runs no keepalived)."""
        return self.design.vrrp_settings(self.topology) or self.topology.keepalived

    @property
    def stand_networks(self) -> tuple[IPv4Network, ...]:
        """Every prefix of the stand: where clients may connect from."""
        return stand_prefixes(self.topology)

    def vip_link(self, host: HostPlan) -> Link:
        """The host's link on the VIP's segment (VIP modes: every balancer and router has one)."""
        link = host.link_on(self.vip_network)
        if link is None:
            raise ValueError(f"{host.name} has no link on the VIP network {self.vip_network!r}")
        return link


def stand_prefixes(topology: Topology) -> tuple[IPv4Network, ...]:
    return (*(n.prefix for n in topology.networks), topology.loopbacks, topology.shell.prefix)


def ospf_cost(network: Network) -> int:
    """10 for a LAN, plus 10 per millisecond of round trip on a WAN link (so OSPF prefers near sites)."""
    return LAN_COST + round(RTT_COST_PER_MS * 2 * network.delay_ms)


class UnknownMode(ValueError):
    pass


def namespace_of(topology: Topology, host: Host) -> str:
    return f"{topology.prefix}-{host.name.lower()}"


def derive(topology: Topology, design: Design) -> Plan:
    """Compute every name and role of the stand from its topology, for one design under test."""
    networks = {n.name: n for n in topology.networks}
    vip_network = topology.vip_network or next(
        i.network for i in topology.host(topology.shell.router).interfaces if networks[i.network].ospf
    )
    if design.holds_vip:
        apart = [h.name for h in topology.hosts if _on_vip_segment(h) and h.address_on(vip_network) is None]
        if apart:
            raise UnknownMode(
                f"{design.name} mode needs every balancer and router on the VIP's segment {vip_network!r}, "
                f"and {', '.join(apart)} are not (several sites need stand.vip_network set to a "
                f"network stretched over them, as in the sites topology)"
            )
    balancers = [h.name for h in topology.with_role("balancer")]
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
                bridge=_bridge_name(networks[iface.network], host.site),
                delayed=bool(networks[iface.network].delay_ms or networks[iface.network].stretched_over),
                wan=bool(networks[iface.network].delay_ms),
            )
            for iface in host.interfaces
        )
        is_router = host.has("router")
        runs_frr = any(link.ospf for link in links) and (is_router or _announces(host))
        daemons = _daemons(host, design, runs_frr)
        hosts.append(
            HostPlan(
                host=host,
                namespace=namespace_of(topology, host),
                links=links,
                daemons=daemons,
                static_routes=() if runs_frr else _routes_via_router(topology, host, links),
                ospf_priority=(
                    ROUTER_PRIORITY if is_router else BALANCER_PRIORITY if host.has("balancer") else DEFAULT_PRIORITY
                ),
                loopback_cost=(
                    topology.ospf.last_resort_cost if host.has("last-resort") else topology.ospf.balancer_cost
                ),
                sysctls={**HOST_SYSCTLS, **(ROUTER_SYSCTLS if is_router else {})},
                data_network=topology.data_network,
                announces_anycast=not design.holds_vip and _announces(host),
                pgpool_watchdog=design.pgpool_watchdog and host.has("balancer"),
                vrrp_priority=VRRP_TOP_PRIORITY - 10 * balancers.index(host.name) if host.has("balancer") else 0,
            )
        )
    # A design without a VIP has no use for the VIP's stretched segment: no delay lines for it (each is a process
    # that handles every frame crossing it); its bridges stay, one per site, joined by nothing.
    needed = [net for net in topology.networks if design.holds_vip or net.name != topology.vip_network]
    hops = [hop for net in needed for hop in _stretch_hops(topology, net)]
    return Plan(
        topology=topology,
        design=design,
        switch_namespace=f"{topology.prefix}-switch",
        shell_ifname=f"{topology.prefix}-shell",
        shell_router_ifname="shell",
        hosts=tuple(hosts),
        bridges=_bridges(topology),
        bridge_ports=tuple(port for hop in hops for port in hop.ports),
        delay_lines=(*_wan_lines(topology, hosts), *(hop.line for hop in hops)),
        vip_network=vip_network,
    )


def _daemons(host: Host, design: Design, runs_frr: bool) -> tuple[DaemonKind, ...]:
    """What the host runs, in start order."""
    kinds = [*(FRR if runs_frr else ())]
    if host.has("router") and design.router_companion:
        kinds.append(design.router_companion)
    kinds += [DaemonKind.POSTGRES] if host.has("primary") or host.has("replica") else []
    if host.has("balancer"):
        kinds += [DaemonKind.PGPOOL, *([design.balancer_companion] if design.balancer_companion else [])]
    return tuple(kinds)


def _announces(host: Host) -> bool:
    return host.has("balancer") or host.has("last-resort")


def _on_vip_segment(host: Host) -> bool:
    """Hosts a VIP design needs on one L2 segment: the balancers that hold the VIP, the routers that reach it."""
    return host.has("balancer") or host.has("router")


def _bridge_name(network: Network, site: str) -> str:
    if network.delay_ms:
        return ""
    return f"{network.name}-{site}" if network.stretched_over else network.name


def _bridges(topology: Topology) -> tuple[str, ...]:
    """A bridge per network; a stretched network has one in each site it reaches."""
    bridges = []
    for net in topology.networks:
        if net.delay_ms:
            continue
        sites = [h.site for h in topology.hosts if h.address_on(net.name) is not None]
        for wan in net.stretched_over:
            sites.extend(h.site for h in topology.hosts if h.address_on(wan) is not None)
        bridges.extend(dict.fromkeys(_bridge_name(net, site) for site in sites))
    return tuple(bridges)


@dataclass(frozen=True)
class StretchHop:
    """Where a stretched network copies a WAN link: a port on its bridge at each end, a delay line between."""

    ports: tuple[BridgePort, BridgePort]
    line: DelayLine


def _stretch_hops(topology: Topology, net: Network) -> list[StretchHop]:
    hops = []
    for wan_name in net.stretched_over:
        wan = topology.network(wan_name)
        sites = [h.site for h in topology.hosts if h.address_on(wan_name) is not None]
        name = f"{net.name}-{wan_name}"
        a, b = (
            BridgePort(_bridge_name(net, site), f"{name}{2 * end + 1}", f"{name}{2 * end + 2}", wan_name)
            for end, site in enumerate(sites)
        )
        hops.append(StretchHop((a, b), DelayLine(name, a.line_ifname, b.line_ifname, wan.delay_ms, wan.jitter_ms)))
    return hops


def _wan_lines(topology: Topology, hosts: list[HostPlan]) -> list[DelayLine]:
    """One for each WAN link, between its two hosts' links."""
    lines = []
    for net in topology.networks:
        if net.delay_ms:
            a, b = (link.switch_ifname for h in hosts for link in h.links if link.network == net.name)
            lines.append(DelayLine(net.name, a, b, net.delay_ms, net.jitter_ms))
    return lines


def _routes_via_router(topology: Topology, host: Host, links: tuple[Link, ...]) -> tuple[StaticRoute, ...]:
    """A host on an OSPF network that runs no FRR (a client, a replica) reaches the rest of the stand through
    the router on that network: no OSPF and BFD to keep up where nothing is announced."""
    for link in links:
        if not link.ospf:
            continue
        router = next((r for r in topology.with_role("router") if r.address_on(link.network) is not None), None)
        if router is None:
            continue
        connected = {each.address.network for each in links}
        gateway = router.address_on(link.network).ip
        return tuple(
            StaticRoute(prefix, gateway, link.ifname) for prefix in stand_prefixes(topology) if prefix not in connected
        )
    return ()
