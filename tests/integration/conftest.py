"""Real stands shared by the integration tests of a run: one started once, switched to another mode
only when a test asks for it, and removed at the end."""

import os
import pwd
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from bench.cli import INVALID_RUN
from bench.compare import last_attempts
from bench.results import complete_runs
from reports.run_summary import RunSummary, summarize_run
from stand.linux import process
from stand.model import topology
from stand.modes import open_stand, running
from stand.runtime import build, readiness
from stand.runtime.handle import Stand

REPO = Path(__file__).resolve().parents[2]
LOGS_ON_FAILURE = REPO / "test-logs"


def stand_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The `stand` command as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "stand.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def bench_run_scenario(tmp_path: Path, scenario_text: str, *options: str) -> Path:
    """`bench run OPTIONS` of a scenario given as TOML text, which must succeed; its (last attempt's)
    results directory."""
    (tmp_path / "scenario.toml").write_text(scenario_text)
    argv = [sys.executable, "-m", "bench.cli", "run", *options, "--scenario", str(tmp_path / "scenario.toml")]
    result = subprocess.run(
        [*argv, "--results", str(tmp_path / "results")], capture_output=True, text=True, timeout=900, cwd=tmp_path
    )
    (last,) = measured(result, tmp_path / "results")
    return Path(last.directory)


def measured(result: subprocess.CompletedProcess, results: Path) -> list[RunSummary]:
    """The last attempt of every run in `results` after a `bench run` or `bench compare` that must have
    succeeded: exit 0; or 3 with every invalid last attempt invalid for the machine's reasons alone (this
    shared host's steal or other guests' load, through the run played again once already: not the
    suite's failure, and warned about so that it shows in the test summary)."""
    output = result.stdout[-4000:] + result.stderr[-4000:]
    last = last_attempts([summarize_run(d) for d in complete_runs(results)])
    assert last, f"no complete run in {results}: {output}"
    invalid = [s for s in last if not s.validity.valid]
    if result.returncode == INVALID_RUN and invalid and all(s.validity.by_the_machine for s in invalid):
        reasons = "; ".join(f"{Path(s.directory).name}: {', '.join(s.validity.reasons)}" for s in invalid)
        warnings.warn(f"the machine made runs invalid, twice over (figures still checked): {reasons}", stacklevel=2)
    else:
        assert result.returncode == 0, output
    return last


def pytest_collection_modifyitems(items):
    """Anycast tests first, then keepalived, watchdog, anycast-resilient and anycast-pinned ones (one mode switch
    each), the comparison (its own stands), the sites topology (its own stand), then the teardown tests."""
    by_file = {"test_teardown.py": 7, "test_sites.py": 6, "test_compare.py": 5}
    by_fixture = {"pinned_stand": 4, "resilient_stand": 3, "watchdog_stand": 2, "keepalived_stand": 1}

    def order(item) -> int:
        if item.fspath.basename in by_file:
            return by_file[item.fspath.basename]
        fixtures = getattr(item, "fixturenames", ())
        return next((rank for fixture, rank in by_fixture.items() if fixture in fixtures), 0)

    items.sort(key=order)


def shared_memory_of_the_stands_users() -> set[str]:
    """System V segments of this machine's IPC namespace, and the POSIX ones PostgreSQL's user has in /dev/shm
    (a browser's own come and go there)."""
    rows = [line.split() for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]]
    postgres = pwd.getpwnam("postgres").pw_uid
    posix = [p for p in Path("/dev/shm").iterdir() if p.stat().st_uid == postgres]
    return {f"System V segment {row[1]} ({row[3]} bytes, by PID {row[6]})" for row in rows} | {str(p) for p in posix}


class Stands:
    """At most one stand up at a time, in the mode the current test wants."""

    def __init__(self, request):
        self.request = request
        self.mode: str | None = None
        self.reused = False
        self.shared_memory_before = shared_memory_of_the_stands_users()  # before any stand of this run

    def up(self, mode: str) -> Stand:
        seed = open_stand(topology.load("seed"), mode)
        if self.mode == mode:
            return seed
        if self.mode is None and seed.state_file.exists():
            if os.environ.get("PGAB_REUSE_STAND") == "1" and running(seed).plan.mode == mode:
                self.mode, self.reused = mode, True  # a developer's own stand: use it, leave it up
                return seed
            pytest.fail(f"a stand is already up at {seed.layout.root}: run `stand down` (or set PGAB_REUSE_STAND=1)")
        self.down()
        started = time.monotonic()
        result = stand_cli("up", "--mode", mode, "--ssh")  # an sshd in every host: the remote path's tests
        if result.returncode != 0:
            pytest.fail(f"stand up --mode {mode} failed:\n{result.stdout}\n{result.stderr}")
        print(f"\n[stand] up in {mode} mode in {time.monotonic() - started:.1f} s")
        self.mode = mode
        return seed

    def down(self) -> None:
        if self.mode is None or self.reused:
            return
        seed = open_stand(topology.load("seed"), self.mode)
        if self.request.session.testsfailed and seed.state_file.exists():
            build.keep_logs(seed, LOGS_ON_FAILURE)
            print(f"\n[stand] logs kept in {LOGS_ON_FAILURE}")
        stand_cli("down")
        self.mode = None


def queries_through_anycast(stand: Stand, sql: str, count: int, host: str = "FRR") -> list[str]:
    """`count` new connections from a host through the anycast address, one query each (as the seed's
    check does); one line per answer (columns separated by a space), `FAILED: psql's error` for a failed one."""
    script = (
        f"for i in $(seq {count}); do psql -h 198.18.2.0 -XAt -F ' ' -c '{sql}' 2>/tmp/pgab-psql-$$ "
        f"|| echo \"FAILED: $(tr '\\n' ' ' </tmp/pgab-psql-$$)\"; done; rm -f /tmp/pgab-psql-$$"
    )
    env = {**os.environ, **readiness.client_env(stand)}
    result = process.run(["bash", "-c", script], namespace=stand.plan.host(host).namespace, env=env, timeout=120)
    return result.stdout.split("\n")[:-1]


def failures(answers: list[str]) -> list[str]:
    return [answer for answer in answers if answer.startswith("FAILED")]


def served_by(stand: Stand, count: int = 12) -> set[str]:
    """Balancers (base addresses, as the backends see them) serving `count` new connections."""
    return set(queries_through_anycast(stand, "select host(inet_client_addr())", count))


@pytest.fixture(scope="session")
def stands(request):
    if os.geteuid() != 0:
        pytest.skip("the stand needs root: it creates network namespaces and runs daemons as their users")
    manager = Stands(request)
    try:
        yield manager
    finally:
        manager.down()


@pytest.fixture
def stand(stands) -> Stand:
    """The seed's stand in anycast mode."""
    return stands.up("anycast")


@pytest.fixture
def keepalived_stand(stands) -> Stand:
    """The seed's stand in keepalived mode (VRRP VIP)."""
    return stands.up("keepalived")


@pytest.fixture
def watchdog_stand(stands) -> Stand:
    """The seed's stand in watchdog mode (pgpool's watchdog moves the VIP)."""
    return stands.up("watchdog")


@pytest.fixture
def resilient_stand(stands) -> Stand:
    """The seed's stand in anycast-resilient mode (resilient nexthop groups on the router)."""
    return stands.up("anycast-resilient")


@pytest.fixture
def pinned_stand(stands) -> Stand:
    """The seed's stand in anycast-pinned mode (flows pinned to their balancer by the router's conntrack)."""
    return stands.up("anycast-pinned")
