"""Errors of input files (topologies, scenarios): every mistake of a file, each as `file: field: reason`."""

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class FileErrors(Exception):
    """A file with mistakes; `errors` lists every one of them, `source` names the file."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = errors
        super().__init__("\n".join(f"{source}: {e}" for e in errors))


def read_toml(path: Path, error: type[FileErrors], missing_hint: str) -> dict:
    """A TOML file's document; a missing or malformed file is `error` with one line saying so."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(str(path), [f"no such file ({missing_hint})"]) from None
    except IsADirectoryError:
        raise error(str(path), ["is a directory, not a TOML file"]) from None
    except UnicodeDecodeError as e:
        raise error(str(path), [f"is not UTF-8 text (byte {e.start}), so not a TOML file"]) from None
    except OSError as e:  # a symlink loop, no permission, ...
        raise error(str(path), [f"cannot be read: {e.strerror or e}"]) from None
    except tomllib.TOMLDecodeError as e:
        raise error(str(path), [f"not valid TOML: {e}"]) from None


class FieldReader:
    """Reads typed fields out of TOML tables, recording an error for each bad one instead of raising,
    so that a file's every mistake is reported at once. `where` is the field's dotted path."""

    def __init__(self, errors: list[str]):
        self.errors = errors

    def _value(self, parent: dict[str, Any], where: str) -> Any:
        key = where.rsplit(".", 1)[-1]
        if key not in parent:
            self.errors.append(f"{where}: missing")
            return None
        return parent[key]

    def text(self, parent: dict[str, Any], where: str) -> str | None:
        value = self._value(parent, where)
        if value is not None and not isinstance(value, str):
            self.errors.append(f"{where}: must be a string")
            return None
        return value

    def no_unknown_keys(self, table: dict[str, Any], where: str, known: Sequence[str]) -> None:
        """An error for each key of the table not in `known` (listed in the order given)."""
        for key in table:
            if key not in known:
                path = f"{where}.{key}" if where else key
                self.errors.append(f"{path}: unknown field (known: {', '.join(known)})")
