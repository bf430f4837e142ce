"""What the running stand looks like: OSPF neighbours, next hops, replication, health agents.

`wait_until_ready` is the end of `stand up`; the same probes feed `stand status` and the tests.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import asyncpg

from stand.linux import netns, process
from stand.model.credentials import CLIENT_USER
from stand.model.plan import HostPlan
from stand.runtime.daemons import psql_local, vtysh
from stand.runtime.handle import Stand
from stand.safety import BoundLoop, check_target

READY_TIMEOUT = 90.0
# What a probe of the running stand may meet while it settles; anything else is a bug, not a state.
PROBE_ERRORS = (process.CommandFailed, json.JSONDecodeError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class NotReady(RuntimeError):
    pass


@dataclass(frozen=True)
class Neighbor:
    router_id: str
    state: str

    @property
    def is_full(self) -> bool:
        return self.state.startswith("Full")


def ospf_neighbors(stand: Stand, router: HostPlan | None = None) -> list[Neighbor]:
    """OSPF neighbours of a router (the shell router by default)."""
    router = router or stand.plan.shell_router
    return parse_neighbors(
        json.loads(vtysh(router, stand.layout.host(router.name), "show ip ospf neighbor json") or "{}")
    )


def parse_neighbors(data: dict) -> list[Neighbor]:
    """The neighbours in FRR's `show ip ospf neighbor json`."""
    neighbors = []
    for router_id, entries in data.get("neighbors", {}).items():
        for entry in entries:
            neighbors.append(Neighbor(router_id, entry.get("nbrState") or entry.get("state", "?")))
    return neighbors


def anycast_next_hops(stand: Stand, router: HostPlan | None = None) -> list[str]:
    """The installed next hops of a router's route to the anycast address (the shell router by default)."""
    router = router or stand.plan.shell_router
    prefix = str(stand.plan.topology.anycast.network)
    data = json.loads(vtysh(router, stand.layout.host(router.name), f"show ip route {prefix} json") or "{}")
    return parse_installed_next_hops(data, prefix)


def parse_installed_next_hops(data: dict, prefix: str) -> list[str]:
    """The next hops, sorted, of the selected and installed route to `prefix` in FRR's `show ip route PREFIX
    json` that are in the kernel's FIB (a next hop FRR knows but could not install does not carry traffic)."""
    hops = []
    for route in data.get(prefix, []):
        if route.get("selected") and route.get("installed"):
            hops += [h["ip"] for h in route.get("nexthops", []) if h.get("fib") and "ip" in h]
    return sorted(hops)


def vip_holders(stand: Stand) -> list[str]:
    """Balancers that hold the anycast address as a VIP (keepalived and watchdog modes: one, when healthy)."""
    if not stand.plan.has_vip:
        return []
    address = stand.plan.topology.anycast.ip
    return [h.name for h in stand.plan.balancers if netns.has_address(h.namespace, address)]


def balancer_of_next_hop(stand: Stand, next_hop: str) -> str:
    for host in stand.plan.hosts:
        if any(str(link.address.ip) == next_hop for link in host.links):
            return host.name
    return next_hop


def replication(stand: Stand) -> dict[str, str]:
    """Replica name to its state as the primary sees it (`streaming` when healthy)."""
    primary = stand.plan.postgres_hosts[0]
    rows = psql_local(stand.layout.host(primary.name), "SELECT application_name, state FROM pg_stat_replication")
    return dict(line.split("|", 1) for line in rows.splitlines() if "|" in line)


def agent_status(stand: Stand, host: str) -> dict:
    path = stand.layout.host(stand.plan.host(host).name).agent_status
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"announced": False, "state": "unknown"}


def client_env(stand: Stand) -> dict[str, str]:
    """libpq settings for a client of the stand (what `stand exec` sets)."""
    return {
        "PGUSER": CLIENT_USER,
        "PGDATABASE": stand.plan.topology.postgres.database,
        "PGPASSFILE": str(stand.client_passfile),
        "PGPORT": str(stand.plan.topology.pgpool.port),
        "PGCONNECT_TIMEOUT": "5",
    }


def query_anycast_from_shell(stand: Stand) -> str:
    """One query from this machine's shell to the anycast address, on a socket bound to the stand's link
    (stand.safety): `client|server`, the addresses each end saw."""
    address = str(stand.plan.topology.anycast.ip)
    device = check_target(address)
    topology = stand.plan.topology

    async def ask() -> str:
        connection = await asyncpg.connect(
            host=address,
            port=topology.pgpool.port,
            user=CLIENT_USER,
            database=topology.postgres.database,
            timeout=5,
            password=stand.credentials().client_password,
        )
        try:
            row = await connection.fetchrow("SELECT host(inet_client_addr()), host(inet_server_addr())")
        finally:
            await connection.close(timeout=5)
        return f"{row[0]}|{row[1]}"

    with asyncio.Runner(loop_factory=lambda: BoundLoop(device)) as runner:
        return runner.run(asyncio.wait_for(ask(), 20))


def every_router_reaches_its_balancers(stand: Stand) -> bool:
    """Anycast mode, healthy: each router's next hops are its own site's balancers, all of them."""
    plan = stand.plan
    return all(anycast_next_hops(stand, r) == plan.anycast_next_hops_of(r) for r in plan.routers)


def wait_settled(stand: Stand, timeout: float = 120.0) -> None:
    """Before a run: the stand back in its healthy state (a previous run's undo may still be settling)."""
    if not process.wait_until(lambda: _try(lambda: stand.mode.settled(stand)), process.scaled(timeout), interval=0.2):
        raise NotReady(f"stand not settled after {timeout:.0f} s ({describe(stand)})")


def wait_until_ready(stand: Stand, progress) -> None:
    """OSPF full, every balancer a next hop, replicas streaming, and SQL answered at the anycast address."""
    plan = stand.plan
    replicas = {h.name for h in plan.postgres_hosts[1:]}
    ospf_peers = plan.ospf_peers_of(plan.shell_router)
    routing = stand.mode.routing_ready(stand)
    checks = [
        (f"{ospf_peers} OSPF neighbours full", lambda: sum(n.is_full for n in ospf_neighbors(stand)) == ospf_peers),
        routing,
        ("replicas streaming", lambda: all(replication(stand).get(r) == "streaming" for r in replicas)),
        ("SQL at the anycast address from this shell", lambda: bool(_try(lambda: query_anycast_from_shell(stand)))),
    ]
    for what, check in checks:
        if not process.wait_until(lambda check=check: _try(check), process.scaled(READY_TIMEOUT), interval=0.2):
            raise NotReady(f"stand not ready: no {what} after {READY_TIMEOUT:.0f} s ({describe(stand)})")
        progress(f"ready: {what}")


def _try(check):
    try:
        return check()
    except PROBE_ERRORS:
        return False


def describe(stand: Stand) -> str:
    """A one-line summary of routing and replication, for error messages."""
    parts = []
    probes = (
        ("next hops", anycast_next_hops),
        ("VIP", vip_holders),
        ("neighbours", ospf_neighbors),
        ("replication", replication),
    )
    for name, probe in probes:
        try:
            parts.append(f"{name}: {probe(stand)}")
        except PROBE_ERRORS as e:
            parts.append(f"{name}: unknown ({e})")
    return "; ".join(parts)
