"""A userspace delay line: a cable with latency between two interfaces, for a kernel without netem.

Runs as root in the namespace that holds both interfaces (the switch-side ends of two veths):
``python -m stand.programs.delayline --a IF --b IF --delay-ms D [--jitter-ms J] [--loss-pct L] [--one-way]
[--ready-file PATH] [--rt-priority P]``.
Every Ethernet frame read on one interface leaves the other one D ms (plus a uniform jitter of at most
J ms) later, in both directions, never ahead of the frame before it. The stand runs it at the control
plane's priority (nice -10, as FRR and the agents): ahead of the load, never able to starve anything
(at realtime priority, `--rt-priority`, three lines preempted Locust, the probes and the daemons on a
busy machine, and a bug could hang the machine; the stand does not use it).
Frames are whole wire frames only if no veth end offloads segmentation, coalescing or checksums: call
`disable_offloads` on the host's end of each veth (the delay line does it on its own two ends).
"""

from __future__ import annotations

import argparse
import errno
import os
import random
import selectors
import signal
import socket
import struct
import sys
import time
from collections import deque
from pathlib import Path

from stand.linux import netns

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_IGNORE_OUTGOING = 23
ETH_P_ALL = 0x0003
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33  # as root, above net.core.[rw]mem_max
FRAME_BUFFER = 1 << 16  # a super-frame of a veth end with offloads on still arrives whole (and is dropped)
SOCKET_BUFFER = 8 << 20  # room for a burst while the loop is busy with the other direction
BATCH = 512  # frames read from one socket before due frames are sent again
PORT_GONE = (errno.ENXIO, errno.ENODEV)  # a send on a socket whose interface was deleted


class PortGone(Exception):
    """An interface of the line was deleted (its veth pair went with a namespace)."""


def open_port(ifname: str) -> socket.socket:
    """A raw socket that reads every frame arriving on `ifname` (any MAC) and none it sends itself."""
    index = socket.if_nametoindex(ifname)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: no frame is queued before bind
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER)
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b""))
    sock.bind((ifname, ETH_P_ALL))
    return sock


class Direction:
    """One direction of the line: a FIFO of (due time, frame) from one port to the other."""

    def __init__(
        self,
        ports: tuple[str, str],
        source: socket.socket,
        sink: socket.socket,
        delay_s: float,
        jitter_s: float,
        loss: float = 0.0,
    ):
        self.name = f"{ports[0]}->{ports[1]}"
        self.sink_name = ports[1]
        self.source = source
        self.sink = sink
        self.delay_s = delay_s
        self.jitter_s = jitter_s
        self.loss = loss  # the part of the frames lost on the way (0 to 1)
        self.lost = 0
        self.queue: deque[tuple[float, bytes]] = deque()
        self.last_due = 0.0
        self.forwarded = 0
        self.dropped = 0
        self.oversize_warned = False

    def receive(self) -> None:
        """Queue what the source port holds, at most a batch; each frame is due a delay after now."""
        now = time.monotonic()
        recv, queue, uniform, chance = self.source.recv, self.queue, random.uniform, random.random
        delay_s, jitter_s, loss, due = self.delay_s, self.jitter_s, self.loss, self.last_due
        for _ in range(BATCH):
            try:
                frame = recv(FRAME_BUFFER, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno != errno.ENETDOWN:  # ENETDOWN: the port went down; it reads again once up
                    raise
                break
            if loss and chance() < loss:
                self.lost += 1
                continue
            due = max(due, now + delay_s + uniform(-jitter_s, jitter_s))
            queue.append((due, frame))
        self.last_due = due

    def send_due(self) -> float | None:
        """Send every frame whose time has come; the due time of the next one, if any."""
        queue, send = self.queue, self.sink.send
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            frame = queue.popleft()[1]
            try:
                send(frame)
                self.forwarded += 1
            except OSError as e:
                if e.errno in PORT_GONE:
                    raise PortGone(f"{self.sink_name} is gone") from None
                self.dropped += 1  # ENETDOWN: the port is down, like a cable into a dead port
                if e.errno == errno.EMSGSIZE and not self.oversize_warned:
                    self.oversize_warned = True
                    print(
                        f"delayline: {self.name}: dropped a {len(frame)}-byte frame: turn off the offloads of "
                        "both veth ends (stand.linux.netns.disable_offloads)",
                        file=sys.stderr,
                        flush=True,
                    )
        return queue[0][0] if queue else None


class Stop(Exception):
    """SIGTERM or SIGINT arrived."""


def _stop(signum: int, frame: object) -> None:
    raise Stop


def realtime(priority: int) -> None:
    """SCHED_FIFO at `priority`: ahead of every ordinary process, so frames leave on time on a busy machine."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError:
        raise OSError(f"cannot run at realtime priority {priority} here (--rt-priority 0: without)") from None


def forward(
    a: str,
    b: str,
    delay_s: float,
    jitter_s: float,
    rt_priority: int,
    ready_file: Path | None,
    loss: float = 0.0,
    one_way: bool = False,
) -> list[Direction]:
    """Forward frames between `a` and `b` until SIGTERM or SIGINT; the two directions with their counts.

    `one_way`: only frames from `a` to `b` are delayed and lost (netem on `a`'s host's egress)."""
    for ifname in (a, b):
        try:
            socket.if_nametoindex(ifname)
        except OSError:
            raise OSError(f"no interface {ifname!r} in this namespace") from None
        netns.disable_offloads(netns.CURRENT, ifname)
    port_a, port_b = open_port(a), open_port(b)
    if rt_priority:
        realtime(rt_priority)
    back = (0.0, 0.0, 0.0) if one_way else (delay_s, jitter_s, loss)
    directions = [Direction((a, b), port_a, port_b, delay_s, jitter_s, loss), Direction((b, a), port_b, port_a, *back)]
    # select(2), not epoll: its timeout has microseconds, epoll's is rounded up to whole milliseconds
    with port_a, port_b, selectors.SelectSelector() as selector:
        for direction in directions:
            selector.register(direction.source, selectors.EVENT_READ, direction)
        if ready_file is not None:
            ready_file.write_text(f"{os.getpid()}\n")
        try:
            while True:
                dues = [d for d in (direction.send_due() for direction in directions) if d is not None]
                timeout = max(0.0, min(dues) - time.monotonic()) if dues else None
                for key, _ in selector.select(timeout):
                    key.data.receive()
        except Stop:
            return directions


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stand.programs.delayline``."""
    parser = argparse.ArgumentParser(prog="python -m stand.programs.delayline", description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, metavar="IFNAME", help="one interface (in this namespace)")
    parser.add_argument("--b", required=True, metavar="IFNAME", help="the other interface")
    parser.add_argument("--delay-ms", required=True, type=float, help="one-way delay of every frame")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="each frame's delay varies by up to this")
    parser.add_argument("--loss-pct", type=float, default=0.0, help="the part of the frames lost, in percent")
    parser.add_argument("--one-way", action="store_true", help="delay and lose only what goes from --a to --b")
    parser.add_argument("--ready-file", type=Path, help="written (with the PID) once both ports listen")
    parser.add_argument(
        "--rt-priority", type=int, default=0, help="SCHED_FIFO priority 1-99; 0 (default): ordinary process"
    )
    args = parser.parse_args(argv)
    if args.a == args.b:
        parser.error("--a and --b must be two interfaces")
    if not 0 <= args.jitter_ms <= args.delay_ms:
        parser.error("need 0 <= --jitter-ms <= --delay-ms")
    if not 0 <= args.loss_pct <= 100:
        parser.error("need 0 <= --loss-pct <= 100")
    if not 0 <= args.rt_priority <= 99:
        parser.error("need 0 <= --rt-priority <= 99")
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        directions = forward(
            args.a,
            args.b,
            args.delay_ms / 1000,
            args.jitter_ms / 1000,
            args.rt_priority,
            args.ready_file,
            args.loss_pct / 100,
            args.one_way,
        )
    except Stop:
        return 0  # stopped while still starting
    except PortGone as e:
        print(f"delayline: {e}", file=sys.stderr)
        return 1
    except PermissionError:
        print("delayline: needs root (CAP_NET_RAW and CAP_NET_ADMIN)", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"delayline: {e}", file=sys.stderr)
        return 2
    for d in directions:
        print(
            f"delayline: {d.name}: {d.forwarded} frames forwarded, {d.lost} lost on purpose, {d.dropped} dropped",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
