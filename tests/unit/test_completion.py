"""The CLIs' habits: help text for every option, examples in --help, and tab completion (argcomplete) of
modes, scenarios, topologies, hosts and faults, asked of the installed commands as bash asks them."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import build_parser as bench_parser
from stand.cli import build_parser as stand_parser
from stand.model.completion import hosts, toml_files

BIN = Path(sys.executable).parent


def _commands(parser: argparse.ArgumentParser):
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{parser.prog} {name}", sub


@pytest.mark.parametrize("build", [bench_parser, stand_parser], ids=["bench", "stand"])
def test_every_option_and_argument_has_help(build):
    missing = [
        f"{command}: {action.option_strings or action.dest}"
        for command, parser in _commands(build())
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help
    ]
    assert missing == []


@pytest.mark.parametrize("build", [bench_parser, stand_parser], ids=["bench", "stand"])
def test_help_shows_examples(build):
    assert "examples:" in build().format_help()


@pytest.mark.parametrize("command", ["run", "compare", "calibrate", "report", "publish"])
def test_each_bench_command_gives_an_example(command):
    sub = dict(_commands(bench_parser()))[f"bench {command}"]
    assert "Example: bench " + command in sub.format_help().replace("\n", " ").replace("  ", " ")


def complete(line: str) -> list[str]:
    """What bash's completion gets from the installed command for `line`, the cursor at its end."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"completion-{os.getpid()}"
    env = dict(os.environ, _ARGCOMPLETE="1", _ARGCOMPLETE_STDOUT_FILENAME=str(out), _ARGCOMPLETE_IFS="\n")
    env.update(COMP_LINE=line, COMP_POINT=str(len(line)), COMP_TYPE="9")
    program = BIN / line.split()[0]
    try:
        subprocess.run([program], env=env, check=True, timeout=60, stdin=subprocess.DEVNULL, capture_output=True)
        return out.read_text().split("\n") if out.read_text() else []
    finally:
        out.unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("bench run --mode anycast-", ["anycast-pinned", "anycast-resilient", "anycast-tuned"]),
        ("bench compare anycast keep", ["keepalived", "keepalived-tuned"]),
        ("bench run --mode anycast --scenario site-", ["site-balancer-crash", "site-down"]),
        ("bench -t si", ["sites"]),
        ("stand fault node-", ["node-crash", "node-freeze"]),
        ("stand exec PgB", ["PgBAL1", "PgBAL2", "PgBAL3"]),
        ("stand exec pgs", ["pgsql1", "pgsql2", "pgsql3"]),
        ("stand --topology sites drain Bal", ["BalMsk", "BalSpb", "BalEkb"]),
        ("stand drain ", ["PgBAL1", "PgBAL2", "PgBAL3"]),
        ("stand up --mode keepalived-", ["keepalived-tuned"]),
    ],
)
def test_tab_completion(line, expected):
    found = complete(line)
    assert [name.strip() for name in found if not name.startswith("-")] == expected  # one match: "name "


def test_host_completion_of_a_broken_topology_is_empty(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[stand\n")
    assert hosts()("", parsed_args=argparse.Namespace(topology=str(broken))) == []


def test_toml_files_complete_folders_and_toml_only(tmp_path, monkeypatch):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "mine.toml").write_text("")
    (tmp_path / "notes.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    assert toml_files("") == ["mine.toml", "scenarios/"]
    assert toml_files("sc") == ["scenarios/"]
    (tmp_path / "scenarios" / "drain.toml").write_text("")
    assert toml_files("scenarios/d") == ["scenarios/drain.toml"]
