"""The kernel's namespace calls, setns(2) and unshare(2), through libc: what a forked child needs before it
runs a daemon, without pyroute2 (which a client of the stand need not have)."""

from __future__ import annotations

import ctypes
import os
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
