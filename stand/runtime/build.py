"""`stand up`: the stand's pipeline, step by step (network, delay lines, files, FRR, PostgreSQL, balancers, readiness)."""

from __future__ import annotations

import os
import pwd
import shutil
import sys
import time
from pathlib import Path

from stand.linux import netns, process
from stand.linux.files import write_atomically
from stand.linux.state import UP, CorruptState, StandState, command_lock
from stand.model.credentials import CLIENT_USER, MONITOR_USER, REPLICATION_USER, Credentials
from stand.model.daemons import FRR, DaemonKind
from stand.model.plan import DelayLine, HostPlan
from stand.model.system import PG_BIN
from stand.render.configs import RenderedFile, render_all, slot_name
from stand.runtime import readiness
from stand.runtime.daemons import CONTROL_PLANE_NICE, Daemon, controller, psql_local
from stand.runtime.handle import Progress, Stand, StandError
from stand.runtime.prerequisites import check_prerequisites
from stand.runtime.ssh import start_ssh
from stand.runtime.teardown import down_under_lock
from stand.runtime.warmup import warm_up

REPO = Path(__file__).resolve().parents[2]  # the delay line runs as `python -m stand.programs.delayline`


def up(stand: Stand, progress: Progress, keep_on_failure: bool = False, ssh: bool = False) -> float:
    """Build the stand and wait until it is really ready (with `ssh`, an sshd in every host too); returns the
    wall time it took.

    If any step fails, what this call built is torn down again (unless `keep_on_failure`).
    """
    started = time.monotonic()
    check_prerequisites()
    with command_lock(stand.command_lock_path, exclusive=True, what="`stand up`"):
        return _up(stand, progress, keep_on_failure, started, ssh)


def _up(stand: Stand, progress: Progress, keep_on_failure: bool, started: float, ssh: bool = False) -> float:
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
        stand.mode.prepare_network(stand)  # (a design's own rules may be among the files)
        frr = start_frr(stand, progress)
        start_postgres(stand, credentials, progress)
        start_balancers(stand, credentials, progress)
        for daemon, record in frr:
            daemon.wait_ready(record)
        readiness.wait_until_ready(stand, progress)
        warm_up(stand, progress)
        if ssh:
            start_ssh(stand, progress)
    except BaseException:
        if keep_on_failure:
            progress(f"start-up failed; the stand is left for inspection, logs under {stand.layout.root / 'hosts'}")
        else:
            kept = keep_logs(stand)
            progress(f"start-up failed; logs kept in {kept}; tearing down what was built (--keep-on-failure keeps it)")
            down_under_lock(stand, progress, force=False, started=time.monotonic())  # under the lock this call holds
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
                raise StandError(
                    f"the stand's prefix {prefix} overlaps this machine's route to {destination} "
                    f"(dev {device}): change the topology's addresses"
                )


def create_state(stand: Stand, credentials: Credentials) -> None:
    root = stand.layout.root
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    stand.state_file.write(
        StandState(prefix=stand.plan.topology.prefix, topology=stand.plan.topology.source, mode=stand.plan.mode)
    )
    source = Path(stand.plan.topology.source)
    write_atomically(stand.layout.topology_snapshot, source.read_text(), mode=0o644)  # what the stand is, from now on
    stand.credentials_file.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(stand.credentials_file, credentials.to_json())
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
            netns.disable_offloads(switch, ifname)
    for host in plan.hosts:
        netns.set_sysctls(host.namespace, host.sysctls)
        netns.add_address(host.namespace, "lo", host.host.loopback)
        for link in host.links:
            netns.add_veth(switch, link.switch_ifname, host.namespace, link.ifname)
            if link.delayed:
                netns.disable_offloads(host.namespace, link.ifname)
                netns.disable_offloads(switch, link.switch_ifname)
            if link.bridge:  # a WAN link's two ends are joined by a delay line instead
                netns.attach_to_bridge(switch, link.switch_ifname, link.bridge)
            netns.add_address(host.namespace, link.ifname, link.address)
        for route in host.static_routes:
            netns.add_route(host.namespace, route.destination, route.gateway, route.ifname)
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
    progress(
        f"network: {len(plan.hosts)} hosts, {len(plan.topology.networks)} networks, shell link {plan.shell_ifname}"
    )


WAN_NETEM = "netem"
WAN_DELAY_LINES = "userspace delay lines (this kernel has no netem)"


def start_delay_lines(stand: Stand, progress: Progress) -> None:
    """What delays the WAN, in the switch namespace (one line per WAN link and per hop of a stretched
    network): the kernel's netem where it has one, else a userspace delay line per line."""
    plan = stand.plan
    if not plan.delay_lines:
        return
    first, *others = plan.delay_lines
    in_kernel = delay_in_kernel(stand, first)
    if in_kernel:
        for line in others:
            if not delay_in_kernel(stand, line):
                raise StandError(f"netem took the WAN line {first.name} but not {line.name}")
    else:
        for line in plan.delay_lines:
            start_delay_line(stand, line)
    lines = ", ".join(f"{line.name} {2 * line.delay_ms:g} ms round trip" for line in plan.delay_lines)
    progress(f"WAN: {lines}; delayed by {WAN_NETEM if in_kernel else WAN_DELAY_LINES}")


def delay_in_kernel(stand: Stand, line: DelayLine) -> bool:
    """The line as a bridge of its two ends, each delaying what it sends by netem (so each direction is
    delayed once); False, and nothing made, if this kernel has no netem. netem's jitter may reorder frames,
    which the userspace line never does."""
    switch = stand.plan.switch_namespace
    if not netns.add_netem(switch, line.a, line.delay_ms, line.jitter_ms):
        return False
    netns.add_netem(switch, line.b, line.delay_ms, line.jitter_ms)
    netns.add_bridge(switch, line.bridge)
    for end in (line.a, line.b):
        netns.attach_to_bridge(switch, end, line.bridge)
    return True


def wan_delay(stand: Stand) -> str:
    """What delays this stand's WAN: WAN_NETEM, WAN_DELAY_LINES, or "" (no WAN)."""
    if not stand.plan.delay_lines:
        return ""
    line = stand.plan.delay_lines[0]
    return WAN_DELAY_LINES if stand.state_file.read().process("switch", delay_line_daemon(line.name)) else WAN_NETEM


def start_delay_line(stand: Stand, line: DelayLine) -> process.ProcessRecord:
    """One delay line in the switch namespace, recorded for teardown; returns once it forwards."""
    ready = stand.layout.root / "wan" / f"{line.name}.ready"
    ready.parent.mkdir(parents=True, exist_ok=True)
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "stand.programs.delayline", *line.options, "--ready-file", str(ready)]
    log = stand.layout.root / "wan" / f"{line.name}.log"
    _, record = process.spawn(
        "switch",
        delay_line_daemon(line.name),
        argv,
        stand.plan.switch_namespace,
        log,
        env={"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "")},
        nice=CONTROL_PLANE_NICE,  # it carries BFD: as the control plane, ahead of the load
    )
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
        *([(paths.agent_dir, root)] if host.runs(DaemonKind.AGENT) else []),
    ]:
        _make_dirs(directory, account)


def start_frr(stand: Stand, progress: Progress) -> list[tuple[Daemon, process.ProcessRecord]]:
    """zebra, bfdd, ospfd on every routing host; OSPF converges while PostgreSQL starts."""
    started = []
    for host in stand.plan.hosts:
        _host_dirs(stand, host)
        if not host.runs_frr:
            continue
        for kind in FRR:
            daemon = controller(stand, host, kind)
            record = daemon.start(stand.state_file)
            if kind == DaemonKind.ZEBRA:
                daemon.wait_ready(record)  # bfdd and ospfd connect to it
            started.append((daemon, record))
        if stand.mode.router_companion and host.runs(stand.mode.router_companion):
            daemon = controller(stand, host, stand.mode.router_companion)
            started.append((daemon, daemon.start(stand.state_file)))
    progress(f"FRR started on {sum(h.runs_frr for h in stand.plan.hosts)} hosts")
    return started


def start_postgres(stand: Stand, credentials: Credentials, progress: Progress) -> None:
    """The primary from initdb, with roles and the benchmark dataset; replicas from pg_basebackup."""
    primary, *replicas = stand.plan.postgres_hosts
    topology = stand.plan.topology
    paths = stand.layout.host(primary.name)
    _initdb(paths)
    daemon = controller(stand, primary, DaemonKind.POSTGRES)
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
        replica_daemon = controller(stand, replica, DaemonKind.POSTGRES)
        replica_daemon.wait_ready(replica_daemon.start(stand.state_file))
        progress(f"{replica.name}: replica started")


def _roles_sql(credentials: Credentials, database: str, replicas: list[str]) -> str:
    slots = "".join(f"SELECT pg_create_physical_replication_slot('{r.lower()}');" for r in replicas)
    return (
        f"CREATE ROLE {CLIENT_USER} LOGIN PASSWORD '{credentials.client_password}';"
        f"CREATE ROLE {MONITOR_USER} LOGIN PASSWORD '{credentials.monitor_password}' IN ROLE pg_monitor;"
        f"CREATE ROLE {REPLICATION_USER} LOGIN REPLICATION PASSWORD '{credentials.replication_password}';" + slots
    )


def _initdb(paths) -> None:
    """An empty cluster; the rendered postgresql.conf and pg_hba.conf replace initdb's own."""
    rendered = {name: (paths.pg_conf_dir / name).read_text() for name in ("postgresql.conf", "pg_hba.conf")}
    for name in rendered:
        (paths.pg_conf_dir / name).unlink()
    process.run(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(paths.pg_data),
            "-U",
            "postgres",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        user="postgres",
        timeout=120,
    )
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
                [
                    str(PG_BIN / "pg_basebackup"),
                    "-h",
                    str(primary.data_address.ip),
                    "-U",
                    REPLICATION_USER,
                    "-D",
                    str(paths.pg_data),
                    "-X",
                    "stream",
                    "-S",
                    slot_name(replica),
                    "--checkpoint=fast",
                ],
                namespace=replica.namespace,
                user="postgres",
                env={"PGPASSFILE": str(paths.pg_passfile), "PATH": os.environ.get("PATH", "")},
                timeout=300,
            )
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
    """pgpool, then the design's companion (the health agent, keepalived), on every balancer (in the
    watchdog mode, pgpool's own watchdog is the companion)."""
    companion = stand.mode.balancer_companion
    pgpools = [(host, controller(stand, host, DaemonKind.PGPOOL, credentials)) for host in stand.plan.balancers]
    started = [(host, daemon, daemon.start(stand.state_file)) for host, daemon in pgpools]  # watchdogs meet
    for host, daemon, record in started:
        daemon.wait_ready(record)
        if companion is not None:
            daemon = controller(stand, host, companion, credentials)
            daemon.wait_ready(daemon.start(stand.state_file))
        progress(f"{host.name}: pgpool answering, {companion or 'its watchdog'} running")
