"""The topology: the seed's table to the address, and every mistake of a bad file reported at once."""

import tomllib
from ipaddress import IPv4Interface

import pytest

from stand.model import topology
from stand.model.topology import TopologyError

SEED_TABLE = {  # ../shared/SEED.md, "Its test stand"
    "FRR": ("198.18.0.90/24", "198.18.1.90/24", "198.18.2.90/32"),
    "PgSQL1": ("198.18.0.91/24", "198.18.1.91/24", "198.18.2.91/32"),
    "PgSQL2": ("198.18.0.92/24", None, "198.18.2.92/32"),
    "PgSQL3": ("198.18.0.93/24", None, "198.18.2.93/32"),
    "PgBAL1": ("198.18.0.94/24", "198.18.1.94/24", "198.18.2.94/32"),
    "PgBAL2": ("198.18.0.95/24", "198.18.1.95/24", "198.18.2.95/32"),
    "PgBAL3": ("198.18.0.96/24", "198.18.1.96/24", "198.18.2.96/32"),
}


def seed_raw() -> dict:
    return tomllib.loads(topology.resolve_path("seed").read_text())


@pytest.mark.parametrize("name", SEED_TABLE)
def test_seed_addresses_are_the_seed_table(name):
    seed = topology.load()
    host = seed.host(name)
    base, routed, loopback = SEED_TABLE[name]
    assert host.address_on("base") == IPv4Interface(base)
    assert host.address_on("routed") == (IPv4Interface(routed) if routed else None)
    assert host.loopback == IPv4Interface(loopback)


def test_seed_networks_anycast_and_roles():
    seed = topology.load("seed")
    assert str(seed.anycast) == "198.18.2.0/32"
    assert {n.name: (str(n.prefix), n.ospf) for n in seed.networks} == {
        "base": ("198.18.0.0/24", False),
        "routed": ("198.18.1.0/24", True),
    }
    assert [h.name for h in seed.with_role("balancer")] == ["PgBAL1", "PgBAL2", "PgBAL3"]
    assert seed.primary.name == "PgSQL1"
    assert [h.name for h in seed.with_role("replica")] == ["PgSQL2", "PgSQL3"]


@pytest.mark.parametrize("spelling", ["pgbal1", "PGBAL1", "PgBal1"])
def test_host_names_ignore_case(spelling):
    assert topology.load().host(spelling).name == "PgBAL1"


def test_unknown_host_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown host 'PgBAL9' \\(hosts: FRR, PgSQL1"):
        topology.load().host("PgBAL9")


def errors_of(change) -> list[str]:
    raw = seed_raw()
    change(raw)
    with pytest.raises(TopologyError) as caught:
        topology.parse(raw, "t.toml")
    return caught.value.errors


def set_in(path: str, value):
    def change(raw):
        *parents, key = path.split(".")
        table = raw
        for p in parents:
            table = table[p]
        table[key] = value

    return change


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (
            "hosts.PgBAL1.interfaces.base",
            "198.18.0.300/24",
            "hosts.PgBAL1.interfaces.base: '198.18.0.300/24' is not an IPv4 address with prefix length",
        ),
        (
            "hosts.PgBAL1.interfaces.base",
            "198.18.0.94",
            "hosts.PgBAL1.interfaces.base: '198.18.0.94' needs a prefix length (like 198.18.0.90/24)",
        ),
        (
            "hosts.PgBAL1.interfaces.base",
            "198.18.5.94/24",
            "hosts.PgBAL1.interfaces.base: 198.18.5.94/24 is not in network 198.18.0.0/24",
        ),
        (
            "hosts.PgBAL2.interfaces.base",
            "198.18.0.94/24",
            "hosts.PgBAL2.interfaces.base: duplicate address 198.18.0.94 (also hosts.PgBAL1.interfaces.base)",
        ),
        (
            "hosts.PgBAL1.interfaces.wan",
            "198.18.9.1/24",
            "hosts.PgBAL1.interfaces.wan: unknown network 'wan' (networks: base, routed)",
        ),
        ("stand.anycast", "198.18.7.0/32", "stand.anycast: 198.18.7.0 is outside the loopbacks 198.18.2.0/24"),
        ("stand.anycast", "198.18.2.0/31", "stand.anycast: 198.18.2.0/31 must be a /32"),
        ("hosts.PgBAL3.loopback", "198.18.2.0/32", "hosts.PgBAL3.loopback: 198.18.2.0 is the anycast address"),
        ("hosts.PgBAL3.loopback", "198.18.2.96/24", "hosts.PgBAL3.loopback: 198.18.2.96/24 must be a /32"),
        (
            "hosts.PgBAL3.loopback",
            "198.18.4.96/32",
            "hosts.PgBAL3.loopback: 198.18.4.96 is outside stand.loopbacks 198.18.2.0/24",
        ),
        (
            "hosts.PgBAL3.roles",
            ["balancer", "cache"],
            "hosts.PgBAL3.roles: unknown role 'cache' (known: router, client, primary, replica, balancer, last-resort)",
        ),
        ("hosts.PgSQL2.roles", ["primary"], "hosts: exactly one host must have the role 'primary' (found 2)"),
        ("shell.router", "Nowhere", "shell.router: unknown host 'Nowhere'"),
        ("shell.router", "PgBAL1", "shell.router: host 'PgBAL1' does not have the role 'router'"),
        ("shell.prefix", "198.18.3.0/31", "shell.prefix: 198.18.3.0/31 must hold two hosts (a /30 or larger)"),
        ("shell.prefix", "198.18.1.0/30", "shell.prefix: 198.18.1.0/30 overlaps networks.routed"),
        ("networks.routed.prefix", "198.18.1.1/24", "networks.routed.prefix: '198.18.1.1/24' has host bits set"),
        ("stand.prefix", "Pg-AB", "stand.prefix: 'Pg-AB' must be 1-6 lower-case letters or digits"),
        ("stand.data_network", "wan", "stand.data_network: unknown network 'wan'"),
        ("ospf.hello_interval_s", "1", "ospf.hello_interval_s: must be an integer"),
        ("ospf.area", "zero", "ospf.area: 'zero' must be written as an IPv4 address (0.0.0.0)"),
        ("health.rise", -1, "health.rise: must be at least 1 (got -1)"),
        ("health.interval_ms", 0, "health.interval_ms: must be at least 1 (got 0)"),
        ("pgpool.port", 70000, "pgpool.port: must be from 1024 to 65535 (got 70000)"),
        ("pgpool.port", 80, "pgpool.port: must be from 1024 to 65535 (got 80)"),
        ("watchdog.wd_port", 5432, "watchdog.wd_port: 5432 is also pgpool.port"),
        ("pgpool.port", 9898, "pgpool.port: 9898 is also pgpool's PCP port"),
        (
            "health.unresponsive_ms",
            400,
            "health.unresponsive_ms: 400 must be more than health.timeout_ms (500): a slow answer comes before no answer at all",
        ),
        ("keepalived.virtual_router_id", 256, "keepalived.virtual_router_id: must be from 1 to 255 (got 256)"),
        ("keepalived.vrrp_version", 4, "keepalived.vrrp_version: must be from 2 to 3 (got 4)"),
        ("keepalived_tuned.advert_int_ms", 0, "keepalived_tuned.advert_int_ms: must be at least 1 (got 0)"),
        ("postgres.scale", 100000, "postgres.scale: must be from 1 to 1000 (got 100000)"),
        ("health.protect_last_announcer", "yes", "health.protect_last_announcer: must be true or false"),
        (
            "postgres.database",
            "bench; touch /tmp/x",
            "postgres.database: 'bench; touch /tmp/x' must be 1-63 lower-case letters, digits or '_', not starting with a digit",
        ),
        (
            "postgres.database",
            "bench\n",
            "postgres.database: 'bench\\n' must be 1-63 lower-case letters, digits or '_', not starting with a digit",
        ),
        ("stand.prefix", "pgab\n", "stand.prefix: 'pgab\\n' must be 1-6 lower-case letters or digits"),
        (
            "networks.routed.prefix",
            "10.1.0.0/24",
            "networks.routed.prefix: 10.1.0.0/24 is outside 198.18.0.0/15, the only addresses the stand may route",
        ),
        (
            "stand.loopbacks",
            "192.168.2.0/24",
            "stand.loopbacks: 192.168.2.0/24 is outside 198.18.0.0/15, the only addresses the stand may route",
        ),
        (
            "shell.prefix",
            "100.64.3.0/30",
            "shell.prefix: 100.64.3.0/30 is outside 198.18.0.0/15, the only addresses the stand may route",
        ),
        (
            "networks.base.delay_ms",
            float("nan"),
            "networks.base.delay_ms: must be a number of milliseconds from 0 to 1000",
        ),
        (
            "networks.base.delay_ms",
            float("inf"),
            "networks.base.delay_ms: must be a number of milliseconds from 0 to 1000",
        ),
        (
            "pgpool.colour",
            "blue",
            "pgpool.colour: unknown field (known: client_idle_limit_s, health_check_period_s, health_check_timeout_s, num_init_children, port, search_primary_node_timeout_s, sr_check_period_s, wan_health_check_period_s)",
        ),
    ],
)
def test_bad_field_is_reported_exactly(path, value, error):
    assert error in errors_of(set_in(path, value))


@pytest.mark.parametrize("name", ["switch", "Shell", "lo"])
def test_the_stands_own_names_are_refused_for_hosts_and_networks(name):
    def rename(raw):
        raw["hosts"][name] = raw["hosts"].pop("PgSQL3")
        raw["networks"][name.lower()] = {"prefix": "198.18.9.0/24"}

    errors = errors_of(rename)
    taken = "the name is the stand's own (switch, shell, lo are taken)"
    assert f"hosts.{name}: {taken}" in errors
    assert f"networks.{name.lower()}: {taken}" in errors


def test_a_host_name_with_a_trailing_newline_is_refused():
    def rename(raw):
        raw["hosts"]["PgSQL3\n"] = raw["hosts"].pop("PgSQL3")

    assert "hosts.PgSQL3\n: name must be a letter then up to 7 letters or digits" in errors_of(rename)


def test_balancer_off_the_ospf_network_is_refused():
    def change(raw):
        del raw["hosts"]["PgBAL2"]["interfaces"]["routed"]

    assert "hosts.PgBAL2: announces the anycast address but has no interface on an OSPF network" in errors_of(change)


def test_no_balancer_is_refused():
    def change(raw):
        for name in ("PgBAL1", "PgBAL2", "PgBAL3"):
            del raw["hosts"][name]

    assert "hosts: at least one host must have the role 'balancer'" in errors_of(change)


def test_every_error_is_reported_at_once():
    def change(raw):
        set_in("hosts.PgBAL1.interfaces.base", "198.18.0.300/24")(raw)
        set_in("hosts.PgBAL2.loopback", "198.18.2.94/32")(raw)
        set_in("stand.anycast", "198.18.9.0/32")(raw)
        set_in("shell.router", "Ghost")(raw)

    errors = errors_of(change)
    assert len(errors) == 4, errors
    assert errors == [
        "hosts.PgBAL1.interfaces.base: '198.18.0.300/24' is not an IPv4 address with prefix length",
        "stand.anycast: 198.18.9.0 is outside the loopbacks 198.18.2.0/24",
        "hosts.PgBAL2.loopback: duplicate address 198.18.2.94 (also hosts.PgBAL1.loopback)",
        "shell.router: unknown host 'Ghost'",
    ]


def test_error_message_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(topology.resolve_path("seed").read_text().replace('"198.18.0.94/24"', '"198.18.0.94/33"'))
    with pytest.raises(TopologyError) as caught:
        topology.load(str(bad))
    assert (
        str(caught.value)
        == f"{bad}: hosts.PgBAL1.interfaces.base: '198.18.0.94/33' is not an IPv4 address with prefix length"
    )


def test_missing_file_lists_builtin_topologies():
    with pytest.raises(TopologyError, match="no such file \\(built-in topologies: seed, sites\\)"):
        topology.load("/nonexistent/topology.toml")


def test_not_toml_is_reported(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[stand\nprefix=")
    with pytest.raises(TopologyError, match="not valid TOML"):
        topology.load(str(bad))


def unreadable(tmp_path, kind: str):
    path = tmp_path / "topology.toml"
    if kind == "directory":
        path.mkdir()
    elif kind == "not UTF-8":
        path.write_bytes(b'[stand]\nprefix = "pg\xffab"\n')
    elif kind == "symlink loop":
        path.symlink_to(tmp_path / "topology.toml")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("directory", "is a directory, not a TOML file"),
        ("not UTF-8", "is not UTF-8 text (byte 20), so not a TOML file"),
        ("symlink loop", "cannot be read: Too many levels of symbolic links"),
    ],
)
def test_a_file_that_is_no_toml_text_is_one_line(tmp_path, kind, message):
    path = unreadable(tmp_path, kind)
    with pytest.raises(TopologyError) as caught:
        topology.load(str(path))
    assert str(caught.value) == f"{path}: {message}"


def test_a_wan_network_joins_exactly_two_hosts_with_jitter_below_its_delay():
    def change(raw):
        raw["networks"]["routed"]["delay_ms"] = 5
        raw["networks"]["routed"]["jitter_ms"] = 6
        raw["networks"]["base"]["delay_ms"] = "slow"

    assert errors_of(change) == [
        "networks.base.delay_ms: must be a number of milliseconds from 0 to 1000",
        "networks.routed.jitter_ms: 6 is more than the delay (5 ms)",
        "networks.routed.delay_ms: a delayed (WAN) network joins exactly two hosts, not 5",
    ]


def test_the_sites_topology_loads():
    sites = topology.load("sites")
    assert {h.site for h in sites.hosts} == {"spb", "msk", "ekb"}
    assert {n.name: 2 * n.delay_ms for n in sites.networks if n.delay_ms} == {"spbmsk": 10, "mskekb": 25, "spbekb": 35}


def test_a_stretched_network_must_copy_wan_links_that_join_its_sites_without_a_loop():
    def sites_errors(change) -> list[str]:
        raw = tomllib.loads(topology.resolve_path("sites").read_text())
        change(raw)
        with pytest.raises(TopologyError) as caught:
            topology.parse(raw, "sites.toml")
        return caught.value.errors

    def loop_and_gap(raw):
        raw["networks"]["vip"]["stretched_over"] = ["spbmsk", "spbekb", "mskekb", "spb"]

    assert sites_errors(loop_and_gap) == [
        "networks.vip.stretched_over: 'mskekb' closes a loop (the segment has no spanning tree protocol)",
        "networks.vip.stretched_over: 'spb' is not a WAN link (a network with delay_ms)",
    ]

    def too_short(raw):
        raw["networks"]["vip"]["stretched_over"] = ["spbmsk"]
        raw["stand"]["vip_network"] = "nope"
        raw["hosts"]["CliEkb"]["site"] = "Yekaterinburg"

    assert sites_errors(too_short) == [
        "hosts.CliEkb.site: 'Yekaterinburg' must be 1-6 lower-case letters or digits",
        "networks.vip.stretched_over: does not join the sites ekb, msk, spb",
        "stand.vip_network: unknown network 'nope'",
    ]
