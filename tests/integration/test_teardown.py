"""Runs last: `stand down` leaves nothing behind, and then every target is refused."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from stand.linux import netns, process
from stand.linux.state import CorruptState
from stand.model import topology
from stand.modes import open_stand
from stand.runtime.handle import Stand
from stand.safety import UnsafeTarget, check_target
from tests.integration.conftest import REPO, shared_memory_of_the_stands_users, stand_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def last_stand(stands):
    """Whichever stand the run has up (anycast if none); this test takes it down itself."""
    stand = stands.up(stands.mode or "anycast")
    yield stand
    stands.mode = None


def test_stand_down_leaves_nothing_and_traffic_is_refused(last_stand, stands):
    stand = last_stand
    processes = stand.state_file.read().processes
    assert processes, "the stand recorded no process"
    result = stand_cli("down")
    assert result.returncode == 0, result.stderr
    assert [n for n in stand.plan.namespaces if netns.exists(n)] == []
    assert [p for p in processes if p.is_running()] == []
    assert not netns.link_exists(netns.ROOT, stand.plan.shell_ifname)
    routes = json.loads(
        subprocess.run(["ip", "-j", "route", "show", "table", "all"], capture_output=True, text=True, check=True).stdout
    )
    assert [r for r in routes if r.get("dst", "").startswith("198.18.")] == []
    assert not stand.layout.root.exists()
    # every pgpool and PostgreSQL this run killed (faults, teardown) took its shared memory with it
    assert shared_memory_of_the_stands_users() - stands.shared_memory_before == set()
    with pytest.raises(UnsafeTarget, match="refusing to send traffic to 198.18.2.0: no stand is running"):
        check_target("198.18.2.0")
    again = stand_cli("down")
    assert again.returncode == 0
    assert "nothing to do" in again.stdout


@pytest.fixture
def no_stand_up():
    """These tests build stands of their own, after the shared one is gone."""
    seed = open_stand(topology.load("seed"))
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
    up = subprocess.Popen(
        [sys.executable, "-m", "stand.cli", "up"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

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
    up = subprocess.Popen(
        [sys.executable, "-m", "stand.cli", "up"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
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
    first, second = (
        subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    )
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


GUARD_TABLE = "pgab_leak_guard"


@contextlib.contextmanager
def leak_guard(shell_link: str):
    """This test's own safety net, in place before any load starts and removed whatever happens: an nftables
    rule on this machine's output hook that counts and drops every packet for 198.18.0.0/15 leaving by a
    device other than the stand's shell link. Yields a function that reads the count."""
    rules = f"""table inet {GUARD_TABLE} {{
        chain out {{
            type filter hook output priority -300; policy accept;
            ip daddr 198.18.0.0/15 oifname != "{shell_link}" counter drop
        }}
    }}"""
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)

    def dropped() -> int:
        listing = subprocess.run(
            ["nft", "-j", "list", "table", "inet", GUARD_TABLE], capture_output=True, text=True, check=True
        ).stdout
        counters = [
            e["counter"]["packets"]
            for item in json.loads(listing)["nftables"]
            if "rule" in item
            for e in item["rule"]["expr"]
            if "counter" in e
        ]
        return sum(counters)

    try:
        yield dropped
    finally:
        subprocess.run(["nft", "delete", "table", "inet", GUARD_TABLE], check=False)


def start_shell_load(out) -> list[subprocess.Popen]:
    """Locust users (a new connection for each query) and the probe, from this machine's shell."""
    locust = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(REPO / "loadgen" / "select.py"),
        "--headless",
        "-u",
        "4",
        "-r",
        "4",
        "-t",
        "60s",
        "--pg-mode",
        "per-query",
        "--pg-records",
        str(out / "records"),
    ]
    probe = [
        sys.executable,
        "-m",
        "loadgen.probe",
        "--duration",
        "60",
        "--interval-ms",
        "50",
        "--out",
        str(out / "probe"),
    ]
    return [  # their output kept beside the records: why one stopped by itself, if it did
        subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for argv, log in ((locust, open(out / "locust.log", "w")), (probe, open(out / "probe.log", "w")))
    ]


def test_load_from_the_shell_sends_nothing_out_when_the_stand_goes_away(no_stand_up, tmp_path):
    """`stand down` from another shell under a running load: every later connect of the loadgen and the
    probe fails at once (their sockets are bound to the shell link, which is gone), nothing leaves."""
    with leak_guard(no_stand_up.plan.shell_ifname) as dropped:
        assert stand_cli("up").returncode == 0
        load = start_shell_load(tmp_path)
        try:
            records = lambda: list(tmp_path.glob("probe/*.arrows")) and list(tmp_path.glob("records/*.arrows"))  # noqa: E731
            assert process.wait_until(records, process.scaled(60), 0.2), "the load never recorded anything"
            assert stand_cli("down").returncode == 0
            time.sleep(6)  # the load goes on trying: 4 users and a probe every 50 ms
            assert [p.poll() for p in load] == [None, None], (
                "the load stopped by itself: nothing was tried\n" + (tmp_path / "probe.log").read_text()[-3000:]
            )
        finally:
            for proc in load:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            stand_cli("down")
        assert dropped() == 0
    nothing_left(no_stand_up)


def test_a_killed_bench_leaves_its_load_to_stand_down_and_nothing_leaves(no_stand_up, tmp_path):
    """SIGKILL of `bench run` mid-run: its Locust and probe go on, recorded in the state file; `stand down`
    stops them before it removes anything, and no packet leaves meanwhile."""
    with leak_guard(no_stand_up.plan.shell_ifname) as dropped:
        bench = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.cli",
                "run",
                "--mode",
                "anycast",
                "--scenario",
                "smoke",
                "--results",
                str(tmp_path),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(bench.stdout), daemon=True)
        reader.start()
        try:
            fault = lambda: any(" fault node-crash PgBAL1" in line for line in lines)  # noqa: E731
            assert process.wait_until(fault, process.scaled(180), 0.05), "".join(lines)
            bench.kill()
            bench.wait()
            load = [p for p in no_stand_up.state_file.read().processes if p.daemon in ("locust", "probe")]
            assert [p.daemon for p in load] == ["locust", "probe"] and all(p.is_running() for p in load)
            result = stand_cli("down")
            assert result.returncode == 0, result.stderr
            assert [p for p in load if p.is_running()] == []
        finally:
            if bench.poll() is None:
                bench.kill()
            stand_cli("down")
        assert dropped() == 0
    nothing_left(no_stand_up)
