"""Debian 12's programs that the stand runs, and the fixed ports of its daemons."""

from __future__ import annotations

from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
FRR_BIN = Path("/usr/lib/frr")
PGPOOL = Path("/usr/sbin/pgpool")
PSQL = "/usr/bin/psql"
KEEPALIVED = "/usr/sbin/keepalived"
IP = "/usr/sbin/ip"
ARPING = "/usr/bin/arping"
NFT = "/usr/sbin/nft"
SS = "/usr/bin/ss"

POSTGRES_PORT = 5432
PCP_PORT = 9898  # pgpool's default; its socket is in the balancer's pgpool run directory
