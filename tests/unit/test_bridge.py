"""The asyncio loop on gevent's hub (loadgen/bridge.py): tasks, timers, callbacks, and its TCP transport
against servers on loopback (nothing leaves this machine)."""

import asyncio
import errno
import socket

import gevent
import pytest
from gevent.server import StreamServer

from loadgen.bridge import GeventLoop


@pytest.fixture(scope="module")
def loop():
    return GeventLoop()


def test_a_greenlet_gets_the_coroutines_result_or_its_exception(loop):
    async def answer():
        await asyncio.sleep(0)
        return 42

    async def fail():
        raise LookupError("no such row")

    assert loop.run(answer()) == 42
    with pytest.raises(LookupError, match="no such row"):
        loop.run(fail())


def test_only_the_calling_greenlet_waits(loop):
    order = []

    def slow():
        loop.run(asyncio.sleep(0.05))
        order.append("slow")

    def quick():
        loop.run(asyncio.sleep(0))
        order.append("quick")

    gevent.joinall([gevent.spawn(slow), gevent.spawn(quick)], raise_error=True)
    assert order == ["quick", "slow"]


def test_timers_run_in_time_order_and_a_cancelled_one_never_runs(loop):
    fired = []

    async def schedule():
        running = asyncio.get_running_loop()
        assert running is loop
        running.call_later(0.03, fired.append, "late")
        running.call_later(0.01, fired.append, "early")
        running.call_later(0.02, fired.append, "cancelled").cancel()
        await asyncio.sleep(0.05)

    loop.run(schedule())
    assert fired == ["early", "late"]


def test_wait_for_times_out_and_cancels_the_inner_task(loop):
    cancelled = []

    async def forever():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with pytest.raises(TimeoutError):
        loop.run(asyncio.wait_for(forever(), 0.02))
    assert cancelled == [True]


def test_a_failing_callback_is_reported_and_the_loop_goes_on(loop):
    reported = []
    loop.set_exception_handler(lambda _, context: reported.append(context["exception"]))
    try:

        async def with_a_bad_callback():
            asyncio.get_running_loop().call_soon(lambda: 1 / 0)
            await asyncio.sleep(0.01)
            return "still running"

        assert loop.run(with_a_bad_callback()) == "still running"
    finally:
        loop.set_exception_handler(None)
    assert len(reported) == 1 and isinstance(reported[0], ZeroDivisionError)


class Collect(asyncio.Protocol):
    """Keeps what arrives; `lost` is set with connection_lost's argument."""

    def __init__(self):
        self.data = bytearray()
        self.lost = None
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data):
        self.data += data

    def connection_lost(self, exc):
        self.lost = exc
        self.closed.set_result(True)


@pytest.fixture
def echo_server():
    def echo(sock, _):
        while data := sock.recv(65536):
            sock.sendall(data)

    server = StreamServer(("127.0.0.1", 0), echo)
    server.start()
    yield server.server_port
    server.stop()


def test_the_transport_carries_bytes_both_ways_and_closes(loop, echo_server):
    async def exchange():
        transport, protocol = await asyncio.get_running_loop().create_connection(Collect, "127.0.0.1", echo_server)
        transport.write(b"hello ")
        transport.writelines([b"over ", b"loopback"])
        while len(protocol.data) < 19:
            await asyncio.sleep(0.005)
        transport.close()
        await protocol.closed
        return bytes(protocol.data), protocol.lost, transport.get_extra_info("socket")

    data, lost, sock = loop.run(exchange())
    assert data == b"hello over loopback"
    assert lost is None
    assert sock is None  # closed: the transport no longer hands out its socket


def test_a_large_write_is_sent_whole_even_when_the_socket_cannot_take_it_at_once(loop, echo_server):
    payload = bytes(range(256)) * 40_000  # 10 MB: far more than the socket buffers hold

    async def exchange():
        transport, protocol = await asyncio.get_running_loop().create_connection(Collect, "127.0.0.1", echo_server)
        transport.write(payload)
        assert transport.get_write_buffer_size() > 0
        while len(protocol.data) < len(payload):
            await asyncio.sleep(0.005)
        transport.close()
        await protocol.closed
        return bytes(protocol.data)

    assert loop.run(exchange()) == payload


def test_the_servers_close_reaches_the_protocol():
    def hang_up(sock, _):
        sock.sendall(b"bye")

    server = StreamServer(("127.0.0.1", 0), hang_up)
    server.start()
    try:

        async def listen():
            _, protocol = await asyncio.get_running_loop().create_connection(Collect, "127.0.0.1", server.server_port)
            await protocol.closed
            return bytes(protocol.data), protocol.lost

        assert GeventLoop().run(listen()) == (b"bye", None)
    finally:
        server.stop()


def test_a_refused_connection_raises_oserror(loop):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: connecting is refused
        with pytest.raises(OSError) as refused:
            loop.run(loop.create_connection(asyncio.Protocol, "127.0.0.1", port))
    assert refused.value.errno == errno.ECONNREFUSED


def test_only_ip_addresses_and_plain_tcp(loop):
    with pytest.raises(ValueError, match="IP addresses only, not 'localhost'"):
        loop.run(loop.create_connection(asyncio.Protocol, "localhost", 5432))
    with pytest.raises(NotImplementedError, match="no ssl"):
        loop.run(loop.create_connection(asyncio.Protocol, "127.0.0.1", 5432, ssl=True))
    with pytest.raises(ConnectionError, match="plain TCP only"):
        loop.run(loop.start_tls(None, None, None))


def test_a_socket_bound_to_a_link_reaches_through_it_and_not_once_it_is_gone(echo_server):
    """The loop binds every socket to the stand's link (SO_BINDTODEVICE): `lo` carries loopback; a link
    that does not exist (a stand torn down under the load) fails the connect at once, whatever the routes."""

    async def exchange(loop):
        transport, protocol = await loop.create_connection(Collect, "127.0.0.1", echo_server)
        transport.write(b"ping")
        while len(protocol.data) < 4:
            await asyncio.sleep(0.005)
        transport.close()
        return bytes(protocol.data)

    bound = GeventLoop(bind_device="lo")
    assert bound.run(exchange(bound)) == b"ping"
    gone = GeventLoop(bind_device="pgab-gone0")
    with pytest.raises(OSError) as refused:
        gone.run(exchange(gone))
    assert refused.value.errno == errno.ENODEV
