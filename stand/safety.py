"""The safety rule: traffic goes only to loopback or into a running stand's namespaces.

198.18.0.0/15 is not ours outside the stand: this machine's default route leads out. Every load or
probe path calls `check_target` first; it refuses unless the kernel would send the packet into a
running stand (or the caller already sits inside one of its namespaces).
"""

from __future__ import annotations

import json
import os
import socket
from ipaddress import IPv4Address, ip_address
from pathlib import Path

import uvloop

from stand.linux import netns
from stand.model.layout import state_root


class UnsafeTarget(RuntimeError):
    """A target that is not routed into a running stand."""


def bind_to_device(sock: socket.socket, device: str | None) -> None:
    """Bind `sock` to `device` (check_target's answer), so that it can only ever send through that link;
    raises OSError (ENODEV) if the link is gone already. Nothing to do for None."""
    if device is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())


def running_stands() -> list[dict]:
    """State files of the stands on this machine (building or up)."""
    stands = []
    for path in sorted(state_root().glob("*/state.json")):
        try:
            stands.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return stands


def _current_namespace_inode() -> int:
    return os.stat("/proc/self/ns/net").st_ino


def _namespace_inode(name: str) -> int | None:
    try:
        return os.stat(Path("/run/netns") / name).st_ino
    except FileNotFoundError:
        return None


def check_target(target: str) -> str | None:
    """Refuse unless traffic to `target` stays on this machine inside a stand. Returns the stand's link
    that the traffic leaves this namespace by (the shell link), to which every socket toward the target
    must be bound (`SO_BINDTODEVICE`): once the stand and its link are gone, such a socket cannot send
    at all, whatever the routes say then. None: loopback, or already inside a stand's namespace, from
    where nothing leads out."""
    try:
        address = ip_address(target)
    except ValueError:
        raise UnsafeTarget(f"refusing to send traffic to {target!r}: not an IP address") from None
    if address.is_loopback:
        return None
    if not isinstance(address, IPv4Address):
        raise UnsafeTarget(f"refusing to send traffic to {address}: the stand is IPv4 only")
    stands = running_stands()
    here = _current_namespace_inode()
    for stand in stands:
        if any(_namespace_inode(n) == here for n in stand.get("namespaces", [])):
            return None  # inside the stand: no route leads out of its namespaces
    egress = netns.route_interface(netns.CURRENT, address)
    for stand in stands:
        if egress is not None and egress in stand.get("root_links", []) and netns.link_exists(netns.CURRENT, egress):
            return egress
    if not stands:
        reason = "no stand is running (run `stand up` first)"
    elif egress is None:
        reason = "it has no route here"
    else:
        reason = f"its route leaves through {egress}, which is not a link of a running stand"
    raise UnsafeTarget(f"refusing to send traffic to {address}: {reason}")


def check_deployment_target(target: str, allowed: tuple[str, ...]) -> None:
    """The safety rule on a real deployment's client machine (`bench run --inventory`): refuse unless
    `target` is one of the addresses the runner found on the inventory's hosts before the load (`allowed`),
    and a route of its own leads there (the machine is on the deployment's networks), not the default
    route, which leads out to whatever network that is."""
    try:
        address = ip_address(target)
    except ValueError:
        raise UnsafeTarget(f"refusing to send traffic to {target!r}: not an IP address") from None
    if str(address) not in allowed:
        raise UnsafeTarget(
            f"refusing to send traffic to {address}: not an address of the deployment "
            f"(the runner checked {', '.join(allowed) or 'none'} on the inventory's hosts)"
        )
    if not isinstance(address, IPv4Address) or not any(
        address in network for network, _ in netns.routes(netns.CURRENT)
    ):
        raise UnsafeTarget(
            f"refusing to send traffic to {address}: only the default route leads there from this machine, "
            "which is not on the deployment's networks"
        )


class BoundLoop(uvloop.Loop):
    """uvloop, every TCP connection of which is bound to the stand's link (check_target's answer): once the
    link is gone, a connect fails at once instead of following whatever route is left."""

    def __init__(self, bind_device: str | None):
        super().__init__()
        self.bind_device = bind_device

    async def create_connection(self, protocol_factory, host=None, port=None, **options):
        if self.bind_device is None or options.get("sock") is not None:
            return await super().create_connection(protocol_factory, host, port, **options)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            bind_to_device(sock, self.bind_device)
            sock.setblocking(False)
            await self.sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        return await super().create_connection(protocol_factory, sock=sock, **options)


def check_namespace(name: str) -> None:
    """Refuse unless `name` is a network namespace of a running stand (a load that opens its connections
    from inside one: nothing leads out of it)."""
    if not any(name in stand.get("namespaces", []) for stand in running_stands()):
        raise UnsafeTarget(f"refusing to send traffic from namespace {name!r}: it is not one of a running stand's")
    if _namespace_inode(name) is None:
        raise UnsafeTarget(f"refusing to send traffic from namespace {name!r}: it does not exist")
