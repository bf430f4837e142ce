"""The JSON outputs against the shapes docs/json.md documents: the same keys at every level."""

import json
import re
from dataclasses import asdict, replace
from pathlib import Path

from reports.expect import Expectation, check
from reports.run_summary import summarize_run
from reports.summary_json import summary_json
from stand import cli as stand_cli
from stand.faults.registry import FAULTS
from stand.runtime.status import HostStatus, StandStatus

REPO = Path(__file__).resolve().parents[2]
TODAY = Path(__file__).parent / "data" / "run-anycast"


def documented() -> dict[str, object]:
    """Each section's example: the heading's command -> its JSON."""
    text = (REPO / "docs" / "json.md").read_text()
    sections = re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    return {title: json.loads(re.search(r"```json\n(.*?)```", body, re.S).group(1)) for title, body in sections}


NAME_MAPS = {"balancer_share", "daemons", "replication"}  # keyed by host or daemon names: any keys


def shape(value):
    """Keys at every level (a list by its first item's), the values' kinds left out."""
    if isinstance(value, dict):
        return {key: "map" if key in NAME_MAPS else shape(v) for key, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value and isinstance(value[0], dict | list) else []
    return None


def test_the_docs_document_each_output():
    assert list(documented()) == [
        "`bench run --json`, `bench compare --json`",
        "`stand status --json`",
        "`stand fault --list --json`",
    ]


def test_bench_json_has_the_documented_shape():
    run = summarize_run(TODAY)
    run = replace(run, checks=check([Expectation("gap_ms", "max", 500.0)], run))
    assert run.faults and run.checks
    made = summary_json([run], "results/x", "results/x/report.html", ["smoke: a verdict"], 0)
    json.dumps(made)  # every value is JSON
    assert shape(made) == shape(documented()["`bench run --json`, `bench compare --json`"])


def test_stand_status_json_has_the_documented_shape():
    host = HostStatus("PgBAL1", "main", ["198.18.0.94/24"], {"pgpool": True}, True, "anycast:announced(up)")
    status = StandStatus("pgab", "up", "anycast", "seed.toml", "", [host], ["next hops ..."], {"PgSQL2": "streaming"})
    made = asdict(status)
    assert shape(made) == shape(documented()["`stand status --json`"])
    assert status.lines()[0] == "stand pgab: up, anycast mode (topology seed.toml)"
    assert "PgBAL1" in status.lines()[1] and "pgpool:up anycast:announced(up)" in status.lines()[1]


def test_stand_fault_list_json_is_every_fault_as_documented(capsys):
    assert stand_cli.main(["fault", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in listed] == list(FAULTS)
    (example,) = documented()["`stand fault --list --json`"]
    assert next(f for f in listed if f["name"] == example["name"]) == example  # the example is the real entry
