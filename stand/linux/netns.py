"""Network namespaces, links, addresses, routes and sysctls, made with pyroute2."""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import TypeVar

from pyroute2 import IPRoute, netns
from pyroute2.ethtool import Ethtool
from pyroute2.netlink.exceptions import NetlinkError

from stand.linux import syscalls

ROOT = None  # the machine's own namespace, where `stand` runs
CURRENT = None  # whatever namespace the caller is in (the root one, for `stand` itself)
T = TypeVar("T")
EEXIST = 17
ENOENT = 2
ESRCH = 3
EADDRNOTAVAIL = 99


def exists(name: str) -> bool:
    return name in netns.listnetns()


def create(name: str) -> None:
    """A new namespace with `lo` up."""
    netns.create(name)
    with IPRoute(netns=name) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


def remove(name: str) -> None:
    """Remove a namespace; its veths and bridges go with it. Idempotent."""
    if exists(name):
        netns.remove(name)


def enter(name: str) -> None:
    """Move the calling thread (or a freshly forked child) into a namespace."""
    syscalls.enter_netns(name)


def run_inside(name: str, work: Callable[[], T]) -> T:
    """Run `work` in a thread that sits in namespace `name` (setns is per thread)."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            enter(name)
            outcome["value"] = work()
        except BaseException as e:  # handed back to the caller
            outcome["error"] = e

    thread = threading.Thread(target=target, name=f"netns-{name}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def set_sysctls(name: str, values: dict[str, str]) -> None:
    """Write per-namespace sysctls (net.*) from inside that namespace."""

    def write() -> None:
        for key, value in values.items():
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(value)

    run_inside(name, write)


def _ipr(namespace: str | None) -> IPRoute:
    return IPRoute() if namespace is None else IPRoute(netns=namespace)


def _index(ipr: IPRoute, ifname: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise LookupError(f"no interface {ifname!r}")
    return found[0]


def add_bridge(namespace: str, ifname: str) -> None:
    with _ipr(namespace) as ipr:
        ipr.link("add", ifname=ifname, kind="bridge", br_forward_delay=0, br_stp_state=0)
        ipr.link("set", index=_index(ipr, ifname), state="up")


def add_veth(namespace: str | None, ifname: str, peer_namespace: str, peer_ifname: str) -> None:
    """A veth pair: `ifname` in `namespace`, `peer_ifname` moved into `peer_namespace`."""
    with _ipr(namespace) as ipr:
        ipr.link("add", ifname=ifname, kind="veth", peer={"ifname": peer_ifname, "net_ns_fd": peer_namespace})
        ipr.link("set", index=_index(ipr, ifname), state="up")
    with _ipr(peer_namespace) as ipr:
        ipr.link("set", index=_index(ipr, peer_ifname), state="up")


def attach_to_bridge(namespace: str, ifname: str, bridge: str) -> None:
    with _ipr(namespace) as ipr:
        ipr.link("set", index=_index(ipr, ifname), master=_index(ipr, bridge))


def detach_from_bridge(namespace: str, ifname: str) -> None:
    with _ipr(namespace) as ipr:
        ipr.link("set", index=_index(ipr, ifname), master=0)


def add_netem(namespace: str, ifname: str, delay_ms: float, jitter_ms: float) -> bool:
    """netem on the interface's egress: every frame leaves `delay_ms` (give or take `jitter_ms`) late.
    False, and nothing changed, if this kernel has no netem qdisc."""
    with _ipr(namespace) as ipr:
        try:
            ipr.tc(
                "add",
                "netem",
                index=_index(ipr, ifname),
                handle="1:",
                delay=round(delay_ms * 1000),
                jitter=round(jitter_ms * 1000),
            )
        except NetlinkError as e:
            if e.code in (errno.ENOENT, errno.EOPNOTSUPP):
                return False
            raise
    return True


def set_link(namespace: str, ifname: str, up: bool) -> None:
    with _ipr(namespace) as ipr:
        ipr.link("set", index=_index(ipr, ifname), state="up" if up else "down")


def add_address(namespace: str | None, ifname: str, address: IPv4Interface) -> None:
    with _ipr(namespace) as ipr:
        try:
            ipr.addr("add", index=_index(ipr, ifname), address=str(address.ip), prefixlen=address.network.prefixlen)
        except NetlinkError as e:
            if e.code != EEXIST:
                raise


def remove_address(namespace: str | None, address: IPv4Interface) -> bool:
    """Remove the address from whichever interface has it; whether one had."""
    with _ipr(namespace) as ipr:
        found = [a for a in ipr.addr("dump") if a.get("IFA_ADDRESS") == str(address.ip)]
        for a in found:
            ipr.addr("del", index=a["index"], address=str(address.ip), prefixlen=a["prefixlen"])
        return bool(found)


def add_route(namespace: str | None, destination: IPv4Network, gateway: IPv4Address, ifname: str) -> None:
    with _ipr(namespace) as ipr:
        ipr.route("add", dst=str(destination), gateway=str(gateway), oif=_index(ipr, ifname))


def add_table_route(namespace: str, destination: IPv4Network, table: int, gateway: IPv4Address) -> None:
    """A route in routing table `table`, via `gateway`."""
    with _ipr(namespace) as ipr:
        ipr.route("replace", dst=str(destination), table=table, gateway=str(gateway))


def add_mark_rule(namespace: str, priority: int, fwmark: int, table: int) -> None:
    """A policy rule: packets with `fwmark` look up `table`, at `priority`."""
    with _ipr(namespace) as ipr:
        try:
            ipr.rule("add", table=table, priority=priority, fwmark=fwmark, fwmask=0xFFFFFFFF)
        except NetlinkError as e:
            if e.code != EEXIST:
                raise


def add_link_route(namespace: str, destination: IPv4Network, ifname: str) -> None:
    """A route straight onto a segment: the neighbour is found by ARP."""
    with _ipr(namespace) as ipr:
        ipr.route("add", dst=str(destination), oif=_index(ipr, ifname), scope=253)  # RT_SCOPE_LINK


def remove_link(namespace: str | None, ifname: str) -> bool:
    """Delete a link if it exists (its routes go with it); True if there was one."""
    with _ipr(namespace) as ipr:
        found = ipr.link_lookup(ifname=ifname)
        if not found:
            return False
        ipr.link("del", index=found[0])
        return True


def link_exists(namespace: str | None, ifname: str) -> bool:
    with _ipr(namespace) as ipr:
        return bool(ipr.link_lookup(ifname=ifname))


def route_interface(namespace: str | None, destination: IPv4Address) -> str | None:
    """The interface the kernel would send a packet to `destination` out of, or None if unroutable."""
    with _ipr(namespace) as ipr:
        try:
            routes = ipr.route("get", dst=str(destination))
        except NetlinkError:
            return None
        for route in routes:
            oif = route.get("RTA_OIF")
            if oif is not None:
                links = ipr.link("get", index=oif)
                return links[0].get("IFLA_IFNAME")
    return None


def routes(namespace: str | None) -> list[tuple[IPv4Network, str]]:
    """Every IPv4 route of a namespace (all tables, the default route aside): destination and device."""
    found = []
    with _ipr(namespace) as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for route in ipr.get_routes(family=socket.AF_INET):  # every table
            if route["dst_len"] == 0:
                continue
            destination = IPv4Network(f"{route.get_attr('RTA_DST')}/{route['dst_len']}", strict=False)
            found.append((destination, names.get(route.get_attr("RTA_OIF"), "?")))
    return found


def processes_inside(name: str) -> list[int]:
    """PIDs of every process in a namespace (found by the namespace's inode, not by name)."""
    try:
        inode = os.stat(f"/run/netns/{name}").st_ino
    except FileNotFoundError:
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.stat(entry / "ns" / "net").st_ino == inode:
                    pids.append(int(entry.name))
            except (FileNotFoundError, PermissionError, ProcessLookupError):
                continue
    return pids


def signal_inside(name: str, sig: int) -> None:
    """Send a signal to every process of a namespace (a host's processes, found by the namespace)."""
    for pid in processes_inside(name):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def has_address(namespace: str | None, address: IPv4Address) -> bool:
    with _ipr(namespace) as ipr:
        return any(a.get("IFA_ADDRESS") == str(address) for a in ipr.addr("dump"))


def _is_offload(feature: str) -> bool:
    """Features that let a veth end hand over more than one wire frame, or a frame without its checksum."""
    return feature.startswith("tx-checksum") or "segmentation" in feature or "gso" in feature or "gro" in feature


def disable_offloads(namespace: str | None, ifname: str) -> None:
    """Turn off segmentation (TSO/GSO), receive coalescing (GRO) and checksum offloads of an interface,
    like `ethtool -K IF tso off gso off gro off tx off`, so that its frames can be sent on as they are."""

    def disable() -> list[str]:
        with Ethtool() as ethtool:
            features = ethtool.get_features(ifname)
            for feature in features.features.values():
                if _is_offload(feature.name) and feature.available:
                    feature.enable = False
            ethtool.set_features(ifname, features)
            after = ethtool.get_features(ifname).features.values()
            return [f.name for f in after if _is_offload(f.name) and f.enable]

    left_on = disable() if namespace is None else run_inside(namespace, disable)
    if left_on:
        raise OSError(f"{ifname}: offloads stay on: {', '.join(left_on)}")
