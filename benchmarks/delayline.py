"""Figures for the delay line (stand/programs/delayline.py): ping round trips through it, TCP throughput, its CPU
time per 10k frames, and how many small frames a second it forwards (a UDP flood).

Run as root:  .venv/bin/python benchmarks/delayline.py [--delays-ms 5 12.5] [--jitter-ms 0.5] [--transfer-mb 20]
                                                  [--rt-priority 10]  (0: the line runs as an ordinary process)
It builds two hosts and a switch of its own (namespaces pgdl-bench-*) and removes them. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import socket
import sys
import tempfile
import threading
import time
from ipaddress import IPv4Interface
from pathlib import Path

from pyroute2 import IPRoute

from stand.linux import netns, process
from stand.linux.netns import disable_offloads

REPO = Path(__file__).resolve().parent.parent
HOST_A, HOST_B, SWITCH = "pgdl-bench-a", "pgdl-bench-b", "pgdl-bench-sw"
ADDRESS_A, ADDRESS_B = IPv4Interface("198.18.250.5/30"), IPv4Interface("198.18.250.6/30")
PORTS = ("dl-a", "dl-b")


def build() -> None:
    for name in (HOST_A, HOST_B, SWITCH):
        netns.remove(name)
        netns.create(name)
    for host, address, port in ((HOST_A, ADDRESS_A, PORTS[0]), (HOST_B, ADDRESS_B, PORTS[1])):
        netns.add_veth(SWITCH, port, host, "wan")
        netns.add_address(host, "wan", address)
        disable_offloads(host, "wan")
    if netns.route_interface(HOST_A, ADDRESS_B.ip) != "wan":
        raise SystemExit("host B is not routed into the delay line")


def packets(namespace: str, ifnames: tuple[str, ...], counter: str) -> int:
    with IPRoute(netns=namespace) as ipr:
        return sum(ipr.link("get", ifname=name)[0].get("IFLA_STATS64")[counter] for name in ifnames)


def ping(count: int, interval: float) -> str:
    argv = ["ping", "-n", "-q", "-c", str(count), "-i", str(interval), "-W", "2", str(ADDRESS_B.ip)]
    out = process.run(argv, namespace=HOST_A, timeout=count * interval + 30).stdout
    loss = re.search(r"([0-9.]+)% packet loss", out).group(1)
    rtt = re.search(r"rtt min/avg/max/mdev = ([0-9./]+) ms", out).group(1)
    return f"min/avg/max/mdev {rtt} ms, {loss}% loss"


def tcp_transfer(size: int) -> float:
    """Seconds to send `size` random bytes from A to B over one TCP connection (checked by hash)."""
    listener = netns.run_inside(HOST_B, lambda: socket.create_server((str(ADDRESS_B.ip), 0)))
    client = netns.run_inside(HOST_A, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    payload = os.urandom(size)

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            digest = hashlib.sha256()
            while chunk := connection.recv(1 << 16):
                digest.update(chunk)
            connection.sendall(digest.hexdigest().encode())

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    with listener, client:
        client.settimeout(120)
        started = time.monotonic()
        client.connect((str(ADDRESS_B.ip), listener.getsockname()[1]))
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)
        answer = client.recv(64).decode()
        elapsed = time.monotonic() - started
    if answer != hashlib.sha256(payload).hexdigest():
        raise SystemExit("the TCP transfer arrived damaged")
    return elapsed


def udp_flood(seconds: float) -> tuple[int, int]:
    """Datagrams of 64 bytes sent from A as fast as one Python thread can for `seconds`: (sent, delivered) as
    the hosts' interfaces count them. B's socket is never read: only the line's delivery is counted."""
    sink = netns.run_inside(HOST_B, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    source = netns.run_inside(HOST_A, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    with sink, source:
        sink.bind((str(ADDRESS_B.ip), 0))
        source.connect(sink.getsockname())
        sent_before, delivered_before = packets(HOST_A, ("wan",), "tx_packets"), packets(HOST_B, ("wan",), "rx_packets")
        payload, deadline = bytes(64), time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _ in range(100):
                source.send(payload)
        time.sleep(1)  # the last frames are still in the line
        sent = packets(HOST_A, ("wan",), "tx_packets") - sent_before
        return sent, packets(HOST_B, ("wan",), "rx_packets") - delivered_before


def measure(delay_ms: float, jitter_ms: float, rt_priority: int, transfer_mb: int, workdir: Path) -> None:
    ready, log = workdir / f"ready-{delay_ms}", workdir / f"delayline-{delay_ms}.log"
    argv = [
        sys.executable,
        "-m",
        "stand.programs.delayline",
        "--a",
        PORTS[0],
        "--b",
        PORTS[1],
        "--delay-ms",
        str(delay_ms),
        "--jitter-ms",
        str(jitter_ms),
        "--rt-priority",
        str(rt_priority),
        "--ready-file",
        str(ready),
    ]
    proc, record = process.spawn("pgdl", "delayline", argv, SWITCH, log, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        if not process.wait_until(ready.exists, 30):
            raise SystemExit(f"the delay line did not start:\n{process.tail(log)}")
        print(f"\ndelay {delay_ms} ms, jitter {jitter_ms} ms each way, realtime priority {rt_priority}")
        ping(2, 0.2)  # ARP first
        print(f"  ping x100 (0.05 s apart): {ping(100, 0.05)}")
        cpu, frames = process.read_stat(proc.pid).cpu_s, packets(SWITCH, PORTS, "rx_packets")
        seconds = tcp_transfer(transfer_mb << 20)
        cpu, frames = process.read_stat(proc.pid).cpu_s - cpu, packets(SWITCH, PORTS, "rx_packets") - frames
        print(
            f"  TCP {transfer_mb} MB: {seconds:.2f} s, {transfer_mb * 1.048576 / seconds:.1f} MB/s; "
            f"{frames} frames, line CPU {cpu:.2f} s = {cpu / frames * 1e4:.3f} s per 10k frames"
        )
        cpu = process.read_stat(proc.pid).cpu_s
        sent, delivered = udp_flood(3)
        cpu = process.read_stat(proc.pid).cpu_s - cpu
        print(
            f"  UDP flood 3 s, 64-byte datagrams: {sent / 3:.0f}/s sent, {delivered / 3:.0f}/s delivered "
            f"({100 * (sent - delivered) / sent:.1f}% lost), line CPU {cpu / max(delivered, 1) * 1e4:.3f} s "
            "per 10k frames"
        )
    finally:
        record.stop()
        print(f"  exit code {proc.wait(10)}; {process.tail(log, 2)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays-ms", type=float, nargs="+", default=[5.0, 12.5])
    parser.add_argument("--jitter-ms", type=float, default=0.5)
    parser.add_argument("--transfer-mb", type=int, default=20)
    parser.add_argument("--rt-priority", type=int, default=10)
    args = parser.parse_args()
    try:
        build()
        with tempfile.TemporaryDirectory(prefix="pgdl-bench-") as workdir:
            for delay_ms in args.delays_ms:
                measure(delay_ms, args.jitter_ms, args.rt_priority, args.transfer_mb, Path(workdir))
    finally:
        for name in (HOST_A, HOST_B, SWITCH):
            netns.remove(name)


if __name__ == "__main__":
    main()
