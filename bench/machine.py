"""While a run plays: every second, where the machine's CPU went (machine.jsonl), so that a run knows when
the machine, not the design, made its figures (reports/validity.py)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from bench.results import MachineSample
from stand.linux.cpu import cpu_used, machine_times, process_times

SAMPLE_S = 1.0


class MachineMonitor(threading.Thread):
    """Samples the machine each second until stopped, appending to `path`. `hosts_by_netns` names the stand's
    hosts by the inode of their network namespace; `load_groups()` gives the process groups of the load."""

    def __init__(self, path: Path, hosts_by_netns: dict[int, str], load_groups):
        super().__init__(name="machine-monitor", daemon=True)
        self.path = path
        self.hosts_by_netns = hosts_by_netns
        self.load_groups = load_groups
        self._stopping = threading.Event()

    def run(self) -> None:
        machine, processes, at = machine_times(), process_times(), time.monotonic()
        with open(self.path, "a") as out:
            while not self._stopping.wait(max(0.0, at + SAMPLE_S - time.monotonic())):
                now_machine, now_processes, now = machine_times(), process_times(), time.monotonic()
                out.write(self.sample(machine, now_machine, processes, now_processes, now - at).to_json())
                out.flush()
                machine, processes, at = now_machine, now_processes, now

    def sample(self, machine, now_machine, processes, now_processes, seconds: float) -> MachineSample:
        total = (now_machine.total - machine.total) or 1.0
        used = cpu_used(processes, now_processes)
        load = set(self.load_groups())
        hosts: dict[str, float] = dict.fromkeys(self.hosts_by_netns.values(), 0.0)
        load_cpu = 0.0
        for pid, cpu_s in used.items():
            info = now_processes[pid]
            if info.pgrp in load:
                load_cpu += cpu_s
            elif info.netns in self.hosts_by_netns:
                hosts[self.hosts_by_netns[info.netns]] += cpu_s
        return MachineSample(
            t_us=time.time_ns() // 1000,
            busy=(now_machine.busy - machine.busy) / total,
            idle=(now_machine.idle - machine.idle) / total,
            iowait=(now_machine.iowait - machine.iowait) / total,
            steal=(now_machine.steal - machine.steal) / total,
            load_cores=load_cpu / seconds,
            host_cores={host: cpu_s / seconds for host, cpu_s in sorted(hosts.items())},
        )

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)


def hosts_by_netns(namespaces: dict[str, str]) -> dict[int, str]:
    """Host name by the inode of its network namespace, from namespace name -> host name."""
    found = {}
    for namespace, host in namespaces.items():
        try:
            found[os.stat(f"/run/netns/{namespace}").st_ino] = host
        except OSError:
            continue
    return found
