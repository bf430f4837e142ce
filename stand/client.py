"""What a client of a running stand needs: where to connect, as whom, and whose address is whose.

The loadgen and the probe read this instead of taking addresses and passwords on the command line.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from stand.linux.state import StateFile
from stand.model import topology
from stand.model.credentials import CLIENT_USER, Credentials
from stand.model.layout import StandLayout, state_dir
from stand.model.plan import namespace_of


class NoStand(RuntimeError):
    """No stand is up to take settings from."""


@dataclass(frozen=True)
class ClientSettings:
    host: str
    port: int
    user: str
    password: str
    database: str
    accounts: int  # rows of pgbench_accounts: keys are 1..accounts
    hosts_by_address: dict[str, str]  # every address of a host to its name
    namespaces: tuple[str, ...] = ()  # the stand's namespaces, for the safety check
    site: str = "main"  # the site of the stand host this process runs in ("main" outside the stand)

    def host_name(self, address: str | None) -> str:
        """The stand's name for an address seen by PostgreSQL (a balancer or a backend)."""
        if address is None:
            return ""
        return self.hosts_by_address.get(address.split("/")[0], address)

    def served_by(self, balancer_address: str | None, backend_address: str | None) -> tuple[str | None, str | None]:
        """The names of the balancer and the backend of an answer, from the addresses the backend saw (its
        client's, its own). A backend that answered at the very address the client connected to had no
        pgpool in front of it: the last resort, which announces the anycast address itself."""
        backend = self.host_name(backend_address) or None
        if backend_address is not None and backend_address == self.host:
            return f"{topology.LAST_RESORT_LABEL} {backend}", backend
        return self.host_name(balancer_address) or None, backend

    @classmethod
    def from_url(cls, url: str) -> ClientSettings:
        """Settings for a server outside any stand (loopback only: see stand.safety)."""
        base = cls(
            host="",
            port=5432,
            user=CLIENT_USER,
            password="",
            database="bench",
            accounts=PGBENCH_ACCOUNTS_PER_SCALE,
            hosts_by_address={},
        )
        return base.with_url(url)

    def with_url(self, url: str) -> ClientSettings:
        """These settings with host, port, user, password and database taken from a postgresql:// URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            raise ValueError(f"--host must be a postgresql://[user[:password]@]host[:port][/database] URL, not {url!r}")
        return ClientSettings(
            host=parts.hostname,
            port=parts.port or self.port,
            user=unquote(parts.username) if parts.username else self.user,
            password=unquote(parts.password) if parts.password else self.password,
            database=parts.path.lstrip("/") or self.database,
            accounts=self.accounts,
            hosts_by_address=self.hosts_by_address,
            namespaces=self.namespaces,
            site=self.site,
        )


PGBENCH_ACCOUNTS_PER_SCALE = 100_000
DEPLOYMENT_FILE = "deployment.json"  # what a client machine of a real deployment is given (bench run --inventory)


@dataclass(frozen=True)
class DeploymentSettings:
    """A client machine's settings on a real deployment, in place of a running stand's: where to connect
    and as whom, and the addresses the runner found on the inventory's hosts before the load (the only
    ones the load may go to: stand.safety.check_deployment_target). Written 0600 by the runner."""

    settings: ClientSettings
    allowed: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps({"settings": asdict(self.settings), "allowed": list(self.allowed)}, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> DeploymentSettings:
        try:
            raw = json.loads(Path(path).read_text())
            fields = raw["settings"]
            settings = ClientSettings(**{**fields, "namespaces": tuple(fields.get("namespaces", ()))})
            return cls(settings, tuple(raw["allowed"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a deployment settings file ({type(e).__name__}: {e})") from None


def from_running_stand(prefix: str = "pgab") -> ClientSettings:
    """Settings of the running stand with this prefix; NoStand if it is not up."""
    layout = StandLayout(state_dir(prefix))
    state_file = StateFile(layout.state_file)
    if not state_file.exists():
        raise NoStand(f"no stand is up (nothing at {layout.root}): run `stand up` first")
    state = state_file.read()
    t = topology.running_topology(layout.topology_snapshot, state.topology)
    return ClientSettings(
        host=str(t.anycast.ip),
        port=t.pgpool.port,
        user=CLIENT_USER,
        password=Credentials.load(layout.credentials_file).client_password,
        database=t.postgres.database,
        accounts=t.postgres.scale * PGBENCH_ACCOUNTS_PER_SCALE,
        hosts_by_address=hosts_by_address(t),
        namespaces=tuple(state.namespaces),
        site=_site_here(t),
    )


def hosts_by_address(t: topology.Topology) -> dict[str, str]:
    """Every address of the topology's hosts to the host's name (the anycast address: the last resort's)."""
    addresses = {str(i.address.ip): h.name for h in t.hosts for i in h.interfaces}
    addresses |= {str(h.loopback.ip): h.name for h in t.hosts}
    addresses |= {str(t.anycast.ip): h.name for h in t.hosts if h.has("last-resort")}
    return addresses


def deployment_settings(t: topology.Topology, password: str) -> ClientSettings:
    """A real deployment's client settings: its anycast address (or VIP), the bench account."""
    return ClientSettings(
        host=str(t.anycast.ip),
        port=t.pgpool.port,
        user=CLIENT_USER,
        password=password,
        database=t.postgres.database,
        accounts=t.postgres.scale * PGBENCH_ACCOUNTS_PER_SCALE,
        hosts_by_address=hosts_by_address(t),
    )


def _site_here(t: topology.Topology) -> str:
    """The site of the stand host whose network namespace this process is in; "main" elsewhere."""
    here = os.stat("/proc/self/ns/net").st_ino
    for host in t.hosts:
        try:
            if os.stat(f"/run/netns/{namespace_of(t, host)}").st_ino == here:
                return host.site
        except FileNotFoundError:
            continue
    return "main"


def resolve(url: str | None, stand_prefix: str = "pgab") -> ClientSettings:
    """The running stand's anycast address and credentials; a postgresql:// URL overrides parts of them."""
    try:
        settings = from_running_stand(stand_prefix)
    except NoStand:
        if not url:
            raise
        return ClientSettings.from_url(url)
    return settings.with_url(url) if url else settings
