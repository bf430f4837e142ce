"""What the sites stand costs this machine: its CPU idle, and per 100 requests a second of the site
scenarios' load, per component (delay lines, each FRR daemon, agents, pgpool, PostgreSQL, Locust, probes).

Run as root with no stand up (or the sites stand up in the mode asked):
    .venv/bin/python benchmarks/sites_cost.py [--mode anycast] [--seconds 20] [--scenario site-balancer-crash]
Idle: the stand with nothing but itself for --seconds. Loaded: the scenario's load without its faults for
--seconds (bench run), from the moment every worker runs. Prints figures, in cores and in % of the whole
machine; asserts nothing. Targets (issue 18): idle at most 10% of the machine, at the scenarios' load
at least 30% of it left idle.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from bench.run import ensure_stand, results_dir, run
from bench.scenario import load as load_scenario
from reports.run_summary import summarize_run
from stand.linux.cpu import cpu_by_component, machine_times, process_times
from stand.runtime import teardown

CORES = os.cpu_count() or 1


class Sampler(threading.Thread):
    """CPU by component and the machine's idle share over `seconds`, from `delay_s` after `start()`."""

    def __init__(self, seconds: float, delay_s: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.seconds, self.delay_s = seconds, delay_s
        self.cores: dict[str, float] = {}
        self.idle = 0.0

    def run(self) -> None:
        time.sleep(self.delay_s)
        machine, processes, started = machine_times(), process_times(), time.monotonic()
        time.sleep(self.seconds)
        now_machine, now_processes, seconds = machine_times(), process_times(), time.monotonic() - started
        total = now_machine.total - machine.total or 1.0
        self.idle = (now_machine.idle - machine.idle) / total
        used = cpu_by_component(processes, now_processes)
        self.cores = {component: cpu_s / seconds for component, cpu_s in used.items()}


def idle_stand(seconds: float) -> Sampler:
    sampler = Sampler(seconds)
    sampler.start()
    sampler.join()
    return sampler


def loaded_run(stand, scenario_name: str, seconds: float, work: Path) -> tuple[Sampler, float]:
    """The scenario's load without its faults; the components' CPU from 8 s in (every site's users running)
    for `seconds`, and the requests served a second over the run's measured window."""
    source = load_scenario(scenario_name)
    lines = Path(source.source).read_text().split("[[timeline]]")[0].splitlines()
    renamed = {"name": f'name = "{source.name}-no-fault"', "duration_s": f"duration_s = {seconds + 10:g}"}
    text = "\n".join(renamed.get(line.split(" ")[0], line) for line in lines)
    path = work / "no-fault.toml"
    path.write_text(text + "\n")
    scenario = load_scenario(str(path))
    sampler = Sampler(seconds, delay_s=8.0)
    sampler.start()
    out = run(stand, scenario, results_dir(work, scenario, stand.plan.mode), lambda message: None)
    sampler.join()
    return sampler, summarize_run(out).throughput_rps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="anycast")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--scenario", default="site-balancer-crash")
    args = parser.parse_args()
    stand, started_here = ensure_stand(args.mode, lambda message: None, "sites")
    try:
        time.sleep(5)  # the stand's own start-up is over
        idle = idle_stand(args.seconds)
        with tempfile.TemporaryDirectory() as directory:
            loaded, served = loaded_run(stand, args.scenario, args.seconds, Path(directory))
    finally:
        if started_here:
            teardown.down(stand, lambda message: None)
    per_100 = 100 / served if served else 0.0
    print(
        f"sites stand, {args.mode} mode, {CORES} cores; loaded: {args.scenario}'s load without faults, {served:.0f} req/s served"
    )
    print(
        f"  {'component':<16}{'idle: cores':>12}{'% machine':>10}{'loaded: cores':>15}{'% machine':>10}{'per 100 req/s':>15}"
    )
    for component in sorted(set(idle.cores) | set(loaded.cores), key=lambda c: -loaded.cores.get(c, 0.0)):
        i, busy = idle.cores.get(component, 0.0), loaded.cores.get(component, 0.0)
        print(
            f"  {component:<16}{i:12.3f}{i / CORES:10.1%}{busy:15.3f}{busy / CORES:10.1%}{(busy - i) * per_100:15.3f}"
        )
    print(
        f"  the machine busy with the stand alone: {1 - idle.idle:.1%} (target at most 10%); with the load: "
        f"{1 - loaded.idle:.1%}, {loaded.idle:.1%} left idle (target at least 30%)"
    )


if __name__ == "__main__":
    main()
