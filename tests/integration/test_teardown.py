"""Runs last: `stand down` leaves nothing behind, and then every target is refused."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from stand import netns, process, topology
from stand.lifecycle import Stand
from stand.safety import UnsafeTarget, check_target
from stand.state import CorruptState
from tests.integration.conftest import REPO, stand_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def last_stand(stands):
    """Whichever stand the run has up (anycast if none); this test takes it down itself."""
    stand = stands.up(stands.mode or "anycast")
    yield stand
    stands.mode = None


def test_stand_down_leaves_nothing_and_traffic_is_refused(last_stand):
    stand = last_stand
    processes = stand.state_file.read().processes
    assert processes, "the stand recorded no process"
    result = stand_cli("down")
    assert result.returncode == 0, result.stderr
    assert [n for n in stand.plan.namespaces if netns.exists(n)] == []
    assert [p for p in processes if p.is_running()] == []
    assert not netns.link_exists(netns.ROOT, stand.plan.shell_ifname)
    routes = json.loads(subprocess.run(["ip", "-j", "route", "show", "table", "all"], capture_output=True,
                                       text=True, check=True).stdout)  # fmt: skip
    assert [r for r in routes if r.get("dst", "").startswith("198.18.")] == []
    assert not stand.layout.root.exists()
    with pytest.raises(UnsafeTarget, match="refusing to send traffic to 198.18.2.0: no stand is running"):
        check_target("198.18.2.0")
    again = stand_cli("down")
    assert again.returncode == 0
    assert "nothing to do" in again.stdout


@pytest.fixture
def no_stand_up():
    """These tests build stands of their own, after the shared one is gone."""
    seed = Stand.of(topology.load("seed"))
    if seed.state_file.exists():
        pytest.fail("the shared stand is still up: these tests run after test_stand_down_leaves_nothing...")
    return seed


def nothing_left(stand: Stand) -> None:
    assert [n for n in stand.plan.namespaces if netns.exists(n)] == []
    assert not netns.link_exists(netns.ROOT, stand.plan.shell_ifname)
    assert not stand.layout.root.exists()


def test_failed_start_names_host_daemon_and_log_and_leaves_nothing(no_stand_up):
    """PgBAL1's pgpool dies while it starts (killed the moment the state file records it): one line naming
    the host, the daemon and its log; the logs kept; nothing of the stand left."""
    up = subprocess.Popen([sys.executable, "-m", "stand.cli", "up"], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)  # fmt: skip

    def pgpool_started() -> bool:
        try:
            record = no_stand_up.state_file.read().process("PgBAL1", "pgpool")
        except (FileNotFoundError, CorruptState):
            return False
        return record is not None

    try:
        assert process.wait_until(pgpool_started, process.scaled(120), 0.005)
        os.kill(no_stand_up.state_file.read().process("PgBAL1", "pgpool").pid, signal.SIGKILL)
        _, stderr = up.communicate(timeout=300)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 1
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert stderr.startswith("stand: error: PgBAL1: pgpool exited during start-up (log "), stderr
    kept = no_stand_up.layout.root.with_name("pgab-last-failure")
    try:
        assert (kept / "PgBAL1" / "pgpool.log").exists()
    finally:
        shutil.rmtree(kept, ignore_errors=True)
    nothing_left(no_stand_up)


def test_down_works_after_the_up_process_was_killed(no_stand_up):
    up = subprocess.Popen([sys.executable, "-m", "stand.cli", "up"], cwd=REPO, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        def primary_recorded() -> bool:
            state = no_stand_up.state_file
            return state.exists() and state.read().process("PgSQL1", "postgres") is not None

        assert process.wait_until(primary_recorded, process.scaled(120), 0.1), "stand up never started PostgreSQL"
    finally:
        up.kill()
        up.wait()
    recorded = no_stand_up.state_file.read().processes
    assert any(p.is_running() for p in recorded)
    result = stand_cli("down")
    assert result.returncode == 0, result.stderr
    assert [p for p in recorded if p.is_running()] == []
    nothing_left(no_stand_up)


def test_two_stand_ups_at_once_one_is_refused_in_one_line(no_stand_up):
    argv = [sys.executable, "-m", "stand.cli", "up"]
    first, second = (subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(2))  # fmt: skip
    try:
        results = [(p.wait(timeout=300), *p.communicate()) for p in (first, second)]
    finally:
        stand_cli("down")
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    refused = next(err for code, _, err in results if code == 1)
    assert refused.strip().splitlines() == [refused.strip()]
    assert "another command is using this stand" in refused or "is already" in refused, refused
    nothing_left(no_stand_up)


def test_stand_down_with_a_corrupt_state_file_cleans_up_by_prefix(no_stand_up):
    assert stand_cli("up").returncode == 0
    no_stand_up.state_file.path.write_text('{"prefix": "pgab", "namesp')  # cut short, as by a full disk
    up_again = stand_cli("up")
    assert up_again.returncode == 1 and "is corrupt" in up_again.stderr, up_again.stderr
    result = stand_cli("down")
    assert result.returncode == 0, result.stderr
    assert "is corrupt" in result.stdout and "removing what the stand's prefix 'pgab' names instead" in result.stdout
    nothing_left(no_stand_up)
