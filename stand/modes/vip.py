"""What the designs with one virtual IP share: one balancer at a time holds the anycast address on the
routers' segment, and the routers reach it there by ARP."""

from __future__ import annotations

from collections.abc import Callable

from stand.linux import netns, process
from stand.model.daemons import DaemonKind
from stand.model.plan import HostPlan
from stand.runtime import readiness
from stand.runtime.daemons import restart
from stand.runtime.handle import Mode, Stand, StandError


class VipMode(Mode):
    """A design whose VIP moves between balancers; `vip_daemon` is the one that moves it."""

    @property
    def vip_daemon(self) -> DaemonKind:
        return self.balancer_companion or DaemonKind.PGPOOL

    def prepare_network(self, stand: Stand) -> None:
        """Every router reaches the VIP on its segment, by ARP."""
        for router in stand.plan.routers:
            netns.add_link_route(
                router.namespace, stand.plan.topology.anycast.network, stand.plan.vip_link(router).ifname
            )

    def routing_ready(self, stand: Stand) -> tuple[str, Callable[[], bool]]:
        what = f"one balancer holding the VIP {stand.plan.topology.anycast.ip}"
        return what, lambda: len(readiness.vip_holders(stand)) == 1

    def settled(self, stand: Stand) -> bool:
        """The first balancer holds the VIP (keepalived hands it back by priority)."""
        return readiness.vip_holders(stand) == [stand.plan.balancers[0].name]

    def drain(self, stand: Stand, host: HostPlan, drained: bool) -> None:
        """The daemon that moves the VIP stops politely on this balancer, handing the VIP over; or it starts again."""
        daemon = self.vip_daemon
        if not drained:
            restart(stand, host.name, daemon)
            return
        record = stand.state_file.read().process(host.name, daemon)
        if record is not None:
            record.stop()
        address = stand.plan.topology.anycast.ip
        if not process.wait_until(lambda: not netns.has_address(host.namespace, address), process.scaled(30)):
            raise StandError(f"{host.name} still holds the VIP 30 s after {daemon} stopped")

    def balancer_status(self, stand: Stand, host: HostPlan) -> str:
        return f"vip:{'held' if netns.has_address(host.namespace, stand.plan.topology.anycast.ip) else 'no'}"

    def routing_status(self, stand: Stand) -> list[str]:
        holders = ", ".join(readiness.vip_holders(stand)) or "nobody"
        return [f"VIP {stand.plan.topology.anycast.ip} held by: {holders}"]
