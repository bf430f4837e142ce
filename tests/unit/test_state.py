"""The state file and the command lock: atomic 0600 writes, corrupt files named, two commands never at once."""

import json
import os
import stat
import subprocess
import sys

import pytest

from stand.linux.files import write_atomically
from stand.linux.state import CorruptState, StandBusy, StandState, StateFile, command_lock


def test_a_state_round_trips(tmp_path):
    state_file = StateFile(tmp_path / "state.json")
    state_file.write(StandState(prefix="pgab", topology="seed.toml", namespaces=["pgab-frr"]))
    assert state_file.read().namespaces == ["pgab-frr"]


@pytest.mark.parametrize("content", ['{"prefix": "pgab", "topo', "", "[]", '{"prefix": "pgab"}', "\0\0\0"])
def test_a_corrupt_state_file_is_named_in_one_line(tmp_path, content):
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(CorruptState, match=f"the state file {path} is corrupt") as caught:
        StateFile(path).read()
    assert "\n" not in str(caught.value)


def test_writes_are_0600_from_the_first_byte_and_leave_no_temporary(tmp_path):
    path = tmp_path / "credentials.json"
    os.umask(0o022)
    write_atomically(path, "secret\n")
    write_atomically(path, "another secret\n")
    assert path.read_text() == "another secret\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["credentials.json"]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path):
    path = tmp_path / "state.json"
    write_atomically(path, json.dumps({"old": True}))
    with pytest.raises(TypeError):
        write_atomically(path, object())  # type: ignore[arg-type]  (fails while writing the temporary file)
    assert json.loads(path.read_text()) == {"old": True}
    assert os.listdir(tmp_path) == ["state.json"]


HOLD_LOCK = """
import sys, time
from pathlib import Path
from stand.linux.state import command_lock
with command_lock(Path(sys.argv[1]), exclusive=sys.argv[2] == "ex", what="the holder"):
    print("held", flush=True)
    time.sleep(30)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock, exclusive or shared."""
    started = []

    def hold(exclusive: bool) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "pgab.lock"), "ex" if exclusive else "sh"],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout.readline() == "held\n"

    yield hold
    for proc in started:
        proc.kill()
        proc.wait()


def test_a_second_stand_up_or_down_is_refused_at_once(tmp_path, holder):
    holder(exclusive=True)
    with pytest.raises(StandBusy, match="another command is using this stand, `stand up` cannot run beside it"):
        with command_lock(tmp_path / "pgab.lock", exclusive=True, what="`stand up`"):
            pass
    with pytest.raises(StandBusy, match="a `stand up` or `stand down` is using this stand, `bench run` cannot"):
        with command_lock(tmp_path / "pgab.lock", exclusive=False, what="`bench run`"):
            pass


def test_bench_runs_share_the_lock_and_keep_stand_down_out(tmp_path, holder):
    holder(exclusive=False)
    with command_lock(tmp_path / "pgab.lock", exclusive=False, what="`bench run`"):
        pass
    with pytest.raises(StandBusy, match="`stand down` cannot run beside it"):
        with command_lock(tmp_path / "pgab.lock", exclusive=True, what="`stand down`"):
            pass


def test_the_lock_is_free_again_once_its_holder_is_gone(tmp_path, holder):
    with command_lock(tmp_path / "pgab.lock", exclusive=True, what="`stand up`"):
        pass
    with command_lock(tmp_path / "pgab.lock", exclusive=True, what="`stand down`"):
        pass


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_state_directory_others_may_write_is_refused(tmp_path, monkeypatch, mode):
    from stand.runtime.handle import StandError
    from stand.runtime.prerequisites import check_prerequisites

    if os.geteuid() != 0:
        pytest.skip("the prerequisites check refuses anyone but root first")
    root = tmp_path / "state"
    root.mkdir()
    root.chmod(mode)
    monkeypatch.setenv("PGAB_STATE_DIR", str(root))
    with pytest.raises(StandError, match=f"must be owned by root and writable by nobody else .*mode {mode:o}"):
        check_prerequisites()
    root.chmod(0o755)
    check_prerequisites()
