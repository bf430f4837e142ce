"""Health decisions of a run: which withdrawals and VIP moves the faults explain, and which were false.

Inputs: the run's health decisions (`health.jsonl`: one JSON object a line, written by the anycast mode's
agents and keepalived's notify script, see stand/programs/agent.py), its fault events, and the request records.

Definitions (docs/metrics.md):
- A host's *changes* are its decisions of kind "state" whose `announced` differs from its previous one,
  plus every entry into a failed-check state (the agent's "down" on errors or no answer, keepalived's
  FAULT) even without a change of `announced`. Decisions before the run give the state it started in;
  changes are those in `[run_start_us, run_end_us)`.
- A change is *explained* when it happens while a fault could cause it: from a fault's injection to its
  undo plus `grace_s` (20 s after the undo of a fault that cut a network: pgpool then takes its backends
  back, restarting its children; to the run's end if not undone), for a fault on that host or on a host that is
  not a balancer (a backend, a router: every balancer may feel it). In the VIP modes the VIP moves back
  and forth among balancers while any balancer's fault is in effect (takeover, preemption): a change to
  a state other than a failed check is explained then by a fault on any host.
- A *false* change is a failed-check state, or an agent's withdrawal (announced before, not after),
  that no fault explains; a VIP master stepping down to BACKUP without a failed check of its own hands the
  VIP to a higher priority that is back (preemption), which is keepalived's design, not a false failover. `served_ok_before` counts the ok requests that the host served as balancer in the second
  before the change: pgpool answering while its health check said otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.results import read_decisions as read_decisions  # re-exported: benchmarks/ read a stand's decisions so
from loadgen.records import OK
from stand.model.events import FaultEvent, as_fault_events

FAILED_CHECK_STATES = {("agent", "down"), ("keepalived", "FAULT")}
CHECK_EVIDENCE = ("errors", "unresponsive", "vrrp")
GRACE_S = 5.0
# The undo of these faults brings a network back, and then every pgpool takes back the backends it detached
# (stand.faults.registry's `reattaches`, kept in step by a test): a failback that restarts pgpool's children and takes
# 10 s or more here. Health decisions during that repair are still the fault's.
REATTACH_FAULTS = ("node-crash", "link-cut", "link-netem")
REATTACH_GRACE_S = 20.0


@dataclass(frozen=True)
class HealthChange:
    """One change of a host's health decision during the run."""

    t_us: int
    host: str
    source: str  # "agent" or "keepalived"
    state: str
    announced: bool
    evidence: str
    reason: str
    withdrawal: bool  # announced before, not after
    explained_by: str  # "FAULT TARGET" of the fault that explains it, "" if none
    served_ok_before: int  # ok requests the host served in the second before

    @property
    def failed_check(self) -> bool:
        return (self.source, self.state) in FAILED_CHECK_STATES and self.evidence in CHECK_EVIDENCE

    @property
    def false(self) -> bool:
        """No fault explains it, and it took a balancer out: a failed check, or an agent's withdrawal. A VIP
        master stepping down to BACKUP without a failed check hands the VIP to a higher priority that came
        back (keepalived's preemption): the design's return, never a false failover by itself."""
        handover = self.source == "keepalived" and not self.failed_check
        return not self.explained_by and (self.failed_check or (self.withdrawal and not handover))


def health_changes(
    decisions: Iterable[dict],
    events: Sequence[FaultEvent | Mapping[str, Any]],
    balancers: Iterable[str],
    run_start_us: int,
    run_end_us: int,
    requests: pd.DataFrame | None = None,
    grace_s: float = GRACE_S,
    vip_mode: bool = False,
) -> list[HealthChange]:
    """Every change in the run, each marked with the fault that explains it (see the module docstring)."""
    events = as_fault_events(events)
    balancer_names = set(balancers)
    announced: dict[str, bool] = {}
    changes = []
    for decision in sorted((d for d in decisions if d.get("kind") == "state"), key=lambda d: d["t_us"]):
        host, now = decision["host"], bool(decision["announced"])
        before = announced.get(host, False)
        announced[host] = now
        failed_check = _failed_check(decision)
        if not (run_start_us <= decision["t_us"] < run_end_us) or (before == now and not failed_check):
            continue
        explained = _explaining_fault(
            decision["t_us"], host, events, balancer_names, run_end_us, grace_s, vip_mode and not failed_check
        )
        changes.append(
            HealthChange(
                t_us=decision["t_us"],
                host=host,
                source=decision.get("source", "agent"),
                state=decision["state"],
                announced=now,
                evidence=decision.get("evidence", ""),
                reason=decision.get("reason", ""),
                withdrawal=before and not now,
                explained_by=explained,
                served_ok_before=_served_ok(requests, host, decision["t_us"]),
            )
        )
    return changes


def _failed_check(decision: dict) -> bool:
    return (decision.get("source", "agent"), decision["state"]) in FAILED_CHECK_STATES and decision.get(
        "evidence"
    ) in CHECK_EVIDENCE


def _explaining_fault(
    t_us: int,
    host: str,
    events: Sequence[FaultEvent],
    balancers: set[str],
    run_end_us: int,
    grace_s: float,
    any_target: bool,
) -> str:
    for index, event in enumerate(events):
        if event.action != "fault" or event.t_us > t_us:
            continue
        undo = next(
            (
                e
                for e in events[index + 1 :]
                if e.action == "undo" and e.fault == event.fault and e.target == event.target
            ),
            None,
        )
        grace = max(grace_s, REATTACH_GRACE_S) if event.fault in REATTACH_FAULTS else grace_s
        until_us = undo.t_us + grace * 1e6 if undo is not None else run_end_us
        relevant = any_target or event.target == host or event.target not in balancers
        if relevant and t_us < until_us:
            return f"{event.fault} {event.target}"
    return ""


def _served_ok(requests: pd.DataFrame | None, host: str, t_us: int) -> int:
    if requests is None or requests.empty:
        return 0
    window = requests[(requests["start_us"] >= t_us - 1_000_000) & (requests["start_us"] < t_us)]
    return int(((window["balancer"] == host) & (window["outcome"] == OK)).sum())


def false_changes(changes: Sequence[HealthChange]) -> list[HealthChange]:
    return [c for c in changes if c.false]
