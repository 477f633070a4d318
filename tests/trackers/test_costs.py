from __future__ import annotations

import torch
from torch import nn

from cnnstat.trackers.costs import ConvOp, CostTracker
from tests.trackers.helpers import traced


def test_costs_are_charged_to_the_running_call():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, bias=False), nn.ReLU())
    costs = CostTracker()
    modules = traced(model, torch.ones(1, 3, 9, 9), costs)
    root, conv, relu = modules.calls
    macs = 4 * 4 * 8 * 3 * 3 * 3  # H*W * C_out * C_in * k*k, (9 - 3) // 2 + 1 = 4: 3,456
    assert (conv.macs, conv.flops) == (macs, 2 * macs)
    assert conv.op_macs == {"convolution": macs}
    assert conv.conv_ops == [
        ConvOp((1, 3, 9, 9), (8, 3, 3, 3), (2, 2), (0, 0), (1, 1), False, (0, 0), 1, False)
    ]
    assert (relu.macs, relu.flops) == (0, 8 * 4 * 4)  # 1 FLOP per output element
    assert (root.macs, root.flops) == (0, 0)  # a container's own ops: none
    assert costs.unsupported == {}


def test_an_op_without_rule_is_unsupported_inside_and_outside_modules():
    class Cumprod(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cumprod(x, dim=-1)

    costs = CostTracker()
    modules = traced(Cumprod(), torch.ones(2, 3), costs)
    assert costs.unsupported == {"cumprod": 1}
    assert modules.calls[0].unsupported == {"cumprod": 1}
    costs.on_op(torch.ops.aten.cumprod.default, (torch.ones(2),), {"dim": 0}, None, None)
    assert costs.unsupported == {"cumprod": 2}


def test_backward_ops_add_to_totals():
    costs = CostTracker()
    x, w = torch.ones(4, 5), torch.ones(5, 6)
    out = torch.ones(4, 6)
    costs.on_backward_op(torch.ops.aten.mm.default, (x, w), {}, out)
    costs.on_backward_op(torch.ops.aten.cumprod.default, (x,), {}, x)
    assert (costs.backward_macs, costs.backward_flops) == (4 * 5 * 6, 2 * 4 * 5 * 6)
    assert costs.backward_unsupported == {"cumprod": 1}
