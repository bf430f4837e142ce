"""One real stand shared by every integration test of a run (started once, removed at the end)."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stand import topology
from stand.lifecycle import Stand

REPO = Path(__file__).resolve().parents[2]
LOGS_ON_FAILURE = REPO / "test-logs"


def stand_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The `stand` command as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "stand.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


@pytest.fixture(scope="session")
def stand(request):
    if os.geteuid() != 0:
        pytest.skip("the stand needs root: it creates network namespaces and runs daemons as their users")
    seed = Stand.of(topology.load("seed"))
    if seed.state_file.exists():
        if os.environ.get("PGAB_REUSE_STAND") == "1":  # a developer's own stand: use it, leave it up
            yield seed
            return
        pytest.fail(f"a stand is already up at {seed.layout.root}: run `stand down` (or set PGAB_REUSE_STAND=1)")
    started = time.monotonic()
    result = stand_cli("up")
    if result.returncode != 0:
        pytest.fail(f"stand up failed:\n{result.stdout}\n{result.stderr}")
    print(f"\n[stand] up in {time.monotonic() - started:.1f} s")
    try:
        yield seed
    finally:
        if request.session.testsfailed and seed.state_file.exists():
            shutil.rmtree(LOGS_ON_FAILURE, ignore_errors=True)
            shutil.copytree(seed.layout.root / "hosts", LOGS_ON_FAILURE, ignore=shutil.ignore_patterns("pgdata"))
            print(f"\n[stand] logs kept in {LOGS_ON_FAILURE}")
        stand_cli("down")
