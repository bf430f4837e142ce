"""Where each host's files live: inside the stand's state directory, or at Debian's own paths.

`StandLayout` is what `stand up` uses (every host under one state directory, since all namespaces
share this machine's file system); `DebianLayout` is what `stand render --layout debian` prints, for
people who build the seed on real Debian 12 machines.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE_ROOT = Path("/var/lib/pgpool-anycast-bench")


def state_root() -> Path:
    """Where every stand keeps its state directory (PGAB_STATE_DIR overrides)."""
    return Path(os.environ.get("PGAB_STATE_DIR", DEFAULT_STATE_ROOT))


def state_dir(prefix: str) -> Path:
    """The state directory of the stand with this prefix."""
    return state_root() / prefix


@dataclass(frozen=True)
class HostPaths:
    """Every path one host's daemons use."""

    log_dir: Path
    pg_data: Path
    pg_conf_dir: Path
    pg_socket_dir: Path
    pg_passfile: Path
    pgpool_conf_dir: Path
    pgpool_run_dir: Path
    frr_conf_dir: Path
    frr_run_dir: Path
    agent_dir: Path
    keepalived_dir: Path

    @property
    def pgpool_pid_file(self) -> Path:
        return self.pgpool_run_dir / "pgpool.pid"

    @property
    def agent_config(self) -> Path:
        return self.agent_dir / "agent.json"

    @property
    def agent_status(self) -> Path:
        return self.agent_dir / "status.json"

    @property
    def mirror_status(self) -> Path:
        """The next-hop mirror's changes (JSON lines)."""
        return self.frr_run_dir / "nexthop-mirror.jsonl"

    @property
    def mirror_ready(self) -> Path:
        """Written by the next-hop mirror once it mirrors (its status file's name, ".ready" added)."""
        return self.frr_run_dir / "nexthop-mirror.jsonl.ready"

    @property
    def pinned_rules(self) -> Path:
        """A router's nftables ruleset that pins flows to their balancer (anycast-pinned)."""
        return self.frr_conf_dir / "pinned.nft"

    @property
    def drain_file(self) -> Path:
        return self.agent_dir / "drain"

    @property
    def health_decisions(self) -> Path:
        """Every health decision of this host's agent or keepalived (JSON lines), for `bench run`."""
        return self.log_dir / "health.jsonl"

    @property
    def health_password_file(self) -> Path:
        return self.agent_dir / "password"


@dataclass(frozen=True)
class StandLayout:
    root: Path

    def host(self, name: str) -> HostPaths:
        base = self.root / "hosts" / name
        return HostPaths(
            log_dir=base / "log",
            pg_data=base / "pgdata",
            pg_conf_dir=base / "pgdata",
            pg_socket_dir=base / "run" / "postgresql",
            pg_passfile=base / "postgres" / "pgpass",
            pgpool_conf_dir=base / "pgpool",
            pgpool_run_dir=base / "run" / "pgpool",
            frr_conf_dir=base / "frr",
            frr_run_dir=base / "run" / "frr",
            agent_dir=base / "agent",
            keepalived_dir=base / "keepalived",
        )

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def topology_snapshot(self) -> Path:
        """The topology as `stand up` read it: what the running stand is, whatever its file says since."""
        return self.root / "topology.toml"

    @property
    def client_dir(self) -> Path:
        return self.root / "client"

    @property
    def credentials_file(self) -> Path:
        return self.client_dir / "credentials.json"

    @property
    def client_passfile(self) -> Path:
        return self.client_dir / "pgpass"


@dataclass(frozen=True)
class DebianLayout:
    def host(self, name: str) -> HostPaths:
        return HostPaths(
            log_dir=Path("/var/log/pgab"),
            pg_data=Path("/var/lib/postgresql/15/main"),
            pg_conf_dir=Path("/etc/postgresql/15/main"),
            pg_socket_dir=Path("/var/run/postgresql"),
            pg_passfile=Path("/var/lib/postgresql/.pgpass"),
            pgpool_conf_dir=Path("/etc/pgpool2"),
            pgpool_run_dir=Path("/var/run/postgresql"),
            frr_conf_dir=Path("/etc/frr"),
            frr_run_dir=Path("/var/run/frr"),
            agent_dir=Path("/etc/pgab"),
            keepalived_dir=Path("/etc/keepalived"),
        )
