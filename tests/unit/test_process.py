"""The stand's own commands and the shell they are started from."""

from stand.linux import process


def test_the_stands_commands_ignore_the_shells_libpq_settings(monkeypatch):
    monkeypatch.setenv("PGUSER", "bench")  # as after `eval $(stand env)`
    monkeypatch.setenv("PGDATABASE", "bench")
    shown = "echo ${PGUSER-unset} ${PGDATABASE-unset} ${HOME-unset}"
    assert process.run(["sh", "-c", shown]).stdout.split()[:2] == ["unset", "unset"]
    given = process.run(["sh", "-c", shown], env={"PGUSER": "postgres"}).stdout.split()
    assert given[:2] == ["postgres", "unset"]  # a command given its own environment keeps it


def test_a_recorded_pid_is_signalled_only_if_its_start_time_and_namespace_match():
    """A process of this test's own stands for a PID the state file recorded before it was reused."""
    import subprocess

    from stand.linux.process import ProcessRecord, netns_inode_of, read_stat

    child = subprocess.Popen(["sleep", "30"])
    try:
        ticks, inode = read_stat(child.pid).start_ticks, netns_inode_of(child.pid)
        same = ProcessRecord("PgBAL1", "pgpool", child.pid, ticks, "sleep", netns_inode=inode)
        other_start = ProcessRecord("PgBAL1", "pgpool", child.pid, ticks + 1, "sleep", netns_inode=inode)
        other_namespace = ProcessRecord("PgBAL1", "pgpool", child.pid, ticks, "sleep", netns_inode=inode + 1)
        assert same.is_running()
        for stranger in (other_start, other_namespace):
            assert not stranger.is_running()
            stranger.stop(timeout=1)
            assert child.poll() is None, "a process that only shares the PID was signalled"
        same.stop(timeout=5)
        assert child.wait(timeout=5) == -15
    finally:
        child.kill()
        child.wait()


def test_after_a_reboot_the_recorded_processes_are_forgotten(tmp_path):
    from stand.linux.process import ProcessRecord
    from stand.linux.state import StandState, StateFile

    state_file = StateFile(tmp_path / "state.json")
    record = ProcessRecord("PgBAL1", "pgpool", 1, 1, "/usr/sbin/pgpool")
    state_file.write(StandState(prefix="pgab", topology="", processes=[record], boot_id="another-boot"))
    assert state_file.read().processes == []
    state_file.write(StandState(prefix="pgab", topology="", processes=[record]))
    assert state_file.read().processes == [record]
