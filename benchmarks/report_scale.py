"""How long a run's report takes, and how much memory, at the scale of real runs (an hour at 3,000 req/s is
about 10M records). Generates a run of N request records in the order they ended, as the loadgen writes
them (per-query and persistent, three balancers,
a crash of one at a third of the run and its return at two thirds, failures around the fault), then
times `bench report` on it in a subprocess and reads its peak RSS. Asserts nothing.

Run as any user, no stand needed:
    .venv/bin/python benchmarks/report_scale.py [--records 1000000 10000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from loadgen.records import SCHEMA, SUFFIX

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "unit" / "data" / "run-anycast"
RATE = 3000  # requests a second: an hour of them is 10.8M
BALANCERS = ("PgBAL1", "PgBAL2", "PgBAL3")
BACKENDS = ("PgSQL1", "PgSQL2", "PgSQL3")
USERS = 96
BATCH = 1_000_000


def generate(directory: Path, records: int) -> None:
    """A results directory of `records` requests at RATE a second, with the fixture's meta and probe."""
    shutil.copytree(FIXTURE, directory)
    (directory / "records" / f"requests-main-vm-1{SUFFIX}").unlink()
    meta = json.loads((directory / "meta.json").read_text())
    started = meta["started_us"]
    duration_us = int(records / RATE * 1e6)
    meta["ended_us"] = started + duration_us
    meta["scenario"]["duration_s"] = duration_us / 1e6
    meta["scenario"]["load"]["users"] = USERS
    (directory / "meta.json").write_text(json.dumps(meta, indent=2))
    fault_us, undo_us = started + duration_us // 3, started + 2 * duration_us // 3
    events = [
        {"t_us": fault_us, "action": "fault", "fault": "node-crash", "target": "PgBAL1", "params": {}},
        {"t_us": undo_us, "action": "undo", "fault": "node-crash", "target": "PgBAL1", "params": {}},
    ]
    (directory / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    rng = np.random.default_rng(1)
    path = directory / "records" / f"requests-main-vm-1{SUFFIX}"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, SCHEMA) as writer:
        for first in range(0, records, BATCH):
            writer.write_batch(_batch(rng, first, min(BATCH, records - first), started, fault_us, undo_us))


def _batch(rng, first: int, count: int, started: int, fault_us: int, undo_us: int) -> pa.RecordBatch:
    index = np.arange(first, first + count)
    start_us = started + (index * 1e6 / RATE).astype(np.int64)
    user = (index % USERS).astype(np.int32)
    persistent = user % 2 == 0
    balancer_index = np.where(persistent, user // 2 % 3, rng.integers(0, 3, count))
    after_fault = (start_us >= fault_us) & (start_us < undo_us)
    balancer_index = np.where(after_fault & (balancer_index == 0), 1 + user % 2, balancer_index)
    failed = (start_us >= fault_us) & (start_us < fault_us + 300_000) & (rng.random(count) < 0.3)
    outcome = np.where(failed, "error", "ok")
    latency = rng.lognormal(1.0, 0.6, count)
    generation = np.where(persistent & (start_us >= fault_us), 2, 1)
    columns = {
        "start_us": start_us,
        "latency_ms": latency,
        "connect_ms": np.where(persistent, np.nan, latency / 3),
        "outcome": outcome,
        "error_class": np.where(failed, "ConnectionResetError", None),
        "error_text": np.where(failed, "[Errno 104] Connection reset by peer", None),
        "workload": np.full(count, "point"),
        "mode": np.where(persistent, "persistent", "per-query"),
        "protocol": np.full(count, "extended"),
        "site": np.full(count, "main"),
        "user": user,
        "process": np.full(count, "vm:1"),
        "connection": np.char.add(np.char.add("vm:1/u", user.astype(str)), np.where(persistent, np.char.add("/c", generation.astype(str)), np.char.add("/c", index.astype(str)))),
        "new_connection": ~persistent,
        "balancer": np.where(failed, None, np.array(BALANCERS)[balancer_index]),
        "backend": np.where(failed, None, np.array(BACKENDS)[rng.integers(0, 3, count)]),
        "balancer_address": np.where(failed, None, "198.18.0.95"),
        "backend_address": np.where(failed, None, "198.18.0.92"),
        "scheduled_us": np.full(count, None),
        "path": np.full(count, None),
    }  # fmt: skip
    order = np.argsort(start_us + (latency * 1000).astype(np.int64), kind="stable")  # written as they end
    arrays = [pa.array(columns[f.name], type=f.type, from_pandas=True).take(pa.array(order)) for f in SCHEMA]
    return pa.record_batch(arrays, schema=SCHEMA)


def time_report(directory: Path) -> tuple[float, float]:
    """Seconds and peak RSS (GiB) of `bench report DIRECTORY`, in a subprocess of its own."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "bench.cli", "report", str(directory)], check=True, cwd=REPO, capture_output=True
    )
    seconds = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kib <= before:
        print("  (peak RSS below an earlier child's: reported as that one's)")
    return seconds, peak_kib / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--keep", type=Path, help="keep the generated runs here (default: a temporary directory)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="report-scale-"))
    for records in sorted(args.records):  # the smaller first: RUSAGE_CHILDREN's peak only grows
        directory = work / f"run-{records}"
        if not directory.exists():
            started = time.monotonic()
            generate(directory, records)
            print(f"{records:>11,} records generated in {time.monotonic() - started:.1f} s")
        seconds, gib = time_report(directory)
        size = (directory / "report.html").stat().st_size / 1024
        print(
            f"{records:>11,} records: report in {seconds:6.1f} s, peak RSS {gib:4.2f} GiB, report.html {size:,.0f} KiB"
        )
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
