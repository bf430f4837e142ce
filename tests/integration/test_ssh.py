"""The remote path against the stand's own hosts: an sshd in every namespace (stand up --ssh), reached over
SSH from inside the stand, and the Ansible deployment checked against those hosts (check mode: nothing
changes). Nothing leaves the stand: every client here runs in the shell router's namespace."""

import os
import re
import subprocess
import sys
from pathlib import Path

from stand.model import inventory
from stand.runtime.ssh import PRIVSEP_DIR, ssh_address, ssh_files
from tests.integration.conftest import stand_cli

VENV_BIN = Path(sys.executable).parent


def _inventory(stand, tmp_path) -> inventory.Inventory:
    result = stand_cli("inventory")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "stand-hosts.toml"
    path.write_text(result.stdout)
    return inventory.load(path, stand.plan.topology)


def _in_router(stand, argv: list[str], timeout: float = 600, cwd: Path | None = None, env: dict | None = None):
    """A command in the shell router's namespace (inside the stand), as `stand exec` runs it."""
    router = stand.plan.shell_router
    command = ["ip", "netns", "exec", router.namespace, *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def test_every_host_answers_over_ssh_in_its_own_namespace(stand, tmp_path):
    hosts = _inventory(stand, tmp_path)
    files = ssh_files(stand)
    assert [t.name for t in hosts.hosts] == [h.name for h in stand.plan.hosts]
    for target in hosts.hosts:
        result = _in_router(
            stand,
            [
                "ssh", "-i", str(files.client_key), "-o", f"UserKnownHostsFile={files.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
                f"root@{target.address}", "ip -br -4 addr show",
            ],
            timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, f"{target.name}: {result.stderr}"
        addresses = set(re.findall(r"(\d+\.\d+\.\d+\.\d+)/\d+", result.stdout))
        own = {str(link.address.ip) for link in stand.plan.host(target.name).links} | {str(target.address)}
        assert own <= addresses, f"{target.name} answered from another namespace: {result.stdout}"
    if str(PRIVSEP_DIR) in stand.state_file.read().made_dirs:
        assert PRIVSEP_DIR.is_dir()  # made for sshd, and recorded for `stand down` to remove


def test_a_key_the_stand_did_not_make_is_refused(stand, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30)
    target = ssh_address(stand.plan, stand.plan.host("PgBAL1"))
    result = _in_router(
        stand,
        [
            "ssh", "-i", str(other), "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={ssh_files(stand).known_hosts}",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", f"root@{target}", "true",
        ],
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 255 and "Permission denied" in result.stderr, result.stderr


def test_the_ansible_deployment_checks_clean_against_the_stands_hosts(stand, tmp_path):
    hosts_file = tmp_path / "stand-hosts.toml"
    _inventory(stand, tmp_path)
    out = tmp_path / "deploy"
    rendered = stand_cli("render", "--out", str(out), "--inventory", str(hosts_file))
    assert rendered.returncode == 0, rendered.stderr
    playbook = out / "ansible"
    syntax = subprocess.run(
        [VENV_BIN / "ansible-playbook", "--syntax-check", "site.yml"], cwd=playbook, capture_output=True, text=True
    )
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    files = ssh_files(stand)
    env = {
        **os.environ,
        "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={files.known_hosts} -o StrictHostKeyChecking=yes "
        "-o ControlMaster=auto -o ControlPersist=30s",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
    }
    argv = [str(VENV_BIN / "ansible-playbook"), "site.yml", "--check", "-e", "pgab_systemd=false"]
    argv += ["-e", "ansible_become=false"]  # root already; this machine has no sudo
    result = _in_router(stand, argv, cwd=playbook, env=env)
    recap = result.stdout[result.stdout.find("PLAY RECAP") :]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    for name in [*(h.name for h in stand.plan.hosts), "load1"]:  # the client machine (the router) too
        line = next(line for line in recap.splitlines() if line.startswith(name + " "))
        assert "unreachable=0" in line and "failed=0" in line, line
    assert not Path("/opt/pgab").exists()  # check mode: nothing was installed on this machine
    print(
        f"\n[figure] ansible-playbook --check over SSH against {len(stand.plan.hosts)} stand hosts and a client: 0 failed"
    )
