"""Faults on the machines of an inventory, over SSH (`bench run --inventory`): every fault of the
registry in a remote form, with its undo, played and logged as the stand's own (stand/faults/player.py).

How a host runs its services is the inventory's `platform`:

- `debian`: systemd units, as the playbook deploys them (`systemctl kill`, `ip link`, `tc netem`,
  `pcp_attach_node`); a link is found by the topology's address on it. The faults that take links down
  leave the one SSH comes in by, and refuse when it is a link the fault must cut: real hosts need a
  management address off the topology's networks for node-crash.
- `stand`: the namespace stand's own controllers, by the host's own `stand fault` run over SSH on that
  host (there is no systemd in a namespace). SSH reaches a stand host on its management network, off the
  topology's (stand/runtime/ssh.py), so node-crash and link-cut leave the session; node-freeze stops
  every process of the host, its sshd too, and is refused with the reason (as a fault that would cut
  the session is, when the inventory reaches a host on one of the topology's networks).

Event timestamps keep the stand's rule, the time just before the fault takes effect: the host reads its
own clock right before it (not when this machine sent the command: a command takes a while to start),
and its measured offset turns that into this machine's clock. The records are stamped by the client
machines' clocks, whose offsets `bench run --inventory` measures and records too (meta.json `clocks`).
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stand.faults.registry import FAULTS
from stand.faults.sessions import ClockSample, Sessions
from stand.model.credentials import MONITOR_USER
from stand.model.daemons import DaemonKind
from stand.model.events import FaultEvent, append_event
from stand.model.inventory import Inventory
from stand.model.layout import DebianLayout, StandLayout, state_dir
from stand.model.plan import HostPlan, Plan
from stand.model.system import PCP_PORT
from stand.render.ansible import SERVICES
from stand.runtime.handle import StandError


class RemoteFaultError(StandError):
    """A fault that has no remote form on this platform, or whose command failed."""


@dataclass(frozen=True)
class Command:
    """A shell command for one host."""

    host: str
    text: str


def _flags(params: dict) -> list[str]:
    return [
        f"--{k.replace('_', '-')}={v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')}={v}"
        for k, v in params.items()
    ]


def _find_interface(address: str) -> str:
    """Shell: the name of the interface holding `address` (up or down) into $dev."""
    return f"dev=$(ip -o -4 addr show to {address}/32 | awk '{{print $2}}' | head -n1); [ -n \"$dev\" ] || {{ echo 'no interface holds {address}' >&2; exit 3; }}"


def _not_the_session(ssh_address: str) -> str:
    """Shell: refuse when $dev is the interface SSH comes in by."""
    return (
        f"ssh_dev=$(ip -o -4 addr show to {ssh_address}/32 | awk '{{print $2}}' | head -n1); "
        f'[ "$dev" != "$ssh_dev" ] || {{ echo "$dev carries this SSH session ({ssh_address}): give the host a '
        "management address off the topology's networks\" >&2; exit 4; }"
    )


EFFECT_MARK = "pgab-effect-us="
STAND_FAULT_TIME = re.compile(r" at (\d+) \(logged in ")  # what `stand fault` prints: its event's time


class DebianHosts:
    """Real Debian 12 hosts, services as systemd units (the playbook's)."""

    layout = DebianLayout()

    def stamped(self, command: str) -> str:
        """The command, after a line with the host's clock in µs just before it."""
        return f'echo "{EFFECT_MARK}$(date +%s%6N)"; {command}'

    def effect_us(self, output: str) -> int | None:
        """The host's time (its clock) just before the command took effect, from its output."""
        line = next((ln for ln in output.splitlines() if ln.startswith(EFFECT_MARK)), None)
        return int(line[len(EFFECT_MARK) :]) if line and line[len(EFFECT_MARK) :].isdigit() else None

    def __init__(self, plan: Plan, inventory: Inventory):
        self.plan = plan
        self.inventory = inventory

    def _units(self, host: HostPlan, *kinds: DaemonKind) -> list[str]:
        return [SERVICES[k] for k in (kinds or host.daemons) if k in SERVICES and host.runs(k)]

    def _kill(self, units: list[str]) -> str:
        # a killed unit is also stopped, so that its Restart= policy does not bring it back before the undo
        return "; ".join(f"systemctl kill --signal=SIGKILL --kill-whom=all {u}; systemctl stop {u}" for u in units)

    def _links(self, host: HostPlan, network: str | None, up: bool, netem: dict | None = None) -> str:
        links = [link for link in host.links if network is None or link.network == network]
        if not links:
            raise RemoteFaultError(f"{host.name} has no link on network {network!r}")
        ssh = str(self.inventory.host(host.name).address)
        steps = []
        for link in links:
            if netem is not None:
                change = (
                    f'tc qdisc replace dev "$dev" root netem delay {netem.get("delay_ms", 0):g}ms loss {netem.get("loss_pct", 0):g}%'
                    if netem
                    else 'tc qdisc del dev "$dev" root'
                )
            else:
                change = f'ip link set dev "$dev" {"up" if up else "down"}'
            steps.append(f"{_find_interface(str(link.address.ip))}; {_not_the_session(ssh)}; {change}")
        return " && ".join(f"( {s} )" for s in steps)

    def command(self, fault: str, action: str, host: HostPlan, params: dict) -> str:
        inject = action == "fault"
        if fault in ("pgpool-kill", "pgpool-stop"):
            units = self._units(host, DaemonKind.PGPOOL)
            if not inject:
                return f"systemctl start {' '.join(units)}"
            return self._kill(units) if fault == "pgpool-kill" else f"systemctl stop {' '.join(units)}"
        if fault == "frr-kill":
            units = self._units(host, DaemonKind.ZEBRA)
            return self._kill(units) if inject else f"systemctl start {' '.join(units)}"
        if fault == "backend-kill":
            units = self._units(host, DaemonKind.POSTGRES)
            return self._kill(units) if inject else f"systemctl start {' '.join(units)}"
        if fault == "node-freeze":
            signal = "SIGSTOP" if inject else "SIGCONT"
            return "; ".join(f"systemctl kill --signal={signal} --kill-whom=all {u}" for u in self._units(host))
        if fault == "node-crash":
            return self._links(host, None, up=not inject)
        if fault == "link-cut":
            return self._links(host, params["network"], up=not inject)
        if fault == "link-netem":
            return self._links(host, params["network"], up=True, netem=params if inject else {})
        if fault == "drain":
            if host.runs(DaemonKind.KEEPALIVED):  # the VIP designs: keepalived stops politely, handing the VIP over
                return f"systemctl {'stop' if inject else 'start'} {SERVICES[DaemonKind.KEEPALIVED]}"
            drain = self.layout.host(host.name).drain_file
            return f"touch {drain}" if inject else f"rm -f {drain}"
        raise RemoteFaultError(f"{fault} has no remote form on Debian hosts")

    def reattach(self, balancer: HostPlan) -> str:
        """Shell: this balancer's pgpool takes back every backend it detached (pcp status 3)."""
        paths = self.layout.host(balancer.name)
        passfile = paths.pgpool_conf_dir / "pcppass"
        pcp = f"-h {paths.pgpool_run_dir} -p {PCP_PORT} -U {MONITOR_USER} -w"
        nodes = " ".join(str(n) for n in range(len(self.plan.postgres_hosts)))
        return (
            f"export PCPPASSFILE={passfile}; for n in {nodes}; do "
            f"[ \"$(pcp_node_info {pcp} -n $n | awk '{{print $3}}')\" = 3 ] && pcp_attach_node {pcp} -n $n; done; true"
        )

    def health_decisions(self, balancer: HostPlan) -> str:
        return str(self.layout.host(balancer.name).health_decisions)

    def client_password_file(self, balancer: HostPlan) -> str:
        return str(self.layout.host(balancer.name).health_password_file)


class StandHosts:
    """The namespace stand's hosts, services by their own controllers: each host's `stand fault` over SSH."""

    def __init__(self, plan: Plan, inventory: Inventory, python: str):
        self.plan = plan
        self.inventory = inventory
        self.python = python
        self.layout = StandLayout(state_dir(plan.topology.prefix))

    def stamped(self, command: str) -> str:
        return command  # `stand fault` stamps its own event, just before the primitive

    def effect_us(self, output: str) -> int | None:
        found = STAND_FAULT_TIME.search(output)
        return int(found.group(1)) if found else None

    def _session_network(self, host: HostPlan) -> str | None:
        """The topology network SSH reaches the host on; None: off them (the stand's management network)."""
        address = self.inventory.host(host.name).address
        return next((link.network for link in host.links if link.address.ip == address), None)

    def command(self, fault: str, action: str, host: HostPlan, params: dict) -> str:
        session = self._session_network(host)
        reason = None
        if fault == "node-freeze":
            reason = "every process of the host stops, its sshd too"
        elif fault == "node-crash" and session is not None:
            reason = f"every link of the host goes down, its {session} link that SSH comes in by too"
        elif fault == "link-cut" and params.get("network") == session:
            reason = f"its {session} link goes down, the one SSH comes in by"
        if reason:
            raise RemoteFaultError(
                f"{fault} on {host.name} over SSH on the stand: {reason} (on the stand play it with `bench run` "
                "without --inventory)"
            )
        argv = [self.python, "-m", "stand.cli", "fault", fault, host.name, "--topology", self.plan.topology.source]
        return shlex.join([*argv, *(["--undo"] if action == "undo" else []), *_flags(params)])

    def reattach(self, balancer: HostPlan) -> str | None:
        return None  # the host's own `stand fault --undo` reattaches every pgpool's backends

    def health_decisions(self, balancer: HostPlan) -> str:
        return str(self.layout.host(balancer.name).health_decisions)

    def client_password_file(self, balancer: HostPlan) -> str:
        return str(self.layout.host(balancer.name).health_password_file)


def platform_of(plan: Plan, inventory: Inventory, python: str) -> DebianHosts | StandHosts:
    """How the inventory's hosts run their services (its `platform`); `python`: the suite's interpreter
    on a stand host (the namespaces share this machine's files)."""
    if inventory.platform == "stand":
        return StandHosts(plan, inventory, python)
    return DebianHosts(plan, inventory)


class RemoteFaults:
    """Inject and undo faults on an inventory's hosts over SSH, logging each as an event (the same
    interface and events as stand.faults.player.Faults)."""

    def __init__(self, sessions: Sessions, plan: Plan, hosts: DebianHosts | StandHosts, events_file: Path):
        self.sessions = sessions
        self.plan = plan
        self.hosts = hosts
        self.events_file = events_file
        self.clocks: dict[str, ClockSample] = {}  # each host's clock against this one's (bench.remote measures them)
        self._together = False
        self._blocks = 0
        self._reattach_due = False

    @contextmanager
    def together(self) -> Iterator[None]:
        self._blocks += 1
        self._together = True
        try:
            yield
        finally:
            self._together = False
            if self._reattach_due:
                self._reattach_due = False
                self.reattach_backends()

    def inject(self, fault: str, target: str, **params) -> FaultEvent:
        return self._play("fault", fault, target, params)

    def undo(self, fault: str, target: str, **params) -> FaultEvent:
        return self._play("undo", fault, target, params)

    def _play(self, action: str, fault: str, target: str, params: dict) -> FaultEvent:
        if fault not in FAULTS:
            raise RemoteFaultError(f"unknown fault {fault!r} (faults: {', '.join(FAULTS)})")
        host = self.plan.host(target)
        command = self.hosts.command(fault, action, host, params)
        sent_us = time.time_ns() // 1000
        output = self.sessions.run(host.name, self.hosts.stamped(command), timeout=120)
        t_us = self.to_local_us(host.name, self.hosts.effect_us(output), sent_us)
        event = FaultEvent(t_us, action, fault, host.name, params, self._blocks if self._together else None)
        append_event(self.events_file, event)
        if action == "undo" and (FAULTS[fault].reattaches or fault == "backend-kill"):
            if self._together:
                self._reattach_due = True
            else:
                self.reattach_backends()
        return event

    def to_local_us(self, host: str, remote_us: int | None, sent_us: int) -> int:
        """A host's time on this machine's clock (its offset taken off); the time the command was sent
        when the host did not say."""
        if remote_us is None:
            return sent_us
        clock = self.clocks.get(host)
        return remote_us - round(clock.offset_ms * 1000) if clock else remote_us

    def reattach_backends(self) -> None:
        for balancer in self.plan.balancers:
            command = self.hosts.reattach(balancer)
            if command is not None:
                self.sessions.run(balancer.name, command, timeout=120, check=False)
