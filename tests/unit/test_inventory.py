"""The inventory of real machines: a valid file read as typed targets, and every mistake of a bad one
reported at once, each naming its field."""

import ipaddress

import pytest

from stand.model import topology
from stand.model.inventory import InventoryError, load, parse

SEED = topology.load("seed")
HOSTS = [h.name for h in SEED.hosts]


def valid() -> dict:
    return {
        "ssh": {"user": "debian", "key": "~/.ssh/pgab"},
        "hosts": {name: {"address": f"10.20.0.{10 + i}"} for i, name in enumerate(HOSTS)},
        "clients": {"load1": {"address": "10.20.0.50", "user": "locust", "port": 2222}},
    }


def test_a_valid_inventory_maps_every_host_in_the_topologys_order():
    raw = valid()
    raw["hosts"]["pgbal1"] = raw["hosts"].pop("PgBAL1") | {"user": "root"}  # any case; a host's own user wins
    inventory = parse(raw, SEED, "inventory.toml")
    assert [t.name for t in inventory.hosts] == HOSTS
    bal1 = inventory.host("PGBAL1")
    assert (bal1.address, bal1.user, bal1.port, bal1.key) == (
        ipaddress.ip_address("10.20.0.14"),
        "root",
        22,
        "~/.ssh/pgab",
    )
    assert inventory.host("FRR").user == "debian"
    (client,) = inventory.clients
    assert (client.name, client.user, client.port, client.suite) == ("load1", "locust", 2222, "/opt/pgab/suite")
    assert (inventory.platform, inventory.known_hosts) == ("debian", None)
    assert ipaddress.ip_address("10.20.0.50") in inventory.addresses and len(inventory.addresses) == len(HOSTS) + 1


def test_the_platform_known_hosts_and_a_clients_suite_are_read():
    raw = valid() | {"platform": "stand"}
    raw["ssh"]["known_hosts"] = "/var/lib/x/known_hosts"
    raw["clients"]["load1"]["suite"] = "/work/suite"
    inventory = parse(raw, SEED)
    assert (inventory.platform, inventory.known_hosts, inventory.clients[0].suite) == (
        "stand",
        "/var/lib/x/known_hosts",
        "/work/suite",
    )


def test_every_mistake_is_reported_at_once():
    raw = valid()
    raw["colour"] = "blue"
    raw["platform"] = "vms"
    raw["ssh"]["password"] = "no"
    raw["hosts"]["PgBAL1"] = {"address": "db1.example", "port": 0}
    raw["hosts"]["PgBAL2"] = {"address": "10.20.0.10"}  # FRR's
    raw["hosts"]["PgBAL4"] = {"address": "10.20.0.99"}
    raw["hosts"]["PgSQL3"]["user"] = "Root!"
    del raw["hosts"]["PgSQL2"]
    raw["clients"]["PgSQL1"] = {"address": "10.20.0.51"}
    raw["clients"]["load2"] = {"address": "224.0.0.1", "shell": "bash", "suite": "suite"}
    with pytest.raises(InventoryError) as caught:
        parse(raw, SEED, "inventory.toml")
    errors = caught.value.errors
    assert errors == [
        "colour: unknown field (known: platform, ssh, hosts, clients)",
        "platform: 'vms' is not one of debian, stand",
        "ssh.password: unknown field (known: user, port, key, known_hosts)",
        "hosts.PgSQL3.user: 'Root!' is not a user name (lower-case letters, digits, _ and -)",
        "hosts.PgBAL1.address: 'db1.example' is not an IP address (names are not accepted: see the file's docs)",
        "hosts.PgBAL1.port: 0 is not a port (1 to 65535)",
        f"hosts.PgBAL4: not a host of the topology (hosts: {', '.join(HOSTS)})",
        "hosts: missing PgSQL2 (every host of the topology needs its machine)",
        "clients.PgSQL1: PgSQL1 is a host of the topology, not a client machine",
        "clients.load2.shell: unknown field (known: address, user, port, key, suite)",
        "clients.load2.address: 224.0.0.1 cannot be a host's address",
        "clients.load2.suite: must be an absolute path (the suite's checkout on that machine)",
        "PgBAL2: address 10.20.0.10 is FRR's too",
    ]
    assert str(caught.value).splitlines()[0] == (
        "inventory.toml: colour: unknown field (known: platform, ssh, hosts, clients)"
    )


def test_a_missing_or_broken_file_is_one_line(tmp_path):
    with pytest.raises(InventoryError, match="no such file"):
        load(tmp_path / "nothing.toml", SEED)
    broken = tmp_path / "broken.toml"
    broken.write_text("[hosts\n")
    with pytest.raises(InventoryError, match="not valid TOML"):
        load(broken, SEED)
    with pytest.raises(InventoryError, match=r"hosts: missing \(a table per host"):
        parse({}, SEED)
