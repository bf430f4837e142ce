"""Golden files: the seed topology in, every host's config files out (both layouts).

After an intended change, regenerate with `UPDATE_GOLDEN=1 ./suite test tests/unit/test_render.py`
and review the diff.
"""

import os
import re
from pathlib import Path

import pytest

from stand.model import topology
from stand.model.credentials import Credentials
from stand.model.layout import DebianLayout, StandLayout
from stand.modes import plan_of
from stand.render.configs import render_all

GOLDEN = Path(__file__).parent.parent / "golden"
CREDENTIALS = Credentials("client-secret", "monitor-secret", "replication-secret")
LAYOUTS = {
    "stand": StandLayout(Path("/var/lib/pgpool-anycast-bench/pgab")),
    "debian": DebianLayout(),
}


# golden folder: (topology, layout); the three sites in the stand's layout, as `stand up` writes them
GOLDEN_SETS = {"stand": ("seed", "stand"), "debian": ("seed", "debian"), "sites": ("sites", "stand")}


def rendered(golden_set: str) -> dict[Path, str]:
    topology_name, layout_name = GOLDEN_SETS[golden_set]
    files = render_all(plan_of(topology.load(topology_name)), LAYOUTS[layout_name], CREDENTIALS)
    return {Path(golden_set) / f.host / f.path.relative_to("/"): f.content for f in files}


@pytest.mark.parametrize("golden_set", GOLDEN_SETS)
def test_rendered_files_match_golden(golden_set):
    files = rendered(golden_set)
    if os.environ.get("UPDATE_GOLDEN"):
        for relative, content in files.items():
            (GOLDEN / relative).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / relative).write_text(content)
    expected = {p.relative_to(GOLDEN): p.read_text() for p in (GOLDEN / golden_set).rglob("*") if p.is_file()}
    assert sorted(files) == sorted(expected)
    for relative, content in files.items():
        assert content == expected[relative], f"{relative} differs from its golden file"


KEEPALIVED_FILES = ("keepalived.conf", "check_pgpool.sh", "notify.sh")


@pytest.mark.parametrize("mode", ["keepalived", "keepalived-tuned"])
def test_keepalived_files_match_golden(mode):
    """PgBAL1's keepalived config, track script and notify script, in the stand's layout."""
    files = render_all(plan_of(topology.load("seed"), mode), LAYOUTS["stand"], CREDENTIALS)
    chosen = {f.path.name: f.content for f in files if f.host == "PgBAL1" and f.path.name in KEEPALIVED_FILES}
    assert sorted(chosen) == sorted(KEEPALIVED_FILES)
    for name, content in chosen.items():
        golden = GOLDEN / "keepalived" / mode / name
        if os.environ.get("UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(content)
        assert content == golden.read_text(), f"{mode} {name} differs from its golden file"


def test_every_value_a_generated_script_gets_is_quoted():
    """A state directory with a space and a quote in its path still gives scripts that run as written."""
    odd = StandLayout(Path("/var/lib/pgab it's here"))
    files = render_all(plan_of(topology.load("seed"), "keepalived"), odd, CREDENTIALS)
    check = next(f.content for f in files if f.host == "PgBAL1" and f.path.name == "check_pgpool.sh")
    assert "PGPASSFILE='/var/lib/pgab it'\"'\"'s here/hosts/PgBAL1/keepalived/pgpass'" in check


def test_every_ospf_host_announces_its_loopback_and_balancers_the_anycast():
    files = rendered("stand")
    for host in ("FRR", "PgSQL1", "PgBAL1", "PgBAL2", "PgBAL3"):
        ospfd = next(c for p, c in files.items() if p.parts[1] == host and p.name == "ospfd.conf")
        assert f"network {topology.load().host(host).loopback.network} area 0.0.0.0" in ospfd
        announces = host.startswith("PgBAL") or host == "PgSQL1"
        assert ("network 198.18.2.0/32 area 0.0.0.0" in ospfd) == announces


def test_last_resort_costs_more_than_a_balancer():
    files = rendered("stand")

    def loopback_cost(host: str) -> int:
        ospfd = next(c for p, c in files.items() if p.parts[1] == host and p.name == "ospfd.conf")
        lo = ospfd.split("interface lo\n", 1)[1]
        return int(lo.split("ip ospf cost ", 1)[1].split()[0])

    assert loopback_cost("PgSQL1") > loopback_cost("PgBAL1") == loopback_cost("PgBAL2")


def test_no_trust_authentication_anywhere():
    for relative, content in rendered("stand").items():
        if relative.name in ("pg_hba.conf", "pool_hba.conf"):
            assert "trust" not in content
            assert "0.0.0.0/0" not in content


def test_watchdog_mode_moves_the_vip_with_pgpool_itself():
    """Each balancer's pgpool runs its watchdog with the same peer list, its own node id, and
    commands that put the VIP on the router's segment; no agent, no keepalived, no OSPF anycast."""
    files = render_all(plan_of(topology.load("seed"), "watchdog"), LAYOUTS["stand"], CREDENTIALS)
    by_name = {(f.host, f.path.name): f.content for f in files}
    assert [by_name[(b, "pgpool_node_id")] for b in ("PgBAL1", "PgBAL2", "PgBAL3")] == ["0\n", "1\n", "2\n"]
    conf = by_name[("PgBAL2", "pgpool.conf")]
    for line in [
        "use_watchdog = on",
        "hostname0 = '198.18.1.94'",
        "hostname2 = '198.18.1.96'",
        "heartbeat_hostname1 = '198.18.1.95'",
        "wd_priority = 140",
        "delegate_IP = '198.18.2.0'",
        "if_up_cmd = '/usr/sbin/ip addr add $_IP_$/32 dev routed'",
        "if_down_cmd = '/usr/sbin/ip addr del $_IP_$/32 dev routed'",
        "arping_cmd = '/usr/bin/arping -U $_IP_$ -w 1 -I routed'",
        "wd_heartbeat_deadtime = 30",
    ]:
        assert line in conf.splitlines()
    names = {name for _, name in by_name}
    assert not names & {"keepalived.conf", "agent.json"}
    assert "198.18.2.0" not in by_name[("PgBAL2", "ospfd.conf")]


PGPOOL_SAMPLE = Path("/usr/share/doc/pgpool2/examples/pgpool.conf.sample")  # Debian's pgpool2, every setting


@pytest.mark.skipif(not PGPOOL_SAMPLE.exists(), reason="needs Debian's pgpool2 package (its sample configuration)")
@pytest.mark.parametrize("mode", ["anycast", "watchdog"])
def test_every_pgpool_setting_is_one_the_installed_pgpool_knows(mode):
    """pgpool-II ignores a setting it does not know (4.3 calls the socket directory `socket_dir`; a later
    name left every pgpool on the shared default, /var/run/postgresql)."""
    known = {
        re.sub(r"\d+$", "", m.group(1)).lower()
        for m in re.finditer(r"^#?\s*([A-Za-z_]+\d*)\s*=", PGPOOL_SAMPLE.read_text(), re.MULTILINE)
    }
    files = render_all(plan_of(topology.load("seed"), mode), LAYOUTS["stand"], CREDENTIALS)
    conf = next(f.content for f in files if f.path.name == "pgpool.conf")
    used = {re.sub(r"\d+$", "", m.group(1)).lower() for m in re.finditer(r"^([A-Za-z_]+\d*)\s*=", conf, re.MULTILINE)}
    assert used - known == set()
    assert "socket_dir" in used


def test_in_the_watchdog_mode_pgpool_reads_only_files_of_roots():
    """pgpool runs as root there (it brings the VIP up): no file it reads may be postgres's to change."""
    files = render_all(plan_of(topology.load("seed"), "watchdog"), LAYOUTS["stand"], CREDENTIALS)
    pgpool_files = [f for f in files if "pgpool" in f.path.parts and f.host == "PgBAL1"]
    assert pgpool_files and {f.owner for f in pgpool_files} == {"root"}
    anycast = render_all(plan_of(topology.load("seed")), LAYOUTS["stand"], CREDENTIALS)
    assert {f.owner for f in anycast if "pgpool" in f.path.parts} == {"postgres"}


@pytest.mark.parametrize(("topology_name", "router"), [("seed", "FRR"), ("sites", "RtMsk")])
def test_the_pinned_design_pins_each_own_balancer_by_a_mark_and_nft_takes_the_rules(topology_name, router, tmp_path):
    """Each router maps its own site's balancers to marks 1, 2, 3; `nft --check` accepts the ruleset (in a
    namespace of its own: the check itself changes nothing)."""
    import subprocess

    plan = plan_of(topology.load(topology_name), "anycast-pinned")
    files = render_all(plan, LAYOUTS["stand"], CREDENTIALS)
    every = [f for f in files if f.path.name == "pinned.nft"]
    assert sorted(f.host for f in every) == sorted(r.name for r in plan.routers)  # every router, nothing else
    (rules,) = [f for f in every if f.host == router]
    hops = plan.anycast_next_hops_of(plan.host(router))
    assert len(hops) >= 1
    assert "elements = { " + ", ".join(f"{hop} : {mark}" for mark, hop in enumerate(hops, 1)) + " }" in rules.content
    assert [p.table for p in plan.pins_of(plan.host(router))] == [301 + i for i in range(len(hops))]
    (tmp_path / "pinned.nft").write_text(rules.content)
    checked = subprocess.run(
        ["unshare", "-n", "nft", "--check", "-f", str(tmp_path / "pinned.nft")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert not [
        f
        for f in render_all(plan_of(topology.load(topology_name)), LAYOUTS["stand"], CREDENTIALS)
        if f.path.name == "pinned.nft"
    ]
