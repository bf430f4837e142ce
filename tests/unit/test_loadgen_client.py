"""Pure parts of the loadgen: the answer checks, settings from URLs, key ranges, Locust's view of failures;
and the client against a fake connection (asyncpg.connect replaced: nothing is sent anywhere)."""

import asyncio
import contextlib
import re

import asyncpg
import pytest

from loadgen.client import (
    EXTENDED,
    POINT_SELECT,
    QUERIES,
    SIMPLE,
    WHO_SERVES,
    ClientOptions,
    PgClient,
    RequestFailed,
    WrongAnswer,
    as_exception,
    branch_select_text,
    check_account,
    check_tag,
    parse_keys,
    point_select,
    point_select_text,
    range_select_text,
    read_only_mix,
)
from loadgen.records import PROTOCOL_BEFORE_ITS_COLUMN, Record
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
        "127.0.0.1",
        6432,
        "alice",
        "s@cret",
        "other",
    )
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
    return Record(
        0,
        1.0,
        None,
        outcome,
        error_class,
        text,
        "point",
        "persistent",
        "extended",
        "main",
        1,
        "p",
        "c",
        False,
        None,
        None,
        None,
        None,
    )


def test_locust_sees_each_outcome_as_its_own_failure():
    assert as_exception(failed("ok", None, None)) is None
    assert isinstance(as_exception(failed("wrong_answer", "WrongAnswer", "x")), WrongAnswer)
    assert isinstance(as_exception(failed("timeout", "TimeoutError", "t")), TimeoutError)
    error = as_exception(failed("error", "ConnectionRefusedError", "refused"))
    assert isinstance(error, RequestFailed) and str(error) == "ConnectionRefusedError: refused"


# --- the simple protocol ------------------------------------------------------------------------------------


def test_simple_texts_paste_the_key_and_its_branch_as_integers():
    assert point_select_text(100_001) == "SELECT aid FROM pgbench_accounts WHERE aid = 100001 AND bid = 2"
    assert point_select_text(7) == "SELECT aid FROM pgbench_accounts WHERE aid = 7 AND bid = 1"
    assert branch_select_text(3) == "SELECT bid FROM pgbench_branches WHERE bid = 3"
    assert range_select_text(11, 20) == "SELECT aid FROM pgbench_accounts WHERE aid BETWEEN 11 AND 20"


@pytest.mark.parametrize(
    "text",
    [
        lambda: point_select_text("1 OR true"),
        lambda: branch_select_text("1; DROP"),
        lambda: range_select_text(1, "2 OR true"),
        lambda: branch_select_text(1.5),
    ],
)
def test_simple_texts_refuse_anything_but_integers(text):
    with pytest.raises(ValueError, match="Unknown format code 'd'"):
        text()


def test_the_tag_must_count_the_expected_rows():
    check_tag("SELECT 1", 1, "aid 5 (bid 1)")
    check_tag("SELECT 10", 10, "the accounts in [1, 10]")
    with pytest.raises(WrongAnswer, match=r"asked for aid 5 \(bid 1\), got 'SELECT 0', expected 'SELECT 1'"):
        check_tag("SELECT 0", 1, "aid 5 (bid 1)")
    with pytest.raises(WrongAnswer, match="got 'SELECT 9', expected 'SELECT 10'"):
        check_tag("SELECT 9", 10, "the accounts in [1, 10]")


class FakeConnection:
    """Answers as PostgreSQL would: `tags` by a word of the simple query's text, who serves it for fetchrow."""

    def __init__(self, tags: dict[str, str] | None = None, served=("198.18.0.95", "198.18.0.93")):
        self.tags = {
            "pgbench_accounts WHERE aid =": "SELECT 1",
            "pgbench_branches": "SELECT 1",
            "BETWEEN": "SELECT 10",
        } | (tags or {})
        self.served = served
        self.sent: list[str] = []
        self.readonly: bool | None = None
        self.closed = False

    async def execute(self, sql: str, timeout: float | None = None) -> str:
        self.sent.append(sql)
        return next(tag for word, tag in self.tags.items() if word in sql)

    async def fetchrow(self, sql: str, *args, timeout: float | None = None):
        self.sent.append(sql)
        if sql == WHO_SERVES:
            return self.served
        (aid,) = args
        return (aid, (aid - 1) // 100_000 + 1, 0, *self.served)

    def transaction(self, readonly: bool = False):
        self.readonly = readonly
        return contextlib.nullcontext()

    def is_closed(self) -> bool:
        return self.closed

    async def close(self) -> None:
        self.closed = True


def test_a_simple_point_select_is_checked_by_its_tag():
    conn = FakeConnection()
    assert asyncio.run(point_select(QUERIES[SIMPLE], conn, 100_001, 2.0, 200_000)) is None  # the connection tells
    assert conn.sent == ["SELECT aid FROM pgbench_accounts WHERE aid = 100001 AND bid = 2"]
    wrong = FakeConnection({"pgbench_accounts WHERE aid =": "SELECT 0"})
    with pytest.raises(WrongAnswer, match=r"asked for aid 100001 \(bid 2\), got 'SELECT 0'"):
        asyncio.run(point_select(QUERIES[SIMPLE], wrong, 100_001, 2.0, 200_000))


def test_the_simple_mix_checks_every_tag_in_one_read_only_transaction():
    conn = FakeConnection()
    asyncio.run(read_only_mix(QUERIES[SIMPLE], conn, 99_995, 2.0, 100_000))
    assert conn.readonly is True
    assert conn.sent == [
        "SELECT aid FROM pgbench_accounts WHERE aid = 99995 AND bid = 1",
        "SELECT bid FROM pgbench_branches WHERE bid = 1",
        "SELECT aid FROM pgbench_accounts WHERE aid BETWEEN 99991 AND 100000",  # the range stays in the table
    ]
    for tags, message in [
        ({"pgbench_branches": "SELECT 0"}, "asked for branch 1, got 'SELECT 0'"),
        ({"BETWEEN": "SELECT 9"}, "got 'SELECT 9', expected 'SELECT 10'"),
    ]:
        with pytest.raises(WrongAnswer, match=re.escape(message)):
            asyncio.run(read_only_mix(QUERIES[SIMPLE], FakeConnection(tags), 99_995, 2.0, 100_000))


@pytest.fixture
def fake_connect(monkeypatch):
    """asyncpg.connect replaced by one that hands out FakeConnections (kept in the returned list)."""
    made: list[FakeConnection] = []

    async def connect(**kwargs):
        made.append(FakeConnection(served=("127.0.0.2", "127.0.0.3")))
        return made[-1]

    monkeypatch.setattr(asyncpg, "connect", connect)
    return made


LOOPBACK = ClientSettings(
    "127.0.0.1", 5432, "bench", "pw", "bench", 100_000, {"127.0.0.2": "PgBAL2", "127.0.0.3": "PgSQL3"}
)


async def requests(options: ClientOptions, count: int) -> list[Record]:
    pg = PgClient(LOOPBACK, options, user=1)
    records = [await pg.request("point", key=n + 1) for n in range(count)]
    await pg.close()
    return records


def test_simple_asks_who_serves_once_per_connection_and_records_it_for_every_request(fake_connect):
    records = asyncio.run(requests(ClientOptions(protocol=SIMPLE), 3))
    (conn,) = fake_connect
    assert conn.sent == [WHO_SERVES, point_select_text(1), point_select_text(2), point_select_text(3)]
    assert {(r.outcome, r.protocol, r.balancer, r.backend) for r in records} == {("ok", "simple", "PgBAL2", "PgSQL3")}
    assert [r.new_connection for r in records] == [True, False, False]


def test_simple_per_query_asks_on_each_new_connection(fake_connect):
    records = asyncio.run(requests(ClientOptions(mode="per-query", protocol=SIMPLE), 2))
    assert [conn.sent[0] for conn in fake_connect] == [WHO_SERVES, WHO_SERVES]
    assert all(r.balancer == "PgBAL2" and r.new_connection for r in records)


def test_extended_takes_who_served_from_the_row_and_asks_nothing_more(fake_connect):
    records = asyncio.run(requests(ClientOptions(), 2))
    assert fake_connect[0].sent == [POINT_SELECT] * 2
    assert {(r.outcome, r.protocol, r.balancer, r.backend) for r in records} == {("ok", "extended", "PgBAL2", "PgSQL3")}


def test_a_persistent_connection_is_retired_after_its_session_between_two_requests(fake_connect, monkeypatch):
    from loadgen import client

    now = [100.0]
    monkeypatch.setattr(client.time, "monotonic", lambda: now[0])

    async def every_two_seconds() -> list[Record]:
        pg = PgClient(LOOPBACK, ClientOptions(session_s=5.0), user=1)
        records = []
        for n in range(6):  # at 100, 102, ... 110 s
            records.append(await pg.request("point", key=n + 1))
            now[0] += 2.0
        await pg.close()
        return records

    records = asyncio.run(every_two_seconds())
    # opened at 100 s; after the request at 106 s it is 6 s old: closed, the next request opens another
    assert [r.new_connection for r in records] == [True, False, False, False, True, False]
    assert [c.closed for c in fake_connect] == [True, True]
    assert {r.outcome for r in records} == {"ok"}
    kept = asyncio.run(requests(ClientOptions(), 4))  # 0: kept for good
    assert sum(r.new_connection for r in kept) == 1


def test_a_wrong_tag_is_a_wrong_answer_record_without_who_served(monkeypatch):
    async def connect(**kwargs):
        return FakeConnection({"pgbench_accounts WHERE aid =": "SELECT 0"})

    monkeypatch.setattr(asyncpg, "connect", connect)
    (record,) = asyncio.run(requests(ClientOptions(protocol=SIMPLE), 1))
    assert (record.outcome, record.error_class, record.balancer) == ("wrong_answer", "WrongAnswer", None)
    assert record.error_text == "asked for aid 1 (bid 1), got 'SELECT 0', expected 'SELECT 1'"


def test_any_other_error_while_connecting_is_a_failed_request_not_a_dead_load(monkeypatch):
    """A stand going away under the load can make asyncpg raise more than OSError and its own errors (a
    protocol error mid-startup): the request fails, recorded with its class; the load goes on."""

    class ProtocolError(Exception):
        pass

    async def connect(**kwargs):
        raise ProtocolError("unexpected message in startup")

    monkeypatch.setattr(asyncpg, "connect", connect)
    records = asyncio.run(requests(ClientOptions(), 2))
    assert [(r.outcome, r.error_class, r.error_text) for r in records] == [
        ("error", "ProtocolError", "unexpected message in startup")
    ] * 2


def test_records_of_old_files_name_the_protocol_they_used():
    assert PROTOCOL_BEFORE_ITS_COLUMN == EXTENDED


def test_stages_are_read_and_looked_up():
    from loadgen.stages import parse_stages, users_at

    stages = parse_stages("0:12,10:96,25.5:12")
    assert stages == [(0.0, 12), (10.0, 96), (25.5, 12)]
    assert [users_at(stages, t) for t in (0, 9.99, 10, 25.4, 25.5, 1000)] == [12, 12, 96, 96, 12, 12]


@pytest.mark.parametrize("text", ["", "10:5", "0:5,0:6", "0:0", "0:5,x:6", "0-5", "0:5,-1:3"])
def test_bad_stages_are_refused(text):
    from loadgen.stages import parse_stages

    with pytest.raises(ValueError, match="--pg-stages"):
        parse_stages(text)


def test_an_answer_of_the_last_resort_is_labelled_as_such_not_as_the_clients_address():
    """PgSQL1 announces the anycast address itself, behind no pgpool: it sees the client's own address as
    its client (198.18.3.2 from this shell), and answers at the anycast address."""
    from stand.client import ClientSettings

    settings = ClientSettings(
        host="198.18.2.0",
        port=5432,
        user="bench",
        password="",
        database="bench",
        accounts=100_000,
        hosts_by_address={"198.18.0.95": "PgBAL2", "198.18.0.93": "PgSQL3", "198.18.2.0": "PgSQL1"},
    )
    assert settings.served_by("198.18.3.2", "198.18.2.0") == ("last resort PgSQL1", "PgSQL1")
    assert settings.served_by("198.18.0.95", "198.18.0.93") == ("PgBAL2", "PgSQL3")
    assert settings.served_by(None, None) == (None, None)
