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
- `summary`: counts by outcome; throughput = ok records / window seconds; latency p50/p95/p99 are
  linearly interpolated percentiles (numpy's default) of the raw values, max is the largest value.
  Without `start_us` the window opens at the first record's start; without `end_us` it closes at the
  last record's finish (start + latency).
- `balancer_share`, `backend_share`: each host's part of the ok records in the window (sums to 1).
- `phases`: the run cut at every event: "before", then "after FAULT TARGET" or "after undo FAULT TARGET".
- `failover_gap`: from the probe, whose records start every period whatever the answers. Take the
  probes starting in `[fault_us, until_us)`. No failed probe: gap 0. Otherwise recovery is the start
  of the first ok probe P, not earlier than the first failed one, such that no probe starting in
  `[P, P + stable_ms)` failed; gap = recovery - fault. Failures interleaved with ok probes (ECMP sends
  only the flows hashed to a dead next hop there) therefore extend the gap until they stop for
  `stable_ms`, and a short ok run between failures does not end it. The stable window is cut at
  `until_us`: an ok run that reaches `until_us` recovers even when shorter than `stable_ms`, with
  `confirmed` False. No such P: not recovered, gap None. No probe in the window: nothing measured,
  gap None. The outage ended between P and the failed probe before it: within one probe period
  (`resolution_ms`, the median interval between probe starts) when every probe meets the fault, about
  period / share when only a share of the probes can.
- `failed_during`: failed records starting in the window.
- `recovery_after_undo`: ms from the undo to the first ok record starting before `until_us` that the
  target served (as balancer or as backend).
- `collateral_broken_connections`: persistent connections (process, connection) whose last ok record
  before the fault was served by a balancer other than the failed one, with a failed record starting
  in `[fault_us, until_us)`: established flows broken by ECMP rehashing, not by the fault itself.
- `locality`, per client site (the record's `site`), over its ok records with a known balancer that
  start in the window: `requests` (their count), `local_share` (the part served by a balancer whose
  site, in the host -> site mapping, is the client's site), `p50_ms` (their median latency),
  `p50_local_ms` (the median of those served locally), `added_ms` = `p50_ms` - `p50_local_ms` (None
  without a locally served one), and `balancer_share` (each balancer's part of them, sums to 1).
- `fault_report`, per "fault" event, until its undo (the next "undo" of the same fault and target) or
  the run's end: the probe's gap, failed requests and failed probes, collateral broken connections
  (the fault's target as the failed balancer); the recovery after the undo from requests and probes,
  before the target's next fault or the run's end; the balancer share of the ok requests from the
  fault to the next event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loadgen.records import OK, OUTCOMES
from stand.model.events import FaultEvent, as_fault_events

PERSISTENT = "persistent"  # loadgen.client.PERSISTENT (not imported: that module pulls in asyncpg and the stand)
FAILED_OUTCOMES = tuple(o for o in OUTCOMES if o != OK)


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
    probes: int  # probes starting in [fault_us, until_us)
    failed_probes: int
    period_ms: float | None  # median interval between their starts (of all streams in the frame); None below 2
    resolution_ms: float | None  # = period_ms


@dataclass(frozen=True)
class FaultMetrics:
    """What one fault did, from the fault to its undo or the run's end (see the module's docstring)."""

    fault: str
    target: str
    fault_us: int
    undo_us: int | None  # None: not undone before the run's end
    gap: Gap
    failed_requests: int  # from the fault to the undo (or the run's end)
    failed_probes: int
    collateral_broken_connections: int
    recovery_ms: float | None  # after the undo, from requests and probes; None if not undone or not served
    balancer_share: dict[str, float]  # ok requests of the phase after the fault


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
    keep = pd.Series(True, index=records.index)
    if start_us is not None:
        keep &= records["start_us"] >= start_us
    if end_us is not None:
        keep &= records["start_us"] < end_us
    return records[keep]


def summary(requests: pd.DataFrame, start_us: int | None = None, end_us: int | None = None) -> Summary:
    """Totals, throughput and ok latencies of the records starting in the window."""
    rows = _window(requests, start_us, end_us)
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
    )


def _share(records: pd.DataFrame, column: str, start_us: int, end_us: int) -> dict[str, float]:
    rows = _window(records, start_us, end_us)
    counts = rows.loc[rows["outcome"] == OK, column].value_counts(normalize=True)  # unknown hosts left out
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
    for site in sorted(set(rows["site"])):
        own = rows[rows["site"] == site]
        served = own[(own["outcome"] == OK) & own["balancer"].notna()]
        at_home = [host for host, host_site in sites.items() if host_site == site]
        local = served["balancer"].isin(at_home).to_numpy(dtype=bool)
        latency = served["latency_ms"].to_numpy(dtype=float)
        p50 = float(np.percentile(latency, 50)) if len(latency) else None
        p50_local = float(np.percentile(latency[local], 50)) if local.any() else None
        shares = served["balancer"].value_counts(normalize=True)
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


def failover_gap(probe: pd.DataFrame, fault_us: int, until_us: int, stable_ms: float = 1000) -> Gap:
    """How long after the fault the probe's traffic failed, until failures stopped for `stable_ms`."""
    rows = _window(probe, fault_us, until_us).sort_values("start_us", kind="stable")
    starts = rows["start_us"].to_numpy(dtype=np.int64)
    ok = (rows["outcome"] == OK).to_numpy()
    period_ms = float(np.median(np.diff(starts))) / 1000 if len(starts) >= 2 else None
    failure_starts = starts[~ok]

    recovery_us: int | None = None
    if len(starts) and not len(failure_starts):
        recovery_us = fault_us
    elif len(failure_starts):
        candidates = starts[ok & (starts >= failure_starts[0])]
        following = np.searchsorted(failure_starts, candidates, side="left")  # first failure at or after each
        next_failure = np.append(failure_starts, np.iinfo(np.int64).max)[following]
        stable = next_failure >= candidates + stable_ms * 1000
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
        probes=len(starts),
        failed_probes=len(failure_starts),
        period_ms=period_ms,
        resolution_ms=period_ms,
    )


def failed_during(requests: pd.DataFrame, start_us: int, end_us: int) -> int:
    """Failed records starting in the window."""
    rows = _window(requests, start_us, end_us)
    return int((rows["outcome"] != OK).sum())


def recovery_after_undo(requests: pd.DataFrame, undo_us: int, target: str, until_us: int) -> float | None:
    """Ms from the undo until the target serves an ok record again (None if not before `until_us`)."""
    rows = _window(requests, undo_us, until_us)
    served = rows[(rows["outcome"] == OK) & ((rows["balancer"] == target) | (rows["backend"] == target))]
    return (int(served["start_us"].min()) - undo_us) / 1000 if len(served) else None


def collateral_broken_connections(requests: pd.DataFrame, fault_us: int, until_us: int, failed_balancer: str) -> int:
    """Persistent connections on another balancer than the failed one that failed after the fault."""
    keys = ["process", "connection"]
    persistent = requests[requests["mode"] == PERSISTENT]
    before = persistent[(persistent["start_us"] < fault_us) & (persistent["outcome"] == OK)]
    last = before.sort_values("start_us", kind="stable").drop_duplicates(keys, keep="last")
    elsewhere = last.loc[last["balancer"].notna() & (last["balancer"] != failed_balancer), keys]
    after = _window(persistent, fault_us, until_us)
    broken = after.loc[after["outcome"] != OK, keys].drop_duplicates()
    return len(broken.merge(elsewhere, on=keys))


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


def fault_report(
    requests: pd.DataFrame,
    probe: pd.DataFrame,
    events: Sequence[FaultEvent | Mapping[str, Any]],
    run_end_us: int,
    stable_ms: float = 1000,
) -> list[FaultMetrics]:
    """The metrics of every "fault" event, until its undo or the run's end."""
    events = as_fault_events(events)
    report = []
    for index, event in enumerate(events):
        if event.action != "fault":
            continue
        fault_us, fault, target = event.t_us, event.fault, event.target
        undo = _next_index(events, index, "undo", fault, target)
        undo_us = events[undo].t_us if undo is not None else None
        until_us = undo_us if undo_us is not None else run_end_us
        phase_end_us = events[index + 1].t_us if index + 1 < len(events) else run_end_us
        recovery_ms = None
        if undo is not None:
            refault = _next_index(events, undo, "fault", None, target)
            served_until_us = events[refault].t_us if refault is not None else run_end_us
            served = [recovery_after_undo(r, events[undo].t_us, target, served_until_us) for r in (requests, probe)]
            recovery_ms = min((ms for ms in served if ms is not None), default=None)
        report.append(
            FaultMetrics(
                fault=fault,
                target=target,
                fault_us=fault_us,
                undo_us=undo_us,
                gap=failover_gap(probe, fault_us, until_us, stable_ms),
                failed_requests=failed_during(requests, fault_us, until_us),
                failed_probes=failed_during(probe, fault_us, until_us),
                collateral_broken_connections=collateral_broken_connections(requests, fault_us, until_us, target),
                recovery_ms=recovery_ms,
                balancer_share=balancer_share(requests, fault_us, phase_end_us),
            )
        )
    return report
