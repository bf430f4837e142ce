"""Errors of input files (topologies, scenarios): every mistake of a file, each as `file: field: reason`."""


class FileErrors(Exception):
    """A file with mistakes; `errors` lists every one of them, `source` names the file."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = errors
        super().__init__("\n".join(f"{source}: {e}" for e in errors))
