"""Fault primitives on a running stand, and their undos, built from the daemon controllers and the
stand's links. Each takes the stand and the target host (and the fault's params); stand/faults/registry.py
names them."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from stand.linux import netns, process
from stand.model.credentials import MONITOR_USER
from stand.model.daemons import FRR, DaemonKind
from stand.model.plan import DelayLine, HostPlan, Link
from stand.model.system import PCP_PORT, PG_BIN, POSTGRES_PORT
from stand.runtime import build, daemons
from stand.runtime.handle import Stand, StandError

ENOENT = 2


def _record(stand: Stand, host: HostPlan, daemon: str) -> process.ProcessRecord:
    record = daemons.running_record(stand, host.name, daemon)
    if record is None:
        raise StandError(f"{host.name}: {daemon} is not running")
    return record


def _kill_group(stand: Stand, host: HostPlan, daemon: str) -> None:
    """SIGKILL a daemon and every process it forked (its process group): the service dies whole."""
    record = _record(stand, host, daemon)
    os.killpg(record.pid, signal.SIGKILL)


def _require_balancer(host: HostPlan) -> None:
    if not host.is_balancer:
        raise StandError(f"{host.name} is not a balancer")


def pgpool_kill(stand: Stand, host: HostPlan) -> None:
    _require_balancer(host)
    _kill_group(stand, host, "pgpool")


def pgpool_stop(stand: Stand, host: HostPlan) -> None:
    _require_balancer(host)
    _record(stand, host, "pgpool").stop()


def pgpool_start(stand: Stand, host: HostPlan) -> None:
    daemons.restart(stand, host.name, "pgpool")


def _switch_links(stand: Stand, host: HostPlan, up: bool, network: str | None = None) -> None:
    links = [link for link in host.links if network is None or link.network == network]
    if not links:
        raise StandError(f"{host.name} has no link on network {network!r}")
    for link in links:
        netns.set_link(stand.plan.switch_namespace, link.switch_ifname, up)


def node_crash(stand: Stand, host: HostPlan) -> None:
    """Every link of the host goes down at the switch: to its neighbours it is gone."""
    _switch_links(stand, host, up=False)


def node_return(stand: Stand, host: HostPlan) -> None:
    _switch_links(stand, host, up=True)  # then Faults reattaches the backends


def reattach_backends(stand: Stand, timeout_s: float = 60.0) -> None:
    """What an operator does once a network is back: every pgpool takes every backend back, until
    they all stay attached for a whole health-check cycle (a check still in flight from the outage may
    detach them once more, up to a period and a timeout later).

    pgpool detaches a backend its health checks lost (a balancer cut off loses all of them) and
    never takes it back by itself. A backend its balancer cannot reach yet (another fault still keeps
    them apart, as when a whole site is down) is left detached; so is any backend of an unreachable balancer."""
    deadline = time.monotonic() + process.scaled(timeout_s)
    settle_s = stand.plan.pgpool_check_cycle_s + 1
    steady_since = None
    while time.monotonic() < deadline:
        try:
            detached = [
                (b, n) for b in stand.plan.balancers for n in detached_nodes(stand, b) if backend_reachable(stand, b, n)
            ]
            for balancer, node_id in detached:
                pcp_attach(stand, balancer, node_id)
        except process.CommandFailed:  # pcp busy while pgpool is in the middle of a failover
            detached = [None]
        if detached:
            steady_since = None
        elif steady_since is None:
            steady_since = time.monotonic()
        elif time.monotonic() - steady_since >= settle_s:
            return
        time.sleep(0.5)
    raise StandError(f"pgpool kept detaching backends for {timeout_s:.0f} s after the network came back")


def backend_reachable(stand: Stand, balancer: HostPlan, node_id: int) -> bool:
    """Whether PostgreSQL node `node_id` answers `pg_isready` from the balancer's namespace within a second."""
    backend = stand.plan.postgres_hosts[node_id]
    argv = [str(PG_BIN / "pg_isready"), "-q", "-t", "1", "-h", str(backend.data_address.ip), "-p", str(POSTGRES_PORT)]
    return process.run(argv, namespace=balancer.namespace, check=False, timeout=10).returncode == 0


def detached_nodes(stand: Stand, balancer: HostPlan) -> list[int]:
    """Backend ids this balancer's pgpool has marked down (`pcp_node_info`, status 3)."""
    nodes = []
    for node_id in range(len(stand.plan.postgres_hosts)):
        fields = _pcp(stand, balancer, "pcp_node_info", node_id).split()
        if len(fields) > 2 and fields[2] == "3":
            nodes.append(node_id)
    return nodes


def node_freeze(stand: Stand, host: HostPlan) -> None:
    """SIGSTOP every process of the host: the hung host, which answers nothing but keeps its links.

    `stand down` sends SIGCONT before it stops anything, so a frozen stand still comes down."""
    netns.signal_inside(host.namespace, signal.SIGSTOP)


def node_thaw(stand: Stand, host: HostPlan) -> None:
    netns.signal_inside(host.namespace, signal.SIGCONT)


def frr_kill(stand: Stand, host: HostPlan) -> None:
    if not host.runs_frr:
        raise StandError(f"{host.name} runs no FRR")
    for daemon in reversed(FRR):
        _kill_group(stand, host, daemon)


def frr_start(stand: Stand, host: HostPlan) -> None:
    for daemon in FRR:
        daemons.restart(stand, host.name, daemon)


def backend_kill(stand: Stand, host: HostPlan) -> None:
    if not host.runs(DaemonKind.POSTGRES):
        raise StandError(f"{host.name} runs no PostgreSQL")
    _kill_group(stand, host, "postgres")


def backend_start(stand: Stand, host: HostPlan) -> None:
    """PostgreSQL again, then every pgpool takes the backend back (pgpool detached it on failure)."""
    daemons.restart(stand, host.name, "postgres")
    node_id = [h.name for h in stand.plan.postgres_hosts].index(host.name)
    for balancer in stand.plan.balancers:
        pcp_attach(stand, balancer, node_id)


def pcp_attach(stand: Stand, balancer: HostPlan, node_id: int) -> None:
    _pcp(stand, balancer, "pcp_attach_node", node_id)


def _pcp(stand: Stand, balancer: HostPlan, command: str, node_id: int) -> str:
    """A pcp command about one backend, over the balancer's pcp unix socket (no password prompt)."""
    paths = stand.layout.host(balancer.name)
    passfile = paths.pgpool_conf_dir / "pcppass"
    if not passfile.exists():
        passfile.touch(mode=0o600)
        passfile.write_text(f"*:{PCP_PORT}:{MONITOR_USER}:{stand.credentials().monitor_password}\n")
    argv = [command, "-h", str(paths.pgpool_run_dir), "-p", str(PCP_PORT), "-U", MONITOR_USER, "-w", "-n", str(node_id)]
    env = {"PCPPASSFILE": str(passfile), "PATH": os.environ.get("PATH", "")}
    return process.run(argv, env=env, timeout=30).stdout


def link_cut(stand: Stand, host: HostPlan, network: str) -> None:
    """The host's link goes down at the switch. A WAN link takes with it the L2 segments stretched over it,
    which follow its path (as a carrier's L2 service would ride the same fibre)."""
    _switch_links(stand, host, up=False, network=network)
    _set_stretches_over(stand, network, up=False)


def link_restore(stand: Stand, host: HostPlan, network: str) -> None:
    _switch_links(stand, host, up=True, network=network)  # then Faults reattaches the backends
    _set_stretches_over(stand, network, up=True)


def _set_stretches_over(stand: Stand, wan: str, up: bool) -> None:
    for port in stand.plan.bridge_ports:
        if port.wan == wan:
            netns.set_link(stand.plan.switch_namespace, port.bridge_ifname, up)


def _link_of(host: HostPlan, network: str):
    for link in host.links:
        if link.network == network:
            return link
    raise StandError(f"{host.name} has no link on network {network!r}")


def link_netem(stand: Stand, host: HostPlan, network: str, delay_ms: float = 0, loss_pct: float = 0) -> None:
    """Delay and/or loss of what the host sends on one link: netem on its interface, or, on a kernel
    without netem, a one-way delay line spliced in between the host's veth and its bridge."""
    link = _link_of(host, network)
    with IPRoute(netns=host.namespace) as ipr:
        index = ipr.link_lookup(ifname=link.ifname)[0]
        try:
            ipr.tc("add", "netem", index=index, handle="1:", delay=int(delay_ms * 1000), loss=float(loss_pct))
            return
        except NetlinkError as e:
            if e.code != ENOENT:
                raise
    if not link.bridge:
        raise StandError(
            f"link-netem on {host.name}'s {network}: this kernel has no netem qdisc, and a WAN link "
            f"already runs through a delay line (set its delay_ms in the topology instead)"
        )
    splice = _netem_splice(stand, host, link, delay_ms, loss_pct)
    switch = stand.plan.switch_namespace
    netns.disable_offloads(host.namespace, link.ifname)  # the line forwards wire-size frames only
    netns.add_veth(switch, splice.bridge_port, switch, splice.line.b)
    netns.disable_offloads(switch, splice.bridge_port)  # what other hosts send is cut to size here
    build.start_delay_line(stand, splice.line)  # reads the host's frames; its own go nowhere yet
    netns.detach_from_bridge(switch, link.switch_ifname)
    netns.attach_to_bridge(switch, splice.bridge_port, link.bridge)


def link_clear(stand: Stand, host: HostPlan, network: str) -> None:
    link = _link_of(host, network)
    splice = _netem_splice(stand, host, link)
    record = stand.state_file.read().process("switch", build.delay_line_daemon(splice.line.name))
    if record is None or not record.is_running():
        with IPRoute(netns=host.namespace) as ipr:
            index = ipr.link_lookup(ifname=link.ifname)[0]
            ipr.tc("del", index=index, handle="1:")
        return
    switch = stand.plan.switch_namespace
    netns.detach_from_bridge(switch, splice.bridge_port)
    netns.attach_to_bridge(switch, link.switch_ifname, link.bridge)
    record.stop()
    netns.remove_link(switch, splice.bridge_port)  # its peer, the line's end, goes with it


@dataclass(frozen=True)
class NetemSplice:
    """link-netem without netem: the host's switch-side veth end leaves its bridge for a delay line, whose
    other end is a new veth pair in the switch namespace with `bridge_port` on the bridge."""

    line: DelayLine
    bridge_port: str


def _netem_splice(stand: Stand, host: HostPlan, link: Link, delay_ms: float = 0, loss_pct: float = 0) -> NetemSplice:
    number = stand.plan.hosts.index(host) * 16 + host.links.index(link)  # short names: 15 characters at most
    line = DelayLine(
        f"netem-{host.name.lower()}-{link.network}",
        link.switch_ifname,
        f"netem{number}l",
        delay_ms,
        0.0,
        loss_pct,
        one_way=True,
    )
    return NetemSplice(line, f"netem{number}b")


def drain(stand: Stand, host: HostPlan) -> None:
    """Planned maintenance: the agent withdraws the anycast route, or keepalived (the watchdog) hands
    the VIP over."""
    _set_drained(stand, host, True)


def undrain(stand: Stand, host: HostPlan) -> None:
    _set_drained(stand, host, False)


def _set_drained(stand: Stand, host: HostPlan, drained: bool) -> None:
    _require_balancer(host)
    stand.mode.drain(stand, host, drained)
