"""Unit tests for stand.agent: rise/fall decisions, config loading, pid files, status file."""

import copy
import json
import os
import subprocess
import time

import pytest

from stand.agent import AgentConfig, ConfigError, HealthState, main, read_live_pid, write_status_file

VALID_CONFIG = {
    "balancer": "PgBAL1", "anycast": "198.18.2.0/32", "interface": "lo",
    "check": {"host": "198.18.2.94", "port": 5432, "user": "pgab_health", "database": "bench",
              "password_file": "/run/pw", "query": "SELECT 1"},
    "interval_ms": 100, "timeout_ms": 500, "rise": 3, "fall": 2, "new_connection_every": 10,
    "pgpool_pid_file": "/run/pgpool.pid", "drain_file": "/run/drain", "status_file": "/run/agent-status.json",
}


def feed(state: HealthState, results: str) -> list[bool]:
    """Record results given as a string of '+' (good) and '-' (failed); return `announced` after each."""
    announced = []
    for result in results:
        state.record(result == "+")
        announced.append(state.announced)
    return announced


@pytest.mark.parametrize(("rise", "fall", "results", "expected"), [
    (3, 2, "", ""),
    (3, 2, "++", "--"),
    (3, 2, "+++", "--A"),
    (3, 2, "++++", "--AA"),
    (1, 1, "+", "A"),
    (1, 1, "+-+-", "A-A-"),
    (3, 2, "+++-", "--AA"),
    (3, 2, "+++--", "--AA-"),
    (3, 2, "+++-+-+-", "--AAAAAA"),  # alternating failures never reach fall=2
    (3, 2, "++-++-++", "--------"),  # a failure restarts the rise count
    (3, 2, "+++--++", "--AA---"),
    (3, 2, "+++--+++", "--AA---A"),
    (2, 3, "++---", "-AAA-"),
    (2, 3, "++--+--", "-AAAAAA"),  # a success restarts the fall count
    (3, 2, "-----", "-----"),
])
def test_health_state_rise_and_fall(rise, fall, results, expected):
    state = HealthState(rise, fall)
    assert not state.announced
    assert "".join("A" if a else "-" for a in feed(state, results)) == expected


@pytest.mark.parametrize(("results", "changed"), [
    ("++", [False, False]),
    ("+++", [False, False, True]),
    ("+++++-", [False, False, True, False, False, False]),
    ("+++--", [False, False, True, False, True]),
])
def test_health_state_record_reports_changes(results, changed):
    state = HealthState(3, 2)
    assert [state.record(result == "+") for result in results] == changed


@pytest.mark.parametrize("prefix", ["+++", "++", "+++-", "-"])
def test_health_state_reset_withdraws_and_needs_full_rise(prefix):
    state = HealthState(3, 2)
    feed(state, prefix)
    state.reset()
    assert (state.announced, state.successes, state.failures) == (False, 0, 0)
    assert feed(state, "+++") == [False, False, True]


def write_config(tmp_path, data) -> str:
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_config_loads_valid_file(tmp_path):
    config = AgentConfig.from_file(write_config(tmp_path, VALID_CONFIG))
    assert config.balancer == "PgBAL1"
    assert config.check.port == 5432
    assert (config.interval_ms, config.timeout_ms, config.rise, config.fall) == (100, 500, 3, 2)
    with pytest.raises(AttributeError):
        config.rise = 1


def edited(key_path: str, value=None, delete: bool = False) -> dict:
    """VALID_CONFIG with the dotted `key_path` set to `value` (or deleted)."""
    data = copy.deepcopy(VALID_CONFIG)
    *parents, last = key_path.split(".")
    target = data
    for parent in parents:
        target = target[parent]
    if delete:
        del target[last]
    else:
        target[last] = value
    return data


def without(key_path: str) -> dict:
    return edited(key_path, delete=True)


@pytest.mark.parametrize(("data", "message"), [
    (without("balancer"), "missing key 'balancer'"),
    (without("status_file"), "missing key 'status_file'"),
    (without("check"), "missing key 'check'"),
    (without("check.password_file"), "missing key 'check.password_file'"),
    (edited("rise", 0), "bad key 'rise'"),
    (edited("fall", -1), "bad key 'fall'"),
    (edited("interval_ms", "100"), "bad key 'interval_ms'"),
    (edited("timeout_ms", 0.5), "bad key 'timeout_ms'"),
    (edited("rise", True), "bad key 'rise'"),
    (edited("interface", ""), "bad key 'interface'"),
    (edited("drain_file", None), "bad key 'drain_file'"),
    (edited("check", "198.18.2.94"), "bad key 'check'"),
    (edited("check.port", "5432"), "bad key 'check.port'"),
    (edited("check.port", 70000), "bad key 'check.port'"),
    (edited("anycast", "198.18.2.300/32"), "bad key 'anycast'"),
    ([], "expected a JSON object"),
])
def test_config_errors_name_the_key_on_one_line(tmp_path, data, message):
    path = write_config(tmp_path, data)
    with pytest.raises(ConfigError) as raised:
        AgentConfig.from_file(path)
    assert message in str(raised.value)
    assert path in str(raised.value)
    assert "\n" not in str(raised.value)


def test_config_error_for_invalid_json(tmp_path):
    path = tmp_path / "agent.json"
    path.write_text('{"balancer": ')
    with pytest.raises(ConfigError, match="agent.json"):
        AgentConfig.from_file(path)


def test_config_error_for_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="No such file"):
        AgentConfig.from_file(tmp_path / "absent.json")


@pytest.mark.parametrize("args", [[], ["a.json", "b.json"]])
def test_main_usage_error(args, capsys):
    assert main(args) == 2
    assert "usage: python -m stand.agent CONFIG.json" in capsys.readouterr().err


def test_main_config_error_is_one_line(tmp_path, capsys):
    assert main([write_config(tmp_path, without("fall"))]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"stand.agent: config {tmp_path / 'agent.json'}: missing key 'fall'"]


def reaped_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(("content", "expected"), [
    (None, None),
    ("", None),
    ("garbage\n", None),
    ("0\n", None),
    ("-1\n", None),
    ("{reaped}\n", None),
    ("{me}", "me"),
    ("{me}\n/var/lib/data\n1700000000\n", "me"),
    (" {me} \n", "me"),
    ("{me}\0", "me"),  # pgpool ends its pid file with a NUL byte
])
def test_read_live_pid(tmp_path, content, expected):
    pid_file = tmp_path / "pgpool.pid"
    if content is not None:
        pid_file.write_text(content.format(me=os.getpid(), reaped=reaped_pid()))
    assert read_live_pid(pid_file) == (os.getpid() if expected == "me" else None)


def test_read_live_pid_treats_zombie_as_gone(tmp_path):
    child = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while not open(f"/proc/{child.pid}/stat").read().rpartition(")")[2].split()[0] == "Z":
            assert time.monotonic() < deadline, "child never became a zombie"
            time.sleep(0.01)
        pid_file = tmp_path / "pgpool.pid"
        pid_file.write_text(f"{child.pid}\n")
        assert read_live_pid(pid_file) is None
    finally:
        child.wait()


def test_write_status_file_replaces_atomically(tmp_path):
    path = tmp_path / "agent-status.json"
    write_status_file(path, {"state": "starting"})
    write_status_file(path, {"state": "up", "announced": True})
    assert json.loads(path.read_text()) == {"state": "up", "announced": True}
    assert os.listdir(tmp_path) == ["agent-status.json"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
