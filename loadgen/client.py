"""The PostgreSQL client of the loadgen and the probe: workloads, connection modes, one record a request.

Everything here runs on an asyncio loop (under Locust, the loop on gevent's hub: loadgen/bridge.py; the probe's own).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from loadgen.records import ERROR, OK, TIMEOUT, WRONG_ANSWER, Record, process_id
from loadgen.sites import from_namespace
from stand.client import ClientSettings

PERSISTENT = "persistent"
PER_QUERY = "per-query"
MODES = (PERSISTENT, PER_QUERY)
EXTENDED = "extended"  # Parse/Bind/Execute with the key as a parameter; the rows come back
SIMPLE = "simple"  # one Query message with the key in the text; only the command tag comes back
PROTOCOLS = (EXTENDED, SIMPLE)
ACCOUNTS_PER_BRANCH = 100_000  # pgbench's layout: account aid belongs to branch (aid - 1) // 100000 + 1
RANGE_ROWS = 10


class WrongAnswer(Exception):
    """The database answered, but not with the row that was asked for."""


class RequestFailed(Exception):
    """A failed request as Locust reports it: the outcome, the error class, the error text."""


def as_exception(record: Record) -> Exception | None:
    if record.outcome == OK:
        return None
    if record.outcome == WRONG_ANSWER:
        return WrongAnswer(record.error_text)
    if record.outcome == TIMEOUT:
        return TimeoutError(record.error_text)
    return RequestFailed(f"{record.error_class}: {record.error_text}")


@dataclass(frozen=True)
class Served:
    """Who served a request, as the backend saw it: pgpool's address is its client."""

    balancer_address: str | None
    backend_address: str | None


POINT_SELECT = (
    "SELECT aid, bid, abalance, host(inet_client_addr()), host(inet_server_addr()) FROM pgbench_accounts WHERE aid = $1"
)
BRANCH_SELECT = "SELECT bid, bbalance FROM pgbench_branches WHERE bid = $1"
RANGE_COUNT = "SELECT count(*) FROM pgbench_accounts WHERE aid BETWEEN $1 AND $2"
WHO_SERVES = "SELECT host(inet_client_addr()), host(inet_server_addr())"


def branch_of(aid: int) -> int:
    return (aid - 1) // ACCOUNTS_PER_BRANCH + 1


def check_account(aid: int, row) -> None:
    """The row pgbench -i wrote for this account, or WrongAnswer."""
    if row is None:
        raise WrongAnswer(f"no row for aid {aid}")
    expected_bid = branch_of(aid)
    if row[0] != aid or row[1] != expected_bid:
        raise WrongAnswer(f"asked for aid {aid} (bid {expected_bid}), got aid {row[0]} bid {row[1]}")


async def account_extended(conn: asyncpg.Connection, aid: int, timeout: float) -> Served:
    row = await conn.fetchrow(POINT_SELECT, aid, timeout=timeout)
    check_account(aid, row)
    return Served(row[3], row[4])


async def branch_extended(conn: asyncpg.Connection, bid: int, timeout: float) -> None:
    branch = await conn.fetchrow(BRANCH_SELECT, bid, timeout=timeout)
    if branch is None or branch[0] != bid:
        raise WrongAnswer(f"asked for branch {bid}, got {branch!r}")


async def range_count_extended(conn: asyncpg.Connection, low: int, high: int, timeout: float) -> None:
    count = await conn.fetchval(RANGE_COUNT, low, high, timeout=timeout)
    if count != high - low + 1:
        raise WrongAnswer(f"counted {count} accounts in [{low}, {high}], expected {high - low + 1}")


# The simple protocol's texts: only integers are pasted in (the `:d` format refuses anything else).
def point_select_text(aid: int) -> str:
    return f"SELECT aid FROM pgbench_accounts WHERE aid = {aid:d} AND bid = {branch_of(aid):d}"


def branch_select_text(bid: int) -> str:
    return f"SELECT bid FROM pgbench_branches WHERE bid = {bid:d}"


def range_select_text(low: int, high: int) -> str:
    return f"SELECT aid FROM pgbench_accounts WHERE aid BETWEEN {low:d} AND {high:d}"


def check_tag(tag: str, rows: int, asked: str) -> None:
    """A simple query's command tag must count the rows the filter admits (`SELECT 1`), or WrongAnswer.

    asyncpg's `execute` without arguments discards the rows: the count is all it returns, so every
    condition the answer must meet is in the query's WHERE clause.
    """
    if tag != f"SELECT {rows}":
        raise WrongAnswer(f"asked for {asked}, got {tag!r}, expected 'SELECT {rows}'")


async def account_simple(conn: asyncpg.Connection, aid: int, timeout: float) -> None:
    tag = await conn.execute(point_select_text(aid), timeout=timeout)
    check_tag(tag, 1, f"aid {aid} (bid {branch_of(aid)})")


async def branch_simple(conn: asyncpg.Connection, bid: int, timeout: float) -> None:
    check_tag(await conn.execute(branch_select_text(bid), timeout=timeout), 1, f"branch {bid}")


async def range_count_simple(conn: asyncpg.Connection, low: int, high: int, timeout: float) -> None:
    tag = await conn.execute(range_select_text(low, high), timeout=timeout)
    check_tag(tag, high - low + 1, f"the accounts in [{low}, {high}]")


@dataclass(frozen=True)
class Queries:
    """The checked queries of the workloads, in one protocol.

    `account` returns who served it when the answer can tell (extended); None when it cannot (simple),
    and then the connection's own answer to WHO_SERVES stands for it.
    """

    account: Callable[[asyncpg.Connection, int, float], Awaitable[Served | None]]
    branch: Callable[[asyncpg.Connection, int, float], Awaitable[None]]
    range_count: Callable[[asyncpg.Connection, int, int, float], Awaitable[None]]


QUERIES: dict[str, Queries] = {
    EXTENDED: Queries(account_extended, branch_extended, range_count_extended),
    SIMPLE: Queries(account_simple, branch_simple, range_count_simple),
}


async def point_select(
    queries: Queries, conn: asyncpg.Connection, key: int, timeout: float, accounts: int
) -> Served | None:
    """One account by primary key, checked."""
    return await queries.account(conn, key, timeout)


async def read_only_mix(
    queries: Queries, conn: asyncpg.Connection, key: int, timeout: float, accounts: int
) -> Served | None:
    """A short read-only transaction: an account, its branch, a small range; every answer checked.

    asyncpg's transaction sends BEGIN and COMMIT as simple queries, whatever the protocol of the rest.
    """
    async with conn.transaction(readonly=True):
        served = await queries.account(conn, key, timeout)
        await queries.branch(conn, branch_of(key), timeout)
        low = min(key, accounts - RANGE_ROWS + 1)
        await queries.range_count(conn, low, low + RANGE_ROWS - 1, timeout)
    return served


Workload = Callable[[Queries, asyncpg.Connection, int, float, int], Awaitable[Served | None]]
WORKLOADS: dict[str, Workload] = {"point": point_select, "mix": read_only_mix}


@dataclass(frozen=True)
class ClientOptions:
    mode: str = PERSISTENT
    protocol: str = EXTENDED
    site: str = "main"
    connect_timeout: float = 2.0
    query_timeout: float = 2.0
    keys: tuple[int, int] | None = None  # first and last key; default: every account
    namespace: str | None = None  # the site's client namespace its connections are made in (loadgen.sites)
    session_s: float = 0.0  # persistent: close the connection after a request once it is this old (0: never),
    # as an application's pool retires connections (a maximum lifetime); the next request opens a new one


class PgClient:
    """One simulated client: its connection (kept, or new for each query), timeouts, and records."""

    def __init__(self, settings: ClientSettings, options: ClientOptions, user: int):
        self.settings = settings
        self.options = options
        self.user = user
        self.keys = options.keys or (1, settings.accounts)
        self.process = process_id()
        self.queries = QUERIES[options.protocol]
        self._conn: asyncpg.Connection | None = None
        self._served_by_connection = Served(None, None)
        self._conn_id = ""
        self._connections = 0
        self._opened = 0.0  # time.monotonic() when the connection was opened
        self._busy = asyncio.Lock()  # one request at a time; close waits for the one in flight

    def random_key(self) -> int:
        return random.randint(*self.keys)

    async def _connect(self) -> None:
        s = self.settings
        with from_namespace(self.options.namespace):
            self._conn = await self._open(s)
        self._opened = time.monotonic()
        self._connections += 1
        self._conn_id = f"{self.process}/u{self.user}/c{self._connections}"
        if self.options.protocol == SIMPLE:
            self._served_by_connection = await self._who_serves()

    async def _open(self, s: ClientSettings) -> asyncpg.Connection:
        return await asyncpg.connect(
            host=s.host,
            port=s.port,
            user=s.user,
            password=s.password,
            database=s.database,
            timeout=self.options.connect_timeout,
            server_settings={"application_name": "pgab-loadgen"},
        )

    async def _who_serves(self) -> Served:
        """Who serves this connection, asked once right after connecting (the simple protocol's answers
        cannot say; the request that connects counts this query in its `connect_ms`).

        pgpool-II picks the load-balance node once per session (statement_level_load_balance is off: its
        default, which the stand keeps), so every later SELECT of the connection reaches the same backend
        through the same balancer.
        """
        row = await self._conn.fetchrow(WHO_SERVES, timeout=self.options.query_timeout)
        return Served(row[0], row[1])

    async def request(self, workload: str, key: int | None = None, scheduled_us: int | None = None) -> Record:
        """Run one workload request; its record tells how it went (failures are records too). `scheduled_us`:
        when an open-loop schedule (the probe's) had it start, recorded beside its actual start.

        The caller adds the record to its writer: a Locust user only once it has also reported the
        request to Locust, so that both counts agree even when a user is stopped mid-request.
        """
        async with self._busy:
            return await self._request(workload, self.random_key() if key is None else key, scheduled_us)

    async def _request(self, workload: str, key: int, scheduled_us: int | None = None) -> Record:
        start_us = time.time_ns() // 1000
        started = time.perf_counter()
        connect_ms = None
        served = Served(None, None)
        outcome, error_class, error_text = OK, None, None
        try:
            if self._conn is None or self._conn.is_closed():
                await self._connect()
                connect_ms = (time.perf_counter() - started) * 1000
            answered = await WORKLOADS[workload](
                self.queries, self._conn, key, self.options.query_timeout, self.settings.accounts
            )
            served = self._served_by_connection if answered is None else answered
        except WrongAnswer as e:
            outcome, error_class, error_text = WRONG_ANSWER, "WrongAnswer", str(e)
        except TimeoutError as e:
            outcome, error_class, error_text = TIMEOUT, type(e).__name__, str(e) or "timed out"
            await self._drop_connection()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            outcome, error_class, error_text = ERROR, type(e).__name__, str(e)
            await self._drop_connection()
        except Exception as e:  # anything else a dying stand makes asyncpg raise (a protocol error mid-startup):
            outcome, error_class, error_text = ERROR, type(e).__name__, str(e)  # a failed request, recorded
            self._abandon_connection()
        latency_ms = (time.perf_counter() - started) * 1000
        balancer, backend = self.settings.served_by(served.balancer_address, served.backend_address)
        record = Record(
            start_us=start_us,
            latency_ms=latency_ms,
            connect_ms=connect_ms,
            outcome=outcome,
            error_class=error_class,
            error_text=error_text,
            workload=workload,
            mode=self.options.mode,
            protocol=self.options.protocol,
            site=self.options.site,
            user=self.user,
            process=self.process,
            connection=self._conn_id,
            new_connection=connect_ms is not None,
            balancer=balancer,
            backend=backend,
            balancer_address=served.balancer_address,
            backend_address=served.backend_address,
            scheduled_us=scheduled_us,
        )
        if self.options.mode == PER_QUERY or self._retired():
            await self._drop_connection()
        return record

    def _retired(self) -> bool:
        """The connection has lived its session (`ClientOptions.session_s`): closed between two requests."""
        lifetime = self.options.session_s
        return bool(lifetime) and self._conn is not None and time.monotonic() - self._opened >= lifetime

    def _abandon_connection(self) -> None:
        """Forget the connection without a word to the server (its state is unknown after an unexpected error)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def _drop_connection(self) -> None:
        """Close (or, if it is broken, abort) the connection; the next request opens a new one."""
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), self.options.connect_timeout)
        except (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError):
            conn.terminate()

    async def close(self) -> None:
        async with self._busy:
            await self._drop_connection()


def parse_keys(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    first, _, last = text.partition("-")
    return int(first), int(last or first)
