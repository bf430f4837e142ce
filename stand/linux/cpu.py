"""Where this machine's CPU goes: the whole machine (/proc/stat), and the processes by network namespace or
process group (/proc/PID/stat), read as deltas between samples."""

from __future__ import annotations

import time
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
    cpu_s: float  # user and system time so far, its own and its reaped children's
    pgrp: int
    netns: int  # the inode of its network namespace (0: unknown)


def process_times() -> dict[int, ProcessTimes]:
    """Every live process's CPU so far, process group and network namespace. A process's reaped children
    count as its own: PostgreSQL's sessions (a health check's lasts milliseconds) as their postmaster's,
    vtysh as its agent's; a child alive at both readings is also counted itself (a small excess)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name))
        netns = netns_inode_of(int(entry.name))
        if stat is not None and netns is not None:  # gone meanwhile otherwise
            found[int(entry.name)] = ProcessTimes(stat.start_ticks, stat.cpu_s + stat.children_cpu_s, stat.pgrp, netns)
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


OUTSIDE = "outside the stand"
MACHINE_THREADS = ("kdamond",)  # kernel threads that work for the machine, whatever runs on it
KTHREADD = 2  # the kernel threads' parent, in the initial network namespace (PID 1 may hide its own)


def component_of(pid: int) -> str:
    """What a process is part of, for a CPU budget: "delay lines", "FRR bfdd", "pgpool", "PostgreSQL",
    "Locust", ...; "kernel" for the kernel threads that do the stand's work (softirqs, workqueues),
    OUTSIDE for the machine's own (the memory monitor kdamond, the VM's agent, this shell), "other" for
    the rest in the stand's namespaces ("" when it is gone)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    if not cmdline[0]:
        return OUTSIDE if comm.startswith(MACHINE_THREADS) else "kernel"
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
    return OUTSIDE if netns_inode_of(pid) == netns_inode_of(KTHREADD) else "other"


def cpu_by_component(before: dict[int, ProcessTimes], after: dict[int, ProcessTimes]) -> dict[str, float]:
    """CPU seconds each component used between two readings (`process_times`)."""
    used: dict[str, float] = {}
    for pid, cpu_s in cpu_used(before, after).items():
        component = component_of(pid)
        if component:
            used[component] = used.get(component, 0.0) + cpu_s
    return used


@dataclass(frozen=True)
class CpuWindow:
    """Where the machine's CPU went over a window, in cores: the guest's busy time (not the hypervisor's
    steal, which is another guest's), its part outside the stand, and each component's."""

    seconds: float
    busy: float
    steal: float
    components: dict[str, float]

    @property
    def outside(self) -> float:
        return self.components.get(OUTSIDE, 0.0)

    @property
    def stand(self) -> float:
        """What the stand costs: everything busy but the machine's own processes (the kernel's work for
        the stand's frames and the processes that exit in between included)."""
        return max(0.0, self.busy - self.outside)


def cpu_window(seconds: float, sleep=time.sleep) -> CpuWindow:
    """Measure the machine for `seconds` from now."""
    machine, processes, started = machine_times(), process_times(), time.monotonic()
    sleep(seconds)
    now_machine, now_processes, elapsed = machine_times(), process_times(), time.monotonic() - started
    used = cpu_by_component(processes, now_processes)
    return CpuWindow(
        seconds=elapsed,
        busy=(now_machine.busy - machine.busy) / elapsed,
        steal=(now_machine.steal - machine.steal) / elapsed,
        components={component: cpu_s / elapsed for component, cpu_s in used.items()},
    )
