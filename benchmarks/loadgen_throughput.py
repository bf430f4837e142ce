"""How fast is the loadgen? pgbench -S, loadgen/select.py (extended and simple protocol) and Locust's stock
psycopg user, one after the other on the same stand, through the same anycast path, with the same number of clients.

Run as root:  .venv/bin/python benchmarks/loadgen_throughput.py [--clients 16] [--seconds 15]
It uses the running stand, or brings one up (and down again). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadgen.records import Record, RecordWriter, read_records
from stand import lifecycle, topology
from stand.client import from_running_stand
from stand.lifecycle import Stand
from stand.safety import check_target

REPO = Path(__file__).resolve().parent.parent


def pgbench(protocol: str, settings, passfile: Path, clients: int, seconds: int) -> float:
    """Transactions per second of pgbench's built-in SELECT-only script."""
    argv = ["pgbench", "-n", "-S", "-M", protocol, "-c", str(clients), "-j", "2", "-T", str(seconds),
            "-h", settings.host, "-p", str(settings.port), "-U", settings.user, settings.database]  # fmt: skip
    out = subprocess.run(
        argv, capture_output=True, text=True, check=True, env={**os.environ, "PGPASSFILE": str(passfile)}
    )
    return float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout).group(1))


def locust(locustfile: Path, user_class: str, workdir: Path, clients: int, seconds: int, processes: int,
           extra: list[str], env: dict[str, str]) -> float:  # fmt: skip
    """Requests per second of a headless Locust run (Locust's own aggregate)."""
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary",
            "-u", str(clients), "-r", str(clients), "-t", f"{seconds}s", "--processes", str(processes),
            "--csv", str(workdir / "locust"), *extra, user_class]  # fmt: skip
    subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **env}, cwd=workdir, timeout=seconds + 120)
    with open(workdir / "locust_stats.csv") as f:
        total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
    return float(total["Requests/s"])


def recording_cost(records: int = 200_000) -> float:
    """Microseconds a request spends being recorded (add, plus its share of the flushes)."""
    sample = Record(1, 0.5, None, "ok", None, None, "point", "persistent", "extended", "main", 1, "vm:1",
                    "vm:1/u1/c1", False, "PgBAL1", "PgSQL2", "198.18.0.94", "198.18.0.92")  # fmt: skip
    with tempfile.TemporaryDirectory() as directory:
        writer = RecordWriter(Path(directory), "requests", "bench")
        started = time.perf_counter()
        for n in range(records):
            writer.add(sample)
            if n % 2000 == 1999:  # about one flush a second at 2000 requests/s
                writer.flush()
        writer.close()
        return (time.perf_counter() - started) / records * 1e6


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
    stand = Stand.of(topology.load("seed"))
    started_here = not stand.is_up()
    if started_here:
        lifecycle.up(stand, lambda message: None)
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
                return locust(REPO / "loadgen" / "select.py", "SelectUser", work, args.clients, args.seconds,
                              args.processes, [*records, *options], {})  # fmt: skip

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
            rates: dict[str, list[float]] = {name: [] for name in contenders}
            for _ in range(args.rounds):  # interleaved, so that a noisy minute hits every contender alike
                for name, run in contenders.items():
                    rates[name].append(run())
            recorded = len(read_records(work / "records"))
    finally:
        if started_here:
            lifecycle.down(stand, lambda message: None)
    results = {name: statistics.median(values) for name, values in rates.items()}
    base = results[PGBENCH_PREPARED]
    print(f"{args.clients} clients, {args.seconds} s each, median of {args.rounds} interleaved rounds, "
          f"through {settings.host} (Locust: {args.processes} processes)")  # fmt: skip
    for name, rate in results.items():
        spread = ", ".join(f"{v:.0f}" for v in rates[name])
        print(f"  {name:<36} {rate:7.0f} requests/s  {rate / base:6.1%} of pgbench prepared  ({spread})")
    extended = results[LOADGEN]
    print(f"  loadgen / stock psycopg peer: {extended / results[PEER]:.2f}x; "
          f"loadgen / psycopg with the same query: {extended / results[SAME_QUERY_PEER]:.2f}x")  # fmt: skip
    print(f"  loadgen simple / stock psycopg peer: {results[LOADGEN_SIMPLE] / results[PEER]:.2f}x; "
          f"loadgen simple / extended: {results[LOADGEN_SIMPLE] / extended:.2f}x")  # fmt: skip
    print(f"  pgpool's price of the extended protocol: pgbench prepared / simple = "
          f"{base / results[PGBENCH_SIMPLE]:.2f}x")  # fmt: skip
    print(f"  loadgen records written: {recorded}; recording costs {recording_cost():.2f} us per request")


if __name__ == "__main__":
    main()
