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


def test_a_stand_whose_prefix_this_machine_already_routes_is_refused(monkeypatch):
    """A route of this machine's own (a VPN's, a lab's) inside the stand's prefixes: `stand up` refuses
    before creating anything, naming both."""
    from ipaddress import IPv4Network

    from stand.linux import netns
    from stand.model import topology
    from stand.modes import open_stand
    from stand.runtime import build
    from stand.runtime.handle import StandError

    stand = open_stand(topology.load("seed"))
    taken = [(IPv4Network("0.0.0.0/1"), "eth0"), (IPv4Network("198.18.1.128/25"), "wg0")]
    monkeypatch.setattr(netns, "routes", lambda namespace: taken)
    with pytest.raises(
        StandError,
        match=r"prefix 198.18.1.0/24 overlaps this machine's route to 198.18.1.128/25 "
        r"\(dev wg0\)",
    ):
        build.refuse_taken_prefixes(stand)
    monkeypatch.setattr(netns, "routes", lambda namespace: [(IPv4Network("198.18.1.0/24"), "pgab-shell")])
    build.refuse_taken_prefixes(stand)  # the stand's own link: a stand of this prefix, refused elsewhere
