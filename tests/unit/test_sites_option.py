"""--pg-sites / --sites: the sites one load process serves, each from its client host's namespace."""

import pytest

from loadgen.sites import Site, check_sites, parse_sites
from stand.safety import UnsafeTarget


def test_sites_are_read_in_order():
    assert parse_sites("msk=pgab-climsk,spb=pgab-clispb") == [Site("msk", "pgab-climsk"), Site("spb", "pgab-clispb")]
    assert parse_sites("") == []


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("msk", "'msk' is not SITE=NAMESPACE"),
        ("msk=", "'msk=' is not SITE=NAMESPACE"),
        ("a=x,a=y", "site 'a' is given twice"),
    ],
)
def test_bad_sites_are_one_line(text, error):
    with pytest.raises(ValueError, match=f"--pg-sites: {error}"):
        parse_sites(text)


def test_a_namespace_of_no_running_stand_is_refused(monkeypatch):
    monkeypatch.setattr("stand.safety.running_stands", lambda: [{"namespaces": ["pgab-climsk"]}])
    with pytest.raises(UnsafeTarget, match="namespace 'pgab-elsewhere': it is not one of a running stand's"):
        check_sites([Site("x", "pgab-elsewhere")])
