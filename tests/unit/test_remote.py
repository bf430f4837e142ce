"""The remote path without machines: the fault commands of each platform and what they refuse, the clock
offset on samples whose answer is known, the deployment's safety check, and the SSH sessions' refusal of
the stand's range outside a running stand (nothing is sent: the check comes before any socket)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bench.results import RunMeta
from stand.client import DeploymentSettings, deployment_settings
from stand.faults.remote import DebianHosts, RemoteFaultError, StandHosts
from stand.faults.sessions import Sessions, clock_offset
from stand.model import topology
from stand.model.inventory import parse
from stand.modes import plan_of
from stand.safety import UnsafeTarget, check_deployment_target

SEED = topology.load("seed")
PLAN = plan_of(SEED, "anycast")
VIP_PLAN = plan_of(SEED, "keepalived")


def inventory(platform: str = "debian", addresses: dict[str, str] | None = None):
    addresses = addresses or {h.name: f"10.20.0.{10 + i}" for i, h in enumerate(SEED.hosts)}
    raw = {
        "platform": platform,
        "hosts": {name: {"address": address} for name, address in addresses.items()},
        "clients": {"load1": {"address": "10.20.0.50"}},
    }
    return parse(raw, SEED, "hosts.toml")


@pytest.fixture
def no_stand(tmp_path, monkeypatch):
    monkeypatch.setenv("PGAB_STATE_DIR", str(tmp_path))


def test_debian_service_faults_are_systemd_units_killed_then_stopped_and_started_again():
    hosts = DebianHosts(PLAN, inventory())
    bal1 = PLAN.host("PgBAL1")
    kill = hosts.command("pgpool-kill", "fault", bal1, {})
    assert kill == "systemctl kill --signal=SIGKILL --kill-whom=all pgpool2; systemctl stop pgpool2"
    assert hosts.command("pgpool-kill", "undo", bal1, {}) == "systemctl start pgpool2"
    assert hosts.command("frr-kill", "fault", bal1, {}).startswith(
        "systemctl kill --signal=SIGKILL --kill-whom=all frr"
    )
    sql2 = PLAN.host("PgSQL2")
    assert "postgresql@15-main" in hosts.command("backend-kill", "fault", sql2, {})
    freeze = hosts.command("node-freeze", "fault", bal1, {})
    assert "--signal=SIGSTOP" in freeze and "pgpool2" in freeze and "pgab-agent" in freeze and "sshd" not in freeze


def test_debian_link_faults_find_the_interface_by_its_address_and_spare_the_ssh_one():
    hosts = DebianHosts(PLAN, inventory())
    bal1 = PLAN.host("PgBAL1")
    cut = hosts.command("link-cut", "fault", bal1, {"network": "routed"})
    assert "ip -o -4 addr show to 198.18.1.94/32" in cut and 'ip link set dev "$dev" down' in cut
    assert "ip -o -4 addr show to 10.20.0.14/32" in cut  # the SSH address's interface is refused at run time
    crash = hosts.command("node-crash", "fault", bal1, {})
    assert "198.18.0.94/32" in crash and "198.18.1.94/32" in crash
    netem = hosts.command("link-netem", "fault", bal1, {"network": "routed", "delay_ms": 20.0})
    assert 'tc qdisc replace dev "$dev" root netem delay 20ms loss 0%' in netem
    assert 'tc qdisc del dev "$dev" root' in hosts.command("link-netem", "undo", bal1, {"network": "routed"})
    with pytest.raises(RemoteFaultError, match="no link on network 'wan'"):
        hosts.command("link-cut", "fault", bal1, {"network": "wan"})


def test_debian_drain_is_the_agents_drain_file_or_keepalived_stopping():
    bal1 = PLAN.host("PgBAL1")
    assert DebianHosts(PLAN, inventory()).command("drain", "fault", bal1, {}) == "touch /etc/pgab/drain"
    vip = DebianHosts(VIP_PLAN, inventory())
    assert vip.command("drain", "fault", VIP_PLAN.host("PgBAL1"), {}) == "systemctl stop keepalived"


def test_the_stand_platform_runs_the_hosts_own_stand_fault_and_refuses_what_cuts_its_session():
    from stand.runtime.ssh import ssh_address

    managed = {h.name: ssh_address(PLAN, h) for h in PLAN.hosts}  # stand inventory's: the management network
    assert {a.rsplit(".", 1)[0] for a in managed.values()} == {"198.19.255"}
    hosts = StandHosts(PLAN, inventory("stand", managed), "/suite/.venv/bin/python")
    bal1 = PLAN.host("PgBAL1")
    undo = hosts.command("link-netem", "undo", bal1, {"network": "routed"})
    assert undo.startswith("/suite/.venv/bin/python -m stand.cli fault link-netem PgBAL1 --topology ")
    assert undo.endswith("--undo --network=routed")
    for fault, params in (("node-crash", {}), ("link-cut", {"network": "base"}), ("pgpool-kill", {})):
        hosts.command(fault, "fault", bal1, params)  # SSH comes in off the topology's networks: played
    with pytest.raises(RemoteFaultError, match="every process of the host stops, its sshd too"):
        hosts.command("node-freeze", "fault", bal1, {})

    on_data = {h.name: str(h.links[0].address.ip) for h in PLAN.hosts}  # an inventory reaching them on base
    hosts = StandHosts(PLAN, inventory("stand", on_data), "/suite/.venv/bin/python")
    hosts.command("link-cut", "fault", bal1, {"network": "routed"})
    for fault, params, reason in (
        ("node-crash", {}, "its base link that SSH comes in by too"),
        ("link-cut", {"network": "base"}, "its base link goes down, the one SSH comes in by"),
    ):
        with pytest.raises(RemoteFaultError, match=reason):
            hosts.command(fault, "fault", bal1, params)


def test_the_clock_offset_is_read_at_the_shortest_round_trip():
    """Remote clock 5 ms ahead; the second sample's round trip (2 ms) is the shortest, the others asymmetric."""
    ms = 1_000_000
    samples = [
        (0, 5 * ms + 9 * ms, 10 * ms),  # 10 ms round trip, answered late
        (100 * ms, 100 * ms + 5 * ms + 1 * ms, 102 * ms),  # 2 ms: read at its middle, 5 ms ahead
        (200 * ms, 200 * ms + 5 * ms, 208 * ms),
    ]
    sample = clock_offset("load1", samples)
    assert (sample.offset_ms, sample.rtt_ms, sample.uncertainty_ms, sample.samples) == (5.0, 2.0, 1.0, 3)


def test_a_runs_clock_spread_is_its_widest_offset_and_its_uncertainty():
    meta = RunMeta.from_json(
        '{"mode": "anycast", "scenario": {}, "started_us": 0, "ended_us": 1, "interrupted": false, '
        '"versions": {}, "topology": "seed", "settings": {}, '
        '"clocks": {"FRR": {"offset_ms": -0.5, "rtt_ms": 1.0}, "load1": {"offset_ms": 12.0, "rtt_ms": 4.0}}}'
    )
    assert meta.clock_spread_ms == 14.0
    assert RunMeta.from_json(meta.to_json().replace('"clocks"', '"old"')).clock_spread_ms == 0.0


def test_the_deployment_settings_file_round_trips(tmp_path):
    given = DeploymentSettings(deployment_settings(SEED, "secret"), ("198.18.2.0",))
    path = tmp_path / "deployment.json"
    path.write_text(given.to_json())
    assert DeploymentSettings.load(path) == given
    assert given.settings.host == "198.18.2.0" and given.settings.host_name("198.18.0.94") == "PgBAL1"
    path.write_text("{}")
    with pytest.raises(ValueError, match="not a deployment settings file"):
        DeploymentSettings.load(path)


def test_a_deployments_target_must_be_one_the_runner_checked(no_stand):
    with pytest.raises(UnsafeTarget, match="not an address of the deployment"):
        check_deployment_target("198.18.2.1", ("198.18.2.0",))


def test_a_deployments_target_reached_only_by_the_default_route_is_refused(no_stand):
    """This machine is not on that deployment's networks: its route to 198.19.200.1 is the default one, out
    (no stand routes it either)."""
    with pytest.raises(UnsafeTarget, match="only the default route leads there"):
        check_deployment_target("198.19.200.1", ("198.19.200.1",))


def test_ssh_to_the_stands_range_is_refused_outside_a_running_stand_before_any_socket(no_stand, monkeypatch):
    opened = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: opened.append(address))
    addresses = {h.name: str(h.links[0].address.ip) for h in PLAN.hosts}
    with Sessions(inventory("stand", addresses)) as sessions:
        refused = "FRR: SSH to root@198.18.0.90:22: refusing to send traffic to 198.18.0.90: no stand is running"
        with pytest.raises(UnsafeTarget, match=refused):
            sessions.open()
    assert opened == []


def test_compare_on_real_hosts_needs_every_modes_machines(tmp_path, capsys):
    from bench import cli

    hosts = tmp_path / "hosts.toml"
    hosts.write_text(
        "\n".join(f'[hosts.{h.name}]\naddress = "10.20.0.{10 + i}"' for i, h in enumerate(SEED.hosts))
        + '\n[clients.load1]\naddress = "10.20.0.50"\n'
    )
    for inventories, error in (
        ([f"anycast={hosts}"], "--inventory: every mode needs its machines: keepalived=FILE is missing"),
        ([str(hosts)], f"--inventory {hosts}: give MODE=FILE (each mode is deployed on machines of its own)"),
        ([f"watchdog={hosts}"], f"--inventory watchdog={hosts}: watchdog is not one of the modes compared"),
    ):
        options = [item for i in inventories for item in ("--inventory", i)]
        code = cli.main(["compare", "anycast", "keepalived", "--scenario", "smoke", *options])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith(f"bench: error: {error}") and len(err.splitlines()) == 1, err


def test_a_scenario_with_a_share_of_the_capacity_is_refused_on_real_hosts_before_anything_starts(tmp_path):
    from bench.remote import Deployment
    from bench.scenario import load
    from stand.runtime.handle import StandError

    deployment = Deployment(PLAN, inventory())
    with pytest.raises(StandError, match="its rate is a share of the capacity, which is calibrated on the stand only"):
        deployment.check(load("balancer-crash"))
    deployment.check(load("smoke"))  # closed loop, node-crash: Debian hosts keep SSH on a management address


def test_a_comparison_on_real_hosts_plays_each_mode_on_its_own_deployment(monkeypatch, tmp_path):
    import shutil

    from bench import compare as comparing
    from bench import remote
    from bench.scenario import load

    today = Path(__file__).parent / "data" / "run-anycast" / "meta.json"
    played = []

    def play(self, scenario, out, progress, repetition=1, attempt=1):
        played.append((self.plan.mode, self.inventory.source, repetition))
        shutil.copy(today, out / "meta.json")
        return out

    monkeypatch.setattr(remote.Deployment, "play", play)
    monkeypatch.setattr(comparing, "ensure_stand", lambda *a: pytest.fail("no stand on real hosts"))
    deployments = {
        "anycast": remote.Deployment(PLAN, inventory()),
        "keepalived": remote.Deployment(VIP_PLAN, inventory()),
    }
    comparing.compare(
        ["anycast", "keepalived"], [load("smoke")], tmp_path, lambda m: None, repeat=2, deployments=deployments
    )
    assert played == [
        ("anycast", "hosts.toml", 1),
        ("keepalived", "hosts.toml", 1),
        ("keepalived", "hosts.toml", 2),
        ("anycast", "hosts.toml", 2),
    ]
