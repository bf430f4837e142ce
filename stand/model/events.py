"""Fault events: every fault and undo played on a stand, one JSON object a line (`events.jsonl`).

Each carries a wall-clock timestamp in µs, on the same clock as the request records, taken just before
the fault takes effect. The stand's faults append them; `bench run` keeps them in the results directory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FaultEvent:
    """One fault or undo."""

    t_us: int  # wall clock, µs, the clock of the records' start_us
    action: str  # "fault" or "undo"
    fault: str  # e.g. "node-crash", "pgpool-kill", "drain"
    target: str  # host name, e.g. "PgBAL1"
    params: dict = field(default_factory=dict)  # the fault's options, e.g. {"network": "routed"}
    together: int | None = None  # the block of steps played together (a scenario's second), numbered; None: alone


def append_event(path: Path, event: FaultEvent) -> None:
    """One more line of the events file."""
    with open(path, "a") as f:
        f.write(json.dumps(asdict(event)) + "\n")


def read_events(path: Path) -> list[FaultEvent]:
    """Every event of the file in the order written; none when there is no file."""
    if not path.exists():
        return []
    return [FaultEvent(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def as_fault_events(events: Iterable[FaultEvent | Mapping[str, Any]]) -> list[FaultEvent]:
    """Events given as FaultEvent or as their lines of events.jsonl (`json.loads`), each a FaultEvent."""
    return [e if isinstance(e, FaultEvent) else FaultEvent(**e) for e in events]
