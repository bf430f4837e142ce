"""The health agent in a real network namespace, with a real PostgreSQL 15 standing in for pgpool.

All traffic stays on 127.0.0.1 inside a private namespace created (and removed) by this test.
"""

import ctypes
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyroute2 import IPRoute, netns

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates a network namespace, runs postgres as postgres"),
]

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ANYCAST_IP = "198.18.2.0"
HEALTH_USER = "pgab_health"
PR_SET_CHILD_SUBREAPER = 36
TIMEOUT = 20.0


def wait_for(predicate, what: str, timeout: float = TIMEOUT, poll: float = 0.02) -> float:
    """Poll `predicate` until true; return the seconds it took, fail after `timeout`."""
    start = time.monotonic()
    while not predicate():
        elapsed = time.monotonic() - start
        assert elapsed < timeout, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(poll)
    return time.monotonic() - start


def enter(namespace: str, user: pwd.struct_passwd | None = None):
    """A preexec_fn: move the forked child into `namespace`, then become `user`."""
    def preexec():
        netns.setns(namespace, flags=0)
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
    return preexec


def stop_process(process: subprocess.Popen, signum: int = signal.SIGTERM, timeout: float = TIMEOUT) -> None:
    """Send `signum`, then SIGKILL if `process` has not exited within `timeout`."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def adopted_postgres_pids(exclude: int | None) -> list[int]:
    """Orphaned postgres processes re-parented to this (subreaper) process."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (OSError, ValueError):
            continue
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat.rpartition(")")[2].split()
        if name == "postgres" and int(fields[1]) == os.getpid() and int(entry) != exclude:
            pids.append(int(entry))
    return pids


@dataclass
class Namespace:
    name: str
    ipr: IPRoute
    lo_index: int

    def has_anycast(self) -> bool:
        return ANYCAST_IP in {address.get("IFA_ADDRESS") for address in self.ipr.get_addr(index=self.lo_index)}


class Postgres:
    """A throwaway PostgreSQL 15 cluster running as user postgres inside the namespace."""

    def __init__(self, namespace: str, workdir: Path):
        self.namespace = namespace
        self.datadir = workdir / "pgdata"
        self.log_path = workdir / "postgres.log"
        self.user = pwd.getpwnam("postgres")
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LC_ALL": "C"}
        self.process: subprocess.Popen | None = None

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(args, preexec_fn=enter(self.namespace, self.user), env=self.env,
                              capture_output=True, text=True, check=check, timeout=120)

    def initdb(self) -> None:
        self.datadir.mkdir(mode=0o700)
        os.chown(self.datadir, self.user.pw_uid, self.user.pw_gid)
        self.run(str(PG_BIN / "initdb"), "-D", str(self.datadir), "-U", "postgres", "--no-sync", "--no-locale",
                 "-E", "UTF8", "--auth-local=trust", "--auth-host=scram-sha-256")

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [str(PG_BIN / "postgres"), "-D", str(self.datadir), "-k", str(self.datadir),
                 "-c", "listen_addresses=127.0.0.1", "-p", "5432", "-c", "fsync=off"],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, preexec_fn=enter(self.namespace, self.user))
        wait_for(self.is_ready, "postgres to accept connections")

    def is_ready(self) -> bool:
        assert self.process.poll() is None, f"postgres exited:\n{self.log_path.read_text()}"
        return self.run(str(PG_BIN / "pg_isready"), "-q", "-h", str(self.datadir), "-p", "5432",
                        check=False).returncode == 0

    def psql(self, sql: str) -> None:
        self.run(str(PG_BIN / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-h", str(self.datadir), "-p", "5432",
                 "-U", "postgres", "-d", "postgres", "-c", sql)

    def kill(self) -> float:
        """SIGKILL the postmaster; return the monotonic time just before the kill."""
        killed_at = time.monotonic()
        self.process.kill()
        return killed_at

    def reap_orphans(self) -> None:
        """Wait for (then kill) the children of a dead postmaster, which this process adopted."""
        deadline = time.monotonic() + TIMEOUT
        exclude = self.process.pid if self.process.poll() is None else None
        while orphans := adopted_postgres_pids(exclude):
            for pid in orphans:
                if os.waitpid(pid, os.WNOHANG)[0] == 0 and time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop postgres and its children; drop the shared memory an unclean stop leaves."""
        if self.process is not None:
            stop_process(self.process)
        self.reap_orphans()
        pid_file = self.datadir / "postmaster.pid"
        if pid_file.exists():
            lines = pid_file.read_text().splitlines()
            if len(lines) > 6 and len(lines[6].split()) == 2:
                subprocess.run(["ipcrm", "-m", lines[6].split()[1]], capture_output=True)


@pytest.fixture
def subreaper():
    """Adopt orphaned descendants (pid 1 may not reap them), so they can be reaped here."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    assert prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture
def namespace():
    name = f"pgab-t-agent-{secrets.token_hex(4)}"
    netns.create(name)
    try:
        with IPRoute(netns=name) as ipr:
            lo_index = ipr.link_lookup(ifname="lo")[0]
            ipr.link("set", index=lo_index, state="up")
            yield Namespace(name, ipr, lo_index)
    finally:
        netns.remove(name)


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="pgab-t-agent-", dir="/var/tmp"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def postgres(subreaper, namespace, workdir):
    server = Postgres(namespace.name, workdir)
    try:
        server.initdb()
        server.start()
        yield server
    finally:
        server.stop()


def write_agent_config(workdir: Path, pid_file: Path, password: str) -> Path:
    password_file = workdir / "health-password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    config = {
        "balancer": "PgBAL-test", "anycast": f"{ANYCAST_IP}/32", "interface": "lo",
        "check": {"host": "127.0.0.1", "port": 5432, "user": HEALTH_USER, "database": "postgres",
                  "password_file": str(password_file), "query": "SELECT 1"},
        "interval_ms": 100, "timeout_ms": 500, "rise": 3, "fall": 2,
        "pgpool_pid_file": str(pid_file), "drain_file": str(workdir / "drain"),
        "status_file": str(workdir / "agent-status.json"),
    }
    path = workdir / "agent.json"
    path.write_text(json.dumps(config))
    return path


def test_agent_follows_drain_and_pgpool_death(namespace, workdir, postgres):
    password = secrets.token_hex(12)
    postgres.psql(f"CREATE ROLE {HEALTH_USER} LOGIN PASSWORD '{password}'")
    config_path = write_agent_config(workdir, postgres.datadir / "postmaster.pid", password)
    drain_file, status_file, agent_log = workdir / "drain", workdir / "agent-status.json", workdir / "agent.log"

    def status() -> dict:
        return json.loads(status_file.read_text()) if status_file.exists() else {}

    def wait_for_state(state: str, announced: bool) -> None:
        """The status file lags the address change by a moment: it is written right after it."""
        wait_for(lambda: (status().get("state"), status().get("announced")) == (state, announced), f"state {state}")

    # A stale address and a drain file before the start: the agent must remove the address and stay drained.
    namespace.ipr.addr("add", index=namespace.lo_index, address=ANYCAST_IP, prefixlen=32)
    drain_file.touch()
    with open(agent_log, "w") as log:
        agent = subprocess.Popen([sys.executable, "-m", "stand.agent", str(config_path)], cwd=REPO,
                                 env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=log,
                                 stderr=subprocess.STDOUT, preexec_fn=enter(namespace.name))
    try:
        wait_for_state("drained", announced=False)
        assert not namespace.has_anycast()
        assert status()["pid"] == agent.pid and status()["balancer"] == "PgBAL-test"

        drain_file.unlink()
        wait_for(namespace.has_anycast, "address announced after rise")
        wait_for_state("up", announced=True)

        drain_file.touch()
        wait_for(lambda: not namespace.has_anycast(), "address withdrawn on drain")
        wait_for_state("drained", announced=False)
        drain_file.unlink()
        wait_for(namespace.has_anycast, "address announced again after drain removed")

        killed_at_wall, killed_at = time.time(), postgres.kill()
        wait_for(lambda: not namespace.has_anycast(), "address withdrawn after pgpool death", poll=0.0005)
        observed_ms = (time.monotonic() - killed_at) * 1000
        wait_for_state("pgpool-gone", announced=False)
        recorded_ms = (status()["since"] - killed_at_wall) * 1000
        print(f"pgpool stand-in SIGKILLed: address gone {recorded_ms:.1f} ms later by the agent's status file, "
              f"{observed_ms:.1f} ms later as seen by polling netlink")
        assert observed_ms < 2000

        postgres.process.wait(TIMEOUT)
        postgres.reap_orphans()
        postgres.start()
        wait_for(namespace.has_anycast, "address announced after pgpool restart")

        agent.send_signal(signal.SIGTERM)
        assert agent.wait(TIMEOUT) == 0
        assert not namespace.has_anycast()
        assert (status()["state"], status()["announced"]) == ("stopped", False)
    finally:
        stop_process(agent)
        print(agent_log.read_text())
