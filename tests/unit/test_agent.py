"""Unit tests for stand.programs.agent: how checks are judged, the last announcer, config, pid and status files."""

import copy
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from stand.programs.agent import (
    ERROR,
    KEPT,
    NEW,
    OK,
    SLOW,
    UNRESPONSIVE,
    AgentConfig,
    Answer,
    ConfigError,
    HealthJudge,
    LatencyStats,
    Verdict,
    has_full_neighbor,
    main,
    other_announcers,
    read_live_pid,
    write_status_file,
)

VALID_CONFIG = {
    "balancer": "PgBAL1",
    "anycast": "198.18.2.0/32",
    "interface": "lo",
    "check": {
        "host": "198.18.2.94",
        "port": 5432,
        "user": "pgab_health",
        "database": "bench",
        "password_file": "/run/pw",
        "query": "SELECT 1",
    },
    "interval_ms": 100,
    "timeout_ms": 500,
    "unresponsive_ms": 2000,
    "rise": 3,
    "fall": 2,
    "new_connection_every": 10,
    "protect_last_announcer": True,
    "withdraw_holdoff_ms": 200,
    "last_resort_cost": 1000,
    "vtysh_socket_dir": "/run/frr",
    "pgpool_pid_file": "/run/pgpool.pid",
    "drain_file": "/run/drain",
    "status_file": "/run/agent-status.json",
    "decisions_file": "/run/health.jsonl",
}


def answers(code: str) -> list[tuple[str, Answer]]:
    """Answers written as letters: o ok, s slow, e error, u unresponsive (kept session); O S E U: the same
    on a new connection."""
    outcomes = {"o": OK, "s": SLOW, "e": ERROR, "u": UNRESPONSIVE}
    return [(KEPT if letter.islower() else NEW, Answer(outcomes[letter.lower()], 1.0, "boom")) for letter in code]


def announced_after_each(judge: HealthJudge, code: str) -> str:
    """'A' where the judge announces after that answer, '-' where it does not."""
    shown = []
    for stream, answer in answers(code):
        judge.record(stream, answer)
        shown.append("A" if judge.announced else "-")
    return "".join(shown)


@pytest.mark.parametrize(
    ("rise", "fall", "code", "expected"),
    [
        (3, 2, "", ""),
        (3, 2, "oo", "--"),
        (3, 2, "ooo", "--A"),
        (3, 2, "oos", "--A"),  # a slow answer is an answer
        (1, 1, "oeoe", "A-A-"),
        (3, 2, "oooe", "--AA"),
        (3, 2, "oooee", "--AA-"),
        (3, 2, "oooeoeoe", "--AAAAAA"),  # errors between answers never reach fall=2
        (3, 2, "oooesesese", "--AAAAAAAA"),  # nor between slow answers
        (3, 2, "ooosssssss", "--AAAAAAAA"),  # slowness alone never withdraws
        (3, 2, "ooou", "--A-"),  # no answer within unresponsive_ms: withdrawn at once
        (3, 2, "oooUUUU", "--AAAAA"),  # a new client left waiting (every child busy) is slowness
        (3, 2, "oooEoE", "--AAA-"),  # refused new connections, counted on their own stream
        (3, 2, "oooEeo", "--AAAA"),  # one error on each stream is one of each
        (3, 2, "ooeoo", "-----"),  # an error restarts the rise count
        (3, 2, "OOO", "---"),  # only the kept session's answers announce
        (2, 3, "ooeee", "-AAA-"),
    ],
)
def test_judge_tells_busy_from_dead(rise, fall, code, expected):
    assert announced_after_each(HealthJudge(rise, fall), code) == expected


def test_judge_verdicts_name_their_evidence():
    judge = HealthJudge(rise=1, fall=2)
    [(stream, answer)] = answers("o")
    assert judge.record(stream, answer) == Verdict(True, "answers", "1 consecutive answers")
    verdicts = [judge.record(stream, answer) for stream, answer in answers("ee")]
    assert verdicts[0] is None
    assert (verdicts[1].announce, verdicts[1].evidence) == (False, "errors")
    assert "boom" in verdicts[1].reason
    judge.record(*answers("o")[0])
    verdict = judge.record(*answers("u")[0])
    assert (verdict.announce, verdict.evidence) == (False, "unresponsive")


def test_latency_stats_report_counts_and_quantiles_then_restart():
    stats = LatencyStats()
    for latency in range(1, 101):
        stats.add(Answer(OK if latency <= 90 else SLOW, float(latency)))
    stats.add(Answer(ERROR, 3.0, "refused"))
    report = stats.report()
    assert (report["ok"], report["slow"], report["error"], report["unresponsive"]) == (90, 10, 1, 0)
    assert (report["p50_ms"], report["p99_ms"], report["max_ms"]) == (51.0, 100.0, 100.0)
    assert stats.report()["ok"] == 0 and stats.report()["p50_ms"] is None


DATA = Path(__file__).parent / "data"


def captured(name: str) -> dict:
    """FRR 8.4's JSON, captured on PgBAL1 of a running seed stand with every balancer announcing."""
    return json.loads((DATA / name).read_text())


def test_other_announcers_from_frr_json():
    lsas, routes = captured("ospf_database_router.json"), captured("ospf_route.json")
    # PgSQL1 (198.18.2.91) announces the address too, at the last resort's cost: it is no balancer
    assert other_announcers(lsas, routes, "198.18.2.94", "198.18.2.0/32", 1000) == ["198.18.2.95", "198.18.2.96"]
    assert other_announcers(lsas, routes, "198.18.2.95", "198.18.2.0/32", 1000) == ["198.18.2.94", "198.18.2.96"]


def test_a_dead_routers_lingering_lsa_does_not_count():
    lsas, routes = captured("ospf_database_router.json"), captured("ospf_route.json")
    unreachable = {
        prefix: route for prefix, route in routes.items() if prefix not in ("198.18.2.95/32", "198.18.2.96/32")
    }
    assert other_announcers(lsas, unreachable, "198.18.2.94", "198.18.2.0/32", 1000) == []


def test_a_withdrawn_balancer_does_not_count():
    lsas, routes = captured("ospf_database_router.json"), captured("ospf_route.json")
    for lsa in lsas["routerLinkStates"]["areas"]["0.0.0.0"]:
        if lsa["advertisingRouter"] == "198.18.2.96":
            lsa["routerLinks"] = {
                k: v for k, v in lsa["routerLinks"].items() if v.get("networkAddress") != "198.18.2.0"
            }
    assert other_announcers(lsas, routes, "198.18.2.94", "198.18.2.0/32", 1000) == ["198.18.2.95"]
    assert other_announcers({}, {}, "198.18.2.94", "198.18.2.0/32", 1000) == []


def test_a_balancer_without_a_full_neighbour_is_cut_off():
    """A balancer whose links are cut sees no other announcer, yet is nobody's last: it withdraws as any other."""
    neighbors = json.loads((DATA / "frr" / "ospf_neighbor.json").read_text())
    assert has_full_neighbor(neighbors)
    for entries in neighbors["neighbors"].values():
        for entry in entries:
            entry["state"] = entry["nbrState"] = "Init/DROther"
    assert not has_full_neighbor(neighbors)
    assert not has_full_neighbor({"neighbors": {}}) and not has_full_neighbor({})


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


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (without("balancer"), "missing key 'balancer'"),
        (without("status_file"), "missing key 'status_file'"),
        (without("check"), "missing key 'check'"),
        (without("check.password_file"), "missing key 'check.password_file'"),
        (edited("rise", 0), "bad key 'rise'"),
        (edited("fall", -1), "bad key 'fall'"),
        (edited("interval_ms", "100"), "bad key 'interval_ms'"),
        (edited("timeout_ms", 0.5), "bad key 'timeout_ms'"),
        (edited("rise", True), "bad key 'rise'"),
        (edited("protect_last_announcer", 1), "bad key 'protect_last_announcer'"),
        (edited("unresponsive_ms", 400), "bad key 'unresponsive_ms'"),
        (without("decisions_file"), "missing key 'decisions_file'"),
        (edited("interface", ""), "bad key 'interface'"),
        (edited("drain_file", None), "bad key 'drain_file'"),
        (edited("check", "198.18.2.94"), "bad key 'check'"),
        (edited("check.port", "5432"), "bad key 'check.port'"),
        (edited("check.port", 70000), "bad key 'check.port'"),
        (edited("anycast", "198.18.2.300/32"), "bad key 'anycast'"),
        ([], "expected a JSON object"),
    ],
)
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
    assert "usage: python -m stand.programs.agent CONFIG.json" in capsys.readouterr().err


def test_main_config_error_is_one_line(tmp_path, capsys):
    assert main([write_config(tmp_path, without("fall"))]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"stand.programs.agent: config {tmp_path / 'agent.json'}: missing key 'fall'"
    ]


def reaped_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(
    ("content", "expected"),
    [
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
    ],
)
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


@pytest.mark.parametrize(
    ("me", "others", "expected"),
    [
        ("198.18.2.94", ["198.18.2.95", "198.18.2.96"], 0),
        ("198.18.2.96", ["198.18.2.95", "198.18.2.94"], 2),
        ("198.18.2.100", ["198.18.2.95", "198.18.2.99"], 2),  # by address, not by text
        ("198.18.2.95", [], 0),
    ],
)
def test_agents_failing_at_once_take_turns_by_router_id(me, others, expected):
    from stand.programs.agent import rank

    assert rank(me, others) == expected
