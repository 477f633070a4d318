"""The budget search against brute force, on peaks that grow as real ones do."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnstat.errors import InvalidInputError
from cnnstat.memory.report import _search


@settings(max_examples=200, deadline=None)
@given(
    fixed=st.integers(0, 10**6),
    per_sample=st.integers(1, 10**4),
    rounding=st.sampled_from([1, 512, 2 << 20]),  # the allocator rounds blocks up
    jumps=st.lists(st.tuples(st.integers(2, 3000), st.integers(0, 10**6)), max_size=3),
    budget_at=st.integers(2, 3000),
)
def test_the_largest_batch_that_fits(fixed, per_sample, rounding, jumps, budget_at):
    def peak(b: int) -> int:
        # fixed costs, a per-sample part rounded like the allocator's blocks, and steps
        # where a bigger workspace or another segment is taken
        body = -(-per_sample * b // rounding) * rounding
        return fixed + body + sum(extra for at, extra in jumps if b >= at)

    budget = peak(budget_at) + per_sample // 2
    if peak(4096) <= budget:  # fits at the limit: the search can vouch for no answer
        with pytest.raises(InvalidInputError, match="at the search's limit"):
            _search(peak, budget, "m", "train", limit=4096)
        return
    expected = max(b for b in range(1, 4097) if peak(b) <= budget)
    assert _search(peak, budget, "m", "train", limit=4096) == expected
