"""`stand render --inventory`: the deployment on real hosts (each host's packages, files, services and
sysctls; the agent with its unit), an Ansible inventory that says so and a playbook Ansible accepts; and
the inputs it refuses, each with one clear line and nothing written."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from stand import cli
from stand.model import topology
from stand.model.credentials import Credentials
from stand.model.inventory import parse
from stand.model.layout import DebianLayout
from stand.modes import plan_of
from stand.render.ansible import NotDeployable, deployment
from stand.render.configs import render_all

SEED = topology.load("seed")
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def inventory_file(tmp_path: Path, skip: str = "") -> Path:
    lines = ['[ssh]\nuser = "root"\n']
    for i, host in enumerate(SEED.hosts):
        if host.name != skip:
            lines.append(f'[hosts.{host.name}]\naddress = "10.20.0.{10 + i}"\n')
    path = tmp_path / "hosts.toml"
    path.write_text("\n".join(lines))
    return path


def rendered(tmp_path: Path, *options: str) -> tuple[int, str, str]:
    out = tmp_path / "deploy"
    result = subprocess.run(
        [sys.executable, "-m", "stand.cli", "render", "--out", str(out), *options],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def hosts_of(document: dict) -> dict:
    return document["all"]["children"]["stand"]["hosts"]


def test_every_host_gets_its_packages_files_services_and_sysctls(tmp_path):
    code, out, _ = rendered(tmp_path, "--inventory", str(inventory_file(tmp_path)))
    assert code == 0 and "ansible-playbook" in out
    deploy = tmp_path / "deploy"
    text = (deploy / "ansible" / "inventory.yml").read_text()
    hosts = hosts_of(json.loads(text[text.index("{") :]))  # YAML in JSON's syntax, after its comment
    assert list(hosts) == [h.name for h in SEED.hosts]
    bal1, sql2, frr = hosts["PgBAL1"], hosts["PgSQL2"], hosts["FRR"]
    assert (bal1["ansible_host"], bal1["ansible_user"], bal1["ansible_port"]) == ("10.20.0.14", "root", 22)
    assert bal1["pgab_packages"] == ["frr", "pgpool2", "postgresql-client-15", "python3-venv"]
    assert bal1["pgab_services"] == ["frr", "pgpool2", "pgab-agent"] and bal1["pgab_agent"]
    assert sql2["pgab_packages"] == ["postgresql-15"] and sql2["pgab_services"] == ["postgresql@15-main"]
    assert sql2["pgab_frr_daemons"] == [] and frr["pgab_frr_daemons"] == ["bfdd", "ospfd"]
    paths = {f["path"]: f for f in bal1["pgab_files"]}
    assert {"/opt/pgab/agent.py", "/etc/systemd/system/pgab-agent.service", "/etc/sysctl.d/60-pgab.conf"} <= set(paths)
    assert paths["/etc/pgab/agent.json"]["mode"] == "0600" and paths["/opt/pgab/agent.py"]["mode"] == "0755"
    for host, values in hosts.items():  # every listed file was written beside the playbook, every folder made
        for f in values["pgab_files"]:
            assert (deploy / host / f["path"].lstrip("/")).is_file(), f
        assert set(values["pgab_dirs"]) == {str(Path(f["path"]).parent) for f in values["pgab_files"]}
    unit = (deploy / "PgBAL1" / "etc/systemd/system/pgab-agent.service").read_text()
    assert "ExecStart=/opt/pgab/venv/bin/python /opt/pgab/agent.py /etc/pgab/agent.json" in unit
    sysctls = (deploy / "FRR" / "etc/sysctl.d/60-pgab.conf").read_text()
    assert "net.ipv4.ip_forward = 1" in sysctls and "net.ipv4.fib_multipath_hash_policy = 3" in sysctls
    assert "ip_forward" not in (deploy / "PgSQL2" / "etc/sysctl.d/60-pgab.conf").read_text()  # not a router
    agent = (deploy / "PgBAL1" / "opt/pgab/agent.py").read_text()
    assert agent == (Path(cli.__file__).parent / "programs" / "agent.py").read_text()


def test_a_vip_mode_deploys_keepalived_instead_of_the_agent(tmp_path):
    code, _, _ = rendered(tmp_path, "--inventory", str(inventory_file(tmp_path)), "--mode", "keepalived")
    assert code == 0
    text = (tmp_path / "deploy" / "ansible" / "inventory.yml").read_text()
    bal1 = hosts_of(json.loads(text[text.index("{") :]))["PgBAL1"]
    assert "keepalived" in bal1["pgab_packages"] and "pgab-agent" not in bal1["pgab_services"]
    assert not bal1["pgab_agent"]


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-core is a test dependency: ./suite installs it")
def test_the_playbook_passes_ansibles_syntax_check(tmp_path):
    code, _, _ = rendered(tmp_path, "--inventory", str(inventory_file(tmp_path)))
    assert code == 0
    result = subprocess.run(
        [ANSIBLE_PLAYBOOK, "--syntax-check", "site.yml"],
        cwd=tmp_path / "deploy" / "ansible", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--inventory", "MISSING"], "stand: bad inventory:"),
        (["--inventory", "INCOMPLETE"], "hosts: missing PgSQL2 (every host of the topology needs its machine)"),
        (
            ["--inventory", "OK", "--layout", "stand"],
            "stand: error: --inventory deploys real hosts: it takes the Debian",
        ),
        (["--inventory", "OK", "--mode", "anycast-resilient"], "cannot be deployed on real hosts yet"),
        (["--mode", "flying"], "stand: error: unknown mode"),
    ],
)
def test_bad_inputs_are_refused_with_one_line_and_nothing_written(tmp_path, options, message):
    (tmp_path / "incomplete").mkdir()
    files = {
        "MISSING": str(tmp_path / "none.toml"),
        "INCOMPLETE": str(inventory_file(tmp_path / "incomplete", skip="PgSQL2")),
        "OK": str(inventory_file(tmp_path)),
    }
    code, _, err = rendered(tmp_path, *[files.get(o, o) for o in options])
    assert code == 2, err
    assert message in err
    assert not (tmp_path / "deploy").exists()


def test_the_deployment_is_pure_data_of_the_plan():
    plan = plan_of(SEED, "anycast-resilient")
    hosts = parse({"hosts": {h.name: {"address": f"10.0.0.{i + 1}"} for i, h in enumerate(SEED.hosts)}}, SEED)
    with pytest.raises(NotDeployable, match="next-hop mirror"):
        deployment(plan, hosts, render_all(plan, DebianLayout(), Credentials.generate()))


def test_client_machines_get_the_suites_loadgen_in_a_venv_from_one_archive_the_same_every_time(tmp_path):
    import io
    import tarfile

    path = inventory_file(tmp_path)
    path.write_text(path.read_text() + '\n[clients.load1]\naddress = "10.20.0.50"\nsuite = "/srv/pgab"\n')
    plan = plan_of(SEED, "anycast")
    hosts = parse(tomllib.loads(path.read_text()), SEED)
    first = deployment(plan, hosts, render_all(plan, DebianLayout(), Credentials.generate()))
    again = deployment(plan, hosts, render_all(plan, DebianLayout(), Credentials.generate()))
    archive = first.ansible_files["suite.tar.gz"]
    assert archive == again.ansible_files["suite.tar.gz"]  # re-rendered: nothing for Ansible to change
    names = tarfile.open(fileobj=io.BytesIO(archive)).getnames()
    assert {"pyproject.toml", "loadgen/users.py", "loadgen/probe.py", "stand/safety.py", "stand/client.py"} <= set(
        names
    )
    assert not [n for n in names if "programs" in n or n.startswith(("bench/", "reports/", "tests/"))]
    document = json.loads(first.ansible_files["inventory.yml"].split("\n", 1)[1])
    client = document["all"]["children"]["clients"]["hosts"]["load1"]
    assert (client["ansible_host"], client["pgab_suite"]) == ("10.20.0.50", "/srv/pgab")
    playbook = first.ansible_files["site.yml"]
    assert "hosts: clients" in playbook and "ansible.builtin.unarchive" in playbook
    configs = render_all(plan, DebianLayout(), Credentials.generate())
    alone = deployment(plan, parse(tomllib.loads(inventory_file(tmp_path).read_text()), SEED), configs)
    assert "suite.tar.gz" not in alone.ansible_files and "hosts: clients" not in alone.ansible_files["site.yml"]
