"""`stand up` and `stand down`: the stand's pipeline, step by step."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stand import delayline, netns, process, readiness
from stand.credentials import CLIENT_USER, MONITOR_USER, REPLICATION_USER, Credentials
from stand.daemons import KEEPALIVED, PG_BIN, Daemon, HealthAgent, Keepalived, Pgpool, Postgres, frr_daemons, psql_local
from stand.layout import StandLayout, state_dir, state_root
from stand.plan import ANYCAST, DelayLine, HostPlan, Plan, derive
from stand.render import RenderedFile, render_all, slot_name
from stand.files import write_atomically
from stand.state import UP, CorruptState, StandState, StateFile, command_lock
from stand.topology import Topology
from stand.topology import load as load_topology

REQUIRED_PROGRAMS = {
    "postgresql-15": [PG_BIN / "initdb", PG_BIN / "postgres", PG_BIN / "pg_basebackup", Path("/usr/bin/pgbench")],
    "pgpool2": [Path("/usr/sbin/pgpool"), Path("/usr/sbin/pcp_node_count")],
    "frr": [Path("/usr/lib/frr/zebra"), Path("/usr/lib/frr/ospfd"), Path("/usr/lib/frr/bfdd"), Path("/usr/bin/vtysh")],
    "postgresql-client": [Path("/usr/bin/psql")],
    "keepalived": [Path(KEEPALIVED)],
}
REQUIRED_ACCOUNTS = ("postgres", "frr")
REPO = Path(__file__).resolve().parent.parent  # the delay line runs as `python -m stand.delayline`

Progress = Callable[[str], None]


class StandError(RuntimeError):
    """A stand that cannot be built, found or removed; the message says why in one line."""


@dataclass
class Stand:
    """A topology's plan bound to its state directory."""

    plan: Plan
    layout: StandLayout

    @classmethod
    def of(cls, topology: Topology, mode: str = ANYCAST) -> Stand:
        return cls(derive(topology, mode), StandLayout(state_dir(topology.prefix)))

    def as_running(self) -> Stand:
        """This stand as its state file says it was started: that topology file, that mode."""
        state = self.state_file.read()
        if state.mode == self.plan.mode and state.topology in ("", self.plan.topology.source):
            return self
        topology = load_topology(state.topology) if state.topology else self.plan.topology
        return Stand.of(topology, state.mode)

    @property
    def state_file(self) -> StateFile:
        return StateFile(self.layout.state_file)

    @property
    def failure_logs(self) -> Path:
        """Where a failed `stand up` keeps the daemons' logs (beside the state directory, which it removes)."""
        return self.layout.root.with_name(f"{self.layout.root.name}-last-failure")

    @property
    def command_lock_path(self) -> Path:
        """Beside the state directory, which `stand down` removes."""
        return self.layout.root.with_name(f"{self.layout.root.name}.lock")

    @property
    def credentials_file(self) -> Path:
        return self.layout.client_dir / "credentials.json"

    @property
    def client_passfile(self) -> Path:
        return self.layout.client_dir / "pgpass"

    def credentials(self) -> Credentials:
        return Credentials.load(self.credentials_file)

    def is_up(self) -> bool:
        return self.state_file.exists() and self.state_file.read().status == UP


def check_prerequisites() -> None:
    """Root, and every program and account the stand needs; one line naming what is missing."""
    if os.geteuid() != 0:
        raise StandError("the stand needs root (it creates network namespaces): run it as root")
    for package, programs in REQUIRED_PROGRAMS.items():
        for program in programs:
            if not program.exists():
                raise StandError(f"missing {program}: install the Debian package {package}")
    for account in REQUIRED_ACCOUNTS:
        try:
            pwd.getpwnam(account)
        except KeyError:
            raise StandError(f"missing system account {account!r}: install its Debian package") from None
    root = state_root()
    if root.exists():
        owner = root.stat()
        if owner.st_uid != 0 or owner.st_mode & 0o022:
            raise StandError(f"the state directory {root} (PGAB_STATE_DIR) must be owned by root and writable by "
                             f"nobody else (it is uid {owner.st_uid}, mode {owner.st_mode & 0o777:o})")  # fmt: skip


def up(stand: Stand, progress: Progress, keep_on_failure: bool = False) -> float:
    """Build the stand and wait until it is really ready; returns the wall time it took.

    If any step fails, what this call built is torn down again (unless `keep_on_failure`).
    """
    started = time.monotonic()
    check_prerequisites()
    with command_lock(stand.command_lock_path, exclusive=True, what="`stand up`"):
        return _up(stand, progress, keep_on_failure, started)


def _up(stand: Stand, progress: Progress, keep_on_failure: bool, started: float) -> float:
    refuse_if_present(stand)
    refuse_taken_prefixes(stand)
    credentials = Credentials.generate()
    files = render_all(stand.plan, stand.layout, credentials)  # fail before creating anything
    progress(f"rendered {len(files)} config files")
    create_state(stand, credentials)
    try:
        build_network(stand, progress)
        start_delay_lines(stand, progress)
        write_files(files)
        frr = start_frr(stand, progress)
        start_postgres(stand, credentials, progress)
        start_balancers(stand, credentials, progress)
        for daemon, record in frr:
            daemon.wait_ready(record)
        readiness.wait_until_ready(stand, progress)
    except BaseException:
        if keep_on_failure:
            progress(f"start-up failed; the stand is left for inspection, logs under {stand.layout.root / 'hosts'}")
        else:
            kept = keep_logs(stand)
            progress(f"start-up failed; logs kept in {kept}; tearing down what was built (--keep-on-failure keeps it)")
            _down(stand, progress, force=False, started=time.monotonic())  # under the lock this call holds
        raise
    with stand.state_file.change() as state:
        state.status = UP
    return time.monotonic() - started


def keep_logs(stand: Stand, kept: Path | None = None) -> Path:
    """Copy every daemon's log out of the state directory (which teardown removes), one folder a host."""
    kept = kept or stand.failure_logs
    shutil.rmtree(kept, ignore_errors=True)
    for log_dir in (stand.layout.root / "hosts").glob("*/log"):
        shutil.copytree(log_dir, kept / log_dir.parent.name)
    return kept


def refuse_if_present(stand: Stand) -> None:
    prefix = stand.plan.topology.prefix
    if stand.state_file.exists():
        try:
            status = stand.state_file.read().status
        except CorruptState as e:
            raise StandError(f"{e}: run `stand down`, which cleans up by the stand's prefix") from None
        raise StandError(f"a stand with prefix {prefix!r} is already {status} (run `stand down` first)")
    leftovers = [n for n in stand.plan.namespaces if netns.exists(n)]
    if leftovers or netns.link_exists(netns.ROOT, stand.plan.shell_ifname):
        found = ", ".join(leftovers) or stand.plan.shell_ifname
        raise StandError(f"leftovers of a stand with prefix {prefix!r} exist ({found}): run `stand down --force`")


def refuse_taken_prefixes(stand: Stand) -> None:
    """The stand routes its prefixes from this machine's namespace: none may overlap a route this machine
    already has (its own network, a VPN's, another stand's), which the stand would take over."""
    for destination, device in netns.routes(netns.ROOT):
        if device.startswith(f"{stand.plan.topology.prefix}-") or destination.is_loopback:
            continue
        for prefix in stand.plan.stand_networks:
            if prefix.overlaps(destination):
                raise StandError(f"the stand's prefix {prefix} overlaps this machine's route to {destination} "
                                 f"(dev {device}): change the topology's addresses")  # fmt: skip


def create_state(stand: Stand, credentials: Credentials) -> None:
    root = stand.layout.root
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    stand.state_file.write(
        StandState(prefix=stand.plan.topology.prefix, topology=stand.plan.topology.source, mode=stand.plan.mode)
    )
    credentials.save(stand.credentials_file)
    passfile = f"*:{stand.plan.topology.pgpool.port}:*:{CLIENT_USER}:{credentials.client_password}\n"
    write_atomically(stand.client_passfile, passfile)


def build_network(stand: Stand, progress: Progress) -> None:
    """Namespaces, the switch's bridges, a veth per host and network, addresses, sysctls, the shell link."""
    plan = stand.plan
    switch = plan.switch_namespace
    for namespace in plan.namespaces:
        with stand.state_file.change() as state:
            state.namespaces.append(namespace)  # recorded before it exists: teardown removes it either way
        netns.create(namespace)
    for bridge in plan.bridges:
        netns.add_bridge(switch, bridge)
    for port in plan.bridge_ports:  # a stretched network's bridges are joined by delay lines (start_delay_lines)
        netns.add_veth(switch, port.bridge_ifname, switch, port.line_ifname)
        netns.attach_to_bridge(switch, port.bridge_ifname, port.bridge)
        for ifname in (port.bridge_ifname, port.line_ifname):
            delayline.disable_offloads(switch, ifname)
    for host in plan.hosts:
        netns.set_sysctls(host.namespace, host.sysctls)
        netns.add_address(host.namespace, "lo", host.host.loopback)
        for link in host.links:
            netns.add_veth(switch, link.switch_ifname, host.namespace, link.ifname)
            if link.delayed:
                delayline.disable_offloads(host.namespace, link.ifname)
                delayline.disable_offloads(switch, link.switch_ifname)
            if link.bridge:  # a WAN link's two ends are joined by a delay line instead
                netns.attach_to_bridge(switch, link.switch_ifname, link.bridge)
            netns.add_address(host.namespace, link.ifname, link.address)
        for route in host.static_routes:
            netns.add_route(host.namespace, route.destination, route.gateway, route.ifname)
        if host.announces_anycast and not host.runs_agent:  # the last resort announces it for good
            netns.add_address(host.namespace, "lo", plan.topology.anycast)
    shell = plan.topology.shell
    router = plan.shell_router
    # This machine reaches the anycast address through the shell link, and answers every address of the
    # stand (a Locust worker in a site's client host connecting to its master here) the same way: a reply
    # to 198.18.0.0/15 must never follow the default route out.
    routed = [prefix for prefix in plan.stand_networks if prefix != shell.prefix]  # that one is the link's own
    with stand.state_file.change() as state:
        state.root_links.append(plan.shell_ifname)
        state.root_routes.extend(str(prefix) for prefix in routed)
    netns.add_veth(netns.ROOT, plan.shell_ifname, router.namespace, plan.shell_router_ifname)
    netns.add_address(router.namespace, plan.shell_router_ifname, shell.router_address)
    netns.add_address(netns.ROOT, plan.shell_ifname, shell.shell_address)
    for prefix in routed:
        netns.add_route(netns.ROOT, prefix, shell.router_address.ip, plan.shell_ifname)
    if plan.has_vip:  # every router reaches the VIP on its segment, by ARP
        for each in plan.routers:
            netns.add_link_route(each.namespace, plan.topology.anycast.network, plan.vip_link(each).ifname)
    progress(f"network: {len(plan.hosts)} hosts, {len(plan.topology.networks)} networks, shell link {plan.shell_ifname}")


def start_delay_lines(stand: Stand, progress: Progress) -> None:
    """The delay lines in the switch namespace: one per WAN link, one per hop of a stretched network."""
    plan = stand.plan
    for line in plan.delay_lines:
        start_delay_line(stand, line)
    if plan.delay_lines:
        progress(f"WAN: {', '.join(f'{l.name} {2 * l.delay_ms:g} ms round trip' for l in plan.delay_lines)}")


def start_delay_line(stand: Stand, line: DelayLine) -> process.ProcessRecord:
    """One delay line in the switch namespace, recorded for teardown; returns once it forwards."""
    ready = stand.layout.root / "wan" / f"{line.name}.ready"
    ready.parent.mkdir(parents=True, exist_ok=True)
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "stand.delayline", *line.options, "--ready-file", str(ready)]
    log = stand.layout.root / "wan" / f"{line.name}.log"
    _, record = process.spawn("switch", delay_line_daemon(line.name), argv, stand.plan.switch_namespace, log,
                              env={"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "")})  # fmt: skip
    stand.state_file.record_process(record)
    if not process.wait_until(lambda: ready.exists() or not record.is_running(), process.scaled(30), 0.05):
        raise StandError(f"the delay line {line.name} is not ready after 30 s (log {log})")
    if not record.is_running():
        raise StandError(f"the delay line {line.name} exited (log {log}): {process.tail(log)}")
    return record


def delay_line_daemon(name: str) -> str:
    """How the state file names a delay line's process (its host is the switch)."""
    return f"wan-{name}"


def write_files(files: list[RenderedFile]) -> None:
    for f in files:
        account = pwd.getpwnam(f.owner)
        _make_dirs(f.path.parent, account)
        f.path.write_text(f.content)
        os.chown(f.path, account.pw_uid, account.pw_gid)
        f.path.chmod(f.mode)


def _make_dirs(path: Path, account: pwd.struct_passwd) -> None:
    """Create a directory owned by the account that uses it; missing parents belong to root
    (keepalived refuses scripts below a directory that another user could write)."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    if not path.exists():
        path.mkdir(mode=0o755)
        os.chown(path, account.pw_uid, account.pw_gid)


def _host_dirs(stand: Stand, host: HostPlan) -> None:
    """Run and log directories, owned by whoever writes there."""
    paths = stand.layout.host(host.name)
    postgres, frr, root = (pwd.getpwnam(a) for a in ("postgres", "frr", "root"))
    for directory, account in [
        (paths.log_dir, root),
        (paths.pg_socket_dir, postgres),
        (paths.pgpool_run_dir, postgres),
        (paths.frr_run_dir, frr),
        *([(paths.agent_dir, root)] if host.runs_agent else []),
    ]:
        _make_dirs(directory, account)


def start_frr(stand: Stand, progress: Progress) -> list[tuple[Daemon, process.ProcessRecord]]:
    """zebra, bfdd, ospfd on every routing host; OSPF converges while PostgreSQL starts."""
    started = []
    for host in stand.plan.hosts:
        _host_dirs(stand, host)
        if not host.runs_frr:
            continue
        for daemon in frr_daemons(host, stand.layout.host(host.name)):
            record = daemon.start(stand.state_file)
            if daemon.name == "zebra":
                daemon.wait_ready(record)  # bfdd and ospfd connect to it
            started.append((daemon, record))
    progress(f"FRR started on {sum(h.runs_frr for h in stand.plan.hosts)} hosts")
    return started


def start_postgres(stand: Stand, credentials: Credentials, progress: Progress) -> None:
    """The primary from initdb, with roles and the benchmark dataset; replicas from pg_basebackup."""
    primary, *replicas = stand.plan.postgres_hosts
    topology = stand.plan.topology
    paths = stand.layout.host(primary.name)
    _initdb(paths)
    daemon = Postgres(primary, paths)
    daemon.wait_ready(daemon.start(stand.state_file))
    database = topology.postgres.database
    psql_local(paths, _roles_sql(credentials, database, [r.name for r in replicas]))
    process.run(["createdb", "-h", str(paths.pg_socket_dir), "-O", "postgres", database], user="postgres")
    process.run(
        ["pgbench", "-i", "-q", "-s", str(topology.postgres.scale), "-h", str(paths.pg_socket_dir), database],
        user="postgres",
        timeout=600,
    )
    psql_local(paths, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {CLIENT_USER}", database)
    progress(f"{primary.name}: primary up, pgbench dataset at scale {topology.postgres.scale}")
    for replica in replicas:
        _clone_replica(stand, replica, primary)
        replica_paths = stand.layout.host(replica.name)
        replica_daemon = Postgres(replica, replica_paths)
        replica_daemon.wait_ready(replica_daemon.start(stand.state_file))
        progress(f"{replica.name}: replica started")


def _roles_sql(credentials: Credentials, database: str, replicas: list[str]) -> str:
    slots = "".join(f"SELECT pg_create_physical_replication_slot('{r.lower()}');" for r in replicas)
    return (
        f"CREATE ROLE {CLIENT_USER} LOGIN PASSWORD '{credentials.client_password}';"
        f"CREATE ROLE {MONITOR_USER} LOGIN PASSWORD '{credentials.monitor_password}' IN ROLE pg_monitor;"
        f"CREATE ROLE {REPLICATION_USER} LOGIN REPLICATION PASSWORD '{credentials.replication_password}';"
        + slots
    )


def _initdb(paths) -> None:
    """An empty cluster; the rendered postgresql.conf and pg_hba.conf replace initdb's own."""
    rendered = {name: (paths.pg_conf_dir / name).read_text() for name in ("postgresql.conf", "pg_hba.conf")}
    for name in rendered:
        (paths.pg_conf_dir / name).unlink()
    process.run(
        [str(PG_BIN / "initdb"), "-D", str(paths.pg_data), "-U", "postgres", "--auth-local=peer",
         "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
        user="postgres",
        timeout=120,
    )  # fmt: skip
    for name, text in rendered.items():
        (paths.pg_conf_dir / name).write_text(text)


def _clone_replica(stand: Stand, replica: HostPlan, primary: HostPlan) -> None:
    """pg_basebackup over the data network, from the replica's own namespace, into its slot."""
    paths = stand.layout.host(replica.name)
    rendered = {name: (paths.pg_conf_dir / name).read_text() for name in ("postgresql.conf", "pg_hba.conf")}
    deadline = time.monotonic() + process.scaled(60)
    while True:  # another site's primary is reachable only once OSPF has converged (routes may flap first)
        for entry in paths.pg_data.iterdir():  # pg_basebackup wants an empty directory
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        paths.pg_data.chmod(0o700)
        try:
            process.run(
                [str(PG_BIN / "pg_basebackup"), "-h", str(primary.data_address.ip), "-U", REPLICATION_USER,
                 "-D", str(paths.pg_data), "-X", "stream", "-S", slot_name(replica), "--checkpoint=fast"],
                namespace=replica.namespace,
                user="postgres",
                env={"PGPASSFILE": str(paths.pg_passfile), "PATH": os.environ.get("PATH", "")},
                timeout=300,
            )  # fmt: skip
            break
        except process.CommandFailed as e:
            if "unreachable" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    for name, text in rendered.items():
        (paths.pg_conf_dir / name).write_text(text)
    (paths.pg_data / "standby.signal").touch()
    os.chown(paths.pg_data / "standby.signal", pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)


def start_balancers(stand: Stand, credentials: Credentials, progress: Progress) -> None:
    """pgpool, then its health agent (anycast) or keepalived (keepalived modes), on every balancer
    (in the watchdog mode, pgpool's own watchdog is the companion)."""
    pgpools = [(host, controller(stand, host, "pgpool", credentials)) for host in stand.plan.balancers]
    started = [(host, daemon, daemon.start(stand.state_file)) for host, daemon in pgpools]  # watchdogs meet
    for host, daemon, record in started:
        daemon.wait_ready(record)
        companions = ["agent"] if host.runs_agent else ["keepalived"] if host.runs_keepalived else []
        for name in companions:
            companion = controller(stand, host, name, credentials)
            companion.wait_ready(companion.start(stand.state_file))
        progress(f"{host.name}: pgpool answering, {companions[0] if companions else 'its watchdog'} running")


def controller(stand: Stand, host: HostPlan, name: str, credentials: Credentials | None = None) -> Daemon:
    """The controller of one daemon of one host."""
    paths = stand.layout.host(host.name)
    if name == "pgpool":
        credentials = credentials or stand.credentials()
        return Pgpool(
            host,
            paths,
            client_password=credentials.client_password,
            database=stand.plan.topology.postgres.database,
            port=stand.plan.topology.pgpool.port,
            user=None if host.runs_watchdog else "postgres",  # the watchdog adds and removes the VIP itself
            delegate_ip=stand.plan.topology.anycast if host.runs_watchdog else None,
        )
    if name == "agent":
        return HealthAgent(host, paths)
    if name == "keepalived":
        return Keepalived(host, paths)
    if name == "postgres":
        return Postgres(host, paths)
    frr = {d.name: d for d in frr_daemons(host, paths)}
    if name in frr:
        return frr[name]
    raise StandError(f"{host.name} has no daemon {name!r}")


def restart(stand: Stand, host_name: str, name: str) -> process.ProcessRecord:
    """Start one daemon again (after a fault), once what is left of its last run is gone."""
    host = stand.plan.host(host_name)
    daemon = controller(stand, host, name)
    previous = stand.state_file.read().process(host.name, name)
    if previous is not None:
        previous.stop()
    for pid_file in daemon.pid_files():  # left by the dead one; its PID may linger as a zombie a while
        pid_file.unlink(missing_ok=True)
    record = daemon.start(stand.state_file)
    daemon.wait_ready(record)
    return record


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


# The load first (bench's Locust and probes, recorded by `bench run`), WAN delay lines last.
STOP_ORDER = ("locust", "locust-worker", "probe",
              "agent", "keepalived", "pgpool", "postgres", "ospfd", "bfdd", "zebra")  # fmt: skip


def down(stand: Stand, progress: Progress, force: bool = False) -> float:
    """Remove every trace of the stand, from its state file (or, with force, from its prefix)."""
    started = time.monotonic()
    check_prerequisites()
    with command_lock(stand.command_lock_path, exclusive=True, what="`stand down`"):
        return _down(stand, progress, force, started)


def _down(stand: Stand, progress: Progress, force: bool, started: float) -> float:
    state_file = stand.state_file
    by_prefix = StandState(prefix=stand.plan.topology.prefix, topology="", namespaces=list(stand.plan.namespaces),
                           root_links=[stand.plan.shell_ifname])  # fmt: skip
    if state_file.exists():
        try:
            state = state_file.read()
        except CorruptState as e:
            progress(f"{e}: removing what the stand's prefix {stand.plan.topology.prefix!r} names instead")
            state = by_prefix
    elif force:
        state = by_prefix
    else:
        progress("no stand is up (no state file); nothing to do")
        return 0.0
    if state.topology and state.topology != stand.plan.topology.source:
        progress(f"note: the stand was started from {state.topology}")
    for namespace in state.namespaces:
        netns.signal_inside(namespace, signal.SIGCONT)  # a frozen host (node-freeze) must not hang teardown
    by_order = sorted(state.processes, key=lambda p: STOP_ORDER.index(p.daemon) if p.daemon in STOP_ORDER else len(STOP_ORDER))
    for record in by_order:
        record.stop()
    for namespace in state.namespaces:
        _kill_what_runs_inside(namespace)
    for ifname in state.root_links:
        netns.remove_link(netns.ROOT, ifname)  # its routes go with it
    for namespace in state.namespaces:
        netns.remove(namespace)
    shutil.rmtree(stand.layout.root, ignore_errors=True)
    progress(f"stopped {len(state.processes)} processes, removed {len(state.namespaces)} namespaces")
    return time.monotonic() - started


def _kill_what_runs_inside(namespace: str) -> None:
    """Anything still inside one of the stand's namespaces is the stand's own (found by the namespace, not
    by name): SIGKILL each process directly, then wait until they are all gone."""
    for pid in netns.processes_inside(namespace):
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
    if not process.wait_until(lambda: not _live(netns.processes_inside(namespace)), process.scaled(10)):
        left = _live(netns.processes_inside(namespace))
        raise StandError(f"processes still inside {namespace} 10 s after SIGKILL: {left}")


def _live(pids: list[int]) -> list[int]:
    """Those not yet zombies (a zombie's parent reaps it; it holds nothing)."""
    return [pid for pid in pids if (stat := process.read_stat(pid)) is not None and stat.state != "Z"]
