"""Bad input gets one clear line naming the cause, and nothing is created."""

from pathlib import Path

import pytest

from stand import cli
from stand.model import topology
from stand.runtime import prerequisites


@pytest.fixture
def empty_state(tmp_path, monkeypatch):
    monkeypatch.setenv("PGAB_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def run(capsys, *argv) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


def test_not_root_is_refused(capsys, monkeypatch, empty_state):
    monkeypatch.setattr(prerequisites.os, "geteuid", lambda: 1000)
    code, err = run(capsys, "up")
    assert code == 1
    assert err == "stand: error: the stand needs root (it creates network namespaces): run it as root\n"
    assert not empty_state.exists()


def test_missing_binary_names_its_package(capsys, monkeypatch, empty_state):
    monkeypatch.setattr(prerequisites.os, "geteuid", lambda: 0)
    monkeypatch.setattr(prerequisites, "REQUIRED_PROGRAMS", {"pgpool2": [Path("/nonexistent/pgpool")]})
    code, err = run(capsys, "up")
    assert code == 1
    assert err == "stand: error: missing /nonexistent/pgpool: install the Debian package pgpool2\n"
    assert not empty_state.exists()


def test_bad_topology_lists_every_error(capsys, tmp_path, empty_state):
    bad = tmp_path / "bad.toml"
    seed = (topology.BUILTIN_DIR / "seed.toml").read_text()
    bad.write_text(seed.replace('"198.18.0.95/24"', '"198.18.0.94/24"').replace('router = "FRR"', 'router = "X"'))
    code, err = run(capsys, "--topology", str(bad), "up")
    assert code == 2
    assert err.splitlines() == [
        "stand: bad topology:",
        f"{bad}: hosts.PgBAL2.interfaces.base: duplicate address 198.18.0.94 (also hosts.PgBAL1.interfaces.base)",
        f"{bad}: shell.router: unknown host 'X'",
    ]
    assert not empty_state.exists()


@pytest.mark.parametrize("command", [["status"], ["exec", "FRR", "--", "true"], ["drain", "PgBAL1"]])
def test_commands_on_a_stand_that_is_not_up(capsys, empty_state, command):
    code, err = run(capsys, *command)
    assert code == 1
    assert err == f"stand: error: no stand is up (nothing at {empty_state / 'pgab'}): run `stand up` first\n"


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["fly"])
    assert caught.value.code == 2


def test_render_writes_debian_paths(tmp_path, capsys):
    code, _ = run(capsys, "render", "--out", str(tmp_path))
    assert code == 0
    assert (tmp_path / "PgBAL2" / "etc" / "pgpool2" / "pgpool.conf").exists()
    assert (tmp_path / "PgSQL1" / "etc" / "postgresql" / "15" / "main" / "postgresql.conf").exists()
    frr = (tmp_path / "FRR" / "etc" / "frr" / "frr.conf").read_text()
    assert "network 198.18.3.0/30 area 0.0.0.0" in frr
    assert not (tmp_path / "PgSQL2" / "etc" / "frr").exists()
