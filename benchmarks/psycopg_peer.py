"""The usual peer for benchmarks/loadgen_throughput.py: Locust's stock psycopg PostgresUser.

`PeerUser` is the stock user as its documentation shows it: the key pasted into the SQL text, so
psycopg sends it with the simple query protocol and nothing reads the row. `SameQueryPeerUser` sends
loadgen/select.py's request instead: the same parameterized SELECT (extended protocol, as asyncpg
always uses for rows), fetching the row and checking it. The connection string comes from the
PGAB_PEER_DSN environment variable set by the benchmark (after its safety check).
"""

import os
import random
import time

from locust import constant, events, task
from locust.contrib.postgres import PostgresUser

from loadgen.client import POINT_SELECT, check_account

ACCOUNTS = int(os.environ["PGAB_PEER_ACCOUNTS"])
SAME_QUERY = POINT_SELECT.replace("$1", "%s")


class PeerUser(PostgresUser):
    conn_string = os.environ["PGAB_PEER_DSN"]
    wait_time = constant(0)

    @task
    def point(self) -> None:
        aid = random.randint(1, ACCOUNTS)
        self.client.execute_query(f"SELECT aid, bid, abalance FROM pgbench_accounts WHERE aid = {aid}")


class SameQueryPeerUser(PeerUser):
    """The stock user's connection, sending the loadgen's parameterized point SELECT."""

    @task
    def point(self) -> None:
        aid = random.randint(1, ACCOUNTS)
        started = time.perf_counter()
        exception = None
        try:
            check_account(aid, self.client.connection.execute(SAME_QUERY, (aid,)).fetchone())
        except Exception as e:  # noqa: BLE001 - every failure is reported to Locust, as the stock user does
            exception = e
        events.request.fire(
            request_type="psycopg",
            name="point",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=exception,
        )
