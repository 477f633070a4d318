from __future__ import annotations

import torch
from torch import nn

from tests.trackers.helpers import traced


class Twice(nn.Module):
    """One block called twice, inside a container: two calls, the second not the first."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.block(x))


def test_calls_nest_and_know_their_first_call():
    modules = traced(Twice(), torch.ones(2, 4))
    got = [(c.name, c.depth, c.parent, c.first_call) for c in modules.calls]
    assert got == [
        ("", 0, None, True),
        ("block", 1, 0, True),
        ("block.0", 2, 1, True),
        ("block.1", 2, 1, True),
        ("block", 1, 0, False),
        ("block.0", 2, 4, False),
        ("block.1", 2, 4, False),
    ]
    assert modules.stack == []
    assert [c.has_children for c in modules.calls] == [True, True, False, False, True, False, False]
    assert all(c.input_shape == c.output_shape == (2, 4) for c in modules.calls)


def test_calls_end_in_the_order_they_return():
    modules = traced(Twice(), torch.ones(2, 4))
    ends = sorted(modules.calls, key=lambda c: c.end_seq)
    assert [c.name for c in ends] == ["block.0", "block.1", "block"] * 2 + [""]


def test_exit_listeners_see_the_call_and_the_output():
    model = nn.Sequential(nn.Linear(3, 5))
    from cnnstat.trackers.modules import ModuleCallTracker

    modules = ModuleCallTracker(model, root_name="net")
    seen = []
    modules.on_exit.append(lambda call, out: seen.append((call.name, tuple(out.shape))))
    hooks = [
        nn.modules.module.register_module_forward_pre_hook(modules.pre_hook),
        nn.modules.module.register_module_forward_hook(modules.post_hook),
    ]
    try:
        model(torch.ones(2, 3))
        nn.Linear(3, 3)(torch.ones(1, 3))  # outside the model: ignored
    finally:
        for h in hooks:
            h.remove()
    assert seen == [("0", (2, 5)), ("net", (2, 5))]
    assert modules.called_module_ids() == {id(model), id(model[0])}
