# PYTHON_ARGCOMPLETE_OK
"""The `bench` command: run scenarios while failing nodes, compare modes, report versions."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from bench.calibrate import (
    CALIBRATIONS,
    DEFAULT_P99_MS,
    DEFAULT_USERS,
    MAX_STEPS,
    LoadKind,
    calibrate,
    calibrate_missing,
    calibration_table,
    save_calibration,
    with_rates,
)
from bench.compare import Interrupted, compare, last_attempts, not_run, verdict_lines, verdict_table
from bench.remote import Deployment
from bench.results import RunDir, complete_runs
from bench.run import Attempts, ensure_stand, load_failure, played_until_valid
from bench.scenario import TAGS, Scenario, ScenarioError, builtin_names, load, validate_targets
from bench.versions import versions
from loadgen.client import EXTENDED, MODES, PROTOCOLS
from reports.expect import EXPECTATION_FAILED
from reports.html import write_comparison_report, write_run_report
from reports.publish import publish
from reports.run_summary import summarize_run
from reports.summary_json import summary_json
from stand.linux.process import CommandFailed
from stand.linux.state import CorruptState, StandBusy
from stand.model import inventory
from stand.model.completion import choices, names_or_files, toml_files
from stand.model.plan import UnknownMode
from stand.model.topology import Topology, TopologyError
from stand.model.topology import load as load_topology
from stand.model.version import add_common_options, enable_completion
from stand.modes import MODE_NAMES, plan_of
from stand.runtime import teardown
from stand.runtime.daemons import DaemonFailed
from stand.runtime.handle import StandError
from stand.runtime.readiness import NotReady
from stand.safety import UnsafeTarget

DEFAULT_RESULTS = Path("results")
SEED_SCENARIOS = ("balancer-crash", "pgpool-crash", "planned-drain")
SITES_SCENARIOS = ("site-balancer-crash", "hub-balancer-crash", "site-down", "wan-cut")


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.started = time.monotonic()
        self.stream = stream or sys.stdout

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=self.stream, flush=True)


def _text_stream(args) -> TextIO:
    """Where the progress and the table go: stdout, or stderr when stdout carries --json."""
    return sys.stderr if args.json else sys.stdout


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    enable_completion(parser)
    args = parser.parse_args(argv)
    try:
        return HANDLERS[args.command](args)
    except (ScenarioError, TopologyError, UnknownMode, inventory.InventoryError) as e:
        print(f"bench: bad input:\n{e}", file=sys.stderr)
        return 2
    except (StandError, DaemonFailed, NotReady, CommandFailed, UnsafeTarget, CorruptState, StandBusy) as e:
        print(f"bench: error: {first_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description="Benchmarks of anycast pgpool-II balancers.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "run",
        help="one scenario in one mode, with load and faults; writes a results directory",
        description="Builds the stand in the mode (or uses the one up in it), plays the scenario's load and faults, "
        "and writes RESULTS/<time>-<scenario>-<mode>/ with every record and report.html. "
        "Example: bench run --mode anycast --scenario balancer-crash",
    )
    p.add_argument("--mode", required=True, help=f"one of {', '.join(MODE_NAMES)}").completer = choices(MODE_NAMES)
    p.add_argument(
        "--scenario", required=True, help=f"built-in ({', '.join(builtin_names())}) or a TOML file"
    ).completer = names_or_files(builtin_names())
    p.add_argument(
        "--inventory",
        type=Path,
        help="a TOML file of real machines (docs/real-hosts.md), deployed in --mode: the faults over SSH, "
        "Locust's workers on its client machines, no stand",
    ).completer = toml_files
    _results_option(p)
    _retries_option(p)
    _json_option(p)

    p = sub.add_parser(
        "compare",
        help="the same scenarios in each mode, and who won by how much",
        description="Plays each scenario in each mode (a fresh stand per mode's turn, the modes taking turns), "
        "prints every run's figures, the medians and ranges, and a verdict per claim, and writes "
        "RESULTS/<time>-compare/report.html. Example: bench compare anycast keepalived --repeat 3",
    )
    p.add_argument("modes", nargs="+", help=f"two or more of {', '.join(MODE_NAMES)}").completer = choices(MODE_NAMES)
    p.add_argument(
        "--scenario",
        action="append",
        help=f"built-in or a TOML file, repeatable (default: {', '.join(SEED_SCENARIOS)}; with several sites: "
        f"{', '.join(SITES_SCENARIOS)})",
    ).completer = names_or_files(builtin_names())
    p.add_argument(
        "--inventory",
        action="append",
        metavar="MODE=FILE",
        help="each mode's real machines (docs/real-hosts.md), deployed in that mode: one for every mode; "
        "the runs go over SSH, no stand",
    )
    _results_option(p)
    p.add_argument("--repeat", type=int, default=1, help="runs of each scenario per mode, the modes taking turns")
    _retries_option(p)
    _json_option(p)

    p = sub.add_parser(
        "calibrate",
        help="the stand's capacity for one kind of load in each mode: the highest rate served with p99 under a limit",
        description="Measures, in each mode, the highest open-loop rate the stand serves with p99 (from when each "
        "request was due) under --p99-ms, with the probe running, and keeps it in RESULTS/calibration.json: a "
        'scenario\'s `rate = "40%"` is a share of the lowest capacity of the modes it runs in. '
        "Example: bench calibrate anycast keepalived --pg-mode per-query --tags point",
    )
    p.add_argument("modes", nargs="+", help=f"one or more of {', '.join(MODE_NAMES)}").completer = choices(MODE_NAMES)
    p.add_argument("--pg-mode", default="per-query", choices=MODES, help="the connection mode (default per-query)")
    p.add_argument("--protocol", default=EXTENDED, choices=PROTOCOLS, help="the query protocol (default extended)")
    p.add_argument("--tags", nargs="*", default=["point"], choices=TAGS, help="the requests (default point)")
    p.add_argument(
        "--p99-ms", type=float, default=DEFAULT_P99_MS, help=f"the latency limit (default {DEFAULT_P99_MS:g})"
    )
    p.add_argument("--users", type=int, default=DEFAULT_USERS, help=f"connections (default {DEFAULT_USERS})")
    p.add_argument("--steps", type=int, default=MAX_STEPS, help=f"at most this many steps (default {MAX_STEPS})")
    _results_option(p)

    p = sub.add_parser(
        "report",
        help="(re)build the HTML report of a run or of a comparison directory",
        description="Writes DIRECTORY/report.html again from its records. Example: bench report results/20261202-031506-compare",
    )
    p.add_argument("directory", type=Path, help="a run's or a comparison's results directory")

    p = sub.add_parser(
        "publish",
        help="a static site of runs and comparisons: an index with their figures and verdicts, and each "
        "scenario's history",
        description="Copies every report (built where missing, Locust's own beside it) into OUT and writes "
        "OUT/index.html: the comparisons with their verdicts, the runs with their figures, and each scenario's "
        "figures across the runs given. Example: bench publish results --out site",
    )
    p.add_argument("results", nargs="+", type=Path, help="run or comparison directories, or folders of them")
    p.add_argument("--out", required=True, type=Path, help="the site's folder (created; files in it replaced)")

    p = sub.add_parser("versions", help="versions of PostgreSQL, pgpool-II, FRR, keepalived, kernel and the suite")
    p.add_argument("--json", action="store_true", help="the same as JSON")
    add_common_options(parser, [sub.choices[name] for name in ("run", "compare", "calibrate")])
    return parser


EXAMPLES = """examples:
  bench compare anycast keepalived                      the seed's claims, a stand per mode
  bench compare anycast keepalived --repeat 3 --json    medians and ranges of 3 runs each, as JSON
  bench -t sites compare anycast keepalived             the three-site stand (or: ... --topology sites)
  bench run --mode anycast-pinned --scenario pool-drain
  bench calibrate anycast keepalived --pg-mode per-query
  bench report results/20261202-031506-compare"""


def _results_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help=f"the folder the results directories go in (default {DEFAULT_RESULTS}/, created)",
    )


def _retries_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        help="how many times a run made invalid by the machine alone (saturated, the hypervisor's steal, the load "
        f"generator behind its schedule) is played again; every attempt is kept and shown (default {DEFAULT_RETRIES})",
    )


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the runs' figures as JSON on stdout (docs/json.md); the progress and the table go to stderr",
    )


def _check_retries(retries: int) -> None:
    if not 0 <= retries <= MAX_RETRIES:
        raise StandError(f"--retries must be 0 to {MAX_RETRIES}, not {retries}")


def first_line(error: Exception) -> str:
    """The error's own line (a daemon's failure adds the tail of its log below, which names the log file)."""
    lines = str(error).splitlines()
    return lines[0] if lines else type(error).__name__


def _check_modes(modes: list[str]) -> None:
    unknown = [m for m in modes if m not in MODE_NAMES]
    if unknown:
        raise StandError(f"unknown mode {unknown[0]!r} (modes: {', '.join(MODE_NAMES)})")


def default_scenarios(topology: Topology) -> tuple[str, ...]:
    return SITES_SCENARIOS if len({h.site for h in topology.hosts}) > 1 else SEED_SCENARIOS


def _check_targets(scenarios: list[Scenario], topology: Topology) -> None:
    """Before any stand starts: every scenario's targets are hosts of this topology, with fitting roles."""
    hosts = {h.name: set(h.roles) for h in topology.hosts}
    links = {h.name: {i.network for i in h.interfaces} for h in topology.hosts}
    for scenario in scenarios:
        errors = validate_targets(scenario, hosts, links)
        if errors:
            fits = f"scenario {scenario.name} does not fit the topology {topology.source}"
            raise StandError(f"{fits}: {'; '.join(errors)}")


def cmd_run(args) -> int:
    _check_modes([args.mode])
    _check_retries(args.retries)
    scenario = load(args.scenario)
    topology = load_topology(args.topology)
    _check_targets([scenario], topology)
    text = _text_stream(args)
    progress = Progress(text)
    if args.inventory is not None:
        deployment = Deployment(plan_of(topology, args.mode), inventory.load(args.inventory, topology))
        deployment.check(scenario)
        attempts = Attempts(args.results, scenario, args.mode)
        summaries = list(played_until_valid(None, attempts, progress, args.retries, play=deployment.play))
    else:
        (scenario,) = _resolve_rates([scenario], [args.mode], args, topology, progress)
        stand, started_here = ensure_stand(args.mode, progress, args.topology)
        try:
            attempts = Attempts(args.results, scenario, args.mode)
            summaries = list(played_until_valid(stand, attempts, progress, args.retries))
        finally:
            if started_here:
                teardown.down(stand, lambda message: None)
    summary = summaries[-1]
    out = Path(summary.directory)
    report = write_run_report(out)
    print(verdict_table(summaries), file=text)
    for earlier in summaries[:-1]:
        print(f"played again: {earlier.directory}", file=text)
    print(f"results: {out}\nreport: {report}", file=text)
    code = _run_exit(out, summary)
    if args.json:
        print(json.dumps(summary_json(summaries, str(out), str(report), verdict_lines(summaries), code), indent=2))
    return code


def _run_exit(out: Path, summary) -> int:
    failure = load_failure(out)
    if failure:
        print(f"bench: error: the load failed, the figures above do not measure the stand: {failure}", file=sys.stderr)
        return 1
    if RunDir(out).read_meta().interrupted:
        return 0  # stopped on purpose: what was recorded is kept, whatever it is worth
    return _invalid_exit([summary]) or _expectations_exit([summary])


def cmd_compare(args) -> int:
    _check_modes(args.modes)
    if not 1 <= args.repeat <= MAX_REPEAT:
        raise StandError(f"--repeat must be 1 to {MAX_REPEAT}, not {args.repeat}")
    _check_retries(args.retries)
    topology = load_topology(args.topology)
    scenarios = [load(name) for name in (args.scenario or default_scenarios(topology))]
    _check_targets(scenarios, topology)
    text = _text_stream(args)
    progress = Progress(text)
    deployments = _deployments(args.inventory, args.modes, topology) if args.inventory else None
    if deployments is not None:
        for deployment in deployments.values():
            for scenario in scenarios:
                deployment.check(scenario)
    else:
        scenarios = _resolve_rates(scenarios, args.modes, args, topology, progress)
    try:
        directory = compare(
            args.modes, scenarios, args.results, progress, args.topology, args.repeat, args.retries, deployments
        )
    except Interrupted as interrupted:
        summaries = [summarize_run(d) for d in complete_runs(interrupted.directory)]
        print(verdict_table(summaries), file=text)
        print(f"results (interrupted): {interrupted.directory}", file=text)
        print(f"report: {write_comparison_report(interrupted.directory)}", file=text)
        raise
    summaries = [summarize_run(d) for d in complete_runs(directory)]
    report = write_comparison_report(directory)
    print(verdict_table(summaries), file=text)
    print(f"results: {directory}\nreport: {report}", file=text)
    failures = [f"{Path(s.directory).name}: {f}" for s in summaries if (f := load_failure(Path(s.directory)))]
    for failure in failures:
        print(f"bench: error: the load failed, that run does not measure the stand: {failure}", file=sys.stderr)
    missing = not_run(directory)
    for path, reason in missing:
        print(f"bench: error: {path.name} was not run: {reason} (evidence in {path})", file=sys.stderr)
    last = last_attempts(summaries)
    code = _invalid_exit(last) or _expectations_exit(last)
    code = 1 if failures else INVALID_RUN if missing else code
    if args.json:
        verdicts = verdict_lines(summaries)
        print(json.dumps(summary_json(summaries, str(directory), str(report), verdicts, code), indent=2))
    return code


def _deployments(given: list[str], modes: list[str], topology: Topology) -> dict[str, Deployment]:
    """`--inventory MODE=FILE` for every mode of the comparison, each loaded for the topology."""
    files = {}
    for item in given:
        mode, equals, path = item.partition("=")
        if not equals or not path:
            raise StandError(f"--inventory {item}: give MODE=FILE (each mode is deployed on machines of its own)")
        if mode not in modes:
            raise StandError(f"--inventory {item}: {mode} is not one of the modes compared ({', '.join(modes)})")
        files[mode] = Path(path)
    missing = [m for m in modes if m not in files]
    if missing:
        raise StandError(f"--inventory: every mode needs its machines: {missing[0]}=FILE is missing")
    return {mode: Deployment(plan_of(topology, mode), inventory.load(files[mode], topology)) for mode in modes}


def _resolve_rates(scenarios: list[Scenario], modes: list[str], args, topology: Topology, progress) -> list[Scenario]:
    """Scenarios whose rate is a share of the capacity get their rate; a capacity not measured yet is first."""
    calibrate_missing(args.results, scenarios, modes, args.topology, topology.source, progress)
    return with_rates(args.results, scenarios, modes, topology.source, progress)


def cmd_calibrate(args) -> int:
    _check_modes(args.modes)
    if args.p99_ms <= 0 or args.users < 1 or args.steps < 1:
        raise StandError(
            f"--p99-ms must be above 0, --users and --steps at least 1 (got {args.p99_ms:g}, {args.users}, {args.steps})"
        )
    topology = load_topology(args.topology)
    kind = LoadKind(topology.source, args.pg_mode, args.protocol, tuple(dict.fromkeys(args.tags)))
    progress = Progress()
    code = 0
    for mode in args.modes:
        stand, started_here = ensure_stand(mode, progress, args.topology)
        try:
            progress(f"calibrating {kind.text} in {mode} mode")
            directory = args.results / "calibrate" / f"{time.strftime('%Y%m%d-%H%M%S')}-{mode}"
            calibration = calibrate(stand, kind, directory, progress, args.p99_ms, args.users, max_steps=args.steps)
        finally:
            if started_here:
                teardown.down(stand, lambda message: None)
        print(calibration_table(calibration))
        save_calibration(args.results, calibration)
        code = code or (INVALID_RUN if calibration.capacity_rps is None else 0)
    print(f"calibrations: {args.results / CALIBRATIONS}")
    return code


MAX_REPEAT = 20
DEFAULT_RETRIES = 1
MAX_RETRIES = 5
INVALID_RUN = 3  # the exit code when a figure rests on a run that was not a valid measurement


def _invalid_exit(summaries) -> int:
    """INVALID_RUN, with one line per invalid run, if a run was not a valid measurement; else 0."""
    invalid = [s for s in summaries if not s.validity.valid]
    for s in invalid:
        reasons = "; ".join(s.validity.reasons)
        print(f"bench: error: {Path(s.directory).name} is not a valid measurement: {reasons}", file=sys.stderr)
    return INVALID_RUN if invalid else 0


def _expectations_exit(summaries) -> int:
    """EXPECTATION_FAILED, with one line per bound missed, if a run missed one of its scenario's bounds."""
    missed = [(s, c) for s in summaries for c in s.checks if not c.passed]
    for s, c in missed:
        print(f"bench: error: {Path(s.directory).name} missed {c.expectation.text}: {c.value}", file=sys.stderr)
    return EXPECTATION_FAILED if missed else 0


def cmd_report(args) -> int:
    directory = args.directory
    if RunDir(directory).meta.exists():
        print(f"report: {write_run_report(directory)}")
    elif complete_runs(directory):
        print(f"report: {write_comparison_report(directory)}")
    else:
        raise StandError(f"{directory} holds no run (no meta.json in it or in its subdirectories)")
    return 0


def cmd_publish(args) -> int:
    missing = [str(p) for p in args.results if not p.is_dir()]
    if missing:
        raise StandError(f"no such results directory: {missing[0]}")
    try:
        index = publish(args.results, args.out)
    except FileNotFoundError as e:
        raise StandError(str(e)) from None
    print(f"published: {index}")
    return 0


def cmd_versions(args) -> int:
    found = versions()
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for name, version in found.items():
            print(f"{name:<11} {version}")
    return 0


HANDLERS = {
    "run": cmd_run,
    "compare": cmd_compare,
    "calibrate": cmd_calibrate,
    "report": cmd_report,
    "publish": cmd_publish,
    "versions": cmd_versions,
}


if __name__ == "__main__":
    sys.exit(main())
