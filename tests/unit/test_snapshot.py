"""A running stand is what `stand up` read: its topology snapshot, not the topology file as it is now."""

from stand import client
from stand.linux.state import StandState
from stand.model import topology
from stand.model.credentials import Credentials
from stand.modes import open_stand, running


def stand_up_from(path, tmp_path, monkeypatch, mode="keepalived"):
    """What `stand up` leaves in the state directory, without building anything."""
    monkeypatch.setenv("PGAB_STATE_DIR", str(tmp_path / "state"))
    stand = open_stand(topology.load(str(path)), mode)
    stand.layout.root.mkdir(parents=True)
    stand.state_file.write(StandState(prefix="pgab", topology=str(path), mode=mode, status="up"))
    stand.layout.topology_snapshot.write_text(path.read_text())
    stand.credentials_file.parent.mkdir(parents=True)
    stand.credentials_file.write_text(Credentials("client", "monitor", "replication").to_json())
    return stand


def test_the_running_stand_is_its_snapshot_after_the_file_changed(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text((topology.BUILTIN_DIR / "seed.toml").read_text())
    stand_up_from(path, tmp_path, monkeypatch)
    path.write_text(path.read_text().replace("port = 5432", "port = 6432").replace("198.18.0.94/24", "198.18.0.99/24"))

    now = running(open_stand(topology.load(str(path))))
    assert now.plan.mode == "keepalived"
    assert now.plan.topology.pgpool.port == 5432
    assert str(now.plan.host("PgBAL1").data_address) == "198.18.0.94/24"
    assert now.plan.topology.source == str(path)  # where it came from, for messages

    settings = client.from_running_stand("pgab")
    assert settings.port == 5432
    assert settings.hosts_by_address["198.18.0.94"] == "PgBAL1"
    assert "198.18.0.99" not in settings.hosts_by_address
    assert settings.password == "client"
    assert settings.namespaces == ()


def test_a_stand_up_before_snapshots_falls_back_to_its_file(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text((topology.BUILTIN_DIR / "seed.toml").read_text())
    stand = stand_up_from(path, tmp_path, monkeypatch, mode="anycast")
    stand.layout.topology_snapshot.unlink()
    assert running(stand).plan.topology.pgpool.port == 5432
    assert client.from_running_stand("pgab").host == "198.18.2.0"
