"""What the machine must have before a stand can be built or removed: root, Debian's programs and accounts."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from stand.model.layout import state_root
from stand.model.system import IP, KEEPALIVED, NFT, PG_BIN, SS
from stand.runtime.handle import StandError

REQUIRED_PROGRAMS = {
    "postgresql-15": [PG_BIN / "initdb", PG_BIN / "postgres", PG_BIN / "pg_basebackup", Path("/usr/bin/pgbench")],
    "pgpool2": [Path("/usr/sbin/pgpool"), Path("/usr/sbin/pcp_node_count")],
    "frr": [Path("/usr/lib/frr/zebra"), Path("/usr/lib/frr/ospfd"), Path("/usr/lib/frr/bfdd"), Path("/usr/bin/vtysh")],
    "postgresql-client": [Path("/usr/bin/psql")],
    "keepalived": [Path(KEEPALIVED)],
    "iproute2": [Path(IP), Path(SS)],
    "nftables": [Path(NFT)],
}
REQUIRED_ACCOUNTS = ("postgres", "frr")


def check_prerequisites() -> None:
    """Root, and every program and account the stand needs; one line naming what is missing."""
    if os.geteuid() != 0:
        raise StandError("the stand needs root (it creates network namespaces): run it as root")
    for package, programs in REQUIRED_PROGRAMS.items():
        for program in programs:
            if not program.exists():
                raise StandError(f"missing {program}: install the Debian package {package}")
    for account in REQUIRED_ACCOUNTS:
        try:
            pwd.getpwnam(account)
        except KeyError:
            raise StandError(f"missing system account {account!r}: install its Debian package") from None
    root = state_root()
    if root.exists():
        owner = root.stat()
        if owner.st_uid != 0 or owner.st_mode & 0o022:
            raise StandError(
                f"the state directory {root} (PGAB_STATE_DIR) must be owned by root and writable by "
                f"nobody else (it is uid {owner.st_uid}, mode {owner.st_mode & 0o777:o})"
            )
