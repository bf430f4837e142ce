"""The fixed-rate probe: one new connection and one checked query every N ms, open loop.

Unlike Locust's closed-loop users, the probe does not wait for an answer before sending the next
request, so a stall shows up as a run of late or failed probes instead of as fewer requests
(no coordinated omission). The bench measures failover gaps from it.

    python -m loadgen.probe --duration 30 --interval-ms 50 --out records
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from loadgen.client import EXTENDED, PER_QUERY, PROTOCOLS, ClientOptions, PgClient
from loadgen.records import OK, RecordWriter
from stand.client import ClientSettings, NoStand, resolve
from stand.safety import BoundLoop, UnsafeTarget, check_target

FLUSH_INTERVAL_S = 1.0


@dataclass(frozen=True)
class ProbeSummary:
    sent: int
    ok: int
    longest_gap_ms: float  # longest time between two successful probes' scheduled starts
    lag_p99_ms: float  # how late the probes started against their schedule
    lag_max_ms: float


async def run_probe(
    settings: ClientSettings, options: ClientOptions, interval_ms: float, duration_s: float, writer: RecordWriter
) -> ProbeSummary:
    """Start one probe every `interval_ms` for `duration_s`, on schedule whatever the answers take."""
    options = replace(options, mode=PER_QUERY)
    loop = asyncio.get_running_loop()
    records = []

    async def probe(tick: int, scheduled_us: int) -> None:
        record = await PgClient(settings, options, user=tick).request("point", scheduled_us=scheduled_us)
        writer.add(record)
        records.append(record)

    async def flush_every_second() -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            writer.flush()

    flusher = asyncio.create_task(flush_every_second())
    in_flight: set[asyncio.Task] = set()
    start, start_us = loop.time(), time.time_ns() // 1000  # the schedule, on the loop's clock and on the records'
    count = int(duration_s * 1000 / interval_ms)
    for index in range(count):
        await asyncio.sleep(max(0.0, start + index * interval_ms / 1000 - loop.time()))
        scheduled_us = start_us + round(index * interval_ms * 1000)
        task = asyncio.create_task(probe(index + 1, scheduled_us))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight)  # each is bounded by the connect and query timeouts
    flusher.cancel()
    writer.flush()
    ok_starts = sorted(r.scheduled_us for r in records if r.outcome == OK)
    gaps = [(b - a) / 1000 for a, b in zip(ok_starts, ok_starts[1:])]
    lags = sorted((r.start_us - r.scheduled_us) / 1000 for r in records)
    return ProbeSummary(
        sent=len(records),
        ok=len(ok_starts),
        longest_gap_ms=max(gaps, default=0.0),
        lag_p99_ms=lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else 0.0,
        lag_max_ms=lags[-1] if lags else 0.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadgen.probe", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument(
        "--interval-ms",
        type=float,
        default=50.0,
        help="the probe period (10 ms, 100 new sessions a second, saturates pgpool on 2 cores)",
    )
    parser.add_argument("--out", type=Path, default=Path("records"), help="directory for the probe records")
    parser.add_argument("--site", default="", help="recorded with each probe (default: the site it runs in)")
    parser.add_argument("--host", default="", help="postgresql:// URL overriding the stand's address or credentials")
    parser.add_argument("--stand", default="pgab", help="prefix of the stand to take host and credentials from")
    parser.add_argument("--connect-timeout", type=float, default=1.0, help="seconds")
    parser.add_argument("--query-timeout", type=float, default=1.0, help="seconds")
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=EXTENDED,
        help="the query's protocol, as the loadgen's --pg-protocol; with simple, each probe sends two "
        "queries on its new connection: who serves it (extended), then the checked SELECT",
    )
    args = parser.parse_args(argv)
    try:
        settings = resolve(args.host, args.stand)
        device = check_target(settings.host)
    except (UnsafeTarget, NoStand, ValueError) as e:
        print(f"probe: {e}", file=sys.stderr)
        return 1
    site = args.site or settings.site
    options = ClientOptions(
        site=site, protocol=args.protocol, connect_timeout=args.connect_timeout, query_timeout=args.query_timeout
    )
    writer = RecordWriter(args.out, "probe", site)
    started = time.monotonic()
    try:
        with asyncio.Runner(loop_factory=lambda: BoundLoop(device)) as runner:
            summary = runner.run(run_probe(settings, options, args.interval_ms, args.duration, writer))
    finally:
        writer.close()
    print(
        f"probe: {summary.sent} probes in {time.monotonic() - started:.1f} s, {summary.ok} ok, "
        f"longest gap between good probes {summary.longest_gap_ms:.0f} ms, started late against the schedule "
        f"by {summary.lag_p99_ms:.1f} ms (p99), {summary.lag_max_ms:.1f} ms at most; records in {writer.path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
