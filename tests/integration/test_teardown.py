"""Runs last: `stand down` leaves nothing behind, and then every target is refused."""

import json
import subprocess

import pytest

from stand import netns
from stand.safety import UnsafeTarget, check_target
from tests.integration.conftest import stand_cli

pytestmark = pytest.mark.integration


def test_stand_down_leaves_nothing_and_traffic_is_refused(stand):
    processes = stand.state_file.read().processes
    assert processes, "the stand recorded no process"
    result = stand_cli("down")
    assert result.returncode == 0, result.stderr
    assert [n for n in stand.plan.namespaces if netns.exists(n)] == []
    assert [p for p in processes if p.is_running()] == []
    assert not netns.link_exists(netns.ROOT, stand.plan.shell_ifname)
    routes = json.loads(subprocess.run(["ip", "-j", "route", "show", "table", "all"], capture_output=True,
                                       text=True, check=True).stdout)  # fmt: skip
    assert [r for r in routes if r.get("dst", "").startswith("198.18.")] == []
    assert not stand.layout.root.exists()
    with pytest.raises(UnsafeTarget, match="refusing to send traffic to 198.18.2.0: no stand is running"):
        check_target("198.18.2.0")
    again = stand_cli("down")
    assert again.returncode == 0
    assert "nothing to do" in again.stdout
