"""The probe's paths: source ports chosen so that each reaches one balancer, as Paris traceroute does.

A router spreads new TCP flows over its equal next hops by a hash of the 5-tuple (the stand's routers
hash exactly that: plan.ROUTER_SYSCTLS). With the addresses and the server's port fixed, the source port
alone picks the path, and the same port picks the same path as long as the next hops stay the same.
`discover` connects from ports of SOURCE_PORTS until each balancer it meets has enough of them, and
names each port's path after the balancer that answered; the probe then sends each path's probes from
its own ports, so that every path is probed at the period, the one that fails included.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import time
from collections import deque
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

from loadgen.client import PER_QUERY, ClientOptions, PgClient
from loadgen.records import OK
from loadgen.sites import new_socket, site_namespace
from stand.client import ClientSettings
from stand.safety import BoundLoop, bind_to_device

SOURCE_PORTS = range(20000, 32768)  # below Linux's ephemeral ports (32768-60999): ordinary connects never take them
DISCOVERY_CONCURRENCY = 4
DISCOVERY_CONFIRM = 30  # answers after the last new path: a path with a third of the flows is missed with p < 1e-5
DISCOVERY_MAX_ATTEMPTS = 2000
DISCOVERY_BUDGET_S = 20.0  # then the paths found so far (a stand that does not answer fails every attempt)
PORT_TAKEN = (errno.EADDRINUSE, errno.EADDRNOTAVAIL)  # another socket holds the port (or its 4-tuple: TIME_WAIT)
TIME_WAIT_S = 60.0  # Linux's TCP_TIMEWAIT_LEN: a port whose connection this side closed first is free again then

source_port: ContextVar[int | None] = ContextVar("source_port", default=None)


@contextmanager
def from_port(port: int | None):
    """Connections opened inside (by this task) leave from `port` (None: any port the kernel picks)."""
    token = source_port.set(port)
    try:
        yield
    finally:
        source_port.reset(token)


class PortTaken(OSError):
    """The source port (or, in TIME_WAIT, its 4-tuple) is held by another socket: no probe was sent."""


class PathLoop(BoundLoop):
    """The stand's bound loop (stand.safety.BoundLoop), whose connections leave from the source port that
    `from_port` set for the task, if any, and are made in the site's namespace that `from_namespace` set."""

    async def create_connection(self, protocol_factory, host=None, port=None, **options):
        local_port, inside_a_site = source_port.get(), site_namespace.get() is not None
        if (local_port is None and not inside_a_site) or options.get("sock") is not None:
            return await super().create_connection(protocol_factory, host, port, **options)
        sock = new_socket()
        try:
            if not inside_a_site:  # a stand's namespace: nothing leads out of it
                bind_to_device(sock, self.bind_device)
            if local_port is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("0.0.0.0", local_port))
            sock.setblocking(False)
            await self.sock_connect(sock, (host, port))
        except OSError as e:
            sock.close()
            if e.errno in PORT_TAKEN:
                raise PortTaken(e.errno, f"source port {local_port}: {e.strerror}") from None
            raise
        except BaseException:
            sock.close()
            raise
        return await super().create_connection(protocol_factory, sock=sock, **options)


class PortPool:
    """The source ports of one path: a probe takes the one idle longest and gives it back when done; a port
    found taken rests for TIME_WAIT_S."""

    def __init__(self, ports: tuple[int, ...], clock=time.monotonic):
        self._idle = deque(ports)
        self._resting: deque[tuple[float, int]] = deque()
        self._clock = clock

    def take(self) -> int | None:
        """The port idle longest; None when every one is in flight or resting."""
        while self._resting and self._resting[0][0] <= self._clock():
            self._idle.append(self._resting.popleft()[1])
        return self._idle.popleft() if self._idle else None

    def give_back(self, port: int) -> None:
        self._idle.append(port)

    def rest(self, port: int) -> None:
        self._resting.append((self._clock() + TIME_WAIT_S, port))


@dataclass(frozen=True)
class Paths:
    """Each path's name (the balancer its ports reached when they were found) and its source ports."""

    ports: dict[str, tuple[int, ...]]
    attempts: int  # connections tried to find them

    @property
    def names(self) -> list[str]:
        return sorted(self.ports)


def ports_needed(interval_ms: float, options: ClientOptions) -> int:
    """Ports a path needs so that a probe never waits for one: as many as can be in flight at once (each lasts
    at most its connect and query timeouts), and two to spare."""
    lifetime_ms = (options.connect_timeout + options.query_timeout) * 1000
    return int(lifetime_ms // interval_ms) + 3


async def discover(settings: ClientSettings, options: ClientOptions, per_path: int) -> Paths:
    """Find `per_path` source ports for every path to the stand's address: connect from ports in a random
    order until every path met holds that many and DISCOVERY_CONFIRM answers in a row found no new one.
    Ports that failed or that another socket holds are skipped. No path: nothing answered."""
    options = replace(options, mode=PER_QUERY, keys=None)  # from the site's namespace, as its probes
    candidates = list(SOURCE_PORTS)
    random.shuffle(candidates)  # two probes in one namespace take their ports from different places
    ports: dict[str, list[int]] = {}
    attempts = 0
    since_new = 0
    deadline = time.monotonic() + DISCOVERY_BUDGET_S

    def done() -> bool:
        if not candidates or attempts >= DISCOVERY_MAX_ATTEMPTS or time.monotonic() >= deadline:
            return True
        return bool(ports) and since_new >= DISCOVERY_CONFIRM and all(len(p) >= per_path for p in ports.values())

    async def worker() -> None:
        nonlocal attempts, since_new
        while not done():
            port = candidates.pop()
            attempts += 1
            with from_port(port):
                record = await PgClient(settings, options, user=0).request("point")
            if record.outcome != OK or not record.balancer:
                continue
            since_new = 0 if record.balancer not in ports else since_new + 1
            ports.setdefault(record.balancer, []).append(port)

    await asyncio.gather(*(worker() for _ in range(DISCOVERY_CONCURRENCY)))
    return Paths({name: tuple(found) for name, found in ports.items()}, attempts)
