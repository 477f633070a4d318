from __future__ import annotations

import torch
from torch import nn

from cnnstat.trackers.data_dependence import DataDependenceTracker
from tests.trackers.helpers import traced


class Select(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.before = nn.Linear(4, 4)
        self.after = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.before(x)
        kept = y[y[:, 0] > 0]  # boolean-mask indexing: a hidden nonzero
        return self.after(kept)


def test_what_follows_a_data_dependent_op_is_tainted():
    data = DataDependenceTracker()
    modules = traced(Select(), torch.ones(3, 4), data)
    assert data.data_dependent == {"index": 1}
    by_name = {c.name: dict(c.data_dependent) for c in modules.calls}
    assert by_name["before"] == {}
    # relu, and the detach autograd makes of its output to save it for backward
    assert by_name["after"] == {"relu": 1, "detach": 1}
    assert by_name[""] == {"index": 1}
    data.release()
    assert not data._tainted and not data._tainted_alive
