"""Derived names and roles: what the builder and templates get from the seed topology."""

import tomllib

import pytest

from stand.model import topology
from stand.model.daemons import DaemonKind
from stand.model.plan import BALANCER_PRIORITY, ROUTER_PRIORITY, UnknownMode
from stand.modes import plan_of

PLAN = plan_of(topology.load("seed"))


def test_every_namespace_carries_the_prefix():
    assert PLAN.namespaces == (
        "pgab-switch",
        "pgab-frr",
        "pgab-pgsql1",
        "pgab-pgsql2",
        "pgab-pgsql3",
        "pgab-pgbal1",
        "pgab-pgbal2",
        "pgab-pgbal3",
    )
    assert PLAN.shell_ifname == "pgab-shell"


@pytest.mark.parametrize("host", PLAN.hosts, ids=lambda h: h.name)
def test_link_names_fit_the_kernel_limit(host):
    for link in host.links:
        assert len(link.switch_ifname) <= 15
        assert link.ifname == link.network


def test_daemons_per_host():
    runs = {h.name: (h.runs_frr, h.runs(DaemonKind.POSTGRES), h.is_balancer) for h in PLAN.hosts}
    assert runs == {
        "FRR": (True, False, False),
        "PgSQL1": (True, True, False),
        "PgSQL2": (False, True, False),
        "PgSQL3": (False, True, False),
        "PgBAL1": (True, False, True),
        "PgBAL2": (True, False, True),
        "PgBAL3": (True, False, True),
    }


def test_router_is_dr_and_balancers_never_are():
    assert PLAN.host("FRR").ospf_priority == ROUTER_PRIORITY
    assert {h.ospf_priority for h in PLAN.balancers} == {BALANCER_PRIORITY}


def test_router_hashes_on_l4_and_forwards():
    sysctls = PLAN.host("frr").sysctls
    assert sysctls["net.ipv4.fib_multipath_hash_policy"] == "3"  # the fields below, never a frame's own hash
    assert int(sysctls["net.ipv4.fib_multipath_hash_fields"], 16) == 0x37  # the 5-tuple
    assert sysctls["net.ipv4.fib_multipath_use_neigh"] == "1"
    assert sysctls["net.ipv4.ip_forward"] == "1"
    assert "net.ipv4.ip_forward" not in PLAN.host("PgBAL1").sysctls


def test_postgres_hosts_start_with_the_primary():
    assert [h.name for h in PLAN.postgres_hosts] == ["PgSQL1", "PgSQL2", "PgSQL3"]


def test_clients_may_connect_only_from_the_stand():
    assert [str(n) for n in PLAN.stand_networks] == ["198.18.0.0/24", "198.18.1.0/24", "198.18.2.0/24", "198.18.3.0/30"]


SITES = plan_of(topology.load("sites"))


def test_sites_wan_links_cost_what_their_round_trip_says():
    costs = {link.network: link.ospf_cost for link in SITES.host("RtEkb").links}
    assert costs == {"ekb": 10, "mskekb": 260, "spbekb": 360, "vip": 10}  # 10 + 10 per ms of round trip


@pytest.mark.parametrize(
    ("router", "balancer"), [("RtSpb", "198.18.10.94"), ("RtMsk", "198.18.11.94"), ("RtEkb", "198.18.12.94")]
)
def test_each_site_router_reaches_anycast_through_its_own_balancer(router, balancer):
    assert SITES.anycast_next_hops_of(SITES.host(router)) == [balancer]


def test_seed_router_reaches_every_balancer_and_has_every_ospf_host_as_neighbour():
    seed = plan_of(topology.load("seed"))
    assert seed.anycast_next_hops_of(seed.shell_router) == ["198.18.1.94", "198.18.1.95", "198.18.1.96"]
    assert seed.ospf_peers_of(seed.shell_router) == 4


def test_a_site_balancer_reads_from_its_own_site_only():
    weights = {b.name: [SITES.backend_weight(b, pg) for pg in SITES.postgres_hosts] for b in SITES.balancers}
    assert [pg.name for pg in SITES.postgres_hosts] == ["PgMsk", "PgSpb", "PgEkb"]
    assert weights == {"BalSpb": [0, 1, 0], "BalMsk": [1, 0, 0], "BalEkb": [0, 0, 1]}
    seed = plan_of(topology.load("seed"))
    assert {seed.backend_weight(b, pg) for b in seed.balancers for pg in seed.postgres_hosts} == {1}


def test_sites_hosts_reach_postgres_from_their_own_site_network():
    assert str(SITES.host("PgEkb").data_address) == "198.18.12.91/24"
    assert SITES.sites == ("msk", "spb", "ekb")  # Moscow first: the VIP modes' first master


def test_the_vip_modes_refuse_several_sites_without_a_stretched_segment():
    raw = tomllib.loads(topology.resolve_path("sites").read_text())
    del raw["stand"]["vip_network"]
    sites = topology.parse(raw)
    assert plan_of(sites).mode == "anycast"
    with pytest.raises(
        UnknownMode,
        match=r"keepalived mode needs every balancer and router on the VIP's segment "
        r"'msk', and RtSpb, BalSpb, RtEkb, BalEkb are not",
    ):
        plan_of(sites, "keepalived")


def test_the_stretched_segment_has_a_bridge_per_site_joined_by_delay_lines_with_the_wan_delays():
    plan = plan_of(topology.load("sites"), "keepalived")
    assert [b for b in plan.bridges if b.startswith("vip")] == ["vip-msk", "vip-spb", "vip-ekb"]
    ports = {p.bridge_ifname: (p.bridge, p.wan) for p in plan.bridge_ports}
    assert ports == {
        "vip-spbmsk1": ("vip-msk", "spbmsk"),
        "vip-spbmsk3": ("vip-spb", "spbmsk"),
        "vip-mskekb1": ("vip-msk", "mskekb"),
        "vip-mskekb3": ("vip-ekb", "mskekb"),
    }
    lines = {line.name: (line.a, line.b, line.delay_ms) for line in plan.delay_lines}
    assert lines == {
        "spbmsk": ("rtmsk-spbmsk", "rtspb-spbmsk", 5.0),
        "mskekb": ("rtmsk-mskekb", "rtekb-mskekb", 12.5),
        "spbekb": ("rtspb-spbekb", "rtekb-spbekb", 17.5),
        "vip-spbmsk": ("vip-spbmsk2", "vip-spbmsk4", 5.0),
        "vip-mskekb": ("vip-mskekb2", "vip-mskekb4", 12.5),
    }
    assert all(len(name) <= 15 for b in plan.bridge_ports for name in (b.bridge_ifname, b.line_ifname))
    spb = plan.host("BalSpb")
    assert (plan.vip_link(spb).bridge, plan.vip_link(spb).delayed) == ("vip-spb", True)
    assert [r.name for r in plan.routers if plan.vip_link(r)] == ["RtMsk", "RtSpb", "RtEkb"]


def test_anycast_runs_no_delay_line_for_the_vip_segment_it_does_not_use():
    plan = plan_of(topology.load("sites"), "anycast")
    assert [line.name for line in plan.delay_lines] == ["spbmsk", "mskekb", "spbekb"]
    assert plan.bridge_ports == ()
    assert [b for b in plan.bridges if b.startswith("vip")] == ["vip-msk", "vip-spb", "vip-ekb"]  # each on its own


def test_the_seed_vip_lives_on_the_routed_network():
    seed = plan_of(topology.load("seed"), "keepalived")
    assert seed.vip_network == "routed" and seed.bridge_ports == () and seed.delay_lines == ()
    assert seed.bridges == ("base", "routed")


def test_only_routers_and_announcers_run_frr_the_others_route_through_their_site_router():
    assert [h.name for h in SITES.hosts if h.runs_frr] == [
        "RtMsk",
        "PgMsk",
        "BalMsk",
        "RtSpb",
        "BalSpb",
        "RtEkb",
        "BalEkb",
    ]
    routes = {str(r.destination): (str(r.gateway), r.ifname) for r in SITES.host("CliEkb").static_routes}
    assert routes == {
        prefix: ("198.18.12.90", "ekb")
        for prefix in (
            "198.18.10.0/24",
            "198.18.11.0/24",
            "198.18.20.0/30",
            "198.18.20.4/30",
            "198.18.20.8/30",
            "198.18.21.0/24",
            "198.18.2.0/24",
            "198.18.3.0/30",
        )
    }
    seed = plan_of(topology.load("seed"))
    assert [h.name for h in seed.hosts if h.runs_frr] == ["FRR", "PgSQL1", "PgBAL1", "PgBAL2", "PgBAL3"]
    assert all(h.static_routes == () for h in seed.hosts)  # PgSQL2 and 3 are on the base network only


def test_a_reattached_backend_must_outlast_the_longest_health_check_cycle_the_stand_uses():
    from stand.modes import plan_of

    assert plan_of(topology.load("seed")).pgpool_check_cycle_s == 1 + 2  # one site: no check across a WAN
    assert plan_of(topology.load("sites")).pgpool_check_cycle_s == 5 + 2  # other cities every 5 s
