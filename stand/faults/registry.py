"""Every fault the stand can play, in one registry: what it does and undoes, its params, the hosts it makes
sense on, and whether its undo brings a network back. The scenario loader, `stand fault` and the player
(stand/faults/player.py) all read this."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stand.faults import primitives as p

Primitive = Callable[..., None]  # (stand, host, **params)


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    undo_description: str
    inject: Primitive
    undo: Primitive
    required: tuple[str, ...] = ()  # params a fault must be given; they also identify it for its undo
    optional: tuple[str, ...] = ()
    needs_one_optional: bool = False  # at least one of `optional` must be given
    roles: tuple[str, ...] = ()  # the target must have one of these roles; () = any host
    reattaches: bool = False  # its undo brings a network back: pgpool takes back the backends it detached

    @property
    def params(self) -> tuple[str, ...]:
        return self.required + self.optional


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "pgpool-kill",
            "SIGKILL pgpool on a balancer (its parent and every child)",
            "start pgpool again",
            p.pgpool_kill,
            p.pgpool_start,
            roles=("balancer",),
        ),
        Fault(
            "pgpool-stop",
            "graceful stop of pgpool on a balancer (its own shutdown, not a kill)",
            "start pgpool again",
            p.pgpool_stop,
            p.pgpool_start,
            roles=("balancer",),
        ),
        Fault(
            "node-crash",
            "every link of a host goes down at once, as if it lost power",
            "bring its links up again",
            p.node_crash,
            p.node_return,
            reattaches=True,
        ),
        Fault(
            "node-freeze",
            "SIGSTOP every process of a host: links stay up, nothing answers",
            "SIGCONT them",
            p.node_freeze,
            p.node_thaw,
        ),
        Fault(
            "frr-kill",
            "SIGKILL the FRR daemons (zebra, bfdd, ospfd) of a host",
            "start FRR again",
            p.frr_kill,
            p.frr_start,
            roles=("router", "balancer", "last-resort"),
        ),
        Fault(
            "backend-kill",
            "kill PostgreSQL on a PgSQL host (SIGKILL, no shutdown)",
            "start PostgreSQL again",
            p.backend_kill,
            p.backend_start,
            roles=("primary", "replica"),
        ),
        Fault(
            "link-cut",
            "one link of a host goes down (params: network)",
            "bring the link up again",
            p.link_cut,
            p.link_restore,
            required=("network",),
            reattaches=True,
        ),
        Fault(
            "link-netem",
            "delay and/or loss on one link of a host (params: network, delay_ms, loss_pct)",
            "remove the delay and loss",
            p.link_netem,
            p.link_clear,
            required=("network",),
            optional=("delay_ms", "loss_pct"),
            needs_one_optional=True,
            reattaches=True,
        ),
        Fault(
            "drain",
            "planned maintenance of a balancer: take it out of service on purpose",
            "put it back in service",
            p.drain,
            p.undrain,
            roles=("balancer",),
        ),
    )
}
