"""The safety rule without a stand: every target outside loopback is refused."""

import pytest

from stand.safety import UnsafeTarget, check_target


@pytest.fixture
def no_stand(tmp_path, monkeypatch):
    """A state root with no stand in it: the same as `stand down` on this machine."""
    monkeypatch.setenv("PGAB_STATE_DIR", str(tmp_path))


@pytest.mark.parametrize("target", ["127.0.0.1", "127.10.0.3", "::1"])
def test_loopback_is_always_allowed(no_stand, target):
    check_target(target)


@pytest.mark.parametrize("target", ["198.18.2.0", "198.18.0.94", "198.19.255.1", "10.0.0.1", "8.8.8.8"])
def test_anything_else_is_refused_when_no_stand_runs(no_stand, target):
    with pytest.raises(UnsafeTarget, match=f"refusing to send traffic to {target}: no stand is running"):
        check_target(target)


def test_names_are_refused(no_stand):
    with pytest.raises(UnsafeTarget, match="not an IP address"):
        check_target("db.example.com")
