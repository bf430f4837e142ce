"""The delay line (stand/programs/delayline.py) on namespaces of its own, not the stand's: two hosts joined
through a switch namespace where the line adds 10 ms (±1 ms) each way. Ping sees twice the delay,
a TCP bulk transfer arrives intact, SIGTERM stops the line with exit code 0."""

import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from stand.linux import netns, process
from stand.linux.netns import disable_offloads

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HOST_A, HOST_B, SWITCH = "pgdl-a", "pgdl-b", "pgdl-sw"
ADDRESS_A, ADDRESS_B = IPv4Interface("198.18.250.1/30"), IPv4Interface("198.18.250.2/30")
HOST_IFNAME = "wan"
DELAY_MS, JITTER_MS = 10, 1
TRANSFER_BYTES = 20 << 20


@dataclass
class Line:
    proc: subprocess.Popen
    record: process.ProcessRecord
    log: Path


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root: it creates network namespaces and raw sockets")
    workdir = tmp_path_factory.mktemp("delayline")
    namespaces = (HOST_A, HOST_B, SWITCH)
    record = None
    try:
        for name in namespaces:
            netns.remove(name)  # left over by a killed run of this test
            netns.create(name)
        for host, address, switch_ifname in ((HOST_A, ADDRESS_A, "dl-a"), (HOST_B, ADDRESS_B, "dl-b")):
            netns.add_veth(SWITCH, switch_ifname, host, HOST_IFNAME)
            netns.add_address(host, HOST_IFNAME, address)
            disable_offloads(host, HOST_IFNAME)
        ready, log = workdir / "ready", workdir / "delayline.log"
        argv = [
            sys.executable,
            "-m",
            "stand.programs.delayline",
            "--a",
            "dl-a",
            "--b",
            "dl-b",
            "--delay-ms",
            str(DELAY_MS),
            "--jitter-ms",
            str(JITTER_MS),
            "--ready-file",
            str(ready),
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc, record = process.spawn("pgdl", "delayline", argv, SWITCH, log, env=env)
        if not process.wait_until(lambda: ready.exists() or proc.poll() is not None, process.scaled(30)):
            pytest.fail(f"the delay line is not ready within 30 s:\n{process.tail(log)}")
        if proc.poll() is not None:
            pytest.fail(f"the delay line exited with {proc.returncode}:\n{process.tail(log)}")
        yield Line(proc, record, log)
    finally:
        if record is not None:
            record.stop()
        for name in namespaces:
            netns.remove(name)


def ping(count: int, interval: float = 0.2) -> tuple[float, float]:
    """Packet loss (%) and average round trip (ms) of pings from host A to host B."""
    argv = ["ping", "-n", "-q", "-c", str(count), "-i", str(interval), "-W", "2", str(ADDRESS_B.ip)]
    out = process.run(argv, namespace=HOST_A, check=False, timeout=count * interval + 30).stdout
    loss = float(re.search(r"([0-9.]+)% packet loss", out).group(1))
    average = re.search(r"rtt min/avg/max/mdev = [0-9.]+/([0-9.]+)/", out)
    return loss, float(average.group(1)) if average else float("nan")


def test_ping_round_trip_is_twice_the_delay(line):
    assert netns.route_interface(HOST_A, ADDRESS_B.ip) == HOST_IFNAME  # into the line, nowhere else
    ping(2)  # ARP both ways first: its round trips would count in the first ping
    loss, average = ping(30)
    print(f"\n[delayline] {DELAY_MS} ms ± {JITTER_MS} ms each way: ping average {average:.2f} ms")
    assert loss == 0
    assert 2 * DELAY_MS <= average <= 2 * DELAY_MS + 6


def test_tcp_bulk_transfer_arrives_intact(line):
    listener = netns.run_inside(HOST_B, lambda: socket.create_server((str(ADDRESS_B.ip), 0)))
    client = netns.run_inside(HOST_A, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    received: dict[str, str] = {}

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(process.scaled(120))
            digest = hashlib.sha256()
            while chunk := connection.recv(1 << 16):
                digest.update(chunk)
            received["sha256"] = digest.hexdigest()
            connection.sendall(digest.hexdigest().encode())

    listener.settimeout(process.scaled(30))
    server = threading.Thread(target=serve, name="delayline-sink", daemon=True)
    server.start()
    payload = os.urandom(TRANSFER_BYTES)
    with listener, client:
        client.settimeout(process.scaled(120))
        started = time.monotonic()
        client.connect((str(ADDRESS_B.ip), listener.getsockname()[1]))
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)
        answer = client.recv(64).decode()
        elapsed = time.monotonic() - started
        server.join(process.scaled(30))
    print(f"\n[delayline] {TRANSFER_BYTES >> 20} MB in {elapsed:.2f} s: {TRANSFER_BYTES / elapsed / 1e6:.1f} MB/s")
    assert answer == received.get("sha256") == hashlib.sha256(payload).hexdigest()


def test_sigterm_stops_the_line_with_exit_code_0(line):
    assert line.proc.poll() is None, process.tail(line.log)
    line.record.stop()
    assert line.proc.wait(process.scaled(10)) == 0, process.tail(line.log)
    assert re.findall(r"(\d+) dropped", process.tail(line.log)) == ["0", "0"], process.tail(line.log)
