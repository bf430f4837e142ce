"""pgpool-II's own answer: its watchdog elects a leader, which brings the delegate IP up (pgpool runs as root)."""

from __future__ import annotations

from stand.linux import process
from stand.model.daemons import DaemonKind
from stand.modes.vip import VipMode
from stand.runtime import readiness
from stand.runtime.handle import Progress, Stand, StandError


class Watchdog(VipMode):
    def settled(self, stand: Stand) -> bool:
        """One balancer holds the VIP and every pgpool runs: the watchdog keeps its leader until that one fails."""
        state = stand.state_file.read()
        pgpools = [state.process(h.name, DaemonKind.PGPOOL) for h in stand.plan.balancers]
        return all(p is not None and p.is_running() for p in pgpools) and len(readiness.vip_holders(stand)) == 1

    def before_run(self, stand: Stand, progress: Progress) -> None:
        """Make the first balancer lead again, as after a fresh start (its highest priority wins the
        election when the leader stops), so that a scenario's faults hit the VIP holder they name."""
        first = stand.plan.balancers[0]
        for holder in readiness.vip_holders(stand):
            if holder != first.name:
                progress(f"{holder} leads the watchdog: restarting its pgpool so that {first.name} leads again")
                self.drain(stand, stand.plan.host(holder), True)
                self.drain(stand, stand.plan.host(holder), False)
        if not process.wait_until(lambda: readiness.vip_holders(stand) == [first.name], process.scaled(60), 0.2):
            holders = readiness.vip_holders(stand) or "nobody"
            raise StandError(f"the VIP is held by {holders}, not {first.name}, after 60 s")


MODES = (Watchdog(name="watchdog", holds_vip=True, balancer_companion=None, pgpool_watchdog=True),)
