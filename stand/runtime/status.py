"""What `stand status` shows, as data: the text lines and `--json` are printed from one `StandStatus`."""

from __future__ import annotations

from dataclasses import dataclass

from stand.linux import netns
from stand.runtime import build, readiness
from stand.runtime.handle import Stand


@dataclass(frozen=True)
class HostStatus:
    name: str
    site: str
    addresses: list[str]  # each link's address, with its prefix length
    daemons: dict[str, bool]  # daemon -> running
    namespace_present: bool
    design: str  # the balancer's part in the design ("anycast:announced(up)"); "" for other hosts


@dataclass(frozen=True)
class StandStatus:
    prefix: str
    status: str  # the state file's: up, starting, ...
    mode: str
    topology: str
    wan_delay: str  # "" without a WAN; else how the WAN lines delay ("netem in the kernel", "userspace lines")
    hosts: list[HostStatus]
    routing: list[str]  # where the anycast address leads, a line per router (the design's own words)
    replication: dict[str, str]  # replica -> its state as the primary reports it

    def lines(self) -> list[str]:
        lines = [f"stand {self.prefix}: {self.status}, {self.mode} mode (topology {self.topology})"]
        if self.wan_delay:
            lines.append(f"  WAN delayed by {self.wan_delay}")
        for h in self.hosts:
            daemons = " ".join(f"{name}:{'up' if up else 'DOWN'}" for name, up in h.daemons.items())
            extra = f" {h.design}" if h.design else ""
            missing = "" if h.namespace_present else " (namespace missing)"
            lines.append(f"  {h.name:<7} {' '.join(h.addresses):<32} {daemons}{extra}{missing}")
        lines += self.routing
        replicas = ", ".join(f"{k} {v}" for k, v in sorted(self.replication.items())) or "no replica connected"
        return [*lines, f"replication: {replicas}"]


def stand_status(stand: Stand) -> StandStatus:
    state = stand.state_file.read()
    hosts = [
        HostStatus(
            name=host.name,
            site=host.host.site,
            addresses=[str(link.address) for link in host.links],
            daemons={p.daemon: p.is_running() for p in state.processes if p.host == host.name},
            namespace_present=netns.exists(host.namespace),
            design=stand.mode.balancer_status(stand, host) if host.is_balancer else "",
        )
        for host in stand.plan.hosts
    ]
    return StandStatus(
        prefix=state.prefix,
        status=state.status,
        mode=state.mode,
        topology=state.topology,
        wan_delay=build.wan_delay(stand) or "",
        hosts=hosts,
        routing=stand.mode.routing_status(stand),
        replication=readiness.replication(stand),
    )
