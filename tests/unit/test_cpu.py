"""The CPU budget's accounting: reaped children count as their parent's, the machine's own processes
are outside the stand, and the stand's share is the busy time less theirs."""

from __future__ import annotations

import os
import subprocess
import sys

from stand.linux import cpu
from stand.linux.process import read_stat


def test_a_reaped_child_counts_as_its_parents():
    before = read_stat(os.getpid())
    subprocess.run(
        [sys.executable, "-c", "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"],
        check=True,
    )
    after = read_stat(os.getpid())
    assert after.children_cpu_s - before.children_cpu_s >= 0.25
    times = cpu.process_times()[os.getpid()]
    assert times.cpu_s >= after.cpu_s + after.children_cpu_s - 0.05


def test_the_machines_own_processes_are_outside_the_stand():
    assert cpu.component_of(os.getpid()) == cpu.OUTSIDE  # this test, in the root namespace
    assert cpu.component_of(2) == "kernel"  # kthreadd: kernel threads do the stand's forwarding


def test_the_stands_share_is_the_busy_time_less_the_outside():
    window = cpu.CpuWindow(10.0, busy=0.5, steal=0.2, components={cpu.OUTSIDE: 0.15, "pgpool": 0.1})
    assert abs(window.stand - 0.35) < 1e-9  # steal is neither: another guest's
    assert cpu.CpuWindow(10.0, busy=0.1, steal=0.0, components={cpu.OUTSIDE: 0.2}).stand == 0.0


def test_a_window_measures_the_machine_over_its_seconds():
    window = cpu.cpu_window(0.2)
    assert 0.15 <= window.seconds < 5
    assert window.busy >= 0 and window.steal >= 0
