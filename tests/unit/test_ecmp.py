"""Hash-threshold's predictions, against the slices worked out by hand (docs/ecmp.md)."""

from __future__ import annotations

import pytest

from reports.ecmp import predicted_drain_share, predicted_return_share


@pytest.mark.parametrize(
    ("position", "drain", "back"),
    [(0, 1 / 6, 1 / 2), (1, 0.0, 1 / 3), (2, 1 / 6, 1 / 2)],
)
def test_three_next_hops_the_end_ones_move_flows_the_middle_one_does_not(position, drain, back):
    assert predicted_drain_share(position, 3) == pytest.approx(drain)
    assert predicted_return_share(position, 3) == pytest.approx(back)


def test_four_next_hops_and_the_degenerate_cases():
    # slices of 1/4 become thirds: the end ones shift 1/12 + 1/6, the inner ones 1/12
    assert [predicted_drain_share(p, 4) for p in range(4)] == pytest.approx([0.25, 1 / 12, 1 / 12, 0.25])
    assert predicted_drain_share(0, 2) == 0.0  # the one survivor takes everything: nothing moves between survivors
    assert predicted_return_share(0, 2) == pytest.approx(0.5)
