"""The loadgen against the real stand: Locust headless in each connection mode, --processes,
master and worker, the wrong-answer check, and the fixed-rate probe.

All traffic goes to 198.18.2.0 through the route the stand installed (checked by the loadgen itself).
"""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from loadgen.records import OK, WRONG_ANSWER, read_records
from stand.runtime.daemons import psql_local
from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration

LOCUSTFILE = str(REPO / "loadgen" / "select.py")
BALANCERS = {"PgBAL1", "PgBAL2", "PgBAL3"}


def locust(tmp_path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        LOCUSTFILE,
        "--headless",
        "--only-summary",
        "--csv",
        str(tmp_path / "locust"),
        "--json-file",
        str(tmp_path / "locust"),
        "--pg-records",
        str(tmp_path / "records"),
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


def locust_totals(tmp_path) -> tuple[int, int]:
    """Request and failure counts of Locust's final statistics (its CSV rows may miss the last requests)."""
    entries = json.loads((tmp_path / "locust.json").read_text())
    return sum(e["num_requests"] for e in entries), sum(e["num_failures"] for e in entries)


@pytest.mark.parametrize("protocol", ["extended", "simple"])
@pytest.mark.parametrize("mode", ["persistent", "per-query"])
def test_headless_run_records_every_request(stand, tmp_path, mode, protocol):
    result = locust(tmp_path, "-u", "6", "-r", "6", "-t", "4s", "--pg-mode", mode, "--pg-protocol", protocol)
    assert result.returncode == 0, result.stderr[-2000:]
    requests, failures = locust_totals(tmp_path)
    records = read_records(tmp_path / "records")
    assert requests > 0
    assert failures == 0
    assert len(records) == requests
    assert set(records.outcome) == {OK}
    assert set(records["mode"]) == {mode} and set(records["protocol"]) == {protocol}
    assert set(records.backend) <= {"PgSQL1", "PgSQL2", "PgSQL3"} and records.backend.notna().all()
    if mode == "per-query":
        assert records.new_connection.all()
        assert set(records.balancer) == BALANCERS
    else:
        assert records.connection.nunique() == 6
        assert records.new_connection.sum() == 6


def test_processes_each_record_their_own_requests(stand, tmp_path):
    result = locust(tmp_path, "-u", "4", "-r", "4", "-t", "4s", "--processes", "2", "--tags", "point")
    assert result.returncode == 0, result.stderr[-2000:]
    requests, failures = locust_totals(tmp_path)
    records = read_records(tmp_path / "records")
    assert failures == 0
    assert len(records) == requests
    assert records.process.nunique() == 2
    assert set(records.workload) == {"point"}


def test_master_and_worker(stand, tmp_path):
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            LOCUSTFILE,
            "--worker",
            "--master-port",
            "5599",
            "--pg-records",
            str(tmp_path / "records"),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = locust(
            tmp_path,
            "--master",
            "--master-bind-port",
            "5599",
            "--expect-workers",
            "1",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "4s",
            "--pg-site",
            "msk",
        )
        assert result.returncode == 0, result.stderr[-2000:]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    requests, failures = locust_totals(tmp_path)
    records = read_records(tmp_path / "records")
    assert failures == 0
    assert len(records) == requests > 0
    assert set(records.site) == {"msk"}  # the master's option reached the worker


@pytest.fixture
def corrupted_account_one(stand):
    """Account 1 moved to the wrong branch on the primary, and back afterwards (replicated both ways)."""
    paths = {h.name: stand.layout.host(h.name) for h in stand.plan.postgres_hosts}

    def set_bid(bid: int) -> None:
        psql_local(paths["PgSQL1"], f"UPDATE pgbench_accounts SET bid = {bid} WHERE aid = 1", "bench")
        deadline = time.monotonic() + 30
        while any(
            psql_local(p, "SELECT bid FROM pgbench_accounts WHERE aid = 1", "bench") != str(bid) for p in paths.values()
        ):
            assert time.monotonic() < deadline, "the update did not reach every replica"
            time.sleep(0.1)

    set_bid(2)
    try:
        yield
    finally:
        set_bid(1)


@pytest.mark.parametrize(
    ("protocol", "message"),
    [
        ("extended", "asked for aid 1 (bid 1), got aid 1 bid 2"),
        ("simple", "asked for aid 1 (bid 1), got 'SELECT 0', expected 'SELECT 1'"),
    ],
)
def test_a_wrong_answer_is_a_failure_of_its_own(stand, tmp_path, corrupted_account_one, protocol, message):
    result = locust(
        tmp_path, "-u", "2", "-r", "2", "-t", "3s", "--pg-keys", "1-1", "--tags", "point", "--pg-protocol", protocol
    )
    requests, failures = locust_totals(tmp_path)
    records = read_records(tmp_path / "records")
    assert requests > 0
    assert failures == requests
    assert set(records.outcome) == {WRONG_ANSWER}
    assert records.error_text.iloc[0] == message
    assert "WrongAnswer" in (tmp_path / "locust_failures.csv").read_text()
    assert result.returncode == 1  # Locust's exit code when any request failed


def test_the_probe_probes_every_path_at_its_period_each_from_ports_that_reach_its_balancer(stand, tmp_path):
    """Per-path probing on the real stand: the ports found for each balancer reach it, every probe of a path
    (each a new connection) is served by that path's balancer, and every path gets a probe every 60 ms."""
    result = subprocess.run(
        [sys.executable, "-m", "loadgen.probe", "--duration", "3", "--interval-ms", "60", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    records = read_records(tmp_path, "probe")
    assert len(records) == 150  # 3 s at 20 ms: three paths at 60 ms each
    assert set(records.outcome) == {OK}
    assert records.new_connection.all()
    assert records.connection.nunique() == 150
    assert records.groupby("path").size().to_dict() == {b: 50 for b in BALANCERS}
    assert (records.balancer == records.path).all()
    for path, rows in records.groupby("path"):
        assert rows.scheduled_us.sort_values().diff().dropna().eq(60_000).all(), path
    assert "150 probes" in result.stdout and all(f"{b} 50" in result.stdout for b in BALANCERS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_web_ui_run(stand, tmp_path):
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        LOCUSTFILE,
        "--web-host",
        "127.0.0.1",
        "--web-port",
        str(port),
        "--autostart",
        "--autoquit",
        "3",
        "-u",
        "3",
        "-r",
        "3",
        "-t",
        "4s",
        "--pg-records",
        str(tmp_path / "records"),
    ]
    ui = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        stats = None
        deadline = time.monotonic() + 60
        while stats is None or "point" not in {row["name"] for row in stats.get("stats", [])}:
            assert time.monotonic() < deadline, "the web UI never showed requests"
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=5) as response:
                    stats = json.load(response)
            except OSError:
                continue
        assert ui.wait(timeout=60) == 0, ui.stderr.read()[-2000:]
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait()
    assert len(read_records(tmp_path / "records")) > 0
