"""Versions of everything a run's results depend on."""

from __future__ import annotations

import platform
import subprocess

from stand.model.version import revision

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
    found["suite"] = revision()
    return found
