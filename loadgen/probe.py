"""The fixed-rate probe: on every path, one new connection and one checked query every N ms, open loop.

Unlike Locust's closed-loop users, the probe does not wait for an answer before sending the next
request, so a stall shows up as a run of late or failed probes instead of as fewer requests
(no coordinated omission). Each path to the stand (each balancer an ECMP router spreads flows over)
gets its own source ports and its own probes (loadgen/paths.py), so that the path that fails is probed
at the period too. The bench measures failover gaps from it.

    python -m loadgen.probe --duration 30 --interval-ms 50 --out records
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from loadgen.client import EXTENDED, PER_QUERY, PROTOCOLS, ClientOptions, PgClient
from loadgen.paths import PathLoop, Paths, PortPool, PortTaken, discover, from_port, ports_needed
from loadgen.records import OK, RecordWriter
from loadgen.sites import check_sites, parse_sites
from loadgen.targets import checked_target
from stand.client import ClientSettings, NoStand
from stand.safety import UnsafeTarget

FLUSH_INTERVAL_S = 1.0


@dataclass(frozen=True)
class ProbeSummary:
    sent: int
    ok: int
    longest_gap_ms: float  # longest time between two successful probes' scheduled starts, on one path
    lag_p99_ms: float  # how late the probes started against their schedule
    lag_max_ms: float
    per_path: dict[str, int]  # probes sent on each stream (site and path); "..., no port free": sent from any port


@dataclass(frozen=True)
class Stream:
    """One stream of probes: a site (its client options: the site's name and namespace) and one of its paths."""

    options: ClientOptions
    path: str | None  # None: from ports the kernel picks
    pool: PortPool | None

    @property
    def name(self) -> str:
        path = self.path or "any port"
        return f"{self.options.site} {path}" if self.options.namespace else path


def streams_of(options: ClientOptions, paths: Paths | None) -> list[Stream]:
    """A stream for each path of a site (or one from any port, without paths)."""
    if not paths or not paths.ports:
        return [Stream(options, None, None)]
    return [Stream(options, name, PortPool(ports)) for name, ports in paths.ports.items()]


async def run_probe(
    settings: ClientSettings, streams: list[Stream], interval_ms: float, duration_s: float, writer: RecordWriter
) -> ProbeSummary:
    """Probe every stream every `interval_ms` for `duration_s`, the streams' starts spread over the period,
    on schedule whatever the answers take."""
    loop = asyncio.get_running_loop()
    records = []

    async def probe(tick: int, scheduled_us: int, stream: Stream) -> None:
        pool, options = stream.pool, replace(stream.options, mode=PER_QUERY)
        while True:
            port = pool.take() if pool else None
            with from_port(port):
                record = await PgClient(settings, options, user=tick).request("point", scheduled_us=scheduled_us)
            if port is None:
                break
            if record.error_class == PortTaken.__name__:
                pool.rest(port)  # nothing was sent: the next port of the path
                continue
            pool.give_back(port)
            break
        record = record._replace(path=stream.path if port is not None else None)
        writer.add(record)
        records.append((stream.name if port is not None or pool is None else f"{stream.name}, no port free", record))

    async def flush_every_second() -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            writer.flush()

    flusher = asyncio.create_task(flush_every_second())
    in_flight: set[asyncio.Task] = set()
    start, start_us = loop.time(), time.time_ns() // 1000  # the schedule, on the loop's clock and on the records'
    step_ms = interval_ms / len(streams)
    for index in range(int(duration_s * 1000 / step_ms)):
        await asyncio.sleep(max(0.0, start + index * step_ms / 1000 - loop.time()))
        scheduled_us = start_us + round(index * step_ms * 1000)
        task = asyncio.create_task(probe(index + 1, scheduled_us, streams[index % len(streams)]))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight)  # each is bounded by the connect and query timeouts
    flusher.cancel()
    writer.flush()
    gaps = []
    for stream in streams:
        ok_starts = sorted(r.scheduled_us for name, r in records if r.outcome == OK and name == stream.name)
        gaps += [(b - a) / 1000 for a, b in zip(ok_starts, ok_starts[1:])]
    lags = sorted((r.start_us - r.scheduled_us) / 1000 for _, r in records)
    return ProbeSummary(
        sent=len(records),
        ok=sum(r.outcome == OK for _, r in records),
        longest_gap_ms=max(gaps, default=0.0),
        lag_p99_ms=lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else 0.0,
        lag_max_ms=lags[-1] if lags else 0.0,
        per_path=dict(Counter(name for name, _ in records)),
    )


async def discover_and_probe(
    settings: ClientSettings, sites: list[ClientOptions], interval_ms: float, duration_s: float, writer: RecordWriter
) -> ProbeSummary:
    """Find each site's paths (loadgen.paths), all sites at once, then probe each of them for `duration_s`."""
    found = await asyncio.gather(*(discover(settings, o, ports_needed(interval_ms, o)) for o in sites))
    streams = []
    for options, paths in zip(sites, found):
        described = ", ".join(f"{name} ({len(paths.ports[name])} ports)" for name in paths.names) or "none answered"
        where = f" from {options.site}" if options.namespace else ""
        print(f"probe: paths found{where} in {paths.attempts} connections: {described}", flush=True)
        streams += streams_of(options, paths)
    return await run_probe(settings, streams, interval_ms, duration_s, writer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadgen.probe", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument(
        "--interval-ms",
        type=float,
        default=100.0,
        help="the probe period of each path (10 ms on three paths, 300 new sessions a second, saturates pgpool on 2 cores)",
    )
    parser.add_argument("--out", type=Path, default=Path("records"), help="directory for the probe records")
    parser.add_argument("--site", default="", help="recorded with each probe (default: the site it runs in)")
    parser.add_argument(
        "--sites",
        default="",
        help="SITE=NAMESPACE,...: probe from each site's client namespace of the running stand (loadgen/sites.py)",
    )
    parser.add_argument("--host", default="", help="postgresql:// URL overriding the stand's address or credentials")
    parser.add_argument("--stand", default="pgab", help="prefix of the stand to take host and credentials from")
    parser.add_argument(
        "--deployment",
        type=Path,
        help="on a real deployment's client machine: the settings file `bench run --inventory` wrote there",
    )
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
        settings, device = checked_target(args.host, args.stand, args.deployment)
        sites = parse_sites(args.sites, "--sites")
        check_sites(sites)
    except (UnsafeTarget, NoStand, ValueError) as e:
        print(f"probe: {e}", file=sys.stderr)
        return 1
    site = args.site or settings.site
    options = ClientOptions(
        site=site, protocol=args.protocol, connect_timeout=args.connect_timeout, query_timeout=args.query_timeout
    )
    writer = RecordWriter(args.out, "probe", "sites" if sites else site)
    each_site = [replace(options, site=s.name, namespace=s.namespace) for s in sites] or [options]
    started = time.monotonic()
    try:
        with asyncio.Runner(loop_factory=lambda: PathLoop(device)) as runner:
            summary = runner.run(discover_and_probe(settings, each_site, args.interval_ms, args.duration, writer))
    finally:
        writer.close()
    per_path = ", ".join(f"{stream} {n}" for stream, n in sorted(summary.per_path.items()))
    print(
        f"probe: {summary.sent} probes in {time.monotonic() - started:.1f} s ({per_path}), {summary.ok} ok, "
        f"longest gap between good probes of a path {summary.longest_gap_ms:.0f} ms, started late against the schedule "
        f"by {summary.lag_p99_ms:.1f} ms (p99), {summary.lag_max_ms:.1f} ms at most; records in {writer.path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
