"""Tab completion (argcomplete) of what both CLIs name: topologies, the topology's hosts, TOML files.

Each completer is a callable as argcomplete calls it (`prefix`, and the arguments parsed so far as
`parsed_args`); `eval "$(register-python-argcomplete bench)"` (and `stand`) turns them on in bash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from stand.model.topology import BUILTIN_DIR, TopologyError, load

Completer = Callable[..., Iterable[str]]


def toml_files(prefix: str) -> list[str]:
    """TOML files and folders that start with `prefix` (a path as typed)."""
    folder, _, start = prefix.rpartition("/")
    base = Path(folder or ".")
    if not base.is_dir():
        return []
    shown = f"{folder}/" if folder else ""
    found = []
    for path in sorted(base.iterdir()):
        if not path.name.startswith(start) or (path.name.startswith(".") and not start.startswith(".")):
            continue
        if path.is_dir():
            found.append(f"{shown}{path.name}/")
        elif path.suffix == ".toml":
            found.append(f"{shown}{path.name}")
    return found


def names_or_files(names: Iterable[str]) -> Completer:
    """A completer of `names` (built-in ones) and of TOML files."""

    def complete(prefix: str, **_: object) -> list[str]:
        return [n for n in names if n.startswith(prefix)] + toml_files(prefix)

    return complete


def topologies(prefix: str, **_: object) -> list[str]:
    """The built-in topologies and TOML files."""
    return names_or_files(sorted(p.stem for p in BUILTIN_DIR.glob("*.toml")))(prefix)


def hosts(role: str | None = None) -> Completer:
    """A completer of the hosts (with `role`, those that have it) of the topology given so far
    (`--topology`, else the seed's), as written, or in lower case after a prefix in lower case (host
    names match without regard to case); none for a broken topology."""

    def complete(prefix: str, parsed_args: object = None, **_: object) -> list[str]:
        try:
            found = load(getattr(parsed_args, "topology", None))
        except TopologyError:
            return []
        chosen = found.hosts if role is None else found.with_role(role)
        names = [h.name.lower() if prefix.islower() else h.name for h in chosen]
        return [name for name in names if name.startswith(prefix)]

    return complete


def choices(names: Iterable[str]) -> Completer:
    """A completer of fixed `names`."""
    listed = list(names)

    def complete(prefix: str, **_: object) -> list[str]:
        return [n for n in listed if n.startswith(prefix)]

    return complete
