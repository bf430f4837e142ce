"""Database accounts of the stand, with passwords generated at `stand up` (or `stand render`)."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

CLIENT_USER = "bench"  # the loadgen, `psql -h 198.18.2.0` and the health agents: SELECT on the benchmark tables
MONITOR_USER = "pgpool"  # pgpool's own health and streaming-replication checks
REPLICATION_USER = "replicator"


@dataclass(frozen=True)
class Credentials:
    client_password: str
    monitor_password: str
    replication_password: str

    @classmethod
    def generate(cls) -> Credentials:
        return cls(*(secrets.token_hex(16) for _ in range(3)))

    @property
    def accounts(self) -> dict[str, str]:
        """User name to password, for pool_passwd and CREATE ROLE."""
        return {
            CLIENT_USER: self.client_password,
            MONITOR_USER: self.monitor_password,
            REPLICATION_USER: self.replication_password,
        }

    def to_json(self) -> str:
        """The credentials file's text (the builder writes it atomically, 0600 from its first byte)."""
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> Credentials:
        return cls(**json.loads(path.read_text()))
