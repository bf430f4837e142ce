"""How fast is the loadgen? pgbench -S, loadgen/select.py and Locust's stock psycopg user, one after
the other on the same stand, through the same anycast path, with the same number of clients.

Run as root:  .venv/bin/python benchmarks/loadgen_throughput.py [--clients 16] [--seconds 15]
It uses the running stand, or brings one up (and down again). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
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


def pgbench(settings, passfile: Path, clients: int, seconds: int) -> float:
    """Transactions per second of pgbench's built-in SELECT-only script, prepared statements."""
    argv = ["pgbench", "-n", "-S", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
            "-h", settings.host, "-p", str(settings.port), "-U", settings.user, settings.database]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env={**os.environ, "PGPASSFILE": str(passfile)})
    return float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout).group(1))


def locust(locustfile: Path, workdir: Path, clients: int, seconds: int, processes: int, extra: list[str],
           env: dict[str, str]) -> float:  # fmt: skip
    """Requests per second of a headless Locust run (Locust's own aggregate)."""
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary",
            "-u", str(clients), "-r", str(clients), "-t", f"{seconds}s", "--processes", str(processes),
            "--csv", str(workdir / "locust"), *extra]  # fmt: skip
    subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **env}, cwd=workdir, timeout=seconds + 120)
    with open(workdir / "locust_stats.csv") as f:
        total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
    return float(total["Requests/s"])


def recording_cost(records: int = 200_000) -> float:
    """Microseconds a request spends being recorded (add, plus its share of the flushes)."""
    sample = Record(1, 0.5, None, "ok", None, None, "point", "persistent", "main", 1, "vm:1", "vm:1/u1/c1",
                    False, "PgBAL1", "PgSQL2", "198.18.0.94", "198.18.0.92")  # fmt: skip
    with tempfile.TemporaryDirectory() as directory:
        writer = RecordWriter(Path(directory), "requests", "bench")
        started = time.perf_counter()
        for n in range(records):
            writer.add(sample)
            if n % 2000 == 1999:  # about one flush a second at 2000 requests/s
                writer.flush()
        writer.close()
        return (time.perf_counter() - started) / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--processes", type=int, default=2, help="Locust processes (pgbench uses 2 threads)")
    args = parser.parse_args()
    stand = Stand.of(topology.load("seed"))
    started_here = not stand.is_up()
    if started_here:
        lifecycle.up(stand, lambda message: None)
    try:
        settings = from_running_stand()
        check_target(settings.host)
        with tempfile.TemporaryDirectory() as directory:
            work = Path(directory)
            results = {"pgbench -S (prepared)": pgbench(settings, stand.client_passfile, args.clients, args.seconds)}
            results["loadgen/select.py"] = locust(
                REPO / "loadgen" / "select.py", work, args.clients, args.seconds, args.processes,
                ["--tags", "point", "--pg-records", str(work / "records")], {},
            )  # fmt: skip
            recorded = len(read_records(work / "records"))
            dsn = f"host={settings.host} port={settings.port} dbname={settings.database} user={settings.user} password={settings.password}"
            results["locust.contrib.postgres (psycopg)"] = locust(
                REPO / "benchmarks" / "psycopg_peer.py", work, args.clients, args.seconds, args.processes, [],
                {"PGAB_PEER_DSN": dsn, "PGAB_PEER_ACCOUNTS": str(settings.accounts)},
            )  # fmt: skip
    finally:
        if started_here:
            lifecycle.down(stand, lambda message: None)
    base = results["pgbench -S (prepared)"]
    print(f"{args.clients} clients, {args.seconds} s each, through {settings.host} (Locust: {args.processes} processes)")
    for name, rate in results.items():
        print(f"  {name:<36} {rate:9.0f} requests/s   {rate / base:6.1%} of pgbench")
    loadgen, peer = results["loadgen/select.py"], results["locust.contrib.postgres (psycopg)"]
    print(f"  loadgen / psycopg peer: {loadgen / peer:.2f}x; loadgen records written: {recorded}")
    print(f"  recording costs {recording_cost():.2f} us per request")


if __name__ == "__main__":
    main()
