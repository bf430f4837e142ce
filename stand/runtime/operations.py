"""Runtime operations of the VIP designs: a polite drain that hands the VIP over, and the watchdog's leader."""

from __future__ import annotations

from stand.linux import netns, process
from stand.runtime import readiness
from stand.runtime.daemons import restart
from stand.runtime.handle import Progress, Stand, StandError


def drain_vip(stand: Stand, host_name: str, drain: bool) -> None:
    """Planned maintenance of a VIP balancer: keepalived (or, in the watchdog mode, pgpool with its
    watchdog) stops politely, handing the VIP over; or it starts again."""
    host = stand.plan.host(host_name)
    daemon = "keepalived" if host.runs_keepalived else "pgpool"
    if drain:
        record = stand.state_file.read().process(host.name, daemon)
        if record is not None:
            record.stop()
        address = stand.plan.topology.anycast.ip
        if not process.wait_until(lambda: not netns.has_address(host.namespace, address), process.scaled(30)):
            raise StandError(f"{host.name} still holds the VIP 30 s after {daemon} stopped")
    else:
        restart(stand, host.name, daemon)


def hand_vip_to_first_balancer(stand: Stand, progress: Progress) -> None:
    """The watchdog keeps its leader until that one fails; before a run, make the first balancer lead
    again, as after a fresh start (its highest priority wins the election when the leader stops)."""
    first = stand.plan.balancers[0].name
    for holder in readiness.vip_holders(stand):
        if holder != first:
            progress(f"{holder} leads the watchdog: restarting its pgpool so that {first} leads again")
            drain_vip(stand, holder, True)
            drain_vip(stand, holder, False)
    if not process.wait_until(lambda: readiness.vip_holders(stand) == [first], process.scaled(60), interval=0.2):
        raise StandError(f"the VIP is held by {readiness.vip_holders(stand) or 'nobody'}, not {first}, after 60 s")

