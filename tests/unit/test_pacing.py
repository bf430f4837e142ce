"""Open-loop users: each on its own schedule, late ones at once, the arrivals over all of them at the rate."""

import pytest

from loadgen.pacing import Pacing


def test_users_share_the_rate_each_from_its_phase():
    now = [100.0]
    users = [Pacing(40, 4, clock=lambda: now[0], phase=i / 4) for i in range(4)]
    assert [p.interval_s for p in users] == [0.1] * 4  # 4 users at 40/s: each every 100 ms
    assert [round(p.due_s - 100, 3) for p in users] == [0.0, 0.025, 0.05, 0.075]  # together: every 25 ms


def test_a_late_user_starts_at_once_and_keeps_its_schedule():
    now = [0.0]
    pacing = Pacing(10, 1, clock=lambda: now[0], phase=0)
    assert pacing.wait_s() == 0 and pacing.due_us == 0
    pacing.advance()
    now[0] = 0.35  # the answer came late: the requests due at 0.1, 0.2, 0.3 go at once, each with its due time
    dues = []
    while pacing.wait_s() == 0:
        dues.append(pacing.due_us)
        pacing.advance()
    assert dues == [100_000, 200_000, 300_000] and pacing.wait_s() == pytest.approx(0.05)


def test_a_rate_must_be_positive():
    with pytest.raises(ValueError, match="--pg-rate"):
        Pacing(0, 4)
