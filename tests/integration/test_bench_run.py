"""`bench run` on the running anycast stand, stopped with Ctrl-C mid-run: it undoes the active fault,
keeps what was recorded, and leaves no load process behind."""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from loadgen.records import read_records
from stand.linux import process
from stand.runtime import readiness

pytestmark = pytest.mark.integration


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (a path unique to this test)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            stat = process.read_stat(int(entry.name))
            if text in cmdline and stat is not None and stat.state != "Z":
                found.append(int(entry.name))
    return found


def test_ctrl_c_stops_cleanly_and_keeps_the_records(stand, tmp_path):
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "run", "--mode", "anycast", "--scenario", "smoke"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # (from the user's own directory: results/ relative to it)
    events = lambda: list(tmp_path.glob("results/*/events.jsonl"))  # noqa: E731
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(bench.stdout), daemon=True)
    reader.start()
    try:
        # Ctrl-C while the fault is in effect: bench's own progress line says it was injected (the undo
        # follows 6 s later), whatever the machine's load did to the time the run took to get there
        assert process.wait_until(lambda: any(" fault node-crash PgBAL1" in line for line in lines), 120, 0.05), (
            "".join(lines)
        )
        bench.send_signal(signal.SIGINT)
        bench.wait(timeout=120)
        reader.join(timeout=10)
    finally:
        if bench.poll() is None:
            bench.kill()
    output = "".join(lines)
    assert "interrupted: stopping the load" in output, output
    assert bench.returncode == 0, output
    directory = events()[0].parent
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["interrupted"] is True
    played = [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]
    assert [(e["action"], e["fault"]) for e in played] == [("fault", "node-crash"), ("undo", "node-crash")]
    assert len(read_records(directory / "records")) > 0
    assert len(read_records(directory / "probe", "probe")) > 0
    assert processes_mentioning(str(tmp_path)) == []
    assert process.wait_until(lambda: len(readiness.anycast_next_hops(stand)) == 3, process.scaled(30), 0.2)


def test_a_run_whose_locust_is_killed_mid_way_is_invalid_and_exits_non_zero(stand, tmp_path):
    """The load lost mid-run: SIGKILL to Locust while the fault is in effect. The run still ends, its
    faults undone; the table marks it INVALID with the reason, and `bench run` exits 1."""
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "run", "--mode", "anycast", "--scenario", "smoke"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(bench.stdout), daemon=True)
    reader.start()
    try:
        assert process.wait_until(lambda: any(" fault node-crash PgBAL1" in line for line in lines), 120, 0.05), (
            "".join(lines)
        )
        (locust,) = [p for p in stand.state_file.read().processes if p.daemon == "locust"]
        os.killpg(locust.pid, signal.SIGKILL)
        bench.wait(timeout=180)
        reader.join(timeout=10)
    finally:
        if bench.poll() is None:
            bench.kill()
    output = "".join(lines)
    assert bench.returncode == 1, output
    invalid = [line for line in output.splitlines() if "INVALID, no verdict from this run:" in line]
    assert len(invalid) == 1 and "Locust exited with -9" in invalid[0], output
    assert "the load failed, the figures above do not measure the stand: Locust exited with -9" in output, output
    assert process.wait_until(lambda: len(readiness.anycast_next_hops(stand)) == 3, process.scaled(30), 0.2)
