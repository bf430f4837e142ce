"""The suite's own version: the package's, and the git revision it runs from."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "pgpool-anycast-bench"


def revision() -> str:
    """The short git revision of the checkout the suite runs from ("unknown" outside one)."""
    try:
        found = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return "unknown"
    return found.stdout.strip() or "unknown"


def suite_version() -> str:
    """As `--version` prints it: "0.1.0 (git f6eb526)"."""
    try:
        package = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        package = "not installed"
    return f"{package} (git {revision()})"
