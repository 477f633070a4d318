from __future__ import annotations

import pytest
import torch

from cnnstat import ops

aten = torch.ops.aten


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="duplicate"):
        ops.register(aten.mm, kind=ops.OpKind.matmul)(lambda a, k, o: ops.ZERO)


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


# Names that a torch release may lack, each with why. Empty while every name cnnstat asks
# for exists in the torch this project pins; add one only with its reason.
VERSION_DEPENDENT: set[tuple[str, str]] = set()


def test_every_requested_op_name_resolves_in_this_torch():
    import torchvision  # noqa: F401  (registers torch.ops.torchvision)

    missing = {
        (ns, name) for ns, name in ops.REQUESTED if not hasattr(getattr(torch.ops, ns), name)
    }
    assert missing - VERSION_DEPENDENT == set()


def test_a_misspelt_name_is_recorded_and_left_out():
    before = len(ops.REQUESTED)
    try:
        assert ops.packets("mm", "conovlution") == [aten.mm]
        assert ops.REQUESTED[before:] == [("aten", "mm"), ("aten", "conovlution")]
    finally:
        del ops.REQUESTED[before:]


def test_every_rule_declares_a_kind():
    assert set(ops.KINDS) == set(ops.REGISTRY)
    assert all(isinstance(k, ops.OpKind) for k in ops.KINDS.values())


@pytest.mark.parametrize(
    ("op", "kind"),
    [
        (aten.convolution.default, ops.OpKind.conv),
        (aten._convolution, ops.OpKind.conv),
        ("convolution", ops.OpKind.conv),
        ("addmm", ops.OpKind.matmul),
        ("_scaled_dot_product_flash_attention_for_cpu", ops.OpKind.attention),
        (aten.relu_.default, ops.OpKind.elementwise),
        ("max_pool2d_with_indices", ops.OpKind.pool),
        ("_adaptive_avg_pool2d", ops.OpKind.pool),
        ("mean", ops.OpKind.reduction),
        ("native_batch_norm", ops.OpKind.norm),
        ("view", ops.OpKind.movement),
        ("nonzero", ops.OpKind.selection),
        ("convolution_backward", ops.OpKind.backward),
    ],
    ids=str,
)
def test_kind_of(op, kind):
    assert ops.kind_of(op) is kind


def test_kind_of_an_op_without_rule_is_none():
    assert ops.kind_of(aten.cumprod.default) is None
    assert ops.kind_of("cumprod") is None


def test_named_groups_hold_registered_ops_of_their_kind():
    for group, kind in [
        (ops.UNARY_ACTIVATIONS, ops.OpKind.elementwise),
        (ops.BINARY_ARITHMETIC, ops.OpKind.elementwise),
        (ops.MAX_POOL, ops.OpKind.pool),
        (ops.AVG_POOL, ops.OpKind.pool),
        (ops.ADAPTIVE_POOL, ops.OpKind.pool),
    ]:
        assert group and {ops.kind_of(op) for op in group} == {kind}
    assert ops.GLOBAL_MIXING - set(ops.REGISTRY) == set()
    assert aten.avg_pool2d in ops.AVG_POOL and aten.max_pool2d in ops.MAX_POOL
    assert aten.add_ in ops.BINARY_ARITHMETIC and aten.relu in ops.UNARY_ACTIVATIONS


def test_the_benchmark_asks_the_registry_which_math_a_model_uses():
    from torch import nn

    import cnnstat
    from cnnstat.bench.runner import _uses

    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    linear = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    assert _uses(cnnstat.analyze(conv, input_size=(3, 8, 8))) == (True, False)
    assert _uses(cnnstat.analyze(linear, input_size=(3, 2, 2))) == (False, True)
    both = nn.Sequential(conv, nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    assert _uses(cnnstat.analyze(both, input_size=(3, 8, 8))) == (True, True)


def test_the_cross_check_groups_ops_by_registry_kind():
    from cnnstat.crosscheck import _cnnstat_category

    assert _cnnstat_category("_convolution") == "conv"
    assert _cnnstat_category("baddbmm") == "matmul"
    assert _cnnstat_category("_scaled_dot_product_efficient_attention") == "attention"
    assert _cnnstat_category("relu") == "relu"  # any other kind keeps its op name
