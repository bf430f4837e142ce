"""The number of users over a run: `AT_S:USERS,...` (loadgen's --pg-stages), read and looked up."""

from __future__ import annotations


def parse_stages(text: str) -> list[tuple[float, int]]:
    """`0:12,10:96,25:12` -> [(0.0, 12), (10.0, 96), (25.0, 12)]; ValueError naming what is wrong."""
    stages = []
    for part in text.split(","):
        at, sep, users = part.partition(":")
        try:
            stage = (float(at), int(users))
        except ValueError:
            raise ValueError(f"--pg-stages: {part!r} is not AT_S:USERS") from None
        if not sep or stage[0] < 0 or stage[1] < 1 or (stages and stage[0] <= stages[-1][0]):
            raise ValueError(f"--pg-stages: {part!r} must have AT_S >= 0 after the one before, USERS >= 1")
        stages.append(stage)
    if not stages or stages[0][0] != 0:
        raise ValueError("--pg-stages: the first stage starts at 0")
    return stages


def users_at(stages: list[tuple[float, int]], t_s: float) -> int:
    """The users of the last stage started at or before `t_s`."""
    return [users for at_s, users in stages if at_s <= t_s][-1]
