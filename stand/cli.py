# PYTHON_ARGCOMPLETE_OK
"""The `stand` command: up, status, exec, env, drain, undrain, fault, render, down."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

from stand.faults.player import Faults
from stand.faults.registry import FAULTS, Fault
from stand.linux import netns
from stand.linux.process import CommandFailed
from stand.linux.state import CorruptState, StandBusy
from stand.model import inventory, topology
from stand.model.completion import choices, hosts
from stand.model.credentials import Credentials
from stand.model.layout import DebianLayout, StandLayout, state_dir
from stand.model.plan import UnknownMode
from stand.model.version import add_common_options, enable_completion
from stand.modes import DEFAULT_MODE, MODE_NAMES, open_stand, plan_of, running
from stand.render.ansible import NotDeployable, deployment
from stand.render.configs import render_all
from stand.runtime import build, readiness, teardown
from stand.runtime.daemons import DaemonFailed
from stand.runtime.handle import Stand, StandError
from stand.runtime.ssh import inventory_toml, ssh_ready
from stand.runtime.status import stand_status
from stand.safety import UnsafeTarget


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    enable_completion(parser)
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except topology.TopologyError as e:
        print(f"stand: bad topology:\n{e}", file=sys.stderr)
        return 2
    except inventory.InventoryError as e:
        print(f"stand: bad inventory:\n{e}", file=sys.stderr)
        return 2
    except (UnknownMode, NotDeployable) as e:
        print(f"stand: error: {e}", file=sys.stderr)
        return 2
    except (
        StandError,
        DaemonFailed,
        readiness.NotReady,
        UnsafeTarget,
        CommandFailed,
        CorruptState,
        StandBusy,
        KeyError,
    ) as e:
        message = e.args[0] if isinstance(e, KeyError) else str(e)
        print(f"stand: error: {message.splitlines()[0] if message else type(e).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stand: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stand",
        description="The seed's cluster on this machine, one namespace per host.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="build the stand and wait until it answers SQL at the anycast address")
    p.add_argument(
        "--mode", default=DEFAULT_MODE, help=f"one of {', '.join(MODE_NAMES)} (default {DEFAULT_MODE})"
    ).completer = choices(MODE_NAMES)
    p.add_argument("--keep-on-failure", action="store_true", help="leave a failed stand in place for inspection")
    p.add_argument(
        "--ssh", action="store_true", help="also an sshd in every host, on keys made now (the remote path's tests)"
    )
    p.set_defaults(handler=cmd_up)

    p = sub.add_parser(
        "inventory",
        help="print an inventory of the stand's own hosts over SSH (after stand up --ssh)",
        description="Prints the inventory (docs/real-hosts.md) of the running stand's hosts: their addresses inside "
        "the stand and the stand's SSH key, for the remote path run from inside the stand. "
        "Example: stand inventory > stand-hosts.toml",
    )
    p.set_defaults(handler=cmd_inventory)

    p = sub.add_parser("down", help="remove every namespace, daemon, link and route of the stand")
    p.add_argument("--force", action="store_true", help="also without a state file, from the stand's prefix")
    p.set_defaults(handler=cmd_down)

    p = sub.add_parser("status", help="hosts, daemons, next hops, replication")
    p.add_argument("--json", action="store_true", help="the same as JSON (docs/json.md)")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("exec", help="run a command inside a host, with the libpq client settings")
    p.add_argument("host", help="a host of the topology (any case)").completer = hosts()
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    p.set_defaults(handler=cmd_exec)

    p = sub.add_parser("env", help="print the libpq settings of the stand's client, for `eval $(stand env)`")
    p.set_defaults(handler=cmd_env)

    for name, text in (("drain", "withdraw a balancer's anycast route on purpose"), ("undrain", "announce it again")):
        p = sub.add_parser(name, help=text)
        p.add_argument("host", help="a balancer of the topology (any case)").completer = hosts("balancer")
        p.set_defaults(handler=cmd_drain, drain=name == "drain")

    p = sub.add_parser("fault", help="inject a fault on a host, or --undo it (events go to the state directory)")
    p.add_argument("fault", nargs="?", help="one of the faults of --list").completer = choices(FAULTS)
    p.add_argument("host", nargs="?", help="the host to fault (any case)").completer = hosts()
    p.add_argument("--undo", action="store_true", help="undo the fault instead")
    p.add_argument("--list", action="store_true", help="list the faults")
    p.add_argument("--json", action="store_true", help="with --list: the faults as JSON (docs/json.md)")
    p.add_argument("--network", help="link faults: which of the host's networks")
    p.add_argument("--delay-ms", type=float, help="link-netem: the delay added, in ms")
    p.add_argument("--loss-pct", type=float, help="link-netem: the share of frames lost, in %%")
    p.set_defaults(handler=cmd_fault)

    p = sub.add_parser(
        "render",
        help="write every host's config files without starting anything (and, with --inventory, an Ansible deployment)",
        description="Writes every host's config files to OUT/HOST/<path on that host>. With --inventory (the real "
        "machines of each host, docs/real-hosts.md), also the sysctls and the health agent of each host and "
        "OUT/ansible/inventory.yml and site.yml, which install them on Debian 12 hosts. "
        "Example: stand render --out deploy --inventory hosts.toml",
    )
    p.add_argument("--out", required=True, type=Path, help="directory; files go to OUT/HOST/<path on that host>")
    p.add_argument(
        "--mode", default=DEFAULT_MODE, help=f"one of {', '.join(MODE_NAMES)} (default {DEFAULT_MODE})"
    ).completer = choices(MODE_NAMES)
    p.add_argument(
        "--inventory",
        type=Path,
        help="a TOML file of the real machines (docs/real-hosts.md): write an Ansible deployment",
    )
    p.add_argument(
        "--layout",
        choices=("debian", "stand"),
        default="debian",
        help="paths of a real Debian 12 machine (default) or of this stand's state directory",
    )
    p.set_defaults(handler=cmd_render)
    add_common_options(parser, list(sub.choices.values()))
    return parser


EXAMPLES = """examples:
  stand up --mode anycast-pinned          the seed's stand, flows pinned to their balancer
  stand status --json                     hosts, daemons, routing and replication as JSON
  stand fault node-crash PgBAL1           its links go down; `--undo` brings them back
  stand fault --list --json               every fault, its params and the hosts it applies to
  stand exec PgBAL1 -- ss -tn             a command inside a host
  stand up --topology sites               the three-site stand (or: stand -t sites up)
  stand down"""


def fault_entry(fault: Fault) -> dict:
    """One fault of `stand fault --list --json`."""
    return {
        "name": fault.name,
        "description": fault.description,
        "undo": fault.undo_description,
        "required": list(fault.required),
        "optional": list(fault.optional),
        "roles": list(fault.roles),
        "reattaches": fault.reattaches,
    }


def _stand(args, mode: str = DEFAULT_MODE) -> Stand:
    try:
        return open_stand(topology.load(args.topology), mode)
    except UnknownMode as e:
        raise StandError(str(e)) from None


def _running(args) -> Stand:
    stand = _stand(args)
    if not stand.state_file.exists():
        raise StandError(f"no stand is up (nothing at {stand.layout.root}): run `stand up` first")
    return running(stand)


class Progress:
    """Progress lines with the time since the command started."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)


def cmd_up(args) -> int:
    stand = _stand(args, args.mode)
    progress = Progress()
    seconds = build.up(stand, progress, keep_on_failure=args.keep_on_failure, ssh=args.ssh)
    anycast = stand.plan.topology.anycast.ip
    progress(f"stand up in {seconds:.1f} s; try: eval $(stand env) && psql -h {anycast} -c 'select inet_client_addr()'")
    return 0


def cmd_inventory(args) -> int:
    stand = _running(args)
    if not ssh_ready(stand):
        raise StandError("the stand runs no sshd: start it with `stand up --ssh`")
    print(inventory_toml(stand), end="")
    return 0


def cmd_down(args) -> int:
    stand = _stand(args)
    progress = Progress()
    seconds = teardown.down(stand, progress, force=args.force)
    progress(f"stand down in {seconds:.1f} s")
    return 0


def cmd_status(args) -> int:
    found = stand_status(_running(args))
    print(json.dumps(asdict(found), indent=2) if args.json else "\n".join(found.lines()))
    return 0


def cmd_exec(args) -> int:
    stand = _running(args)
    host = stand.plan.host(args.host)
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        raise StandError("nothing to run: stand exec HOST -- COMMAND [ARGS...]")
    env = {**os.environ, **readiness.client_env(stand)}
    netns.enter(host.namespace)
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        raise StandError(f"{command[0]}: command not found") from None


def cmd_env(args) -> int:
    stand = _running(args)
    for key, value in readiness.client_env(stand).items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_drain(args) -> int:
    stand = _running(args)
    host = stand.plan.host(args.host)
    faults = Faults(stand)
    (faults.inject if args.drain else faults.undo)("drain", host.name)
    where = "; ".join(stand.mode.routing_status(stand))
    print(f"{host.name}: {'drained' if args.drain else 'back in service'}; {where}")
    return 0


def cmd_fault(args) -> int:
    if args.list:
        if args.json:
            print(json.dumps([fault_entry(f) for f in FAULTS.values()], indent=2))
        else:
            for fault in FAULTS.values():
                print(f"{fault.name:<13} {fault.description}; undo: {fault.undo_description}")
        return 0
    if not args.fault or not args.host:
        raise StandError("stand fault FAULT HOST [--network NET] [--delay-ms MS] [--loss-pct PCT] (or --undo, --list)")
    stand = _running(args)
    params = {
        k: v
        for k, v in (("network", args.network), ("delay_ms", args.delay_ms), ("loss_pct", args.loss_pct))
        if v is not None
    }
    faults = Faults(stand)
    event = (faults.undo if args.undo else faults.inject)(args.fault, args.host, **params)
    print(f"{event.action} {event.fault} {event.target} at {event.t_us} (logged in {faults.events_file})")
    return 0


def cmd_render(args) -> int:
    loaded = topology.load(args.topology)
    plan = plan_of(loaded, args.mode)
    if args.inventory is not None and args.layout != "debian":
        raise NotDeployable("--inventory deploys real hosts: it takes the Debian layout, not --layout stand")
    inventory_of_hosts = None if args.inventory is None else inventory.load(args.inventory, loaded)
    layout = DebianLayout() if args.layout == "debian" else StandLayout(state_dir(plan.topology.prefix))
    files = render_all(plan, layout, Credentials.generate())
    ansible_files: dict[str, str] = {}
    if inventory_of_hosts is not None:
        deployed = deployment(plan, inventory_of_hosts, files)
        files, ansible_files = [*files, *deployed.host_files], deployed.ansible_files
    for f in files:
        target = args.out / f.host / f.path.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.content)
        target.chmod(f.mode)
    for name, content in ansible_files.items():
        target = args.out / "ansible" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    print(f"wrote {len(files)} files for {len(plan.hosts)} hosts under {args.out}")
    if ansible_files:
        print(f"Ansible: cd {args.out / 'ansible'} && ansible-playbook -i inventory.yml site.yml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
