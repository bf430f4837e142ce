"""The probe's paths: source ports that it chooses, and pools that never hand out a port twice at once."""

import asyncio
import socket

import pytest

from loadgen.client import ClientOptions
from loadgen.paths import TIME_WAIT_S, PathLoop, PortPool, PortTaken, from_port, ports_needed


def test_a_pool_hands_out_the_port_idle_longest_and_never_one_in_flight():
    pool = PortPool((20001, 20002))
    first, second = pool.take(), pool.take()
    assert (first, second) == (20001, 20002) and pool.take() is None  # both in flight
    pool.give_back(second)
    pool.give_back(first)
    assert pool.take() == 20002


def test_a_port_found_taken_rests_for_time_wait():
    now = [0.0]
    pool = PortPool((20001,), clock=lambda: now[0])
    pool.rest(pool.take())
    now[0] = TIME_WAIT_S - 0.1
    assert pool.take() is None
    now[0] = TIME_WAIT_S
    assert pool.take() == 20001


def test_a_path_has_a_port_for_every_probe_that_can_be_in_flight():
    """A probe lasts at most its connect and query timeouts: at 100 ms, 20 at once, and spares."""
    assert ports_needed(100, ClientOptions(connect_timeout=1.0, query_timeout=1.0)) == 23
    assert ports_needed(50, ClientOptions(connect_timeout=1.0, query_timeout=1.0)) == 43


def test_a_connection_leaves_from_the_port_set_for_its_task():
    """Through `lo` (the loop binds to a device, as toward a stand): the server sees the chosen port."""
    peers = []

    async def main():
        server = await asyncio.start_server(
            lambda r, w: (peers.append(w.get_extra_info("peername")), w.close()), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        with from_port(24242):
            transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        transport.close()
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)  # no port set: the kernel's
        transport.close()
        await asyncio.sleep(0.1)
        server.close()

    with asyncio.Runner(loop_factory=lambda: PathLoop("lo")) as runner:
        runner.run(main())
    assert peers[0][1] == 24242 and peers[1][1] != 24242


def test_a_port_another_socket_holds_is_port_taken_and_nothing_is_sent():
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))  # without SO_REUSEADDR: nobody else may bind it
    held = holder.getsockname()[1]

    async def main():
        loop = asyncio.get_running_loop()
        with from_port(held):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", 9)

    try:
        with asyncio.Runner(loop_factory=lambda: PathLoop(None)) as runner, pytest.raises(PortTaken) as taken:
            runner.run(main())
    finally:
        holder.close()
    assert f"source port {held}" in str(taken.value)
