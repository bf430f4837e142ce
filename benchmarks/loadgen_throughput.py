"""How fast is the loadgen? pgbench -S, loadgen/select.py (extended and simple protocol) and Locust's stock
psycopg user, one after the other on the same stand, through the same anycast path, with the same number of clients.

For each: requests/s, and the client's own CPU time per request (pgbench: over its whole run; Locust:
all its processes, between 5 s after the start and 1 s before the end, so start-up is left out). The
clients share the machine's cores with the stand, so a cheaper client leaves more CPU to the servers.

Run as root:  .venv/bin/python benchmarks/loadgen_throughput.py [--clients 16] [--seconds 15]
It uses the running stand, or brings one up (and down again). The clients run inside the seed's router (the
SQL client of the seed), where nothing can leave the stand. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from loadgen.records import Record, RecordWriter, read_records
from stand.client import from_running_stand
from stand.linux import process
from stand.model import topology
from stand.modes import open_stand
from stand.runtime import build, teardown
from stand.safety import check_target

REPO = Path(__file__).resolve().parent.parent
WARM_UP_S = 5  # Locust's start-up (imports, connections) is left out of its CPU per request


def inside_the_router() -> list[str]:
    """Every contender runs inside the seed's router, its SQL client (`ip netns exec` execs in place, so the
    PID and its CPU are the contender's): inside the stand no route leads out, whatever a client's sockets do."""
    return ["ip", "netns", "exec", open_stand(topology.load("seed")).plan.shell_router.namespace]


def without_libpq_settings() -> dict[str, str]:
    """This machine's environment without libpq's PG* settings: a caller's PGHOST or PGPORT never redirects
    the benchmark's clients from the target that check_target allowed."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


class Measured(NamedTuple):
    rate: float  # requests/s
    client_us: float  # the client's CPU time per request, microseconds


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pgbench(protocol: str, settings, passfile: Path, clients: int, seconds: int) -> Measured:
    """pgbench's built-in SELECT-only script: transactions per second, and pgbench's CPU per transaction."""
    argv = [
        *inside_the_router(),
        "pgbench",
        "-n",
        "-S",
        "-M",
        protocol,
        "-c",
        str(clients),
        "-j",
        "2",
        "-T",
        str(seconds),
        "-h",
        settings.host,
        "-p",
        str(settings.port),
        "-U",
        settings.user,
        settings.database,
    ]
    cpu_before = children_cpu_seconds()
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=True,
        env={**without_libpq_settings(), "PGPASSFILE": str(passfile)},
    )
    cpu = children_cpu_seconds() - cpu_before
    transactions = int(re.search(r"number of transactions actually processed: (\d+)", out.stdout).group(1))
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout).group(1))
    return Measured(tps, cpu / transactions * 1e6)


def process_tree_cpu_seconds(root: int) -> float:
    """CPU time so far of a process and its direct children (Locust's master and its --processes workers)."""
    total = 0.0
    for pid in (int(entry) for entry in os.listdir("/proc") if entry.isdigit()):
        stat = process.read_stat(pid)  # None: gone meanwhile
        if stat is not None and root in (pid, stat.ppid):
            total += stat.cpu_s
    return total


def locust(
    locustfile: Path,
    user_class: str,
    workdir: Path,
    clients: int,
    seconds: int,
    processes: int,
    extra: list[str],
    env: dict[str, str],
) -> Measured:
    """A headless Locust run: Locust's own requests/s, and its processes' CPU per request once warmed up."""
    argv = [
        *inside_the_router(),
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--headless",
        "--only-summary",
        "-u",
        str(clients),
        "-r",
        str(clients),
        "-t",
        f"{seconds}s",
        "--processes",
        str(processes),
        "--csv",
        str(workdir / "locust"),
        "--csv-full-history",
        *extra,
        user_class,
    ]
    run = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**without_libpq_settings(), **env}, cwd=workdir
    )
    cpu_at: dict[int, float] = {}  # whole second of the wall clock -> CPU seconds of Locust's processes by then
    deadline = time.time() + seconds + 120
    while run.poll() is None and time.time() < deadline:
        cpu_at[int(time.time())] = process_tree_cpu_seconds(run.pid)
        time.sleep(1.02 - time.time() % 1)  # just after each second starts, as Locust's history rows
    run.wait(timeout=max(deadline - time.time(), 1))
    with open(workdir / "locust_stats.csv") as f:
        rate = float(next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")["Requests/s"])
    with open(workdir / "locust_stats_history.csv") as f:
        count_at = {
            int(row["Timestamp"]): int(row["Total Request Count"])
            for row in csv.DictReader(f)
            if row["Name"] == "Aggregated"
        }
    seconds_seen = sorted(set(cpu_at) & set(count_at))
    steady = [t for t in seconds_seen if seconds_seen[0] + WARM_UP_S <= t <= seconds_seen[-1] - 1]
    first, last = steady[0], steady[-1]
    return Measured(rate, (cpu_at[last] - cpu_at[first]) / (count_at[last] - count_at[first]) * 1e6)


def recording_cost(records: int = 200_000) -> float:
    """Microseconds a request spends being recorded (add, plus its share of the flushes)."""
    sample = Record(
        1,
        0.5,
        None,
        "ok",
        None,
        None,
        "point",
        "persistent",
        "extended",
        "main",
        1,
        "vm:1",
        "vm:1/u1/c1",
        False,
        "PgBAL1",
        "PgSQL2",
        "198.18.0.94",
        "198.18.0.92",
    )
    with tempfile.TemporaryDirectory() as directory:
        writer = RecordWriter(Path(directory), "requests", "bench")
        started = time.perf_counter()
        for n in range(records):
            writer.add(sample)
            if n % 2000 == 1999:  # about one flush a second at 2000 requests/s
                writer.flush()
        writer.close()
        return (time.perf_counter() - started) / records * 1e6


# What a contender may fail with (a missing program or module, a run that wrote no statistics): it says so,
# and the others still report.
CONTENDER_FAILURES = (
    OSError,
    subprocess.SubprocessError,
    process.CommandFailed,
    StopIteration,
    IndexError,
    KeyError,
    ValueError,
    ZeroDivisionError,
)
PGBENCH_PREPARED = "pgbench -S -M prepared"
PGBENCH_SIMPLE = "pgbench -S -M simple"
LOADGEN = "loadgen/select.py (asyncpg)"
LOADGEN_SIMPLE = "loadgen, simple protocol"
PEER = "stock psycopg user (literal SQL)"
SAME_QUERY_PEER = "psycopg user, loadgen's query"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3, help="every contender runs once per round; medians are shown")
    parser.add_argument("--processes", type=int, default=2, help="Locust processes (pgbench uses 2 threads)")
    args = parser.parse_args()
    stand = open_stand(topology.load("seed"))
    started_here = not stand.is_up()
    if started_here:
        build.up(stand, lambda message: None)
    try:
        settings = from_running_stand()
        check_target(settings.host)
        dsn = f"host={settings.host} port={settings.port} dbname={settings.database} user={settings.user} password={settings.password}"
        peer_env = {"PGAB_PEER_DSN": dsn, "PGAB_PEER_ACCOUNTS": str(settings.accounts)}
        peer_file = REPO / "benchmarks" / "psycopg_peer.py"
        with tempfile.TemporaryDirectory() as directory:
            work = Path(directory)
            records = ["--tags", "point", "--pg-records", str(work / "records")]

            def loadgen(*options: str) -> float:
                return locust(
                    REPO / "loadgen" / "select.py",
                    "SelectUser",
                    work,
                    args.clients,
                    args.seconds,
                    args.processes,
                    [*records, *options],
                    {},
                )

            contenders = {
                PGBENCH_PREPARED: lambda: pgbench(
                    "prepared", settings, stand.client_passfile, args.clients, args.seconds
                ),
                PGBENCH_SIMPLE: lambda: pgbench("simple", settings, stand.client_passfile, args.clients, args.seconds),
                LOADGEN: lambda: loadgen(),
                LOADGEN_SIMPLE: lambda: loadgen("--pg-protocol", "simple"),
                PEER: lambda: locust(
                    peer_file, "PeerUser", work, args.clients, args.seconds, args.processes, [], peer_env
                ),
                SAME_QUERY_PEER: lambda: locust(
                    peer_file, "SameQueryPeerUser", work, args.clients, args.seconds, args.processes, [], peer_env
                ),
            }
            runs: dict[str, list[Measured]] = {name: [] for name in contenders}
            failed: dict[str, str] = {}
            if importlib.util.find_spec("psycopg") is None:
                missing = "psycopg is not installed (pip install -e '.[benchmarks]'; ./suite installs it)"
                failed |= {PEER: missing, SAME_QUERY_PEER: missing}
            for _ in range(args.rounds):  # interleaved, so that a noisy minute hits every contender alike
                for name, run in contenders.items():
                    if name in failed:
                        continue
                    try:
                        runs[name].append(run())
                    except CONTENDER_FAILURES as e:  # the others still report
                        failed[name] = f"{type(e).__name__}: {e} (its files: {work})"
            recorded = len(read_records(work / "records"))
    finally:
        if started_here:
            teardown.down(stand, lambda message: None)
    measured_runs = {name: measured for name, measured in runs.items() if measured and name not in failed}
    rate = {name: statistics.median(m.rate for m in measured) for name, measured in measured_runs.items()}
    cpu = {name: statistics.median(m.client_us for m in measured) for name, measured in measured_runs.items()}
    base = rate.get(PGBENCH_PREPARED)
    print(
        f"{args.clients} clients, {args.seconds} s each, median of {args.rounds} interleaved rounds, "
        f"through {settings.host} (Locust: {args.processes} processes)"
    )
    print(f"  {'client':<36} {'requests/s':>10}  {'of pgbench prepared':>19}  {'client CPU/request':>18}  (each round)")
    for name in contenders:
        if name not in measured_runs:
            print(f"  {name:<36} failed: {failed.get(name, 'no run')}")
            continue
        spread = ", ".join(f"{m.rate:.0f}/{m.client_us:.0f} us" for m in measured_runs[name])
        share = f"{rate[name] / base:19.1%}" if base else f"{'-':>19}"
        print(f"  {name:<36} {rate[name]:10.0f}  {share}  {cpu[name]:15.0f} us  ({spread})")
    pairs = ((LOADGEN_SIMPLE, PEER), (LOADGEN, SAME_QUERY_PEER), (LOADGEN, PEER), (LOADGEN_SIMPLE, LOADGEN))
    for one, other in pairs:
        if one in rate and other in rate:
            print(
                f"  {one} / {other}: requests/s {rate[one] / rate[other]:.2f}x, "
                f"client CPU per request {cpu[one] / cpu[other]:.2f}x"
            )
    if base and PGBENCH_SIMPLE in rate:
        print(
            f"  pgpool's price of the extended protocol: pgbench prepared / simple = {base / rate[PGBENCH_SIMPLE]:.2f}x"
        )
    print(f"  loadgen records written: {recorded}; recording costs {recording_cost():.2f} us per request")


if __name__ == "__main__":
    main()
