"""Render every host's config files from the plan. Templates only print what Python computed here.

Everything is rendered in memory first; nothing is written until every file rendered.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import jinja2

from stand.model.credentials import CLIENT_USER, MONITOR_USER, REPLICATION_USER, Credentials
from stand.model.daemons import DaemonKind
from stand.model.layout import DebianLayout, HostPaths, StandLayout
from stand.model.plan import HostPlan, Plan
from stand.model.system import ARPING, IP, PCP_PORT, POSTGRES_PORT

TEMPLATES = Path(__file__).parent / "templates"
BFD_PROFILE = "stand"
WAN_BFD_PROFILE = "wan"  # WAN links: slower, as between cities
PCP_TIMEOUT_S = 1  # keepalived's check asks pgpool's PCP process when a new session is not taken in time


@dataclass(frozen=True)
class RenderedFile:
    host: str
    path: Path  # where the file goes (absolute)
    content: str
    owner: str  # the account that must read it: root, postgres or frr
    mode: int = 0o644


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["sh"] = lambda value: shlex.quote(str(value))  # every value a shell script gets
    return env


def render_all(plan: Plan, layout: StandLayout | DebianLayout, credentials: Credentials) -> list[RenderedFile]:
    """Every config file of every host."""
    env = environment()
    files: list[RenderedFile] = []
    for host in plan.hosts:
        paths = layout.host(host.name)
        if host.runs(DaemonKind.POSTGRES):
            files += _postgres_files(env, plan, host, paths, layout, credentials)
        if host.runs(DaemonKind.PGPOOL):
            files += _pgpool_files(env, plan, host, paths, credentials)
        if host.runs(DaemonKind.AGENT):
            files += _agent_files(plan, host, paths, credentials)
        if host.runs(DaemonKind.KEEPALIVED):
            files += _keepalived_files(env, plan, host, paths, credentials)
        if host.runs_frr:
            files += _frr_files(env, plan, host, paths, layout)
        if plan.design.pins_flows and host in plan.routers:
            files.append(_pinned_rules(env, plan, host, paths))
    return files


def _pinned_rules(env, plan: Plan, host: HostPlan, paths: HostPaths) -> RenderedFile:
    text = env.get_template("pinned.nft.j2").render(
        host=host.name,
        table=f"{plan.topology.prefix}_pinned",
        pins=plan.pins_of(host),
        anycast=plan.topology.anycast.ip,
    )
    return RenderedFile(host.name, paths.pinned_rules, text, "root")


def _postgres_files(env, plan: Plan, host: HostPlan, paths: HostPaths, layout, credentials) -> list[RenderedFile]:
    primary = plan.postgres_hosts[0]
    is_replica = host is not primary
    conninfo = ""
    if is_replica:
        conninfo = (
            f"host={primary.data_address.ip} port={POSTGRES_PORT} user={REPLICATION_USER} "
            f"passfile={paths.pg_passfile} application_name={host.name}"
        )
    conf = env.get_template("postgresql.conf.j2").render(
        host=host.name,
        role="replica" if is_replica else "primary",
        data_directory=paths.pg_data,
        hba_file=paths.pg_conf_dir / "pg_hba.conf",
        last_resort=host.host.has("last-resort"),
        port=POSTGRES_PORT,
        socket_dir=paths.pg_socket_dir,
        max_connections=plan.topology.postgres.max_connections,
        max_wal_senders=max(10, 2 * len(plan.postgres_hosts)),
        primary_conninfo=conninfo,
        slot_name=slot_name(host),
    )
    hba = env.get_template("pg_hba.conf.j2").render(
        host=host.name,
        replication_user=REPLICATION_USER,
        replica_addresses=_host_addresses(plan.postgres_hosts[1:]),
        backend_users=f"{CLIENT_USER},{MONITOR_USER}",
        balancer_addresses=_host_addresses(plan.balancers),
        database=plan.topology.postgres.database,
        client_user=CLIENT_USER,
        last_resort_networks=_client_networks(plan) if host.host.has("last-resort") else [],
    )
    passfile = f"{primary.data_address.ip}:{POSTGRES_PORT}:*:{REPLICATION_USER}:{credentials.replication_password}\n"
    return [
        RenderedFile(host.name, paths.pg_conf_dir / "postgresql.conf", conf, "postgres"),
        RenderedFile(host.name, paths.pg_conf_dir / "pg_hba.conf", hba, "postgres"),
        RenderedFile(host.name, paths.pg_passfile, passfile, "postgres", 0o600),
    ]


def _host_addresses(hosts) -> list[str]:
    """Every address of these hosts (interfaces and loopback), as /32s: who may connect, exactly."""
    addresses = [str(i.address.ip) for h in hosts for i in h.host.interfaces] + [str(h.host.loopback.ip) for h in hosts]
    return [f"{a}/32" for a in dict.fromkeys(addresses)]


def _client_networks(plan: Plan) -> list[str]:
    """Where clients connect from: the networks of the hosts with the client role, and this machine's shell."""
    networks = [str(i.address.network) for h in plan.hosts if h.host.has("client") for i in h.host.interfaces]
    return list(dict.fromkeys([*networks, str(plan.topology.shell.prefix)]))


def slot_name(host: HostPlan) -> str:
    """The replication slot a replica streams from."""
    return host.name.lower()


def _pgpool_files(env, plan: Plan, host: HostPlan, paths: HostPaths, credentials) -> list[RenderedFile]:
    settings = plan.topology.pgpool
    backends = [
        {
            "name": h.name,
            "address": h.data_address.ip,
            "port": POSTGRES_PORT,
            "weight": plan.backend_weight(host, h),
            "health_check_period": settings.wan_health_check_period_s if plan.across_wan(host, h) else None,
        }
        for h in plan.postgres_hosts
    ]
    conf = env.get_template("pgpool.conf.j2").render(
        host=host.name,
        port=settings.port,
        run_dir=paths.pgpool_run_dir,
        pid_file=paths.pgpool_pid_file,
        backends=backends,
        pool_passwd=paths.pgpool_conf_dir / "pool_passwd",
        num_init_children=settings.num_init_children,
        client_idle_limit=settings.client_idle_limit_s,
        monitor_user=MONITOR_USER,
        health_check_period=settings.health_check_period_s,
        sr_check_period=settings.sr_check_period_s,
        health_check_timeout=settings.health_check_timeout_s,
        search_primary_node_timeout=settings.search_primary_node_timeout_s,
        watchdog=_watchdog_settings(plan, host),
    )
    hba = env.get_template("pool_hba.conf.j2").render(
        host=host.name, client_networks=[str(n) for n in plan.stand_networks]
    )
    accounts = [(u, p) for u, p in credentials.accounts.items() if u != REPLICATION_USER]
    passwd = env.get_template("pool_passwd.j2").render(accounts=accounts)
    pcp = env.get_template("pcp.conf.j2").render(
        accounts=[(MONITOR_USER, hashlib.md5(credentials.monitor_password.encode()).hexdigest())]
    )
    conf_dir = paths.pgpool_conf_dir
    owner = "root" if host.pgpool_watchdog else "postgres"  # pgpool runs as root there: nothing it reads is postgres's
    node_id = [RenderedFile(host.name, conf_dir / "pgpool_node_id", f"{plan.balancers.index(host)}\n", owner)]
    return [
        *(node_id if host.pgpool_watchdog else []),
        RenderedFile(host.name, conf_dir / "pgpool.conf", conf, owner),
        RenderedFile(host.name, conf_dir / "pool_hba.conf", hba, owner),
        RenderedFile(host.name, conf_dir / "pool_passwd", passwd, owner, 0o600),
        RenderedFile(host.name, conf_dir / "pcp.conf", pcp, owner, 0o600),
    ]


def _watchdog_settings(plan: Plan, host: HostPlan) -> dict | None:
    """The watchdog section of pgpool.conf (watchdog mode): the peers, and the delegate IP on the segment
    the router is on, brought up and announced by gratuitous ARP like keepalived's VIP."""
    if not host.pgpool_watchdog:
        return None
    settings = plan.topology.watchdog
    segment = plan.vip_link(host)
    vip = plan.topology.anycast
    return {
        "peers": [{"address": plan.vip_link(h).address.ip} for h in plan.balancers],
        "wd_port": settings.wd_port,
        "heartbeat_port": settings.heartbeat_port,
        "priority": host.vrrp_priority,  # the first balancer is preferred as leader, as with VRRP
        "delegate_ip": vip.ip,
        "if_up_cmd": f"{IP} addr add $_IP_$/{vip.network.prefixlen} dev {segment.ifname}",
        "if_down_cmd": f"{IP} addr del $_IP_$/{vip.network.prefixlen} dev {segment.ifname}",
        "arping_cmd": f"{ARPING} -U $_IP_$ -w 1 -I {segment.ifname}",
        "wd_interval": settings.wd_interval_s,
        "heartbeat_keepalive": settings.heartbeat_keepalive_s,
        "heartbeat_deadtime": settings.heartbeat_deadtime_s,
    }


def _agent_files(plan: Plan, host: HostPlan, paths: HostPaths, credentials) -> list[RenderedFile]:
    health = plan.topology.health
    config = {
        "balancer": host.name,
        "anycast": str(plan.topology.anycast),
        "interface": "lo",
        "check": {
            "host": str(host.host.loopback.ip),
            "port": plan.topology.pgpool.port,
            "user": CLIENT_USER,  # as a client: shares the backend connections pgpool caches for clients
            "database": plan.topology.postgres.database,
            "password_file": str(paths.health_password_file),
            "query": health.query,
        },
        "interval_ms": health.interval_ms,
        "timeout_ms": health.timeout_ms,
        "unresponsive_ms": health.unresponsive_ms,
        "rise": health.rise,
        "fall": health.fall,
        "new_connection_every": health.new_connection_every,
        "protect_last_announcer": health.protect_last_announcer,
        "withdraw_holdoff_ms": health.withdraw_holdoff_ms,
        "last_resort_cost": plan.topology.ospf.last_resort_cost,
        "vtysh_socket_dir": str(paths.frr_run_dir),
        "pgpool_pid_file": str(paths.pgpool_pid_file),
        "drain_file": str(paths.drain_file),
        "status_file": str(paths.agent_status),
        "decisions_file": str(paths.health_decisions),
    }
    return [
        RenderedFile(host.name, paths.agent_config, json.dumps(config, indent=2) + "\n", "root", 0o600),
        RenderedFile(host.name, paths.health_password_file, credentials.client_password + "\n", "root", 0o600),
    ]


def _keepalived_files(env, plan: Plan, host: HostPlan, paths: HostPaths, credentials) -> list[RenderedFile]:
    t = plan.topology
    vrrp = plan.keepalived
    routed = plan.vip_link(host)  # the VIP lives on the segment the routers are on
    check_script = paths.keepalived_dir / "check_pgpool.sh"
    notify_script = paths.keepalived_dir / "notify.sh"
    passfile = paths.keepalived_dir / "pgpass"
    pcp_passfile = paths.keepalived_dir / "pcppass"
    conf = env.get_template("keepalived.conf.j2").render(
        host=host.name,
        mode=plan.mode,
        vrrp_version=vrrp.vrrp_version,
        check_script=check_script,
        check_interval=vrrp.check_interval_s,
        check_timeout=vrrp.check_timeout_s + PCP_TIMEOUT_S + 1,  # the script gives up first, with its own answer
        notify_script=notify_script,
        check_fall=vrrp.check_fall,
        check_rise=vrrp.check_rise,
        interface=routed.ifname,
        virtual_router_id=vrrp.virtual_router_id,
        priority=host.vrrp_priority,
        advert_int=f"{vrrp.advert_int_ms / 1000:g}",
        vip=t.anycast,
    )
    script = env.get_template("check_pgpool.sh.j2").render(
        host=host.name,
        passfile=passfile,
        timeout=vrrp.check_timeout_s,
        psql="/usr/bin/psql",
        address=host.host.loopback.ip,
        port=t.pgpool.port,
        user=CLIENT_USER,
        database=t.postgres.database,
        pcp_passfile=pcp_passfile,
        timeout_program="/usr/bin/timeout",
        pcp_timeout=PCP_TIMEOUT_S,
        pcp_node_count="/usr/sbin/pcp_node_count",
        pcp_socket_dir=paths.pgpool_run_dir,
        pcp_port=PCP_PORT,
        pcp_user=MONITOR_USER,
    )
    notify = env.get_template("notify.sh.j2").render(host=host.name, decisions_file=paths.health_decisions)
    pgpass = (
        f"{host.host.loopback.ip}:{t.pgpool.port}:{t.postgres.database}:{CLIENT_USER}:{credentials.client_password}\n"
    )
    return [
        RenderedFile(host.name, paths.keepalived_dir / "keepalived.conf", conf, "root"),
        RenderedFile(host.name, check_script, script, "root", 0o700),
        RenderedFile(host.name, notify_script, notify, "root", 0o700),
        RenderedFile(host.name, passfile, pgpass, "root", 0o600),
        RenderedFile(
            host.name, pcp_passfile, f"*:{PCP_PORT}:{MONITOR_USER}:{credentials.monitor_password}\n", "root", 0o600
        ),
    ]


def _frr_files(env, plan: Plan, host: HostPlan, paths: HostPaths, layout) -> list[RenderedFile]:
    t = plan.topology
    ospf = plan.ospf
    networks = [str(link.address.network) for link in host.ospf_links]
    networks.append(str(host.host.loopback.network))
    if host.announces_anycast:
        networks.append(str(t.anycast.network))
    is_shell_router = host is plan.shell_router
    if is_shell_router:
        networks.append(str(t.shell.prefix))
    sections = {
        "zebra": env.get_template("zebra.conf.j2").render(host=host.name),
        "ospfd": env.get_template("ospfd.conf.j2").render(
            ospf_links=host.ospf_links,
            area=ospf.area,
            hello_interval=ospf.hello_interval_s,
            dead_interval=ospf.dead_interval_s,
            priority=host.ospf_priority,
            bfd_profile=BFD_PROFILE,
            wan_bfd_profile=WAN_BFD_PROFILE,
            loopback_cost=host.loopback_cost,
            shell_ifname=plan.shell_router_ifname if is_shell_router else "",
            router_id=host.host.loopback.ip,
            networks=networks,
            spf_delay=ospf.spf_delay_ms,
            spf_initial_hold=ospf.spf_initial_hold_ms,
            spf_max_hold=ospf.spf_max_hold_ms,
            lsa_throttle=ospf.lsa_throttle_ms,
            lsa_min_arrival=ospf.lsa_min_arrival_ms,
        ),
        "bfdd": env.get_template("bfdd.conf.j2").render(
            profiles=[
                (BFD_PROFILE, ospf.bfd_multiplier, ospf.bfd_interval_ms),
                *(
                    [(WAN_BFD_PROFILE, ospf.wan_bfd_multiplier, ospf.wan_bfd_interval_ms)]
                    if any(link.wan for link in host.ospf_links)
                    else []
                ),
            ]
        ),
    }
    if isinstance(layout, DebianLayout):  # Debian runs FRR from one integrated frr.conf
        return [RenderedFile(host.name, paths.frr_conf_dir / "frr.conf", "".join(sections.values()), "frr")]
    return [RenderedFile(host.name, paths.frr_conf_dir / f"{d}.conf", text, "frr") for d, text in sections.items()]
