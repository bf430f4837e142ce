"""The `bench` command. Scenarios and `bench compare` build on the stand (see the issues);
today it reports the versions a run's results must carry."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VERSION_COMMANDS = {
    "postgresql": ["/usr/lib/postgresql/15/bin/postgres", "--version"],
    "pgpool-II": ["/usr/sbin/pgpool", "--version"],
    "frr": ["/usr/lib/frr/zebra", "--version"],
    "keepalived": ["/usr/sbin/keepalived", "--version"],
}


def versions() -> dict[str, str]:
    """The first line each component prints of its version, the kernel, and the suite's git revision."""
    found = {}
    for name, argv in VERSION_COMMANDS.items():
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            found[name] = (result.stdout or result.stderr).strip().splitlines()[0]
        except (FileNotFoundError, IndexError):
            found[name] = "not installed"
    found["kernel"] = platform.release()
    revision = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    found["suite"] = revision.stdout.strip() or "unknown"
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description="Benchmarks of anycast pgpool-II balancers.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("versions", help="versions of PostgreSQL, pgpool-II, FRR, keepalived, kernel and the suite")
    p.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    found = versions()
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for name, version in found.items():
            print(f"{name:<11} {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
