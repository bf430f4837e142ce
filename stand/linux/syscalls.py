"""The kernel's namespace calls, setns(2) and unshare(2), through libc: what a forked child needs before it
runs a daemon, without pyroute2 (which a client of the stand need not have)."""

from __future__ import annotations

import ctypes
import os
import socket
from pathlib import Path

NETNS_RUN_DIR = Path("/run/netns")  # where `ip netns` (and pyroute2) bind-mount named namespaces
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def enter_netns(name: str) -> None:
    """Move the calling thread (or a freshly forked child) into the named network namespace."""
    fd = os.open(NETNS_RUN_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns into {name}")
    finally:
        os.close(fd)


def unshare_ipc() -> None:
    """Give the calling process an IPC namespace of its own: the System V shared memory that it and its
    children make goes with the last of them, even when they are SIGKILLed (pgpool's 135 MB segment
    otherwise outlives every killed pgpool until the machine runs out of memory)."""
    _check(_libc.unshare(CLONE_NEWIPC), "unshare(CLONE_NEWIPC)")


def socket_in_netns(name: str, family: int, kind: int) -> socket.socket:
    """A new socket of the named network namespace, made from this thread without staying there: the thread
    enters it, creates the socket, and comes back (a socket keeps the namespace it was made in). The namespace
    is opened for this call only, so nothing here keeps a namespace alive that its stand has removed."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        enter_netns(name)
        try:
            return socket.socket(family, kind)
        finally:
            _check(_libc.setns(home, CLONE_NEWNET), "setns back to the thread's own namespace")
    finally:
        os.close(home)
