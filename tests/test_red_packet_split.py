"""The double-mean split of a red packet."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.errors import BadRequest
from stream.lucky import split_double_mean


@given(shares=st.integers(1, 200), extra=st.integers(0, 5000), seed=st.integers(0, 2**32))
def test_shares_sum_to_the_total_and_obey_the_double_mean_rule(shares: int, extra: int, seed: int) -> None:
    """Every share is at least 1 and at most twice the mean of what remained when it was cut."""
    total = shares + extra
    parts = split_double_mean(total, shares, random.Random(seed))
    assert len(parts) == shares and sum(parts) == total and min(parts) >= 1
    remaining = total
    for left, part in zip(range(shares, 1, -1), parts, strict=False):
        assert part <= max(1, 2 * remaining // left)
        remaining -= part


def test_a_total_smaller_than_the_shares_is_refused() -> None:
    """Each share needs at least one point."""
    with pytest.raises(BadRequest):
        split_double_mean(4, 5)
