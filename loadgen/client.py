"""The PostgreSQL client of the loadgen and the probe: workloads, connection modes, one record a request.

Everything here runs on an asyncio loop (the bridge's thread under Locust, the probe's own loop).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from loadgen.records import ERROR, OK, TIMEOUT, WRONG_ANSWER, Record, process_id
from stand.client import ClientSettings

PERSISTENT = "persistent"
PER_QUERY = "per-query"
MODES = (PERSISTENT, PER_QUERY)
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
    "SELECT aid, bid, abalance, host(inet_client_addr()), host(inet_server_addr()) "
    "FROM pgbench_accounts WHERE aid = $1"
)
BRANCH_SELECT = "SELECT bid, bbalance FROM pgbench_branches WHERE bid = $1"
RANGE_COUNT = "SELECT count(*) FROM pgbench_accounts WHERE aid BETWEEN $1 AND $2"


def check_account(aid: int, row) -> None:
    """The row pgbench -i wrote for this account, or WrongAnswer."""
    if row is None:
        raise WrongAnswer(f"no row for aid {aid}")
    expected_bid = (aid - 1) // ACCOUNTS_PER_BRANCH + 1
    if row[0] != aid or row[1] != expected_bid:
        raise WrongAnswer(f"asked for aid {aid} (bid {expected_bid}), got aid {row[0]} bid {row[1]}")


async def point_select(conn: asyncpg.Connection, key: int, timeout: float, accounts: int) -> Served:
    """One account by primary key, checked."""
    row = await conn.fetchrow(POINT_SELECT, key, timeout=timeout)
    check_account(key, row)
    return Served(row[3], row[4])


async def read_only_mix(conn: asyncpg.Connection, key: int, timeout: float, accounts: int) -> Served:
    """A short read-only transaction: an account, its branch, a small range; every answer checked."""
    async with conn.transaction(readonly=True):
        row = await conn.fetchrow(POINT_SELECT, key, timeout=timeout)
        check_account(key, row)
        branch = await conn.fetchrow(BRANCH_SELECT, row[1], timeout=timeout)
        if branch is None or branch[0] != row[1]:
            raise WrongAnswer(f"asked for branch {row[1]}, got {branch!r}")
        low = min(key, accounts - RANGE_ROWS + 1)
        count = await conn.fetchval(RANGE_COUNT, low, low + RANGE_ROWS - 1, timeout=timeout)
        if count != RANGE_ROWS:
            raise WrongAnswer(f"counted {count} accounts in [{low}, {low + RANGE_ROWS - 1}], expected {RANGE_ROWS}")
    return Served(row[3], row[4])


Workload = Callable[[asyncpg.Connection, int, float, int], Awaitable[Served]]
WORKLOADS: dict[str, Workload] = {"point": point_select, "mix": read_only_mix}


@dataclass(frozen=True)
class ClientOptions:
    mode: str = PERSISTENT
    site: str = "main"
    connect_timeout: float = 2.0
    query_timeout: float = 2.0
    keys: tuple[int, int] | None = None  # first and last key; default: every account


class PgClient:
    """One simulated client: its connection (kept, or new for each query), timeouts, and records."""

    def __init__(self, settings: ClientSettings, options: ClientOptions, user: int):
        self.settings = settings
        self.options = options
        self.user = user
        self.keys = options.keys or (1, settings.accounts)
        self.process = process_id()
        self._conn: asyncpg.Connection | None = None
        self._conn_id = ""
        self._connections = 0
        self._busy = asyncio.Lock()  # one request at a time; close waits for the one in flight

    def random_key(self) -> int:
        return random.randint(*self.keys)

    async def _connect(self) -> None:
        s = self.settings
        self._conn = await asyncpg.connect(
            host=s.host, port=s.port, user=s.user, password=s.password, database=s.database,
            timeout=self.options.connect_timeout, server_settings={"application_name": "pgab-loadgen"},
        )  # fmt: skip
        self._connections += 1
        self._conn_id = f"{self.process}/u{self.user}/c{self._connections}"

    async def request(self, workload: str, key: int | None = None) -> Record:
        """Run one workload request; its record tells how it went (failures are records too).

        The caller adds the record to its writer: a Locust user only once it has also reported the
        request to Locust, so that both counts agree even when a user is stopped mid-request.
        """
        async with self._busy:
            return await self._request(workload, self.random_key() if key is None else key)

    async def _request(self, workload: str, key: int) -> Record:
        start_us = time.time_ns() // 1000
        started = time.perf_counter()
        connect_ms = None
        served = Served(None, None)
        outcome, error_class, error_text = OK, None, None
        try:
            if self._conn is None or self._conn.is_closed():
                await self._connect()
                connect_ms = (time.perf_counter() - started) * 1000
            served = await WORKLOADS[workload](self._conn, key, self.options.query_timeout, self.settings.accounts)
        except WrongAnswer as e:
            outcome, error_class, error_text = WRONG_ANSWER, "WrongAnswer", str(e)
        except (TimeoutError, asyncio.TimeoutError) as e:
            outcome, error_class, error_text = TIMEOUT, type(e).__name__, str(e) or "timed out"
            await self._drop_connection()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            outcome, error_class, error_text = ERROR, type(e).__name__, str(e)
            await self._drop_connection()
        latency_ms = (time.perf_counter() - started) * 1000
        record = Record(
            start_us=start_us,
            latency_ms=latency_ms,
            connect_ms=connect_ms,
            outcome=outcome,
            error_class=error_class,
            error_text=error_text,
            workload=workload,
            mode=self.options.mode,
            site=self.options.site,
            user=self.user,
            process=self.process,
            connection=self._conn_id,
            new_connection=connect_ms is not None,
            balancer=self.settings.host_name(served.balancer_address) or None,
            backend=self.settings.host_name(served.backend_address) or None,
            balancer_address=served.balancer_address,
            backend_address=served.backend_address,
        )
        if self.options.mode == PER_QUERY:
            await self._drop_connection()
        return record

    async def _drop_connection(self) -> None:
        """Close (or, if it is broken, abort) the connection; the next request opens a new one."""
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), self.options.connect_timeout)
        except (OSError, TimeoutError, asyncio.TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError):
            conn.terminate()

    async def close(self) -> None:
        async with self._busy:
            await self._drop_connection()


def parse_keys(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    first, _, last = text.partition("-")
    return int(first), int(last or first)

