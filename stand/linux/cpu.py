"""Where this machine's CPU goes: the whole machine (/proc/stat), and the processes by network namespace or
process group (/proc/PID/stat), read as deltas between samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stand.linux.process import CLOCK_TICKS, netns_inode_of, read_stat


@dataclass(frozen=True)
class MachineTimes:
    """Cumulative CPU seconds of the whole machine, all cores together (the `cpu` line of /proc/stat)."""

    busy: float  # user, nice, system, irq, softirq
    idle: float
    iowait: float
    steal: float  # taken by the hypervisor for other guests

    @property
    def total(self) -> float:
        return self.busy + self.idle + self.iowait + self.steal


def machine_times(stat: Path = Path("/proc/stat")) -> MachineTimes:
    fields = [int(v) for v in stat.read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    seconds = [v / CLOCK_TICKS for v in (user + nice + system + irq + softirq, idle, iowait, steal)]
    return MachineTimes(*seconds)


@dataclass(frozen=True)
class ProcessTimes:
    start_ticks: int  # tells a reused PID apart
    cpu_s: float  # user and system time so far
    pgrp: int
    netns: int  # the inode of its network namespace (0: unknown)


def process_times() -> dict[int, ProcessTimes]:
    """Every live process's CPU so far, process group and network namespace."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name))
        netns = netns_inode_of(int(entry.name))
        if stat is not None and netns is not None:  # gone meanwhile otherwise
            found[int(entry.name)] = ProcessTimes(stat.start_ticks, stat.cpu_s, stat.pgrp, netns)
    return found


def cpu_used(before: dict[int, ProcessTimes], after: dict[int, ProcessTimes]) -> dict[int, float]:
    """CPU seconds each process used between two readings: a process new since the first counts whole
    (it started in between); one that ended in between is lost (its last share is small against a second)."""
    used = {}
    for pid, now in after.items():
        then = before.get(pid)
        used[pid] = now.cpu_s - then.cpu_s if then is not None and then.start_ticks == now.start_ticks else now.cpu_s
    return used


FRR_DAEMONS = ("zebra", "ospfd", "bfdd", "staticd", "watchfrr", "mgmtd")
PROGRAMS = (  # a Python process is named by the module it runs
    ("stand.programs.delayline", "delay lines"),
    ("stand.programs.agent", "health agents"),
    ("loadgen.probe", "probes"),
    ("locust", "Locust"),
    ("bench", "bench"),
)


def component_of(pid: int) -> str:
    """What a process is part of, for a CPU budget: "delay lines", "FRR bfdd", "pgpool", "PostgreSQL",
    "Locust", ...; "kernel" for kernel threads, "other" for the rest ("" when it is gone)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    if not cmdline[0]:
        return "kernel"
    words = [w.decode(errors="replace") for w in cmdline if w]
    if comm in FRR_DAEMONS:
        return f"FRR {comm}"
    if comm.startswith("pgpool") or words[0].endswith("pgpool"):
        return "pgpool"
    if comm == "postgres" or words[0].endswith("/postgres") or words[0].startswith("postgres:"):
        return "PostgreSQL"
    if comm == "keepalived":
        return "keepalived"
    for word in words[1:4]:
        for module, component in PROGRAMS:
            if word == module or word.endswith(f"/{module}") or (module == "locust" and word.endswith("locust")):
                return component
    return "other"


def cpu_by_component(before: dict[int, ProcessTimes], after: dict[int, ProcessTimes]) -> dict[str, float]:
    """CPU seconds each component used between two readings (`process_times`)."""
    used: dict[str, float] = {}
    for pid, cpu_s in cpu_used(before, after).items():
        component = component_of(pid)
        if component:
            used[component] = used.get(component, 0.0) + cpu_s
    return used
