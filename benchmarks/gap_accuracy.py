"""The measurement measured: outages of known length, injected on the router outside the suite's own fault
code (an nftables rule in the router's namespace that drops everything it forwards to the anycast address),
against the failover gap the probe and reports/metrics.py measure, for several lengths and connect timeouts.

Run as root:  .venv/bin/python benchmarks/gap_accuracy.py [--lengths-ms 200 500 1000 2000] [--timeouts-s 1 2]
It uses the running anycast stand, or brings one up (and down again). Prints figures; asserts nothing.
Target: every measured gap within one probe period of the outage injected.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadgen.records import read_records
from reports.metrics import failover_gap, longest_gap, path_gaps
from stand.model import topology
from stand.modes import open_stand
from stand.runtime import build, teardown

REPO = Path(__file__).resolve().parent.parent
TABLE = "pgab_gap_accuracy"  # the benchmark's own nftables table, in the router's namespace only
BEFORE_S, AFTER_S = 2.0, 5.0  # probing before the outage, and after it
DROP = """table ip {table} {{
    chain forward {{
        type filter hook forward priority -10;
        ip daddr {anycast} drop
    }}
}}
"""


def nft(namespace: str, script: str) -> None:
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", "-f", "-"], input=script, text=True, capture_output=True
    )
    if result.returncode:
        raise RuntimeError(f"nft in {namespace}: {result.stderr.strip()}")


def outage(namespace: str, anycast: str, seconds: float) -> tuple[int, int]:
    """Drop every packet the router forwards to the anycast address for `seconds`; returns when the drop
    began and ended (µs, the records' clock: the middle of each nft call)."""
    a = time.time_ns() // 1000
    nft(namespace, DROP.format(table=TABLE, anycast=anycast))
    began = (a + time.time_ns() // 1000) // 2
    time.sleep(max(0.0, seconds - (time.time_ns() // 1000 - began) / 1e6))
    b = time.time_ns() // 1000
    nft(namespace, f"delete table ip {TABLE}")
    return began, (b + time.time_ns() // 1000) // 2


def trial(namespace: str, anycast: str, length_s: float, timeout_s: float, interval_ms: float, work: Path) -> dict:
    out = work / f"{length_s:g}-{timeout_s:g}"
    duration = BEFORE_S + length_s + AFTER_S + timeout_s
    probe = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadgen.probe",
            "--duration",
            f"{duration:g}",
            "--interval-ms",
            f"{interval_ms:g}",
            "--out",
            str(out),
            "--connect-timeout",
            f"{timeout_s:g}",
            "--query-timeout",
            f"{timeout_s:g}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    found = probe.stdout.readline()  # "probe: paths found ...": its schedule starts now
    if "paths found" not in found:
        raise RuntimeError(f"the probe found no paths: {found.strip()} {probe.communicate()[1].strip()}")
    time.sleep(BEFORE_S)
    began, ended = outage(namespace, anycast, length_s)
    _, errors = probe.communicate(timeout=duration + 60)
    if probe.returncode:
        raise RuntimeError(f"the probe exited with {probe.returncode}: {errors.strip()}")
    records, until_us = read_records(out, "probe"), ended + int((AFTER_S + timeout_s) * 1e6)
    path, path_gap = longest_gap(path_gaps(records, began, until_us)) or ("-", None)
    return {
        "injected_ms": (ended - began) / 1000,
        "gap": failover_gap(records, began, until_us),
        "path": path,
        "path_gap": path_gap,
        "found": found.removeprefix("probe: ").strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths-ms", type=float, nargs="+", default=[200, 500, 1000, 2000])
    parser.add_argument("--timeouts-s", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument(
        "--interval-ms",
        type=float,
        default=100.0,
        help="the probe period of each path (as the built-in scenarios)",
    )
    args = parser.parse_args()
    stand = open_stand(topology.load("seed"))
    started_here = not stand.is_up()
    if started_here:
        build.up(stand, lambda message: None)
    rows = []
    try:
        namespace = stand.plan.shell_router.namespace
        anycast = str(stand.plan.topology.anycast.ip)
        with tempfile.TemporaryDirectory() as directory:
            for timeout_s in args.timeouts_s:
                for length_ms in args.lengths_ms:
                    rows.append(
                        (
                            timeout_s,
                            trial(namespace, anycast, length_ms / 1000, timeout_s, args.interval_ms, Path(directory)),
                        )
                    )
    finally:
        subprocess.run(
            ["ip", "netns", "exec", stand.plan.shell_router.namespace, "nft", "delete", "table", "ip", TABLE],
            capture_output=True,
        )
        if started_here:
            teardown.down(stand, lambda message: None)
    print(f"outages of every path on the router, each path probed every {args.interval_ms:g} ms through {anycast}")
    print(f"  (first trial's {rows[0][1]['found'] if rows else '-'})")
    print(
        f"  {'connect timeout':>15}  {'injected ms':>11}  {'all clients':>11}  {'error ms':>8}  {'worst path':>10}  "
        f"{'error ms':>8}  {'period ms':>9}  {'late probes':>11}  within one period"
    )
    for timeout_s, row in rows:
        gap, path_gap, injected = row["gap"], row["path_gap"], row["injected_ms"]
        errors = [None if g is None or g.gap_ms is None else g.gap_ms - injected for g in (gap, path_gap)]
        period = gap.period_ms or args.interval_ms
        within = "yes" if all(e is not None and abs(e) <= period for e in errors) else "NO"
        shown = ["never" if g is None or g.gap_ms is None else f"{g.gap_ms:.0f}" for g in (gap, path_gap)]
        print(
            f"  {timeout_s:>14g}s  {injected:11.0f}  {shown[0]:>11}  {_signed(errors[0]):>8}  {shown[1]:>10}  "
            f"{_signed(errors[1]):>8}  {period:9.1f}  {gap.late_probes:11d}  {within}"
        )


def _signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.0f}"


if __name__ == "__main__":
    main()
