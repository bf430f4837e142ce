"""The design the suite exists to test: every healthy balancer announces the anycast address over OSPF, and
its health agent withdraws it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from stand.linux import netns, process
from stand.model.daemons import DaemonKind
from stand.model.plan import HostPlan
from stand.model.topology import OspfSettings, Topology
from stand.runtime import readiness
from stand.runtime.handle import Mode, Stand, StandError


class Anycast(Mode):
    def prepare_network(self, stand: Stand) -> None:
        """The last resort (a host that announces without an agent) announces the address for good."""
        for host in stand.plan.hosts:
            if host.announces_anycast and not host.runs(DaemonKind.AGENT):
                netns.add_address(host.namespace, "lo", stand.plan.topology.anycast)

    def routing_ready(self, stand: Stand) -> tuple[str, Callable[[], bool]]:
        plan = stand.plan
        hops = sum(len(plan.anycast_next_hops_of(r)) for r in plan.routers)
        what = f"{hops} next hops for {plan.topology.anycast.ip} on {len(plan.routers)} router(s)"
        return what, lambda: readiness.every_router_reaches_its_balancers(stand)

    def settled(self, stand: Stand) -> bool:
        """Every router's next hops are its own site's balancers, all of them."""
        return readiness.every_router_reaches_its_balancers(stand)

    def drain(self, stand: Stand, host: HostPlan, drained: bool) -> None:
        """The agent withdraws the route while the host's drain file exists."""
        drain_file = stand.layout.host(host.name).drain_file
        if drained:
            drain_file.touch()
        else:
            drain_file.unlink(missing_ok=True)

        def agent_agrees() -> bool:
            return readiness.agent_status(stand, host.name).get("announced") is not drained

        if not process.wait_until(agent_agrees, process.scaled(30)):
            raise StandError(f"{host.name}: the health agent did not {'withdraw' if drained else 'announce'} in 30 s")

    def balancer_status(self, stand: Stand, host: HostPlan) -> str:
        agent = readiness.agent_status(stand, host.name)
        return f"anycast:{'announced' if agent.get('announced') else 'withdrawn'}({agent.get('state')})"

    def routing_status(self, stand: Stand) -> list[str]:
        anycast = stand.plan.topology.anycast.ip
        lines = []
        for router in stand.plan.routers:
            hops = readiness.anycast_next_hops(stand, router)
            names = [f"{hop} ({readiness.balancer_of_next_hop(stand, hop)})" for hop in hops]
            lines.append(f"next hops for {anycast} on {router.name}: {', '.join(names) or 'none'}")
        return lines


class AnycastTuned(Anycast):
    """The same design with BFD at its shortest stable timers on the LANs (`ospf.tuned_bfd_*`): the fair peer
    of keepalived-tuned."""

    def ospf_settings(self, topology: Topology) -> OspfSettings:
        ospf = topology.ospf
        return replace(ospf, bfd_interval_ms=ospf.tuned_bfd_interval_ms, bfd_multiplier=ospf.tuned_bfd_multiplier)


MODES = (
    Anycast(name="anycast", holds_vip=False, balancer_companion=DaemonKind.AGENT),
    AnycastTuned(name="anycast-tuned", holds_vip=False, balancer_companion=DaemonKind.AGENT),
)
