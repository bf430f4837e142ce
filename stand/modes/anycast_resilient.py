"""Anycast whose routers keep established flows on their balancer when another one goes or comes back:
each router's OSPF next hops are mirrored into a resilient nexthop group (stand/programs/nexthop_mirror.py,
docs/ecmp.md), which forwards the anycast address instead of FRR's hash-threshold multipath route."""

from __future__ import annotations

import json
from collections.abc import Callable

from stand.model.daemons import DaemonKind
from stand.model.plan import HostPlan
from stand.modes.anycast import Anycast
from stand.runtime import readiness
from stand.runtime.handle import Stand


def mirrored_next_hops(stand: Stand, router: HostPlan) -> list[str] | None:
    """The next hops the router's mirror last put in its resilient group, sorted (None: none written yet)."""
    status = stand.layout.host(router.name).mirror_status
    try:
        lines = status.read_text().splitlines()
    except FileNotFoundError:
        return None
    return sorted(json.loads(lines[-1])["next_hops"]) if lines else None


def mirrors_follow(stand: Stand) -> bool:
    """Every router's resilient group holds the next hops of FRR's route."""
    return all(
        mirrored_next_hops(stand, router) == readiness.anycast_next_hops(stand, router) for router in stand.plan.routers
    )


class AnycastResilient(Anycast):
    def routing_ready(self, stand: Stand) -> tuple[str, Callable[[], bool]]:
        what, check = super().routing_ready(stand)
        return f"{what}, mirrored into resilient groups", lambda: check() and mirrors_follow(stand)

    def settled(self, stand: Stand) -> bool:
        return super().settled(stand) and mirrors_follow(stand)

    def routing_status(self, stand: Stand) -> list[str]:
        lines = super().routing_status(stand)
        for router in stand.plan.routers:
            hops = mirrored_next_hops(stand, router)
            lines.append(f"resilient group on {router.name}: {', '.join(hops) if hops else 'no next hop'}")
        return lines


MODES = (
    AnycastResilient(
        name="anycast-resilient",
        holds_vip=False,
        balancer_companion=DaemonKind.AGENT,
        router_companion=DaemonKind.NEXTHOP_MIRROR,
    ),
)
