"""What hash-threshold multipath routing (RFC 2992, Linux's for IPv4) predicts for established flows when
a next hop goes or comes back: each next hop owns an equal slice of the hash space, in the order the
router lists them, so a change moves every flow whose hash now falls in another next hop's slice."""

from __future__ import annotations


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def _slices(owners: list[int]) -> dict[int, tuple[float, float]]:
    """Hash-threshold: each next hop an equal slice of the hash space, in order."""
    return {owner: (k / len(owners), (k + 1) / len(owners)) for k, owner in enumerate(owners)}


def predicted_drain_share(position: int, hops: int) -> float:
    """The share of all flows that move between the survivors when next hop `position` of `hops` goes."""
    everyone = list(range(hops))
    survivors = [i for i in everyone if i != position]
    before, after = _slices(everyone), _slices(survivors)
    return sum((before[o][1] - before[o][0]) - _overlap(before[o], after[o]) for o in survivors)


def predicted_return_share(position: int, hops: int) -> float:
    """The share of the open flows (all on the survivors) that change next hop when `position` comes back."""
    everyone = list(range(hops))
    survivors = [i for i in everyone if i != position]
    before, after = _slices(survivors), _slices(everyone)
    return 1.0 - sum(_overlap(before[o], after[o]) for o in survivors)
