"""The stand's own commands and the shell they are started from."""

from stand import process


def test_the_stands_commands_ignore_the_shells_libpq_settings(monkeypatch):
    monkeypatch.setenv("PGUSER", "bench")  # as after `eval $(stand env)`
    monkeypatch.setenv("PGDATABASE", "bench")
    shown = "echo ${PGUSER-unset} ${PGDATABASE-unset} ${HOME-unset}"
    assert process.run(["sh", "-c", shown]).stdout.split()[:2] == ["unset", "unset"]
    given = process.run(["sh", "-c", shown], env={"PGUSER": "postgres"}).stdout.split()
    assert given[:2] == ["postgres", "unset"]  # a command given its own environment keeps it
