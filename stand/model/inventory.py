"""An inventory: the real machines a topology is deployed on (Ansible's inventory, the remote runner's
SSH targets), from a TOML file. Every mistake is collected and reported at once, each as
`file: field: reason`, as the topology's are.

    [ssh]                       # defaults for every machine below
    user = "root"
    port = 22
    key = "~/.ssh/pgab"         # optional: the private key (else SSH's own defaults)

    [hosts.PgBAL1]              # one table per host of the topology, every host
    address = "10.20.0.14"      # where SSH reaches it (its management address)
    user = "debian"             # optional: overrides [ssh]

    [clients.load1]             # the machines Locust's workers run on (optional)
    address = "10.20.0.50"
    suite = "/opt/pgab/suite"   # optional: a checkout of this suite there, with its .venv

`platform` (top level) says how the hosts run their services: "debian" (the default: systemd units, as the
playbook deploys them) or "stand" (the namespace stand's own controllers, `stand inventory`'s). `[ssh]` may
name a `known_hosts` file (else SSH's own); host keys are always checked.

Addresses are IP addresses, not names: the load goes only to addresses the suite can check, and a
name's address can change between the check and the load.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

from stand.model.errors import FileErrors, read_toml
from stand.model.topology import NAME_PATTERN, Topology

USER_PATTERN = re.compile(r"[a-z_][a-z0-9_-]{0,31}")  # a Debian user name (useradd's default rule)
DEFAULT_USER, DEFAULT_PORT = "root", 22
TARGET_KEYS = ("address", "user", "port", "key")
CLIENT_KEYS = (*TARGET_KEYS, "suite")
SSH_KEYS = ("user", "port", "key", "known_hosts")
PLATFORMS = ("debian", "stand")  # how the hosts run their services: systemd units, or the stand's controllers
DEFAULT_SUITE = "/opt/pgab/suite"  # where a client machine has its checkout of the suite, by default


class InventoryError(FileErrors):
    """An inventory file with mistakes; `errors` lists every one of them."""


@dataclass(frozen=True)
class SshTarget:
    """One machine as SSH reaches it."""

    name: str  # the topology's host name (its spelling), or a client machine's name
    address: IPv4Address | IPv6Address
    user: str
    port: int
    key: str | None  # the private key's path; None: SSH's defaults
    suite: str = DEFAULT_SUITE  # a client machine's checkout of the suite (its .venv inside)


@dataclass(frozen=True)
class Inventory:
    source: str
    hosts: tuple[SshTarget, ...]  # one per host of the topology, in the topology's order
    clients: tuple[SshTarget, ...]  # Locust's worker machines
    platform: str = "debian"  # one of PLATFORMS
    known_hosts: str | None = None  # the known_hosts file SSH checks host keys with; None: SSH's own

    def host(self, name: str) -> SshTarget:
        """The target of a topology host, by name without regard to case."""
        for target in self.hosts:
            if target.name.lower() == name.lower():
                return target
        raise KeyError(f"{self.source}: no host {name!r} (hosts: {', '.join(t.name for t in self.hosts)})")

    @property
    def addresses(self) -> frozenset[IPv4Address | IPv6Address]:
        """Every address of the inventory: the only ones load and faults may go to."""
        return frozenset(t.address for t in (*self.hosts, *self.clients))


def _target(
    name: str, table: Any, where: str, defaults: dict[str, Any], errors: list[str], keys: tuple[str, ...] = TARGET_KEYS
) -> SshTarget | None:
    if not isinstance(table, dict):
        errors.append(f"{where}: must be a table")
        return None
    for key in table:
        if key not in keys:
            errors.append(f"{where}.{key}: unknown field (known: {', '.join(keys)})")
    address = None
    raw_address = table.get("address")
    if raw_address is None:
        errors.append(f"{where}.address: missing")
    elif not isinstance(raw_address, str):
        errors.append(f"{where}.address: must be a string")
    else:
        try:
            address = ipaddress.ip_address(raw_address)
        except ValueError:
            errors.append(
                f"{where}.address: {raw_address!r} is not an IP address (names are not accepted: see the file's docs)"
            )
        if address is not None and (address.is_unspecified or address.is_multicast):
            errors.append(f"{where}.address: {raw_address} cannot be a host's address")
            address = None
    settings = {**defaults, **{k: v for k, v in table.items() if k in ("user", "port", "key")}}
    user, port, key = settings.get("user", DEFAULT_USER), settings.get("port", DEFAULT_PORT), settings.get("key")
    if not isinstance(user, str) or not USER_PATTERN.fullmatch(user):
        errors.append(f"{where}.user: {user!r} is not a user name (lower-case letters, digits, _ and -)")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        errors.append(f"{where}.port: {port!r} is not a port (1 to 65535)")
    if key is not None and (not isinstance(key, str) or not key):
        errors.append(f"{where}.key: must be a path")
    suite = table.get("suite", DEFAULT_SUITE)
    if not isinstance(suite, str) or not suite.startswith("/"):
        errors.append(f"{where}.suite: must be an absolute path (the suite's checkout on that machine)")
    if address is None or any(e.startswith(f"{where}.") for e in errors):
        return None
    return SshTarget(name, address, user, port, key, suite)


def parse(raw: dict[str, Any], topology: Topology, source: str = "<inventory>") -> Inventory:
    """A parsed TOML document as an Inventory of the topology's hosts, collecting every error."""
    errors: list[str] = []
    for key in raw:
        if key not in ("platform", "ssh", "hosts", "clients"):
            errors.append(f"{key}: unknown field (known: platform, ssh, hosts, clients)")
    platform = raw.get("platform", "debian")
    if platform not in PLATFORMS:
        errors.append(f"platform: {platform!r} is not one of {', '.join(PLATFORMS)}")
    defaults = raw.get("ssh", {})
    if not isinstance(defaults, dict):
        errors.append("ssh: must be a table")
        defaults = {}
    for key in defaults:
        if key not in SSH_KEYS:
            errors.append(f"ssh.{key}: unknown field (known: {', '.join(SSH_KEYS)})")
    known_hosts = defaults.get("known_hosts")
    if known_hosts is not None and (not isinstance(known_hosts, str) or not known_hosts):
        errors.append("ssh.known_hosts: must be a path")
    defaults = {k: v for k, v in defaults.items() if k in ("user", "port", "key")}

    spelled = {h.name.lower(): h.name for h in topology.hosts}
    hosts_table = raw.get("hosts")
    if not isinstance(hosts_table, dict):
        errors.append(
            "hosts: missing (a table per host of the topology)" if hosts_table is None else "hosts: must be a table"
        )
        hosts_table = {}
    found: dict[str, SshTarget] = {}
    for name, table in hosts_table.items():
        where = f"hosts.{name}"
        host = spelled.get(name.lower())
        if host is None:
            errors.append(f"{where}: not a host of the topology (hosts: {', '.join(spelled.values())})")
            continue
        if host in found:
            errors.append(f"{where}: {host} is listed twice")
            continue
        target = _target(host, table, where, defaults, errors)
        if target is not None:
            found[host] = target
    listed = {spelled.get(name.lower()) for name in hosts_table}
    missing = [h.name for h in topology.hosts if h.name not in listed]
    if missing:
        errors.append(f"hosts: missing {', '.join(missing)} (every host of the topology needs its machine)")

    clients_table = raw.get("clients", {})
    if not isinstance(clients_table, dict):
        errors.append("clients: must be a table")
        clients_table = {}
    clients = []
    for name, table in clients_table.items():
        where = f"clients.{name}"
        if not NAME_PATTERN.fullmatch(name):
            errors.append(f"{where}: name must be a letter, then up to 7 letters or digits")
        elif name.lower() in spelled:
            errors.append(f"{where}: {name} is a host of the topology, not a client machine")
        target = _target(name, table, where, defaults, errors, CLIENT_KEYS)
        if target is not None:
            clients.append(target)

    seen: dict[object, str] = {}
    for target in (*found.values(), *clients):
        if target.address in seen:
            errors.append(f"{target.name}: address {target.address} is {seen[target.address]}'s too")
        seen.setdefault(target.address, target.name)
    if errors:
        raise InventoryError(source, errors)
    hosts = tuple(found[h.name] for h in topology.hosts)
    return Inventory(source, hosts, tuple(clients), platform, known_hosts)


def load(path: Path, topology: Topology) -> Inventory:
    """Load and validate an inventory for the topology; raises InventoryError with every mistake."""
    raw = read_toml(path, InventoryError, "an inventory file: see docs/real-hosts.md")
    return parse(raw, topology, str(path))
