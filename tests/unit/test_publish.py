"""`bench publish`: a static site of the runs and comparisons given, that opens offline."""

import re
from pathlib import Path

from bench import cli
from reports.publish import find_results, publish
from tests.unit.test_report_html import ANYCAST, KEEPALIVED, write_results


def results(tmp_path: Path) -> Path:
    """A results folder as `bench` leaves it: a comparison of two modes and one single run."""
    root = tmp_path / "results"
    compare = root / "20260101-000000-compare"
    write_results(compare / "20260101-000000-balancer-crash-anycast", ANYCAST)
    write_results(compare / "20260101-000100-balancer-crash-keepalived", KEEPALIVED)
    single = write_results(root / "20260102-000000-balancer-crash-anycast", ANYCAST)
    (single / "locust.html").write_text("<html>Locust's own</html>")
    return root


def test_the_index_lists_every_run_and_comparison_given_with_its_verdict_and_links_that_exist(tmp_path):
    root = results(tmp_path)
    comparisons, runs = find_results([root])
    assert [c.name for c in comparisons] == ["20260101-000000-compare"] and len(runs) == 1
    index = publish([root], tmp_path / "site")
    html = index.read_text()
    for name in ("20260101-000000-balancer-crash-anycast", "20260101-000100-balancer-crash-keepalived",
                 "20260102-000000-balancer-crash-anycast", "20260101-000000-compare"):  # fmt: skip
        assert f">{name}<" in html, name
    assert "balancer-crash: node-crash PgBAL1: shorter in anycast" in html
    links = re.findall(r'href="([^"]+)"', html)
    assert len(set(links)) == 5 and all((index.parent / link).is_file() for link in links), (
        links
    )  # 3 runs, 1 comparison, Locust's
    assert "Locust&#39;s report" in html or "Locust's report" in html
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", html)  # nothing fetched from anywhere
    assert "<h3>balancer-crash</h3>" in html and html.count("<tr><td>") >= 3  # the history's rows


def test_publish_on_the_cli_and_a_folder_without_results_is_one_line(tmp_path, capsys):
    root = results(tmp_path)
    assert cli.main(["publish", str(root), "--out", str(tmp_path / "site")]) == 0
    assert capsys.readouterr().out.strip() == f"published: {tmp_path / 'site' / 'index.html'}"
    (tmp_path / "empty").mkdir()
    assert cli.main(["publish", str(tmp_path / "empty"), "--out", str(tmp_path / "other")]) == 1
    assert capsys.readouterr().err == f"bench: error: no run or comparison under {tmp_path / 'empty'}\n"
    assert cli.main(["publish", str(tmp_path / "nosuch"), "--out", str(tmp_path / "other")]) == 1
    assert capsys.readouterr().err == f"bench: error: no such results directory: {tmp_path / 'nosuch'}\n"
