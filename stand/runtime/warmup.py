"""A fresh stand's pgpool children open their backend connections with their first sessions: at a
measured run's start that saturates both cores for 5-7 s here, and the run is not a valid measurement.
So `stand up` ends by giving every child of every balancer a session. Each balancer's sessions are
opened from inside that balancer to its own loopback, as its health agent connects (nothing leads out
of the stand, and every balancer is reached whatever the design routes: on the sites stand in anycast
mode the VIP's segment is not joined across cities, and a router reaches only its own site's balancer
there)."""

from __future__ import annotations

import sys

from stand.linux import process
from stand.model.credentials import CLIENT_USER
from stand.runtime.handle import Stand

SPARE_CHILDREN = 2  # the health agent's kept session holds one child; a new session of its own may take another
WARM_UP = """
import asyncio, sys, asyncpg
async def session(host, port, password, database):
    conn = await asyncpg.connect(host=host, port=port, user=sys.argv[1], password=password, database=database, timeout=30)
    try:
        await conn.fetchval("SELECT 1", timeout=30)
    finally:
        await conn.close()
async def main(port, password, database, sessions, *hosts):
    tries = [session(h, int(port), password, database) for h in hosts for _ in range(int(sessions))]
    failed = [r for r in await asyncio.gather(*tries, return_exceptions=True) if r is not None]
    print(f"{len(tries) - len(failed)} of {len(tries)} sessions", flush=True)
asyncio.run(main(*sys.argv[2:]))
"""


def warm_up(stand: Stand, progress) -> None:
    """One session for (nearly) every pgpool child of every balancer, a balancer's all at once, then closed."""
    plan = stand.plan
    sessions = max(1, plan.topology.pgpool.num_init_children - SPARE_CHILDREN)
    argv = [sys.executable, "-c", WARM_UP, CLIENT_USER, str(plan.topology.pgpool.port)]
    argv += [stand.credentials().client_password, plan.topology.postgres.database, str(sessions)]
    done = []
    for balancer in plan.balancers:
        address = str(balancer.host.loopback.ip)
        result = process.run([*argv, address], namespace=balancer.namespace, timeout=process.scaled(120), check=False)
        done.append(
            f"{balancer.name} {result.stdout.strip() or (result.stderr.strip().splitlines() or ['nothing'])[-1]}"
        )
    progress(f"warmed up every balancer's pgpool children: {', '.join(done)}")
