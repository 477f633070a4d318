from __future__ import annotations

import torch
from torch import nn

from cnnstat.trackers.params import ParamUseTracker
from tests.trackers.helpers import traced


class Borrowed(nn.Module):
    """``proj`` is never called: its weight is read by the root's functional linear."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.proj = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(self.first(x), self.proj.weight, self.proj.bias)


def test_each_parameter_is_charged_to_the_call_that_first_read_it():
    model = Borrowed()
    params = ParamUseTracker(model, dict(model.named_parameters()))
    modules = traced(model, torch.ones(1, 4), params)
    names = {id(p): n for n, p in model.named_parameters()}
    used = {names[i]: modules.calls[c].name for i, c in params.first_use.items()}
    assert used == {
        "first.weight": "first",
        "first.bias": "first",
        "proj.weight": "",
        "proj.bias": "",
    }
