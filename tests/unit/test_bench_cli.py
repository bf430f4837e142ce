"""`bench versions`: what a run's results will carry."""

import json

from bench import cli, versions


def test_versions_names_every_component(capsys, monkeypatch):
    monkeypatch.setattr(versions, "VERSION_COMMANDS", {"present": ["echo", "present 1.2"], "absent": ["/nonexistent/x"]})
    assert cli.main(["versions", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["present"] == "present 1.2"
    assert found["absent"] == "not installed"
    assert found["kernel"]
    assert found["suite"] != ""
