"""The topology: a TOML file loaded into typed, validated models.

Every mistake in a file is collected and reported at once, each as `file: field: reason`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, fields, replace
from functools import partial
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

from stand.model.errors import FieldReader, FileErrors, read_toml

BUILTIN_DIR = Path(__file__).parent.parent / "topologies"
DEFAULT_TOPOLOGY = "seed"

ROLES = ("router", "client", "primary", "replica", "balancer", "last-resort")
LAST_RESORT_LABEL = "last resort"  # the records' balancer of an answer no pgpool passed on: "last resort PgSQL1"
# Names become Linux interface and namespace names (15 characters at most) and go into config files and
# scripts: full-string matches only (a `$` would let a trailing newline through).
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9]{0,7}")
NETWORK_NAME_PATTERN = re.compile(r"[a-z][a-z0-9]{0,5}")
SITE_PATTERN = NETWORK_NAME_PATTERN  # a stretched network's bridge in a site is named NETWORK-SITE
PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9]{0,5}")
DATABASE_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # an SQL identifier that needs no quoting
RESERVED_NAMES = ("switch", "shell", "lo")  # the stand's own namespace and interfaces
STAND_SPACE = IPv4Network("198.18.0.0/15")  # RFC 2544's benchmarking range: the stand's addresses only
# Numeric settings with their real ranges (inclusive); every other integer setting must be at least 1,
# except those listed in ZERO_ALLOWED.
RANGES = {
    "pgpool.port": (1024, 65535),  # pgpool's own range
    "watchdog.wd_port": (1, 65535),
    "watchdog.heartbeat_port": (1, 65535),
    "keepalived.virtual_router_id": (1, 255),
    "keepalived_tuned.virtual_router_id": (1, 255),
    "keepalived.vrrp_version": (2, 3),
    "keepalived_tuned.vrrp_version": (2, 3),
    "postgres.scale": (1, 1000),
    "postgres.max_connections": (10, 10000),
    "ospf.balancer_cost": (1, 65535),
    "ospf.last_resort_cost": (1, 65535),
    "ospf.bfd_multiplier": (1, 255),
    "ospf.wan_bfd_multiplier": (1, 255),
    "ospf.tuned_bfd_multiplier": (1, 255),
}
ZERO_ALLOWED = {"ospf.spf_delay_ms", "ospf.lsa_throttle_ms", "ospf.lsa_min_arrival_ms", "pgpool.client_idle_limit_s"}


class TopologyError(FileErrors):
    """A topology file with mistakes; `errors` lists every one of them."""


@dataclass(frozen=True)
class OspfSettings:
    area: str = "0.0.0.0"
    hello_interval_s: int = 1
    dead_interval_s: int = 4
    bfd_interval_ms: int = 100
    bfd_multiplier: int = 3
    wan_bfd_interval_ms: int = 300  # on WAN links (a network with a delay): as operators run BFD between cities
    wan_bfd_multiplier: int = 3
    # the anycast-tuned design's BFD on the LANs: as short as a busy 2-core machine keeps stable (docs/timers.md)
    tuned_bfd_interval_ms: int = 50
    tuned_bfd_multiplier: int = 3
    spf_delay_ms: int = 0
    spf_initial_hold_ms: int = 50
    spf_max_hold_ms: int = 1000
    lsa_throttle_ms: int = 0
    lsa_min_arrival_ms: int = 0
    balancer_cost: int = 10
    last_resort_cost: int = 1000


@dataclass(frozen=True)
class HealthSettings:
    """The health agent of the anycast mode (docs/timers.md says why these values)."""

    interval_ms: int = 100
    timeout_ms: int = 500  # an answer later than this is slow, and still an answer
    unresponsive_ms: int = 2000  # no answer at all for this long: pgpool is frozen or dead
    rise: int = 3
    fall: int = 2  # consecutive errors (refused, reset, SQL errors) that withdraw
    new_connection_every: int = 10
    protect_last_announcer: bool = True  # never withdraw the last balancer for failed checks
    withdraw_holdoff_ms: int = 200  # agents failing at once (overload) do not withdraw in the same instant
    query: str = "SELECT 1"
    # a hitless drain (anycast-pinned) waits this long for the drained balancer's open sessions to end, then
    # stops its pgpool (what is still open breaks then)
    drain_timeout_s: int = 20


@dataclass(frozen=True)
class PostgresSettings:
    database: str = "bench"
    scale: int = 1
    max_connections: int = 200


@dataclass(frozen=True)
class PgpoolSettings:
    port: int = 5432
    num_init_children: int = 32
    # A child whose client vanished without a word (its connection went with a VIP that moved) waits for
    # it forever, and enough of them leave no child to accept anyone: drop a client idle this long.
    client_idle_limit_s: int = 15
    health_check_period_s: int = 1
    # a backend in another site, reached across the WAN: checked as operators check across cities
    wan_health_check_period_s: int = 5
    health_check_timeout_s: int = 2
    sr_check_period_s: int = 1  # pgpool's replication-delay check (nothing here balances by delay)
    search_primary_node_timeout_s: int = 5


@dataclass(frozen=True)
class KeepalivedSettings:
    """VRRP among the balancers, for the `keepalived` modes (the VIP design the seed argues against)."""

    virtual_router_id: int = 51
    vrrp_version: int = 2
    advert_int_ms: int = 1000
    check_interval_s: int = 1
    # psql's connect timeout in the track script (libpq's least is 2 s); keepalived's own limit is 1 s more,
    # so that a slow answer under load (a new session through pgpool: up to 0.5 s here) is not a failure
    check_timeout_s: int = 2
    check_fall: int = 3
    check_rise: int = 2


TUNED_KEEPALIVED = KeepalivedSettings(vrrp_version=3, advert_int_ms=100, check_interval_s=1, check_fall=2, check_rise=1)


@dataclass(frozen=True)
class WatchdogSettings:
    """pgpool-II's own watchdog moving a delegate IP, for the `watchdog` mode (pgpool's defaults)."""

    wd_port: int = 9000
    heartbeat_port: int = 9694
    wd_interval_s: int = 10
    heartbeat_keepalive_s: int = 2
    heartbeat_deadtime_s: int = 30


@dataclass(frozen=True)
class Network:
    """One L2 segment (a bridge)."""

    name: str
    prefix: IPv4Network
    ospf: bool
    delay_ms: float = 0.0  # one way, each direction: a WAN link (two hosts, joined by a delay line)
    jitter_ms: float = 0.0
    # One L2 segment across several sites (what a VIP shared between data centres needs): a bridge in
    # each site, joined by delay lines that copy these WAN links' delays. The links must form a tree.
    stretched_over: tuple[str, ...] = ()


@dataclass(frozen=True)
class Interface:
    network: str
    address: IPv4Interface


@dataclass(frozen=True)
class Host:
    """One host of the stand (a network namespace)."""

    name: str
    roles: tuple[str, ...]
    loopback: IPv4Interface
    interfaces: tuple[Interface, ...]
    site: str = "main"

    def has(self, role: str) -> bool:
        return role in self.roles

    def address_on(self, network: str) -> IPv4Interface | None:
        return next((i.address for i in self.interfaces if i.network == network), None)


@dataclass(frozen=True)
class ShellLink:
    """The root namespace's own link to one router of the stand."""

    router: str
    prefix: IPv4Network

    @property
    def router_address(self) -> IPv4Interface:
        return IPv4Interface(f"{self.prefix[1]}/{self.prefix.prefixlen}")

    @property
    def shell_address(self) -> IPv4Interface:
        return IPv4Interface(f"{self.prefix[2]}/{self.prefix.prefixlen}")


@dataclass(frozen=True)
class Topology:
    prefix: str
    anycast: IPv4Interface
    loopbacks: IPv4Network
    data_network: str
    shell: ShellLink
    networks: tuple[Network, ...]
    hosts: tuple[Host, ...]
    vip_network: str = ""  # where the VIP modes put the VIP; default: the shell router's first OSPF network
    ospf: OspfSettings = field(default_factory=OspfSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    postgres: PostgresSettings = field(default_factory=PostgresSettings)
    pgpool: PgpoolSettings = field(default_factory=PgpoolSettings)
    keepalived: KeepalivedSettings = field(default_factory=KeepalivedSettings)
    keepalived_tuned: KeepalivedSettings = TUNED_KEEPALIVED
    watchdog: WatchdogSettings = field(default_factory=WatchdogSettings)
    source: str = ""

    def host(self, name: str) -> Host:
        """The host of that name, matched without regard to case."""
        for host in self.hosts:
            if host.name.lower() == name.lower():
                return host
        known = ", ".join(h.name for h in self.hosts)
        raise KeyError(f"unknown host {name!r} (hosts: {known})")

    def with_role(self, role: str) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.has(role))

    def network(self, name: str) -> Network:
        return next(n for n in self.networks if n.name == name)

    @property
    def primary(self) -> Host:
        return self.with_role("primary")[0]

    @property
    def anycast_address(self) -> IPv4Address:
        return self.anycast.ip


def resolve_path(name_or_path: str | None) -> Path:
    """A built-in topology name (`seed`) or a path to a TOML file."""
    if name_or_path is None:
        name_or_path = DEFAULT_TOPOLOGY
    builtin = BUILTIN_DIR / f"{name_or_path}.toml"
    if "/" not in name_or_path and not name_or_path.endswith(".toml") and builtin.exists():
        return builtin
    return Path(name_or_path)


def load(name_or_path: str | None = None) -> Topology:
    """Load and validate a topology; raises TopologyError with every mistake."""
    path = resolve_path(name_or_path)
    builtins = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.toml")))
    raw = read_toml(path, TopologyError, f"built-in topologies: {builtins}")
    return parse(raw, str(path))


def load_snapshot(snapshot: Path, source: str) -> Topology:
    """A running stand's topology from the copy `stand up` kept (`source`: the file it was read from)."""
    return parse(read_toml(snapshot, TopologyError, "the snapshot of a running stand"), source)


def running_topology(snapshot: Path, source: str) -> Topology:
    """The snapshot if the stand kept one (stands up since it was introduced), else the file it came from."""
    return load_snapshot(snapshot, source) if snapshot.exists() else load(source or None)


def parse(raw: dict[str, Any], source: str = "<topology>") -> Topology:
    """Turn a parsed TOML document into a Topology, collecting every error."""
    errors: list[str] = []
    reader = _Reader(errors)

    stand = reader.table(raw, "stand")
    prefix = reader.text(stand, "stand.prefix", PREFIX_PATTERN, "1-6 lower-case letters or digits")
    anycast = reader.interface(stand, "stand.anycast")
    loopbacks = reader.network(stand, "stand.loopbacks")
    data_network, vip_network = (reader.optional_name(stand, f"stand.{key}") for key in ("data_network", "vip_network"))

    networks = []
    for name, table in reader.table(raw, "networks").items():
        where = f"networks.{name}"
        if not NETWORK_NAME_PATTERN.fullmatch(name):
            errors.append(f"{where}: name must be 1-6 lower-case letters or digits")
        if not isinstance(table, dict):
            errors.append(f"{where}: must be a table")
            continue
        reader.no_unknown_keys(table, where, sorted({"prefix", "ospf", "delay_ms", "jitter_ms", "stretched_over"}))
        net = reader.network(table, f"{where}.prefix")
        ospf = reader.boolean(table, f"{where}.ospf", default=False)
        delay, jitter = (reader.milliseconds(table, f"{where}.{key}") for key in ("delay_ms", "jitter_ms"))
        if jitter > delay:
            errors.append(f"{where}.jitter_ms: {jitter:g} is more than the delay ({delay:g} ms)")
        stretched_over = reader.names(table, f"{where}.stretched_over")
        if net is not None:
            networks.append(Network(name, net, ospf, delay, jitter, stretched_over))
    if not networks:
        errors.append("networks: at least one network is required")

    hosts = [h for h in (_parse_host(name, t, reader) for name, t in reader.table(raw, "hosts").items()) if h]
    if not hosts:
        errors.append("hosts: at least one host is required")

    shell_table = reader.table(raw, "shell")
    shell_router = reader.text(shell_table, "shell.router")
    shell_prefix = reader.network(shell_table, "shell.prefix")

    settings = {
        "ospf": reader.settings(raw, "ospf", OspfSettings),
        "health": reader.settings(raw, "health", HealthSettings),
        "postgres": reader.settings(raw, "postgres", PostgresSettings),
        "pgpool": reader.settings(raw, "pgpool", PgpoolSettings),
        "keepalived": reader.settings(raw, "keepalived", KeepalivedSettings),
        "keepalived_tuned": reader.settings(raw, "keepalived_tuned", KeepalivedSettings, TUNED_KEEPALIVED),
        "watchdog": reader.settings(raw, "watchdog", WatchdogSettings),
    }
    reader.no_unknown_keys(raw, "", sorted({"stand", "shell", "networks", "hosts", *settings}))
    reader.no_unknown_keys(stand, "stand", sorted({"prefix", "anycast", "loopbacks", "data_network", "vip_network"}))
    reader.no_unknown_keys(shell_table, "shell", sorted({"router", "prefix"}))

    if None in (prefix, anycast, loopbacks, data_network, shell_router, shell_prefix):
        raise TopologyError(source, errors)  # cross-checks would only repeat these
    topology = Topology(
        prefix=prefix,
        anycast=anycast,
        loopbacks=loopbacks,
        data_network=data_network,
        shell=ShellLink(shell_router, shell_prefix),
        networks=tuple(networks),
        hosts=tuple(hosts),
        vip_network=vip_network,
        source=source,
        **settings,
    )
    errors.extend(validate(topology, skip_hosts=reader.incomplete_hosts))
    if errors:
        raise TopologyError(source, errors)
    return topology


def _parse_host(name: str, table: Any, reader: _Reader) -> Host | None:
    where = f"hosts.{name}"
    errors_before = len(reader.errors)
    if not NAME_PATTERN.fullmatch(name):
        reader.errors.append(f"{where}: name must be a letter then up to 7 letters or digits")
    if not isinstance(table, dict):
        reader.errors.append(f"{where}: must be a table")
        return None
    reader.no_unknown_keys(table, where, sorted({"roles", "loopback", "interfaces", "site"}))
    roles = table.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        reader.errors.append(f"{where}.roles: must be a list of role names")
        roles = []
    for role in roles:
        if role not in ROLES:
            reader.errors.append(f"{where}.roles: unknown role {role!r} (known: {', '.join(ROLES)})")
    loopback = reader.interface(table, f"{where}.loopback")
    interfaces = []
    for network, text in reader.table(table, f"{where}.interfaces").items():
        address = reader.interface({network: text}, f"{where}.interfaces.{network}")
        if address is not None:
            interfaces.append(Interface(network, address))
    site = table.get("site", "main")
    if not isinstance(site, str) or not SITE_PATTERN.fullmatch(site):
        reader.errors.append(f"{where}.site: {site!r} must be 1-6 lower-case letters or digits")
        site = "main"
    if len(reader.errors) > errors_before:
        reader.incomplete_hosts.add(name)
    return Host(name, tuple(roles), loopback or UNPARSED, tuple(interfaces), site)


UNPARSED = IPv4Interface("0.0.0.0/32")  # stands in for an address that already has an error


def validate(topology: Topology, skip_hosts: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Cross-field checks on a parsed topology; returns every error found.

    Hosts in `skip_hosts` already have errors of their own: only their valid parts are checked,
    so one mistake does not echo as several.
    """
    errors: list[str] = []
    networks = {n.name: n for n in topology.networks}
    seen_names: dict[str, str] = {}
    owners: dict[IPv4Address, str] = {}

    def claim(address: IPv4Address, where: str) -> None:
        if address in owners:
            errors.append(f"{where}: duplicate address {address} (also {owners[address]})")
        else:
            owners[address] = where

    if topology.anycast.network.prefixlen != 32:
        errors.append(f"stand.anycast: {topology.anycast} must be a /32")
    if topology.anycast.ip not in topology.loopbacks:
        errors.append(f"stand.anycast: {topology.anycast.ip} is outside the loopbacks {topology.loopbacks}")
    for net in topology.networks:
        for other in topology.networks:
            if net.name < other.name and net.prefix.overlaps(other.prefix):
                errors.append(f"networks.{net.name}.prefix: {net.prefix} overlaps networks.{other.name}")
        if net.prefix.overlaps(topology.loopbacks):
            errors.append(f"networks.{net.name}.prefix: {net.prefix} overlaps stand.loopbacks")

    for host in topology.hosts:
        where = f"hosts.{host.name}"
        if host.name.lower() in seen_names:
            errors.append(f"{where}: same name as hosts.{seen_names[host.name.lower()]} (names ignore case)")
        seen_names[host.name.lower()] = host.name
        if host.loopback == UNPARSED:
            pass
        elif host.loopback.network.prefixlen != 32:
            errors.append(f"{where}.loopback: {host.loopback} must be a /32")
        elif host.loopback.ip not in topology.loopbacks:
            errors.append(f"{where}.loopback: {host.loopback.ip} is outside stand.loopbacks {topology.loopbacks}")
        elif host.loopback.ip == topology.anycast.ip:
            errors.append(f"{where}.loopback: {host.loopback.ip} is the anycast address")
        if host.loopback != UNPARSED:
            claim(host.loopback.ip, f"{where}.loopback")
        if host.name in skip_hosts:
            continue
        if not host.interfaces:
            errors.append(f"{where}.interfaces: a host needs at least one interface")
        for iface in host.interfaces:
            iwhere = f"{where}.interfaces.{iface.network}"
            net = networks.get(iface.network)
            if net is None:
                errors.append(f"{iwhere}: unknown network {iface.network!r} (networks: {', '.join(networks)})")
                continue
            if iface.address.network != net.prefix:
                errors.append(f"{iwhere}: {iface.address} is not in network {net.prefix}")
            elif iface.address.ip in (net.prefix.network_address, net.prefix.broadcast_address):
                errors.append(f"{iwhere}: {iface.address.ip} is the network's own or broadcast address")
            claim(iface.address.ip, iwhere)
        announces = host.has("balancer") or host.has("last-resort")
        if announces and not any(networks.get(i.network, _NO_OSPF).ospf for i in host.interfaces):
            errors.append(f"{where}: announces the anycast address but has no interface on an OSPF network")
        if host.has("router") and not any(networks.get(i.network, _NO_OSPF).ospf for i in host.interfaces):
            errors.append(f"{where}: a router needs an interface on an OSPF network")

    roles_count = {role: len(topology.with_role(role)) for role in ROLES}
    if roles_count["primary"] != 1:
        errors.append(f"hosts: exactly one host must have the role 'primary' (found {roles_count['primary']})")
    if roles_count["balancer"] == 0:
        errors.append("hosts: at least one host must have the role 'balancer'")
    if not topology.data_network:
        pass  # every host talks to PostgreSQL from its first interface (sites: its own site's network)
    elif topology.data_network not in networks:
        errors.append(f"stand.data_network: unknown network {topology.data_network!r}")
    else:
        for role in ("primary", "replica", "balancer"):
            for host in topology.with_role(role):
                if host.name not in skip_hosts and host.address_on(topology.data_network) is None:
                    errors.append(
                        f"hosts.{host.name}.interfaces: a {role} needs an address on the data network "
                        f"{topology.data_network!r}, where PostgreSQL and pgpool talk"
                    )

    for net in topology.networks:
        attached = [h.name for h in topology.hosts if h.address_on(net.name) is not None]
        if net.delay_ms and len(attached) != 2:
            errors.append(
                f"networks.{net.name}.delay_ms: a delayed (WAN) network joins exactly two hosts, not {len(attached)}"
            )

    errors.extend(_stretch_errors(topology))
    errors.extend(_space_errors(topology))
    if topology.health.unresponsive_ms <= topology.health.timeout_ms:
        errors.append(
            f"health.unresponsive_ms: {topology.health.unresponsive_ms} must be more than health.timeout_ms "
            f"({topology.health.timeout_ms}): a slow answer comes before no answer at all"
        )
    ports = {
        "pgpool.port": topology.pgpool.port,
        "watchdog.wd_port": topology.watchdog.wd_port,
        "watchdog.heartbeat_port": topology.watchdog.heartbeat_port,
        "pgpool's PCP port": 9898,
    }
    for key, port in ports.items():
        clash = next((other for other, p in ports.items() if p == port and other < key), None)
        if clash is not None and not key.startswith("pgpool's"):
            errors.append(f"{key}: {port} is also {clash}")
    if topology.vip_network and topology.vip_network not in networks:
        errors.append(f"stand.vip_network: unknown network {topology.vip_network!r}")

    shell = topology.shell
    if shell.router.lower() not in seen_names:
        errors.append(f"shell.router: unknown host {shell.router!r}")
    elif not topology.host(shell.router).has("router"):
        errors.append(f"shell.router: host {shell.router!r} does not have the role 'router'")
    if shell.prefix.prefixlen > 30:
        errors.append(f"shell.prefix: {shell.prefix} must hold two hosts (a /30 or larger)")
    for net in topology.networks:
        if shell.prefix.overlaps(net.prefix):
            errors.append(f"shell.prefix: {shell.prefix} overlaps networks.{net.name}")
    if shell.prefix.overlaps(topology.loopbacks):
        errors.append(f"shell.prefix: {shell.prefix} overlaps stand.loopbacks")
    return errors


def _in_range(key: str, value: int) -> bool:
    low, high = RANGES.get(key, (0 if key in ZERO_ALLOWED else 1, None))
    return value >= low and (high is None or value <= high)


def _space_errors(topology: Topology) -> list[str]:
    """Every prefix the stand routes lies in 198.18.0.0/15, and no host or network takes a reserved name."""
    errors = []
    prefixes = [(f"networks.{n.name}.prefix", n.prefix) for n in topology.networks]
    prefixes += [("stand.loopbacks", topology.loopbacks), ("shell.prefix", topology.shell.prefix)]
    for where, prefix in prefixes:
        if not prefix.subnet_of(STAND_SPACE):
            errors.append(f"{where}: {prefix} is outside {STAND_SPACE}, the only addresses the stand may route")
    for kind, names in (("hosts", [h.name for h in topology.hosts]), ("networks", [n.name for n in topology.networks])):
        for name in names:
            if name.lower() in RESERVED_NAMES:
                errors.append(f"{kind}.{name}: the name is the stand's own ({', '.join(RESERVED_NAMES)} are taken)")
    return errors


def _stretch_errors(topology: Topology) -> list[str]:
    """A stretched network's WAN links must be WAN links that join all of its sites without a loop."""
    errors = []
    networks = {n.name: n for n in topology.networks}
    for net in topology.networks:
        if not net.stretched_over:
            continue
        where = f"networks.{net.name}.stretched_over"
        if net.delay_ms:
            errors.append(f"{where}: a WAN link cannot itself be stretched")
            continue
        component = {site: site for site in {h.site for h in topology.hosts}}  # union-find over sites
        root = partial(_root, component)
        for name in net.stretched_over:
            wan = networks.get(name)
            if wan is None or not wan.delay_ms:
                errors.append(f"{where}: {name!r} is not a WAN link (a network with delay_ms)")
                continue
            ends = [root(h.site) for h in topology.hosts if h.address_on(name) is not None]
            if len(ends) != 2:
                continue  # reported with the WAN link itself
            a, b = ends
            if a == b:
                errors.append(f"{where}: {name!r} closes a loop (the segment has no spanning tree protocol)")
            component[a] = b
        sites = {h.site for h in topology.hosts if h.address_on(net.name) is not None}
        if len({root(site) for site in sites}) > 1:
            errors.append(f"{where}: does not join the sites {', '.join(sorted(sites))}")
    return errors


def _root(component: dict[str, str], site: str) -> str:
    while component[site] != site:
        site = component[site]
    return site


_NO_OSPF = Network("", IPv4Network("0.0.0.0/32"), False)


class _Reader(FieldReader):
    """The topology file's field types."""

    def __init__(self, errors: list[str]):
        super().__init__(errors)
        self.incomplete_hosts: set[str] = set()

    def table(self, parent: dict[str, Any], where: str) -> dict[str, Any]:
        key = where.rsplit(".", 1)[-1]
        value = parent.get(key)
        if value is None:
            self.errors.append(f"{where}: missing")
            return {}
        if not isinstance(value, dict):
            self.errors.append(f"{where}: must be a table")
            return {}
        return value

    def text(self, parent: dict[str, Any], where: str, pattern: re.Pattern | None = None, hint: str = "") -> str | None:
        value = super().text(parent, where)
        if value is None:
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.errors.append(f"{where}: {value!r} must be {hint}")
            return None
        return value

    def boolean(self, parent: dict[str, Any], where: str, default: bool) -> bool:
        value = parent.get(where.rsplit(".", 1)[-1], default)
        if not isinstance(value, bool):
            self.errors.append(f"{where}: must be true or false")
            return default
        return value

    def optional_name(self, parent: dict[str, Any], where: str) -> str:
        """An optional name of something else in the file ("" when absent)."""
        value = parent.get(where.rsplit(".", 1)[-1], "")
        if not isinstance(value, str):
            self.errors.append(f"{where}: must be a network name")
            return ""
        return value

    def names(self, parent: dict[str, Any], where: str) -> tuple[str, ...]:
        """An optional list of names (empty when absent)."""
        value = parent.get(where.rsplit(".", 1)[-1], [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.errors.append(f"{where}: must be a list of network names")
            return ()
        return tuple(value)

    def milliseconds(self, parent: dict[str, Any], where: str) -> float:
        """An optional duration in ms, 0 when absent."""
        value = parent.get(where.rsplit(".", 1)[-1], 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1000:
            self.errors.append(f"{where}: must be a number of milliseconds from 0 to 1000")
            return 0.0
        return float(value)

    def interface(self, parent: dict[str, Any], where: str) -> IPv4Interface | None:
        value = self.text(parent, where)
        if value is None:
            return None
        if "/" not in value:
            self.errors.append(f"{where}: {value!r} needs a prefix length (like 198.18.0.90/24)")
            return None
        try:
            return IPv4Interface(value)
        except ValueError:
            self.errors.append(f"{where}: {value!r} is not an IPv4 address with prefix length")
            return None

    def network(self, parent: dict[str, Any], where: str) -> IPv4Network | None:
        value = self.text(parent, where)
        if value is None:
            return None
        try:
            return IPv4Network(value)
        except ValueError as e:
            reason = "has host bits set" if "host bits" in str(e) else "is not an IPv4 network"
            self.errors.append(f"{where}: {value!r} {reason}")
            return None

    def settings(self, raw: dict[str, Any], name: str, kind: type, defaults: Any = None) -> Any:
        """A settings table: every key optional, typed like the dataclass defaults."""
        defaults = defaults if defaults is not None else kind()
        table = raw.get(name, {})
        if not isinstance(table, dict):
            self.errors.append(f"{name}: must be a table")
            return defaults
        known = sorted(f.name for f in fields(kind))
        self.no_unknown_keys(table, name, known)
        values = {}
        for key in set(known) & table.keys():
            expected = type(getattr(defaults, key))
            value = table[key]
            if type(value) is not expected:
                kind_name = {int: "an integer", bool: "true or false"}.get(expected, "a string")
                self.errors.append(f"{name}.{key}: must be {kind_name}")
            elif expected is int and not _in_range(f"{name}.{key}", value):
                low, high = RANGES.get(f"{name}.{key}", (0 if f"{name}.{key}" in ZERO_ALLOWED else 1, None))
                bound = f"from {low} to {high}" if high is not None else f"at least {low}"
                self.errors.append(f"{name}.{key}: must be {bound} (got {value})")
            else:
                values[key] = value
        if name == "postgres" and "database" in values and not DATABASE_PATTERN.fullmatch(values["database"]):
            self.errors.append(
                f"postgres.database: {values['database']!r} must be 1-63 lower-case letters, digits or "
                "'_', not starting with a digit"
            )
            del values["database"]
        if name == "ospf" and "area" in values:
            try:
                ipaddress.IPv4Address(values["area"])
            except ValueError:
                self.errors.append(f"ospf.area: {values['area']!r} must be written as an IPv4 address (0.0.0.0)")
        return replace(defaults, **values)
