"""The usual peer for benchmarks/loadgen_throughput.py: Locust's stock psycopg PostgresUser.

It runs the same point SELECT as loadgen/select.py's `point` task; the connection string comes from
the PGAB_PEER_DSN environment variable set by the benchmark (after its safety check).
"""

import os
import random

from locust import constant, task
from locust.contrib.postgres import PostgresUser


class PeerUser(PostgresUser):
    conn_string = os.environ["PGAB_PEER_DSN"]
    accounts = int(os.environ["PGAB_PEER_ACCOUNTS"])
    wait_time = constant(0)

    @task
    def point(self) -> None:
        aid = random.randint(1, self.accounts)
        self.client.execute_query(f"SELECT aid, bid, abalance FROM pgbench_accounts WHERE aid = {aid}")
