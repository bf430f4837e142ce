"""One object per design under test, daemon kinds with one registry of controllers."""

import re
from pathlib import Path

import pytest

from stand.model import topology
from stand.model.daemons import FRR, LOAD_PROCESSES, START_ORDER, STOP_ORDER, DaemonKind
from stand.model.plan import UnknownMode
from stand.modes import MODE_NAMES, MODES, mode_named, open_stand, plan_of
from stand.runtime.daemons import CONTROLLERS, controller
from stand.runtime.handle import Mode, StandError

REPO = Path(__file__).resolve().parents[2]
BEHAVIOUR = ("routing_ready", "settled", "drain", "routing_status")


def test_the_modes_are_found_by_module_with_the_default_first():
    assert MODE_NAMES == (
        "anycast",
        "anycast-pinned",
        "anycast-resilient",
        "anycast-tuned",
        "keepalived",
        "keepalived-tuned",
        "watchdog",
    )


@pytest.mark.parametrize("name", MODE_NAMES)
def test_every_mode_says_how_it_behaves(name):
    mode = MODES[name]
    missing = [m for m in BEHAVIOUR if getattr(type(mode), m) is getattr(Mode, m)]
    assert missing == [], f"{name} leaves {missing} to the base class"


def test_an_unknown_mode_names_the_known_ones():
    with pytest.raises(
        UnknownMode,
        match=r"unknown mode 'vrrp' \(modes: anycast, anycast-pinned, anycast-resilient, anycast-tuned, keepalived, keepalived-tuned, watchdog\)",
    ):
        mode_named("vrrp")


@pytest.mark.parametrize(
    ("mode", "balancer_daemons", "announces"),
    [
        ("anycast", (*FRR, DaemonKind.PGPOOL, DaemonKind.AGENT), True),
        ("anycast-resilient", (*FRR, DaemonKind.PGPOOL, DaemonKind.AGENT), True),
        ("anycast-pinned", (*FRR, DaemonKind.PGPOOL, DaemonKind.AGENT), True),
        ("keepalived", (*FRR, DaemonKind.PGPOOL, DaemonKind.KEEPALIVED), False),
        ("keepalived-tuned", (*FRR, DaemonKind.PGPOOL, DaemonKind.KEEPALIVED), False),
        ("watchdog", (*FRR, DaemonKind.PGPOOL), False),
    ],
)
def test_a_balancer_runs_what_its_design_needs(mode, balancer_daemons, announces):
    balancer = plan_of(topology.load("seed"), mode).host("PgBAL1")
    assert balancer.daemons == balancer_daemons
    assert balancer.announces_anycast is announces
    assert balancer.pgpool_watchdog is (mode == "watchdog")


@pytest.mark.parametrize(("mode", "mirrors"), [("anycast", False), ("anycast-resilient", True), ("keepalived", False)])
def test_only_the_resilient_design_runs_a_next_hop_mirror_on_the_routers(mode, mirrors):
    plan = plan_of(topology.load("seed"), mode)
    assert plan.host("FRR").daemons == (*FRR, *([DaemonKind.NEXTHOP_MIRROR] if mirrors else []))
    assert all(DaemonKind.NEXTHOP_MIRROR not in h.daemons for h in plan.hosts if not h.host.has("router"))


def test_the_tuned_design_takes_the_tuned_vrrp_settings():
    seed = topology.load("seed")
    assert plan_of(seed, "keepalived-tuned").keepalived == seed.keepalived_tuned
    assert plan_of(seed, "keepalived").keepalived == seed.keepalived


def test_stop_order_is_the_load_then_start_order_reversed():
    assert STOP_ORDER == (*LOAD_PROCESSES, *(kind.value for kind in reversed(START_ORDER)))
    assert START_ORDER[:3] == FRR


def test_every_daemon_kind_has_a_controller_named_after_it():
    stand = open_stand(topology.load("seed"))
    assert set(CONTROLLERS) == set(DaemonKind)
    balancer, primary = stand.plan.host("PgBAL1"), stand.plan.host("PgSQL1")
    for host in (balancer, primary):
        for kind in host.daemons:
            if kind != DaemonKind.PGPOOL:  # pgpool's controller reads the stand's passwords
                assert controller(stand, host, kind).name == kind


def test_a_daemon_the_host_does_not_run_is_refused():
    stand = open_stand(topology.load("seed"))
    with pytest.raises(StandError, match="PgSQL2 has no daemon 'keepalived'"):
        controller(stand, stand.plan.host("PgSQL2"), "keepalived")


def test_daemon_argv_points_at_the_hosts_own_files():
    stand = open_stand(topology.load("seed"), "keepalived")
    host = stand.plan.host("PgBAL1")
    paths = stand.layout.host("PgBAL1")
    bfdd = controller(stand, host, DaemonKind.BFDD).argv()
    assert bfdd[:3] == ["/usr/lib/frr/bfdd", "-f", str(paths.frr_conf_dir / "bfdd.conf")]
    assert bfdd[bfdd.index("--bfdctl") + 1] == str(paths.frr_run_dir / "bfdd.sock")
    assert "--bfdctl" not in controller(stand, host, DaemonKind.OSPFD).argv()
    keepalived = controller(stand, host, DaemonKind.KEEPALIVED).argv()
    assert keepalived[keepalived.index("--use-file") + 1] == str(paths.keepalived_dir / "keepalived.conf")
    assert "--dont-fork" in keepalived


def test_no_code_outside_the_modes_asks_which_mode_it_is():
    """Adding a design is a new module in stand/modes/: nothing else compares mode names."""
    asks = re.compile(
        r"""\bmode\s*[!=]=\s*["'A-Z]|\b(ANYCAST|WATCHDOG|KEEPALIVED_TUNED)\b|runs_(agent|keepalived|watchdog)"""
    )
    found = []
    for package in ("stand", "bench", "reports"):
        for path in (REPO / package).rglob("*.py"):
            if "modes" in path.relative_to(REPO).parts:
                continue
            found += [
                f"{path.relative_to(REPO)}:{n}"
                for n, line in enumerate(path.read_text().splitlines(), 1)
                if asks.search(line)
            ]
    assert found == []


def test_the_tuned_anycast_design_runs_bfd_at_its_tuned_timers_and_only_on_the_lans():
    from stand.render.configs import render_all
    from tests.unit.test_render import CREDENTIALS, LAYOUTS

    seed = topology.load("seed")
    assert plan_of(seed, "anycast-tuned").ospf.bfd_interval_ms == seed.ospf.tuned_bfd_interval_ms == 50
    assert plan_of(seed, "anycast").ospf == seed.ospf  # the deployed timers
    files = render_all(plan_of(seed, "anycast-tuned"), LAYOUTS["stand"], CREDENTIALS)
    bfdd = next(f.content for f in files if f.host == "PgBAL1" and f.path.name == "bfdd.conf")
    assert "receive-interval 50" in bfdd and "transmit-interval 50" in bfdd and "detect-multiplier 3" in bfdd
    sites = topology.load("sites")
    wan = plan_of(sites, "anycast-tuned").ospf
    assert (wan.wan_bfd_interval_ms, wan.bfd_interval_ms) == (sites.ospf.wan_bfd_interval_ms, 50)
