"""Pure parts of the loadgen: the answer check, settings from URLs, key ranges, Locust's view of failures."""

import pytest

from loadgen.client import RequestFailed, WrongAnswer, as_exception, check_account, parse_keys
from loadgen.records import Record
from stand.client import ClientSettings


@pytest.mark.parametrize(("aid", "row"), [(1, (1, 1)), (100_000, (100_000, 1)), (100_001, (100_001, 2))])
def test_the_right_row_passes(aid, row):
    check_account(aid, row)


@pytest.mark.parametrize(
    ("aid", "row", "message"),
    [
        (5, None, "no row for aid 5"),
        (5, (6, 1), "asked for aid 5 (bid 1), got aid 6 bid 1"),
        (100_001, (100_001, 1), "asked for aid 100001 (bid 2), got aid 100001 bid 1"),
    ],
)
def test_a_wrong_row_is_a_wrong_answer(aid, row, message):
    with pytest.raises(WrongAnswer, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_account(aid, row)


def test_url_overrides_the_stand_settings():
    stand = ClientSettings("198.18.2.0", 5432, "bench", "pw", "bench", 100_000, {"198.18.0.94": "PgBAL1"})
    other = stand.with_url("postgresql://alice:s%40cret@127.0.0.1:6432/other")
    assert (other.host, other.port, other.user, other.password, other.database) == (
        "127.0.0.1", 6432, "alice", "s@cret", "other"
    )  # fmt: skip
    assert stand.with_url("postgresql://127.0.0.1").password == "pw"
    assert stand.host_name("198.18.0.94") == "PgBAL1"
    assert stand.host_name("10.1.1.1") == "10.1.1.1"


@pytest.mark.parametrize("url", ["http://198.18.2.0", "198.18.2.0", "postgresql:///bench"])
def test_a_url_that_is_not_postgresql_is_refused(url):
    with pytest.raises(ValueError, match="must be a postgresql://"):
        ClientSettings.from_url(url)


@pytest.mark.parametrize(("text", "keys"), [("", None), ("7", (7, 7)), ("1-100", (1, 100))])
def test_key_ranges(text, keys):
    assert parse_keys(text) == keys


def failed(outcome: str, error_class: str | None, text: str | None) -> Record:
    return Record(0, 1.0, None, outcome, error_class, text, "point", "persistent", "main", 1, "p", "c", False,
                  None, None, None, None)  # fmt: skip


def test_locust_sees_each_outcome_as_its_own_failure():
    assert as_exception(failed("ok", None, None)) is None
    assert isinstance(as_exception(failed("wrong_answer", "WrongAnswer", "x")), WrongAnswer)
    assert isinstance(as_exception(failed("timeout", "TimeoutError", "t")), TimeoutError)
    error = as_exception(failed("error", "ConnectionRefusedError", "refused"))
    assert isinstance(error, RequestFailed) and str(error) == "ConnectionRefusedError: refused"
