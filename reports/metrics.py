"""Every metric of a run, defined in one place: pure functions on record frames and fault events.

Inputs are frames of `loadgen.records.read_records` (`requests` from the Locust users, `probe` from the
fixed-rate probe) and the run's fault events (`stand.model.events.FaultEvent`, or their lines of
`events.jsonl` as `json.loads` gives them; in time order). Nothing here reads files or plots.
`docs/metrics.md` gives the same definitions with the reasoning behind them.

Common rules:
- A record belongs to a window by its `start_us`; windows are half-open, `[start_us, end_us)`.
- A record is ok when its `outcome` is "ok"; "error", "timeout" and "wrong_answer" are failures.
- Latencies are of ok records only, in ms, as recorded (not rounded).

Definitions:
- `summary`: counts by outcome; throughput = ok records / window seconds (served); with an open-loop
  rate (records with `scheduled_us`) every record starts when it was due (`on_schedule`) and offered =
  records due in the window / window seconds; latency p50/p95/p99 are
  linearly interpolated percentiles (numpy's default) of the raw values, max is the largest value.
  Without `start_us` the window opens at the first record's start; without `end_us` it closes at the
  last record's finish (start + latency).
- `latency_distribution`: the ok latencies of the window (on schedule, as `summary`) at the percentiles
  of `DISTRIBUTION_PERCENTILES` (p0, the fastest, up to p99.9, interpolated as numpy's default) and the
  largest, with their count; None without an ok record. A percentile plot draws it on a log scale.
- `balancer_share`, `backend_share`: each host's part of the ok records in the window (sums to 1).
- `phases`: the run cut at every event: "before", then "after FAULT TARGET" or "after undo FAULT TARGET".
- `affected`: a record that met an outage: failed, or ok but answered after `LATE_MS` (900 ms: only a SYN
  retransmission, which TCP first makes after 1 s, takes that long here; the path was down at its start).
- Windows of a fault: see `fault_report`. A record that started before the window's fault and was
  still in flight at it (its end, start + latency, at or after the fault) and affected, counts in the
  fault's window, at the fault's time, when the stretch it started in was not another fault's.
- `on_schedule`: the probe's records as its schedule has them: each starts when it was due
  (`scheduled_us`) and its latency runs from then; `probe_lag`: how late they started (p50, p99, max),
  of those due in the measured window.
- `failover_gap`: from the probe, whose records start every period whatever the answers. Take the
  probes of the window. None affected within `ONSET_MS` (1 s) of the fault: gap 0 (a failure first seen
  later is not this fault's outage). Otherwise recovery is the start of the first unaffected probe P,
  not earlier than the first affected one, such that no probe starting in `[P, P + stable_ms)` is
  affected; gap = recovery - fault. Affected probes interleaved with ok ones (ECMP sends only the
  flows hashed to a dead next hop there) extend the gap until they stop for `stable_ms`. The stable
  window is cut at `until_us`: an ok run that reaches it recovers even when shorter than `stable_ms`,
  with `confirmed` False. No such P: not recovered, gap None. No probe in the window: gap None.
  `resolution_ms` is the longest of the probe streams' median periods (a stream: one process at one
  site and path); the outage ended within about one period before P when every probe can meet it,
  about period / share when only a share can.
- `path_gaps`: `failover_gap` of each path's probes alone (a path: the probes sent from the source
  ports that reached one balancer when the probe started, the record's `path`); the failed path is the
  path of a balancer the faults targeted, or else (a fault of the router, of a backend) the one with
  the longest gap (one that did not recover is longer than any); its gap is the longest time a new
  client on it could not connect. Probes without a path count in the gap over all clients only.
- `failed_during`: failed records of the window.
- `recovery_after_undo`: ms from the undo to the first ok record starting before `until_us` that the
  target served (as balancer or as backend).
- `collateral_broken_connections`: persistent connections (process, connection) that broke in the
  window, a failure right after an ok answer on that connection, while that answer came from a
  balancer other than the failed ones: established flows broken by ECMP rehashing, not by the fault.
  A connection opened after the fault counts; one already broken before it (its failed reconnects
  keep its id) does not.
- `locality`, per client site (the record's `site`), over its ok records with a known balancer that
  start in the window: `requests` (their count), `local_share` (the part served by a balancer whose
  site, in the host -> site mapping, is the client's site), `p50_ms` (their median latency),
  `p50_local_ms` (the median of those served locally), `added_ms` = `p50_ms` - `p50_local_ms` (None
  without a locally served one), and `balancer_share` (each balancer's part of them, sums to 1).
- `fault_groups`: fault events played together (one block of `Faults.together()`, a scenario's
  second: the same `together` number), or each within `TOGETHER_MS` (100 ms) of the one before (files
  without the number), are one group (a site going down), measured once; its window runs from its first
  fault to the next event (another fault, any undo) or the run's end, so that a later fault's outage
  is never the earlier one's.
- `fault_report`, per group: the probe's gap over all clients and each path's, failed requests and failed probes, collateral broken
  connections (the group's targets as the failed balancers), all in the group's window; the
  recovery after the first fault's undo (the next undo of the same fault and target) from requests
  and probes, before the target's next fault or the run's end; the balancer share of the ok requests
  in the window.
- `steady_window`: where the load ran at its full number of users, from `WARM_UP_MS` (5 s) after the
  first request of the last of them to start (but not after the first fault) to the end of the load's
  schedule: throughput over the run leaves out start-up (Locust's own start takes a core for a second,
  pgpool's children open their backend connections) and drain.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loadgen.records import OK, OUTCOMES
from stand.model.events import FaultEvent, as_fault_events

PERSISTENT = "persistent"  # loadgen.client.PERSISTENT (not imported: that module pulls in asyncpg and the stand)
FAILED_OUTCOMES = tuple(o for o in OUTCOMES if o != OK)
STABLE_MS = 1000.0  # failures must have stopped this long for an outage to be over
LATE_MS = 900.0  # an ok answer later than this came after a SYN retransmission (TCP's first waits 1 s)
ONSET_MS = 1000.0  # an outage that a fault causes begins within this; a failure first seen later is not its gap
TOGETHER_MS = 100.0  # faults this close, each to the one before, were played together: measured as one
WARM_UP_MS = 5000.0  # after the last user's first request: pgpool's children open their backend connections (a fresh stand saturated both cores for 5-7 s here); not measured


@dataclass(frozen=True)
class Summary:
    """Counts, throughput and latency of the records starting in `[start_us, end_us)`."""

    start_us: int
    end_us: int
    requests: int
    ok: int
    failed: int
    failed_by_outcome: dict[str, int]  # every failed outcome, zeros included
    throughput_rps: float  # ok records per second of the window
    p50_ms: float | None  # latencies of ok records; None without any
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    offered_rps: float | None = None  # requests due in the window a second (an open-loop rate); None: closed loop
    min_ms: float | None = None
    mean_ms: float | None = None
    stddev_ms: float | None = None  # the population's (ddof 0); 0 for one value


@dataclass(frozen=True)
class Phase:
    """A stretch of the run between two events, `[start_us, end_us)`."""

    name: str
    start_us: int
    end_us: int


@dataclass(frozen=True)
class Gap:
    """The failover gap seen by the probe after a fault (see the module's docstring)."""

    fault_us: int
    until_us: int
    gap_ms: float | None  # None: not recovered, or no probe in the window
    recovered: bool
    recovery_us: int | None  # start of the first probe of the stable ok run; fault_us when nothing failed
    confirmed: bool  # the whole stable_ms after recovery_us lies before until_us
    probes: int  # probes of the window (started in it, or in flight at the fault and affected by it)
    failed_probes: int
    late_probes: int  # ok, but answered after LATE_MS: they started while the path was down
    period_ms: float | None  # the longest of the probe streams' median intervals between starts; None below 2
    resolution_ms: float | None  # = period_ms


@dataclass(frozen=True)
class FaultMetrics:
    """What one fault did, from the fault to its undo or the run's end (see the module's docstring)."""

    fault: str
    target: str
    fault_us: int
    undo_us: int | None  # None: not undone before the run's end
    together: tuple[str, ...]  # the other faults played with it ("node-crash PgSpb"), measured with it as one
    until_us: int  # the window's end: the next event that is not one of these faults, or the run's end
    gap: Gap  # over all clients: every probe of the window, whatever its path
    path_gaps: dict[str, Gap]  # each path's own (see `path_gaps`); empty for probes without paths
    failed_requests: int  # from the fault to the undo (or the run's end)
    failed_probes: int
    collateral_broken_connections: int
    recovery_ms: float | None  # after the undo, from requests and probes; None if not undone or not served
    balancer_share: dict[str, float]  # ok requests of the phase after the fault
    together_targets: tuple[str, ...] = ()  # the targets of the faults played with it

    @property
    def failed_path(self) -> tuple[str, Gap] | None:
        """The failed path and its gap: the path of a balancer the faults targeted, else the path with the
        longest gap (a fault of the router or of a backend); None without paths."""
        targets = {self.target, *self.together_targets}
        return longest_gap({p: g for p, g in self.path_gaps.items() if p in targets} or self.path_gaps)


@dataclass(frozen=True)
class SiteLocality:
    """Where one client site's ok requests were served (see `locality`)."""

    site: str  # the clients' site, the records' `site`
    requests: int  # ok records of the site with a known balancer, starting in the window
    local_share: float | None  # part of them served by a balancer of the same site; None without any
    p50_ms: float | None  # median latency of them; None without any
    p50_local_ms: float | None  # median latency of those served locally; None without any
    added_ms: float | None  # p50_ms - p50_local_ms; None without a locally served one
    balancer_share: dict[str, float]  # each balancer's part of them (sums to 1), by balancer name


def _window(records: pd.DataFrame, start_us: int | None, end_us: int | None) -> pd.DataFrame:
    """The records starting in `[start_us, end_us)`: a slice when they are in start order (as
    `read_records` gives them: no copy of 10M rows for each window), else a filter."""
    start = records["start_us"]
    if start.is_monotonic_increasing:
        values = start.to_numpy()
        first = 0 if start_us is None else int(np.searchsorted(values, start_us, side="left"))
        last = len(values) if end_us is None else int(np.searchsorted(values, end_us, side="left"))
        return records.iloc[first : max(first, last)]
    keep = pd.Series(True, index=records.index)
    if start_us is not None:
        keep &= start >= start_us
    if end_us is not None:
        keep &= start < end_us
    return records[keep]


def summary(requests: pd.DataFrame, start_us: int | None = None, end_us: int | None = None) -> Summary:
    """Totals, throughput and ok latencies of the records starting in the window; records with a schedule
    (an open-loop rate) start when they were due and their latencies run from then (`on_schedule`)."""
    rows = _window(on_schedule(requests), start_us, end_us)
    if start_us is None:
        start_us = int(rows["start_us"].min()) if len(rows) else 0
    if end_us is None:
        end_us = int((rows["start_us"] + rows["latency_ms"] * 1000).max()) if len(rows) else start_us
    ok = rows["outcome"] == OK
    latency = rows.loc[ok, "latency_ms"].to_numpy(dtype=float)
    p50, p95, p99 = np.percentile(latency, [50, 95, 99]).tolist() if len(latency) else (None, None, None)
    seconds = (end_us - start_us) / 1e6
    return Summary(
        start_us=start_us,
        end_us=end_us,
        requests=len(rows),
        ok=int(ok.sum()),
        failed=int((~ok).sum()),
        failed_by_outcome={o: int((rows["outcome"] == o).sum()) for o in FAILED_OUTCOMES},
        throughput_rps=int(ok.sum()) / seconds if seconds > 0 else 0.0,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        max_ms=float(latency.max()) if len(latency) else None,
        offered_rps=_offered(rows, seconds),
        min_ms=float(latency.min()) if len(latency) else None,
        mean_ms=float(latency.mean()) if len(latency) else None,
        stddev_ms=float(latency.std()) if len(latency) else None,
    )


# p0 .. p99.9 as -log10(1 - p): 0 .. 3 in tenths, with p50 (0.301) in place of 0.3
DISTRIBUTION_NINES = tuple(sorted({round(i * 0.1, 1) for i in range(31)} - {0.3} | {math.log10(2)}))
DISTRIBUTION_PERCENTILES = tuple(round(100 * (1 - 10**-n), 6) for n in DISTRIBUTION_NINES)


@dataclass(frozen=True)
class LatencyDistribution:
    """Ok latencies at `DISTRIBUTION_PERCENTILES` (p0 .. p99.9) and the largest (see `latency_distribution`)."""

    count: int
    percentiles_ms: list[float]  # one per DISTRIBUTION_PERCENTILES
    max_ms: float


def latency_distribution(
    requests: pd.DataFrame, start_us: int | None = None, end_us: int | None = None
) -> LatencyDistribution | None:
    """The ok latencies of the records starting in the window, from p0 to p99.9 and the largest; None
    without an ok record."""
    rows = _window(on_schedule(requests), start_us, end_us)
    latency = rows.loc[rows["outcome"] == OK, "latency_ms"].to_numpy(dtype=float)
    if not len(latency):
        return None
    values = np.percentile(latency, DISTRIBUTION_PERCENTILES).tolist()
    return LatencyDistribution(count=len(latency), percentiles_ms=values, max_ms=float(latency.max()))


@dataclass(frozen=True)
class ErrorClass:
    """The failed requests of one outcome and error class, with a sample message."""

    outcome: str
    error_class: str  # "" when the client recorded none
    count: int
    sample: str  # the first message of that class ("" when none)


def error_classes(requests: pd.DataFrame) -> list[ErrorClass]:
    """Every failed request's outcome and error class, most frequent first."""
    failed = requests.loc[requests["outcome"] != OK, ["outcome", "error_class", "error_text"]]
    if failed.empty:
        return []
    failed = failed.astype(object).fillna({"error_class": "", "error_text": ""})
    grouped = failed.groupby(["outcome", "error_class"], sort=False)
    counts, samples = grouped.size(), grouped["error_text"].first()
    rows = [ErrorClass(str(o), str(c), int(n), str(samples[(o, c)])) for (o, c), n in counts.items()]
    return sorted(rows, key=lambda r: (-r.count, r.outcome, r.error_class))


def _offered(rows: pd.DataFrame, seconds: float) -> float | None:
    if "scheduled_us" not in rows.columns or not rows["scheduled_us"].notna().any() or seconds <= 0:
        return None
    return int(rows["scheduled_us"].notna().sum()) / seconds


def _share(records: pd.DataFrame, column: str, start_us: int, end_us: int) -> dict[str, float]:
    rows = _window(records, start_us, end_us)
    counts = rows.loc[rows["outcome"] == OK, column].value_counts(normalize=True)  # unknown hosts left out
    counts = counts[counts > 0]  # a categorical column counts its every category
    return {str(host): float(share) for host, share in sorted(counts.items())}


def balancer_share(requests: pd.DataFrame, start_us: int, end_us: int) -> dict[str, float]:
    """Each balancer's part of the ok records starting in the window; empty without any."""
    return _share(requests, "balancer", start_us, end_us)


def backend_share(requests: pd.DataFrame, start_us: int, end_us: int) -> dict[str, float]:
    """Each backend's part of the ok records starting in the window; empty without any."""
    return _share(requests, "backend", start_us, end_us)


def locality(
    requests: pd.DataFrame, sites: Mapping[str, str], start_us: int | None = None, end_us: int | None = None
) -> list[SiteLocality]:
    """Per client site, in site name order: how much of its ok traffic stayed on its own site's balancers.

    `sites` maps every host name (as the records name balancers) to its site. A client site is the
    records' `site`; every site with a record starting in the window gets an entry, records without a
    site are left out. Counted are the site's ok records with a known balancer (failures have none and
    say nothing about where work was served): `requests` is their number. A record is served locally
    when `sites[balancer]` is the client's site; a balancer missing from `sites` is not local.
    `local_share` = locally served / `requests`. `p50_ms` is the median latency of the counted records,
    `p50_local_ms` that of the locally served ones (linear interpolation, numpy's default, as `summary`),
    and `added_ms` = `p50_ms` - `p50_local_ms`: how much the site's typical request paid for the part
    served elsewhere (0 when every request stayed local; None without a locally served request).
    `balancer_share` is each balancer's part of the counted records, by balancer name.
    """
    rows = _window(requests, start_us, end_us)
    rows = rows[rows["site"].notna()]
    result = []
    for site in sorted(set(rows["site"].unique())):
        own = rows[rows["site"] == site]
        served = own[(own["outcome"] == OK) & own["balancer"].notna()]
        at_home = [host for host, host_site in sites.items() if host_site == site]
        local = served["balancer"].isin(at_home).to_numpy(dtype=bool)
        latency = served["latency_ms"].to_numpy(dtype=float)
        p50 = float(np.percentile(latency, 50)) if len(latency) else None
        p50_local = float(np.percentile(latency[local], 50)) if local.any() else None
        shares = served["balancer"].value_counts(normalize=True)
        shares = shares[shares > 0]
        result.append(
            SiteLocality(
                site=str(site),
                requests=len(served),
                local_share=float(local.mean()) if len(served) else None,
                p50_ms=p50,
                p50_local_ms=p50_local,
                added_ms=p50 - p50_local if p50 is not None and p50_local is not None else None,
                balancer_share={str(b): float(share) for b, share in sorted(shares.items())},
            )
        )
    return result


def phases(events: Sequence[FaultEvent | Mapping[str, Any]], run_start_us: int, run_end_us: int) -> list[Phase]:
    """The run cut at every event; events must be in time order within the run."""
    events = as_fault_events(events)
    times = [run_start_us, *(e.t_us for e in events), run_end_us]
    if times != sorted(times):
        raise ValueError("events must be in time order within the run")
    names = ["before"] + [f"after {'undo ' if e.action == 'undo' else ''}{e.fault} {e.target}" for e in events]
    return [Phase(name, start, end) for name, start, end in zip(names, times, times[1:])]


@dataclass(frozen=True)
class ProbeLag:
    """How late the probe started against its schedule (open loop: it should never be)."""

    probes: int  # probes with a recorded schedule
    p50_ms: float | None  # None: no schedule recorded (results of older versions)
    p99_ms: float | None
    max_ms: float | None


def on_schedule(probe: pd.DataFrame) -> pd.DataFrame:
    """The probe's records as its schedule has them: each starts when it was due (`scheduled_us`, where
    recorded), and its latency runs from then, so a probe the load generator sent late is as late as a
    client arriving on time would have found the service."""
    scheduled = probe["scheduled_us"].notna() if "scheduled_us" in probe.columns else None
    if scheduled is None or not (scheduled & (probe["start_us"] != probe["scheduled_us"])).any():
        return probe  # no schedule recorded, or already on it (fault_report's, then failover_gap's call)
    lag_ms = (probe["start_us"] - probe["scheduled_us"]).where(scheduled, 0) / 1000
    return probe.assign(
        start_us=probe["scheduled_us"].where(scheduled, probe["start_us"]).astype("int64"),
        latency_ms=probe["latency_ms"] + lag_ms,
    )


def probe_lag(probe: pd.DataFrame, start_us: int | None = None, end_us: int | None = None) -> ProbeLag:
    """Start minus schedule of every probe with a recorded schedule (percentiles as `summary`), of those due
    in `[start_us, end_us)` when given (the measured window: start-up is not measured)."""
    rows = probe[probe["scheduled_us"].notna()] if "scheduled_us" in probe.columns else probe.iloc[0:0]
    if start_us is not None:
        rows = rows[(rows["scheduled_us"] >= start_us) & (rows["scheduled_us"] < end_us)]
    lag = ((rows["start_us"] - rows["scheduled_us"]) / 1000).to_numpy(dtype=float)
    if not len(lag):
        return ProbeLag(0, None, None, None)
    p50, p99 = np.percentile(lag, [50, 99]).tolist()
    return ProbeLag(len(lag), p50, p99, float(lag.max()))


def fault_name(fault: str, target: str, together: Sequence[str] = ()) -> str:
    """ "node-crash RtSpb", or "node-crash RtSpb + 2" for faults played together (one group)."""
    return f"{fault} {target}" + (f" + {len(together)}" if together else "")


def _ends_us(rows: pd.DataFrame) -> np.ndarray:
    return rows["start_us"].to_numpy(dtype=np.int64) + (rows["latency_ms"].to_numpy(dtype=float) * 1000).astype(
        np.int64
    )


def affected(rows: pd.DataFrame, late_ms: float = LATE_MS) -> np.ndarray:
    """Records that met an outage: failed, or answered only after `late_ms` (a SYN retransmission)."""
    return ((rows["outcome"] != OK) | (rows["latency_ms"] > late_ms)).to_numpy(dtype=bool)


def _charged(records: pd.DataFrame, fault_us: int, until_us: int, in_flight_since_us: int | None, late_ms: float):
    """The records a window `[fault_us, until_us)` holds, each with the time it counts at: its start, or
    `fault_us` for an affected record that started in `[in_flight_since_us, fault_us)` and was still in
    flight at the fault (its outcome is the fault's doing)."""
    inside = _window(records, fault_us, until_us)
    times = inside["start_us"].to_numpy(dtype=np.int64)
    if in_flight_since_us is None:
        return inside, times
    before = _window(records, in_flight_since_us, fault_us)
    caught = before[affected(before, late_ms) & (_ends_us(before) >= fault_us)]
    rows = pd.concat([caught, inside]) if len(caught) else inside
    return rows, np.concatenate([np.full(len(caught), fault_us, dtype=np.int64), times])


def _streams(rows: pd.DataFrame) -> list[np.ndarray]:
    """The start times of each probe stream (one process at one site, on one path), sorted."""
    keys = [key for key in ("site", "process", "path") if key in rows.columns]
    if not keys or not len(rows):
        return [np.sort(rows["start_us"].to_numpy(dtype=np.int64))] if len(rows) else []
    groups = rows.groupby(keys, dropna=False, sort=True, observed=True)["start_us"]
    return [np.sort(starts.to_numpy(dtype=np.int64)) for _, starts in groups]


def failover_gap(
    probe: pd.DataFrame,
    fault_us: int,
    until_us: int,
    stable_ms: float = STABLE_MS,
    late_ms: float = LATE_MS,
    onset_ms: float = ONSET_MS,
    in_flight_since_us: int | None = None,
) -> Gap:
    """How long after the fault new clients could not be served (see the module's docstring)."""
    probe = on_schedule(probe)
    rows, times = _charged(probe, fault_us, until_us, in_flight_since_us, late_ms)
    order = np.argsort(times, kind="stable")
    times, hit = times[order], affected(rows, late_ms)[order]
    clean = ~hit
    periods = [float(np.median(np.diff(s))) / 1000 for s in _streams(_window(probe, fault_us, until_us)) if len(s) >= 2]
    period_ms = max(periods) if periods else None
    hit_times = times[hit]

    recovery_us: int | None = None
    if len(times) and (not len(hit_times) or hit_times[0] >= fault_us + onset_ms * 1000):
        recovery_us = fault_us  # nothing met an outage right after the fault: a stray failure later is not its gap
    elif len(hit_times):
        candidates = times[clean & (times >= hit_times[0])]
        following = np.searchsorted(hit_times, candidates, side="left")  # first affected one at or after each
        next_hit = np.append(hit_times, np.iinfo(np.int64).max)[following]
        stable = next_hit >= candidates + stable_ms * 1000
        if stable.any():
            recovery_us = int(candidates[np.argmax(stable)])

    recovered = recovery_us is not None
    return Gap(
        fault_us=fault_us,
        until_us=until_us,
        gap_ms=(recovery_us - fault_us) / 1000 if recovered else None,
        recovered=recovered,
        recovery_us=recovery_us,
        confirmed=recovered and recovery_us + stable_ms * 1000 <= until_us,
        probes=len(times),
        failed_probes=int((rows["outcome"] != OK).sum()),
        late_probes=int(((rows["outcome"] == OK) & (rows["latency_ms"] > late_ms)).sum()),
        period_ms=period_ms,
        resolution_ms=period_ms,
    )


def path_gaps(
    probe: pd.DataFrame,
    fault_us: int,
    until_us: int,
    stable_ms: float = STABLE_MS,
    in_flight_since_us: int | None = None,
) -> dict[str, Gap]:
    """`failover_gap` of each path's probes alone, by path name (see the module's docstring)."""
    if "path" not in probe.columns:
        return {}
    return {
        str(path): failover_gap(rows, fault_us, until_us, stable_ms, in_flight_since_us=in_flight_since_us)
        for path, rows in probe[probe["path"].notna()].groupby("path", sort=True, observed=True)
    }


def longest_gap(gaps: Mapping[str, Gap]) -> tuple[str, Gap] | None:
    """The path whose gap is the longest (not recovered: longer than any); None without any path."""
    if not gaps:
        return None
    return max(gaps.items(), key=lambda item: (not item[1].recovered, item[1].gap_ms or 0.0))


def failed_during(requests: pd.DataFrame, start_us: int, end_us: int, in_flight_since_us: int | None = None) -> int:
    """Failed records of the window: those starting in it, and (with `in_flight_since_us`) those in flight at
    its start that started after `in_flight_since_us` and failed."""
    rows, _ = _charged(requests[requests["outcome"] != OK], start_us, end_us, in_flight_since_us, LATE_MS)
    return len(rows)


def recovery_after_undo(requests: pd.DataFrame, undo_us: int, target: str, until_us: int) -> float | None:
    """Ms from the undo until the target serves an ok record again (None if not before `until_us`)."""
    rows = _window(requests, undo_us, until_us)
    served = rows[(rows["outcome"] == OK) & ((rows["balancer"] == target) | (rows["backend"] == target))]
    return (int(served["start_us"].min()) - undo_us) / 1000 if len(served) else None


def collateral_broken_connections(
    requests: pd.DataFrame,
    fault_us: int,
    until_us: int,
    failed_balancers: str | Collection[str],
    in_flight_since_us: int | None = None,
) -> int:
    """Persistent connections that broke in the window (a failure right after an ok answer) while their
    last answer came from a balancer other than the failed ones."""
    failed_balancers = {failed_balancers} if isinstance(failed_balancers, str) else set(failed_balancers)
    keys = ["process", "connection"]
    persistent = requests[requests["mode"] == PERSISTENT].sort_values([*keys, "start_us"], kind="stable")
    previous = persistent.groupby(keys, sort=False, observed=True)[["outcome", "balancer"]].shift(1)
    breaks = persistent[(persistent["outcome"] != OK) & (previous["outcome"] == OK)].assign(
        previous_balancer=previous["balancer"]
    )
    rows, _ = _charged(breaks, fault_us, until_us, in_flight_since_us, LATE_MS)
    elsewhere = rows[rows["previous_balancer"].notna() & ~rows["previous_balancer"].isin(failed_balancers)]
    return len(elsewhere[keys].drop_duplicates())


def _next_index(events: Sequence[FaultEvent], after: int, action: str, fault: str | None, target: str) -> int | None:
    """The index of the first event after `after` with this action and target (and fault, unless None)."""
    return next(
        (
            i
            for i in range(after + 1, len(events))
            if events[i].action == action and events[i].target == target and fault in (None, events[i].fault)
        ),
        None,
    )


@dataclass(frozen=True)
class FaultGroup:
    """Faults played together (one block, or each within TOGETHER_MS of the one before), and the window they own."""

    first: int  # index of the first fault's event
    last: int  # index of the last one's
    start_us: int
    until_us: int  # the next event after them, or the run's end
    in_flight_since_us: int | None  # the previous event (or 0), when the stretch before was not a fault's


def _same_block(a: FaultEvent, b: FaultEvent) -> bool:
    return a.together is not None and a.together == b.together


def fault_groups(events: Sequence[FaultEvent], run_end_us: int, together_ms: float = TOGETHER_MS) -> list[FaultGroup]:
    """The fault events grouped by time, each group with its window."""
    groups, index = [], 0
    while index < len(events):
        if events[index].action != "fault":
            index += 1
            continue
        last = index
        while (
            last + 1 < len(events)
            and events[last + 1].action == "fault"
            and (
                _same_block(events[last], events[last + 1])
                or events[last + 1].t_us - events[last].t_us <= together_ms * 1000
            )
        ):
            last += 1
        until_us = events[last + 1].t_us if last + 1 < len(events) else run_end_us
        quiet_before = index == 0 or events[index - 1].action == "undo"
        since = (events[index - 1].t_us if index else 0) if quiet_before else None
        groups.append(FaultGroup(index, last, events[index].t_us, until_us, since))
        index = last + 1
    return groups


def fault_report(
    requests: pd.DataFrame,
    probe: pd.DataFrame,
    events: Sequence[FaultEvent | Mapping[str, Any]],
    run_end_us: int,
    stable_ms: float = STABLE_MS,
) -> list[FaultMetrics]:
    """The metrics of every group of faults played together, in its window (see the module's docstring)."""
    events = as_fault_events(events)
    probe = on_schedule(probe)
    report = []
    for group in fault_groups(events, run_end_us):
        event = events[group.first]
        members = events[group.first : group.last + 1]
        start_us, until_us, since_us = group.start_us, group.until_us, group.in_flight_since_us
        undo = _next_index(events, group.first, "undo", event.fault, event.target)
        recovery_ms = None
        if undo is not None:
            refault = _next_index(events, undo, "fault", None, event.target)
            served_until_us = events[refault].t_us if refault is not None else run_end_us
            served = [
                recovery_after_undo(r, events[undo].t_us, event.target, served_until_us) for r in (requests, probe)
            ]
            recovery_ms = min((ms for ms in served if ms is not None), default=None)
        report.append(
            FaultMetrics(
                fault=event.fault,
                target=event.target,
                fault_us=start_us,
                undo_us=events[undo].t_us if undo is not None else None,
                together=tuple(f"{e.fault} {e.target}" for e in members[1:]),
                together_targets=tuple(e.target for e in members[1:]),
                until_us=until_us,
                gap=failover_gap(probe, start_us, until_us, stable_ms, in_flight_since_us=since_us),
                path_gaps=path_gaps(probe, start_us, until_us, stable_ms, since_us),
                failed_requests=failed_during(requests, start_us, until_us, since_us),
                failed_probes=failed_during(probe, start_us, until_us, since_us),
                collateral_broken_connections=collateral_broken_connections(
                    requests, start_us, until_us, {e.target for e in members}, since_us
                ),
                recovery_ms=recovery_ms,
                balancer_share=balancer_share(requests, start_us, until_us),
            )
        )
    return report


def first_fault_us(events: Sequence[FaultEvent]) -> int | None:
    return next((e.t_us for e in events if e.action == "fault"), None)


def steady_window(
    requests: pd.DataFrame,
    users: int,
    load_end_us: int,
    first_fault_us: int | None = None,
    warm_up_ms: float = WARM_UP_MS,
) -> tuple[int, int] | None:
    """Where the load ran at its full number of users: from `warm_up_ms` after the first request of the
    `users`-th user to start (start-up is over), but not after the first fault, to `load_end_us`, the end
    of the load's schedule (what starts later is its drain). None when fewer users ever started, or the
    window is empty."""
    if not len(requests) or users <= 0:
        return None
    firsts = np.sort(
        requests.groupby(["process", "user"], sort=False, observed=True)["start_us"].min().to_numpy(dtype=np.int64)
    )
    if len(firsts) < users:
        return None
    start_us = int(firsts[users - 1] + warm_up_ms * 1000)
    if first_fault_us is not None:
        start_us = max(int(firsts[users - 1]), min(start_us, first_fault_us))
    return (start_us, load_end_us) if start_us < load_end_us else None


def measured_window(
    requests: pd.DataFrame, users: int, started_us: int, load_end_us: int, first_fault_us: int | None = None
) -> tuple[int, int]:
    """The window a run's headline figures are taken over: the steady window, or (when the load never ran
    at its full number of users) from the run's start to the end of the load's schedule."""
    return steady_window(requests, users, load_end_us, first_fault_us) or (started_us, load_end_us)
