"""The code's own rules, run by the test command so that CI holds them: the import contracts of
pyproject.toml (DEVELOPERS.md, "Layers"), ruff's lint and format, and a client that needs no pyroute2."""

import os
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's code, whichever one is installed
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=REPO, env=env, capture_output=True, text=True)


def test_the_import_contracts_hold():
    result = tool("lint-imports", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_nothing():
    result = tool("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted():
    result = tool("ruff", "format", "--no-cache", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_stand_client_imports_in_a_venv_without_pyroute2(tmp_path):
    """What every Locust worker imports to read the running stand: the standard library is enough."""
    venv.create(tmp_path / "bare", with_pip=False)
    python = tmp_path / "bare" / "bin" / "python"
    probe = "import stand.client, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyroute2', 'asyncpg', 'jinja2')))"
    result = subprocess.run(
        [str(python), "-c", probe],
        env={"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
