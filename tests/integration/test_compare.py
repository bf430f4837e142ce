"""`bench compare anycast keepalived --scenario smoke --repeat 2`, for real: the two stands taking turns,
the same load and the same fault, figures for each seed claim, and medians and ranges of the runs."""

import json
import subprocess
import sys

import pytest

from loadgen.records import read_records
from reports.metrics import balancer_share, phases
from reports.run_summary import summarize_run
from tests.browser.test_reports_in_chromium import ARTIFACTS, assert_renders_alone
from tests.integration.conftest import REPO, measured

pytestmark = pytest.mark.integration


def test_compare_anycast_keepalived_smoke(stands, tmp_path):
    stands.down()  # compare brings up (and down) a stand per mode itself
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.cli",
            "compare",
            "anycast",
            "keepalived",
            "--scenario",
            "smoke",
            "--repeat",
            "2",
            "--results",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=REPO,
    )
    (compared,) = tmp_path.glob("*-compare")
    last = measured(result, compared)
    print(result.stdout[-1500:])
    metas = {m.parent: json.loads(m.read_text()) for m in tmp_path.glob("*-compare/*/meta.json")}
    firsts = [m for m in metas.values() if m["attempt"] == 1]  # a run played again has a later attempt too
    assert sorted((m["mode"], m["repetition"]) for m in firsts) == [
        ("anycast", 1),
        ("anycast", 2),
        ("keepalived", 1),
        ("keepalived", 2),
    ]
    by_start = [m["mode"] for m in sorted(firsts, key=lambda m: m["started_us"])]
    assert by_start == ["anycast", "keepalived", "keepalived", "anycast"]  # the modes take turns
    carriers = {}
    for directory, meta in metas.items():
        mode = meta["mode"]
        events = [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]
        assert [(e["action"], e["fault"], e["target"]) for e in events] == [
            ("fault", "node-crash", "PgBAL1"),
            ("undo", "node-crash", "PgBAL1"),
        ]
        before = phases(events, meta["started_us"], meta["ended_us"])[0]
        share = balancer_share(read_records(directory / "records"), before.start_us, before.end_us)
        carriers.setdefault(mode, set()).update(b for b, v in share.items() if v > 0.05)
        summary = summarize_run(directory)
        assert len(summary.faults) == 1
        assert summary.faults[0].recovered, f"{mode}: traffic never came back after the fault"
        assert summary.faults[0].gap_ms is not None
    assert carriers["anycast"] == {"PgBAL1", "PgBAL2", "PgBAL3"}  # every balancer carries load
    assert carriers["keepalived"] == {"PgBAL1"}  # the VIP's master alone
    assert "== smoke" in result.stdout and "gap ms" in result.stdout
    # the crashed balancer's own withdrawal (or VIP move) is explained by its fault; nothing else moved
    for repetition in (1, 2):
        assert f"anycast #{repetition}       false withdrawals: 0" in result.stdout
        assert f"keepalived #{repetition}    false failovers: 0" in result.stdout
    valid = {mode: sum(s.validity.valid for s in last if s.mode == mode) for mode in ("anycast", "keepalived")}
    assert f"medians [ranges] of the valid runs (anycast {valid['anycast']}, keepalived {valid['keepalived']}):" in (
        result.stdout
    )
    assert (
        "node-crash PgBAL1: shorter in " in result.stdout or "node-crash PgBAL1: no clear difference" in result.stdout
    )
    (report,) = tmp_path.glob("*-compare/report.html")
    assert_renders_alone(report)
    kept = ARTIFACTS / "real-compare"
    kept.mkdir(parents=True, exist_ok=True)
    for name in ("report.html", "screenshot.png"):
        (kept / name).write_bytes((report.parent / name).read_bytes())
