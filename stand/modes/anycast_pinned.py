"""Anycast whose routers pin each flow to the balancer it started on, and whose drain is hitless: the
drained balancer's route goes (new connections go elsewhere at once) while its open sessions go on until
they end, or until `health.drain_timeout_s`; then its pgpool stops (docs/ecmp.md, "Pinned flows").

A router marks each new flow to the anycast address with the next hop OSPF chose for it (an nftables
conntrack mark, stand/render/templates/pinned.nft.j2) and routes the flow's later packets by that mark,
through a table of that balancer's own. A balancer holds the anycast address for good, as a /31 that no
OSPF network statement matches, beside the /32 its agent adds and removes (which OSPF announces): a
withdrawn balancer still answers its open sessions (the kernel sends from an address only while an
interface has it)."""

from __future__ import annotations

from ipaddress import IPv4Address

from stand.linux import netns, process
from stand.model.daemons import DaemonKind
from stand.model.plan import PINNED_RULE_PRIORITY, HostPlan
from stand.model.system import IP, NFT, SS
from stand.modes.anycast import Anycast
from stand.runtime import daemons
from stand.runtime.handle import Stand
from stand.runtime.readiness import agent_status

SESSIONS_POLL_S = 0.2


def open_sessions(stand: Stand, balancer: HostPlan) -> int:
    """The clients' established TCP sessions with the balancer's pgpool at the anycast address."""
    port = stand.plan.topology.pgpool.port
    argv = [SS, "-Htn", "state", "established", "src", str(stand.plan.topology.anycast.ip), f"sport = :{port}"]
    return len(process.run(argv, namespace=balancer.namespace).stdout.splitlines())


class AnycastPinned(Anycast):
    def prepare_network(self, stand: Stand) -> None:
        super().prepare_network(stand)
        anycast = stand.plan.topology.anycast.network
        for router in stand.plan.routers:
            process.run([NFT, "-f", str(stand.layout.host(router.name).pinned_rules)], namespace=router.namespace)
            for pin in stand.plan.pins_of(router):
                netns.add_table_route(router.namespace, anycast, pin.table, IPv4Address(pin.next_hop))
                netns.add_mark_rule(router.namespace, PINNED_RULE_PRIORITY, pin.mark, pin.table)
        held = f"{stand.plan.topology.anycast.ip}/{anycast.prefixlen - 1}"  # no OSPF network statement holds it
        for balancer in stand.plan.balancers:
            process.run([IP, "address", "add", held, "dev", "lo", "noprefixroute"], namespace=balancer.namespace)

    def drain(self, stand: Stand, host: HostPlan, drained: bool) -> None:
        """Drained: the route withdrawn, then the open sessions waited for (at most `drain_timeout_s`), then
        pgpool stopped. Back: pgpool started, then the route announced."""
        pgpool = daemons.running_record(stand, host.name, DaemonKind.PGPOOL)
        if not drained:
            if pgpool is None:
                daemons.restart(stand, host.name, DaemonKind.PGPOOL)
            super().drain(stand, host, drained)
            return
        super().drain(stand, host, drained)
        timeout = stand.plan.topology.health.drain_timeout_s
        process.wait_until(lambda: open_sessions(stand, host) == 0, process.scaled(timeout), SESSIONS_POLL_S)
        if pgpool is not None:
            pgpool.stop()

    def balancer_status(self, stand: Stand, host: HostPlan) -> str:
        agent = agent_status(stand, host.name)
        state = "announced" if agent.get("announced") else "withdrawn"
        return f"anycast-pinned:{state}({agent.get('state')}), {open_sessions(stand, host)} sessions"

    def routing_status(self, stand: Stand) -> list[str]:
        lines = super().routing_status(stand)
        for router in stand.plan.routers:
            pins = ", ".join(f"mark {pin.mark} -> {pin.next_hop}" for pin in stand.plan.pins_of(router))
            lines.append(f"flows pinned on {router.name}: {pins or 'no balancer of its own'}")
        return lines


MODES = (AnycastPinned(name="anycast-pinned", holds_vip=False, balancer_companion=DaemonKind.AGENT, pins_flows=True),)
