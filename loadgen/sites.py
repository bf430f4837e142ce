"""Several client sites from one process: each user's (and each probe's) connections are made inside its
site's client namespace (stand.linux.syscalls.socket_in_netns), so that one Locust process and one probe
load every site of a multi-site stand, each site's traffic leaving from its own client host, with no
Locust workers (and no heartbeats crossing the stand's own WAN).

    --pg-sites msk=pgab-climsk,spb=pgab-clispb,ekb=pgab-cliekb     (Locust; the probe's --sites)
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from stand.linux.syscalls import socket_in_netns
from stand.safety import check_namespace

site_namespace: ContextVar[str | None] = ContextVar("site_namespace", default=None)


@dataclass(frozen=True)
class Site:
    name: str  # recorded with each request
    namespace: str  # the site's client host's network namespace


def parse_sites(text: str, option: str = "--pg-sites") -> list[Site]:
    """`msk=pgab-climsk,spb=pgab-clispb` -> the sites; "" -> none; ValueError naming what is wrong."""
    sites = []
    for part in filter(None, text.split(",")):
        name, sep, namespace = part.partition("=")
        if not sep or not name or not namespace:
            raise ValueError(f"{option}: {part!r} is not SITE=NAMESPACE")
        if any(s.name == name for s in sites):
            raise ValueError(f"{option}: site {name!r} is given twice")
        sites.append(Site(name, namespace))
    return sites


def check_sites(sites: list[Site]) -> None:
    """Refuse (stand.safety.UnsafeTarget) unless every site's namespace is one of a running stand's."""
    for site in sites:
        check_namespace(site.namespace)


@contextmanager
def from_namespace(namespace: str | None) -> Iterator[None]:
    """Connections opened inside (by this task) are made in `namespace` (None: this process's own)."""
    token = site_namespace.set(namespace)
    try:
        yield
    finally:
        site_namespace.reset(token)


def new_socket(family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket of the namespace `from_namespace` set for this task, or of this process's own."""
    namespace = site_namespace.get()
    return socket.socket(family, kind) if namespace is None else socket_in_netns(namespace, family, kind)
