"""Derived names and roles: what the builder and templates get from the seed topology."""

import pytest

from stand import topology
from stand.plan import BALANCER_PRIORITY, ROUTER_PRIORITY, UnknownMode, derive

PLAN = derive(topology.load("seed"))


def test_every_namespace_carries_the_prefix():
    assert PLAN.namespaces == (
        "pgab-switch", "pgab-frr", "pgab-pgsql1", "pgab-pgsql2", "pgab-pgsql3",
        "pgab-pgbal1", "pgab-pgbal2", "pgab-pgbal3",
    )  # fmt: skip
    assert PLAN.shell_ifname == "pgab-shell"


@pytest.mark.parametrize("host", PLAN.hosts, ids=lambda h: h.name)
def test_link_names_fit_the_kernel_limit(host):
    for link in host.links:
        assert len(link.switch_ifname) <= 15
        assert link.ifname == link.network


def test_daemons_per_host():
    runs = {h.name: (h.runs_frr, h.runs_postgres, h.runs_pgpool) for h in PLAN.hosts}
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
    assert sysctls["net.ipv4.fib_multipath_hash_policy"] == "1"
    assert sysctls["net.ipv4.fib_multipath_use_neigh"] == "1"
    assert sysctls["net.ipv4.ip_forward"] == "1"
    assert "net.ipv4.ip_forward" not in PLAN.host("PgBAL1").sysctls


def test_postgres_hosts_start_with_the_primary():
    assert [h.name for h in PLAN.postgres_hosts] == ["PgSQL1", "PgSQL2", "PgSQL3"]


def test_clients_may_connect_only_from_the_stand():
    assert [str(n) for n in PLAN.stand_networks] == ["198.18.0.0/24", "198.18.1.0/24", "198.18.2.0/24", "198.18.3.0/30"]


SITES = derive(topology.load("sites"))


def test_sites_wan_links_cost_what_their_round_trip_says():
    costs = {link.network: link.ospf_cost for link in SITES.host("RtEkb").links}
    assert costs == {"ekb": 10, "mskekb": 260, "spbekb": 360}  # 10 + 10 per ms of round trip


@pytest.mark.parametrize(("router", "balancer"), [("RtSpb", "198.18.10.94"), ("RtMsk", "198.18.11.94"),
                                                  ("RtEkb", "198.18.12.94")])  # fmt: skip
def test_each_site_router_reaches_anycast_through_its_own_balancer(router, balancer):
    assert SITES.anycast_next_hops_of(SITES.host(router)) == [balancer]


def test_seed_router_reaches_every_balancer_and_has_every_ospf_host_as_neighbour():
    seed = derive(topology.load("seed"))
    assert seed.anycast_next_hops_of(seed.shell_router) == ["198.18.1.94", "198.18.1.95", "198.18.1.96"]
    assert seed.ospf_peers_of(seed.shell_router) == 4


def test_a_site_balancer_reads_from_its_own_site_only():
    weights = {b.name: [SITES.backend_weight(b, pg) for pg in SITES.postgres_hosts] for b in SITES.balancers}
    assert [pg.name for pg in SITES.postgres_hosts] == ["PgMsk", "PgSpb", "PgEkb"]
    assert weights == {"BalSpb": [0, 1, 0], "BalMsk": [1, 0, 0], "BalEkb": [0, 0, 1]}
    seed = derive(topology.load("seed"))
    assert {seed.backend_weight(b, pg) for b in seed.balancers for pg in seed.postgres_hosts} == {1}


def test_sites_hosts_reach_postgres_from_their_own_site_network():
    assert str(SITES.host("PgEkb").data_address) == "198.18.12.91/24"
    assert SITES.sites == ("spb", "msk", "ekb")


def test_the_vip_modes_refuse_several_sites_until_a_stretched_segment_exists():
    with pytest.raises(UnknownMode, match="keepalived mode needs one L2 segment for the VIP"):
        derive(topology.load("sites"), "keepalived")
