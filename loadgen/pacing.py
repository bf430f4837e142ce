"""Open-loop arrivals for Locust users: `--pg-rate` requests a second over all users, each user on its own
schedule, whatever the answers take.

Locust's users are closed loop: a user waits for its answer, then thinks, then sends again, so a slow
service gets fewer requests and its slowness hides (coordinated omission). With a rate, each of the
`users` users sends every `users / rate` seconds from a random phase, so that the arrivals over all of
them come at `rate` a second; a user whose answer came late starts its next request at once, late, and
records when it was due (`scheduled_us`): the reports count its latency from then. The users are the
connections the arrivals share: at most that many requests are in flight at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Pacing:
    """One user's schedule: its share (1 / `users`) of `rate` arrivals a second, from a random phase."""

    def __init__(self, rate: float, users: int, clock: Callable[[], float] = time.time, phase: float | None = None):
        if rate <= 0 or users < 1:
            raise ValueError(f"--pg-rate: needs a rate above 0 and at least one user (got {rate:g}, {users})")
        self.interval_s = users / rate
        self._clock = clock
        self.due_s = clock() + self.interval_s * (random.random() if phase is None else phase)

    def wait_s(self) -> float:
        """How long to wait until the current request is due (0 when it is late already)."""
        return max(0.0, self.due_s - self._clock())

    @property
    def due_us(self) -> int:
        return round(self.due_s * 1e6)

    def advance(self) -> None:
        """The current request has started: the next one is due an interval after it was due."""
        self.due_s += self.interval_s
