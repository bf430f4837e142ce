"""`stand up --ssh`: an sshd in every host's namespace, so that the remote path (Ansible, the SSH fault
runner) can be exercised against the stand as against real machines (docs/real-hosts.md).

As real hosts should, every host gets a management address, off the topology's networks: a bridge of its
own in the switch namespace (`mgmt`), a link `mgmt0` in every host, on the highest /24 of 198.19.0.0/16
that the topology does not use. SSH goes over it, so a fault that takes a host's links down (node-crash,
link-cut) leaves the session it came by; OSPF does not run there (no network statement covers it).

Keys are generated at `stand up` in the state directory: one host key for every sshd, one client key
that every sshd authorizes for root, and a known_hosts file of every host's address. Nothing leaves
the stand: the sshds listen inside their namespaces only, and the clients run inside the stand (the
shell router's namespace, `stand exec`), where every host's address is routed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

from stand.linux import netns, process
from stand.linux.files import write_atomically
from stand.linux.process import ProcessRecord
from stand.model.plan import HostPlan, Plan
from stand.runtime.daemons import Daemon
from stand.runtime.handle import Progress, Stand, StandError

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = Path("/usr/bin/ssh-keygen")
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it (systemd makes it at boot; there is none here)
SSH_PORT = 22
MANAGEMENT_SPACE = IPv4Network("198.19.0.0/16")
MANAGEMENT_BRIDGE = "mgmt"  # in the switch namespace
MANAGEMENT_IFNAME = "mgmt0"  # in every host
SUITE = Path(__file__).resolve().parents[2]  # this checkout: every stand host sees this machine's files


@dataclass(frozen=True)
class SshFiles:
    """Where a stand's SSH keys and config are (under its state directory)."""

    root: Path

    @property
    def host_key(self) -> Path:
        return self.root / "ssh_host_ed25519_key"

    @property
    def client_key(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.root / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def config(self) -> Path:
        return self.root / "sshd_config"


def ssh_files(stand: Stand) -> SshFiles:
    return SshFiles(stand.layout.root / "ssh")


def management_network(plan: Plan) -> IPv4Network:
    """The stand's management network: the highest /24 of 198.19.0.0/16 that no prefix of the topology overlaps."""
    t = plan.topology
    used = [*(net.prefix for net in t.networks), t.loopbacks, t.shell.prefix, t.anycast.network]
    for candidate in reversed(list(MANAGEMENT_SPACE.subnets(new_prefix=24))):
        if not any(candidate.overlaps(prefix) for prefix in used):
            return candidate
    raise StandError(f"no /24 of {MANAGEMENT_SPACE} is free of the topology's prefixes for the management network")


def management_address(plan: Plan, host: HostPlan) -> IPv4Interface:
    network = management_network(plan)
    return IPv4Interface(f"{network[10 + plan.hosts.index(host)]}/{network.prefixlen}")


def ssh_address(plan: Plan, host: HostPlan) -> str:
    """Where SSH reaches a host from inside the stand: its management address."""
    return str(management_address(plan, host).ip)


def add_management_network(plan: Plan) -> None:
    """The management bridge in the switch namespace, and every host's link to it with its address."""
    switch = plan.switch_namespace
    netns.add_bridge(switch, MANAGEMENT_BRIDGE)
    for host in plan.hosts:
        port = f"mgmt-{host.name.lower()}"
        netns.add_veth(switch, port, host.namespace, MANAGEMENT_IFNAME)
        netns.attach_to_bridge(switch, port, MANAGEMENT_BRIDGE)
        netns.add_address(host.namespace, MANAGEMENT_IFNAME, management_address(plan, host))


@dataclass
class Sshd(Daemon):
    """OpenSSH's server in one host's namespace, on the stand's keys, for root with the stand's client key."""

    name: str = "sshd"
    config: Path = Path()

    def argv(self) -> list[str]:
        return [str(SSHD), "-D", "-e", "-f", str(self.config), "-o", f"PidFile={self.pid_file}"]

    @property
    def pid_file(self) -> Path:
        return self.paths.log_dir.parent / "run" / "sshd.pid"

    def pid_files(self) -> list[Path]:
        return [self.pid_file]

    def start(self, state_file) -> ProcessRecord:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        return super().start(state_file)

    def is_ready(self) -> bool:
        return self.pid_file.exists()


SSHD_CONFIG = """# sshd of the stand's hosts (stand up --ssh): root with the stand's key only
ListenAddress 0.0.0.0
Port {port}
HostKey {host_key}
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
StrictModes no
Subsystem sftp {sftp}
"""


def start_ssh(stand: Stand, progress: Progress) -> None:
    """Keys, known hosts and an sshd in every host; waits until each has started."""
    for program in (SSHD, SSH_KEYGEN, SFTP_SERVER):
        if not program.exists():
            raise StandError(f"--ssh needs {program}: install the Debian package openssh-server")
    add_management_network(stand.plan)
    files = ssh_files(stand)
    files.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for key in (files.host_key, files.client_key):
        comment = f"pgab stand {stand.plan.topology.prefix}"
        process.run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)], timeout=30)
    write_atomically(files.authorized_keys, files.client_key.with_suffix(".pub").read_text(), mode=0o600)
    host_public = files.host_key.with_suffix(".pub").read_text().split()[:2]
    addresses = [ssh_address(stand.plan, h) for h in stand.plan.hosts]
    addresses += [str(h.host.loopback.ip) for h in load_clients(stand.plan)]
    lines = [f"{address} {' '.join(host_public)}\n" for address in addresses]
    write_atomically(files.known_hosts, "".join(lines), mode=0o644)
    config = SSHD_CONFIG.format(
        port=SSH_PORT, host_key=files.host_key, authorized_keys=files.authorized_keys, sftp=SFTP_SERVER
    )
    write_atomically(files.config, config, mode=0o600)
    if not PRIVSEP_DIR.exists():
        PRIVSEP_DIR.mkdir(mode=0o755)
        with stand.state_file.change() as state:
            state.made_dirs.append(str(PRIVSEP_DIR))
    daemons = [Sshd(host, stand.layout.host(host.name), config=files.config) for host in stand.plan.hosts]
    records = [(daemon, daemon.start(stand.state_file)) for daemon in daemons]
    for daemon, record in records:
        daemon.wait_ready(record)
    network = management_network(stand.plan)
    progress(
        f"sshd on {len(daemons)} hosts, on the management network {network}; key {files.client_key}, "
        f"known hosts {files.known_hosts}"
    )


def load_clients(plan: Plan) -> list[HostPlan]:
    """The stand hosts Locust's workers run on over SSH: the client hosts of their own (the sites
    topology's), else the hosts that are clients too (the seed's router)."""
    own = [h for h in plan.hosts if h.host.has("client") and not h.host.has("router")]
    return own or [h for h in plan.hosts if h.host.has("client")]


def inventory_toml(stand: Stand) -> str:
    """An inventory (stand.model.inventory) of the stand's own hosts over SSH, for the remote path: every
    host at its address inside the stand, and its client hosts as client machines, at their loopback
    (an address of their own: the inventory names a machine once)."""
    files = ssh_files(stand)
    lines = [
        f"# The stand's hosts over SSH (stand up --ssh), prefix {stand.plan.topology.prefix}: reachable from",
        "# inside the stand only (run the clients with `stand exec ROUTER -- ...`).",
        'platform = "stand"',
        "",
        "[ssh]",
        'user = "root"',
        f"port = {SSH_PORT}",
        f'key = "{files.client_key}"',
        f'known_hosts = "{files.known_hosts}"',
    ]
    for host in stand.plan.hosts:
        lines += ["", f"[hosts.{host.name}]", f'address = "{ssh_address(stand.plan, host)}"']
    for number, host in enumerate(load_clients(stand.plan), 1):
        lines += [
            "",
            f"[clients.load{number}]  # {host.name}",
            f'address = "{host.host.loopback.ip}"',
            f'suite = "{SUITE}"',
        ]
    return "\n".join(lines) + "\n"


def ssh_ready(stand: Stand) -> bool:
    """Whether this stand was started with --ssh (its keys exist)."""
    return os.path.exists(ssh_files(stand).client_key)
