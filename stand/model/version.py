"""The suite's own version: the package's, and the git revision it runs from."""

from __future__ import annotations

import argparse
import subprocess
from importlib import metadata
from pathlib import Path

import argcomplete

from stand.model.completion import topologies

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


TOPOLOGY_HELP = "built-in topology name or TOML file (default: seed); before or after the command"


class _Version(argparse.Action):
    """`--version`, which asks git only when given (not at every start of the command)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the suite's version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog} {suite_version()}")  # on stdout, as argparse's own version action prints
        parser.exit()


def add_common_options(parser: argparse.ArgumentParser, commands: list[argparse.ArgumentParser]) -> None:
    """What both CLIs take: `--version`, and `--topology` before the command or after it (there it wins),
    tab-completed."""
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--topology", "-t", default=None, help=TOPOLOGY_HELP).completer = topologies
    for command in commands:
        command.add_argument("--topology", "-t", default=argparse.SUPPRESS, help=TOPOLOGY_HELP).completer = topologies


def enable_completion(parser: argparse.ArgumentParser) -> None:
    """Answer a shell's tab completion and exit, when the shell asks (argcomplete); else nothing."""
    argcomplete.autocomplete(parser)
