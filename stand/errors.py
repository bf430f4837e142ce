"""Errors of input files (topologies, scenarios): every mistake of a file, each as `file: field: reason`."""

import tomllib
from pathlib import Path


class FileErrors(Exception):
    """A file with mistakes; `errors` lists every one of them, `source` names the file."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = errors
        super().__init__("\n".join(f"{source}: {e}" for e in errors))


def read_toml(path: Path, error: type[FileErrors], missing_hint: str) -> dict:
    """A TOML file's document; a missing or malformed file is `error` with one line saying so."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise error(str(path), [f"no such file ({missing_hint})"]) from None
    except tomllib.TOMLDecodeError as e:
        raise error(str(path), [f"not valid TOML: {e}"]) from None
