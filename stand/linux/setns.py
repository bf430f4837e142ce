"""Entering a named network namespace with the kernel's setns(2), without pyroute2 (a forked child's first step)."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

NETNS_RUN_DIR = Path("/run/netns")  # where `ip netns` (and pyroute2) bind-mount named namespaces
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter(name: str) -> None:
    """Move the calling thread (or a freshly forked child) into the named network namespace."""
    fd = os.open(NETNS_RUN_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns into {name}: {os.strerror(error)}")
    finally:
        os.close(fd)
