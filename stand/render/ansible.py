"""A deployment of the plan on real Debian 12 hosts: beside every host's config files, what those hosts
need more than the stand's namespaces (their sysctls as a sysctl.d file, the health agent as a program
and a systemd unit), and an Ansible inventory and playbook that install it all, idempotently
(docs/real-hosts.md). Templates only print what Python computed here.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import jinja2

from stand.model.daemons import DaemonKind
from stand.model.inventory import Inventory, SshTarget
from stand.model.plan import HostPlan, Plan
from stand.render.configs import TEMPLATES, RenderedFile

SUITE = Path(__file__).resolve().parents[2]
AGENT_PROGRAM = SUITE / "stand" / "programs" / "agent.py"  # copied, never imported
# What a client machine needs of the suite for Locust's workers and the probe (the loadgen and what it
# imports), copied by the playbook to the client's `suite` folder and installed in a venv there.
SUITE_ARCHIVE = "suite.tar.gz"
CLIENT_SUITE = ("pyproject.toml", "loadgen/*.py", "stand/*.py", "stand/*/*.py", "stand/topologies/*.toml")
AGENT_DIR = PurePosixPath("/opt/pgab")
AGENT_VENV = AGENT_DIR / "venv"
AGENT_REQUIREMENTS = ["asyncpg>=0.29", "pyroute2>=0.9"]  # what the agent imports beside the standard library
SYSCTL_FILE = PurePosixPath("/etc/sysctl.d/60-pgab.conf")
AGENT_UNIT = "pgab-agent"
FRR_DAEMONS = ("bfdd", "ospfd")  # Debian's /etc/frr/daemons starts zebra (and staticd) by default
# Per daemon the stand runs: the Debian packages and the systemd services of a real host.
PACKAGES = {
    DaemonKind.ZEBRA: ("frr",),
    DaemonKind.POSTGRES: ("postgresql-15",),
    DaemonKind.PGPOOL: ("pgpool2", "postgresql-client-15"),
    DaemonKind.AGENT: ("python3-venv",),
    DaemonKind.KEEPALIVED: ("keepalived",),
}
SERVICES = {
    DaemonKind.ZEBRA: "frr",
    DaemonKind.POSTGRES: "postgresql@15-main",
    DaemonKind.PGPOOL: "pgpool2",
    DaemonKind.AGENT: AGENT_UNIT,
    DaemonKind.KEEPALIVED: "keepalived",
}
UNDEPLOYABLE = {DaemonKind.NEXTHOP_MIRROR: "the anycast-resilient design's next-hop mirror"}


ANSIBLE_CFG = """# Read by ansible-playbook run from this folder.
[defaults]
inventory = inventory.yml
forks = 10

[ssh_connection]
# modules go over the SSH session itself, not as files copied first: a round trip less per task
pipelining = True
"""


class NotDeployable(ValueError):
    """A design whose parts have no form for real hosts yet."""


@dataclass(frozen=True)
class Deployment:
    """The deployment's own files: extra files of the hosts (under OUT/HOST/...), and ansible/'s."""

    host_files: list[RenderedFile]
    ansible_files: dict[str, str | bytes]  # name under OUT/ansible -> content (the suite's archive: bytes)


def _environment() -> jinja2.Environment:
    """Templates of files that have `{{ }}` of their own (Ansible's): `<< >>` marks what Python fills in."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        variable_start_string="<<",
        variable_end_string=">>",
        block_start_string="<%",
        block_end_string="%>",
        keep_trailing_newline=True,
        autoescape=False,
    )


def _host_files(env: jinja2.Environment, plan: Plan, host: HostPlan, configs: list[RenderedFile]) -> list[RenderedFile]:
    sysctls = "".join(f"{key} = {value}\n" for key, value in sorted(host.sysctls.items()))
    files = [RenderedFile(host.name, Path(SYSCTL_FILE), f"# {host.name}, by pgpool-anycast-bench\n{sysctls}", "root")]
    if host.runs(DaemonKind.AGENT):
        config = next(f.path for f in configs if f.host == host.name and f.path.name == "agent.json")
        program = AGENT_DIR / "agent.py"
        unit = env.get_template("pgab-agent.service.j2").render(
            host=host.name, anycast=plan.topology.anycast.ip, python=AGENT_VENV / "bin" / "python", program=program,
            config=config,
        )  # fmt: skip
        files += [
            RenderedFile(host.name, Path(program), AGENT_PROGRAM.read_text(encoding="utf-8"), "root", 0o755),
            RenderedFile(host.name, Path(f"/etc/systemd/system/{AGENT_UNIT}.service"), unit, "root"),
        ]
    return files


def _host_vars(host: HostPlan, files: list[RenderedFile]) -> dict:
    kinds = [kind for kind in host.daemons if kind in PACKAGES]
    own = [f for f in files if f.host == host.name]
    return {
        "pgab_packages": sorted({package for kind in kinds for package in PACKAGES[kind]}),
        "pgab_services": [SERVICES[kind] for kind in kinds],
        "pgab_frr_daemons": list(FRR_DAEMONS) if host.runs_frr else [],
        "pgab_agent": host.runs(DaemonKind.AGENT),
        "pgab_dirs": sorted({str(f.path.parent) for f in own}),
        "pgab_files": [{"path": str(f.path), "owner": f.owner, "mode": f"{f.mode:04o}"} for f in own],
    }


def deployment(plan: Plan, inventory: Inventory, configs: list[RenderedFile]) -> Deployment:
    """The hosts' extra files, and ansible/inventory.yml (YAML in JSON's syntax) and ansible/site.yml, for the
    inventory's machines; `configs`: render_all's files of the plan, in the Debian layout."""
    for host in plan.hosts:
        for kind, what in UNDEPLOYABLE.items():
            if host.runs(kind):
                raise NotDeployable(f"{plan.mode} mode cannot be deployed on real hosts yet: {what} has no form there")
    env = _environment()
    extra = [f for host in plan.hosts for f in _host_files(env, plan, host, configs)]
    every_file = [*configs, *extra]
    groups: dict[str, dict] = {}
    for host in plan.hosts:
        host_vars = {**_connection(inventory.host(host.name)), **_host_vars(host, every_file)}
        for role in host.host.roles:
            groups.setdefault(role.replace("-", "_"), {"hosts": {}})["hosts"][host.name] = {}
        groups.setdefault("stand", {"hosts": {}})["hosts"][host.name] = host_vars
    if inventory.clients:
        groups["clients"] = {
            "hosts": {client.name: {**_connection(client), "pgab_suite": client.suite} for client in inventory.clients}
        }
    document = {"all": {"vars": {"ansible_python_interpreter": "/usr/bin/python3"}, "children": groups}}
    summary = f"{len(plan.hosts)} hosts, {len(every_file)} files" + (
        f", {len(inventory.clients)} client machines" if inventory.clients else ""
    )
    playbook = env.get_template("site.yml.j2").render(
        summary=summary, mode=plan.mode, agent_requirements=AGENT_REQUIREMENTS, agent_venv=str(AGENT_VENV),
        sysctl_file=str(SYSCTL_FILE), clients=bool(inventory.clients), suite_archive=SUITE_ARCHIVE,
    )  # fmt: skip
    ansible_files = {
        "inventory.yml": "# Ansible inventory by pgpool-anycast-bench (YAML, in JSON's syntax)\n"
        + json.dumps(document, indent=2)
        + "\n",
        "site.yml": playbook,
        "ansible.cfg": ANSIBLE_CFG,
    }
    if inventory.clients:
        ansible_files[SUITE_ARCHIVE] = client_suite()
    return Deployment(extra, ansible_files)


def _connection(target: SshTarget) -> dict:
    """How Ansible reaches a machine of the inventory."""
    return {
        "ansible_host": str(target.address),
        "ansible_user": target.user,
        "ansible_port": target.port,
        **({"ansible_ssh_private_key_file": target.key} if target.key else {}),
    }


def client_suite() -> bytes:
    """The suite's files a client machine needs (CLIENT_SUITE) as a gzipped tar, the same bytes for the same
    files (sorted, no times, no owners): the playbook unpacks it on every client machine."""
    found = {path for pattern in CLIENT_SUITE for path in SUITE.glob(pattern)}
    files = sorted(path for path in found if "programs" not in path.relative_to(SUITE).parts)  # run on the hosts
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        for path in files:
            data = path.read_bytes()
            member = tarfile.TarInfo(str(path.relative_to(SUITE)))
            member.size, member.mode, member.mtime = len(data), 0o644, 0
            tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()
