from __future__ import annotations

import pytest
import torch

from cnnstat import ops

aten = torch.ops.aten


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="duplicate"):
        ops.register(aten.mm)(lambda a, k, o: ops.ZERO)


def test_unknown_op_has_no_rule():
    assert ops.lookup(aten.cumprod.default) is None


def test_conv_rule_grouped_with_bias():
    x = torch.zeros(2, 8, 10, 10, device="meta")
    w = torch.zeros(16, 2, 3, 3, device="meta")  # groups=4: C_in/groups = 2
    b = torch.zeros(16, device="meta")
    out = torch.zeros(2, 16, 8, 8, device="meta")
    cost = ops.convolution_rule([x, w, b, [1, 1], [0, 0], [1, 1], False, [0, 0], 4], {}, out)
    macs = 2 * 16 * 8 * 8 * 2 * 3 * 3  # N * C_out * H*W * C_in/g * k*k = 36,864
    assert cost.macs == macs
    assert cost.flops == 2 * macs + 2 * 16 * 8 * 8  # + one bias add per output element


def test_addmm_rule_counts_bias_as_flops_only():
    bias, x, w = torch.zeros(5), torch.zeros(3, 4), torch.zeros(4, 5)
    cost = ops.addmm_rule([bias, x, w], {}, torch.zeros(3, 5))
    assert cost.macs == 3 * 4 * 5
    assert cost.flops == 2 * 3 * 4 * 5 + 3 * 5


def test_sdpa_rule():
    q = torch.zeros(2, 4, 10, 8)
    k = torch.zeros(2, 4, 12, 8)
    v = torch.zeros(2, 4, 12, 6)
    cost = ops.sdpa_rule([q, k, v], {}, torch.zeros(2, 4, 10, 6))
    assert cost.macs == 8 * 10 * 12 * 8 + 8 * 10 * 12 * 6  # QK^T + AV over 8 heads


def test_interpolation_and_embedding_rules():
    out = torch.zeros(1, 3, 16, 16)
    # bilinear: 4 neighbours per output element, 2 FLOPs each
    assert ops.lookup(aten.upsample_bilinear2d.vec)([], {}, out) == ops.OpCost(0, 8 * 3 * 16 * 16)
    assert ops.lookup(aten.upsample_nearest2d.vec)([], {}, out) == ops.ZERO
    assert ops.lookup(aten.embedding.default)([], {}, out) == ops.ZERO
