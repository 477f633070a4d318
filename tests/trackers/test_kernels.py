from __future__ import annotations

import pytest
import torch

from cnnstat.trackers.kernels import KernelRejectedError, conv_rejection, meta_shortcut

aten = torch.ops.aten


def test_elementwise_shortcut_keeps_shape_and_returns_the_input_when_in_place():
    x = torch.empty(2, 3, 4, device="meta")
    out = meta_shortcut(aten.relu.default, (x,))
    assert out.shape == x.shape and out is not x
    assert meta_shortcut(aten.relu_.default, (x,)) is x
    assert meta_shortcut(aten.add_.Tensor, (x, torch.empty(2, 3, 4, device="meta"))) is x


def test_shortcut_declines_broadcasts_and_real_tensors():
    x = torch.empty(2, 3, 4, device="meta")
    assert meta_shortcut(aten.add.Tensor, (x, torch.empty(4, device="meta"))) is None
    assert meta_shortcut(aten.relu.default, (torch.ones(2),)) is None


def test_conv_shortcut_shape_matches_the_real_kernel():
    x, w = torch.empty(1, 3, 17, 17), torch.empty(8, 3, 3, 3)
    args = [None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1]
    real = aten.convolution.default(x, w, *args)
    meta = meta_shortcut(aten.convolution.default, (x.to("meta"), w.to("meta"), *args))
    assert meta.shape == real.shape == (1, 8, 9, 9)  # (17 + 2 - 3) // 2 + 1 = 9


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "groups", "transposed"),
    [
        ((1, 4, 8, 8), (8, 3, 3, 3), 1, False),  # 4 channels for a 3-channel weight
        ((1, 4, 8, 8), (6, 2, 3, 3), 4, False),  # 6 filters not divisible by 4 groups
        ((1, 4, 8, 8), (3, 2, 3, 3), 4, False),  # 3 filters for 4 groups
        ((1, 4, 8, 8), (8, 4, 3), 1, False),  # a 1-d weight for a 2-d input
        ((1, 5, 8, 8), (4, 2, 3, 3), 1, True),  # transposed: 5 channels for 4
    ],
    ids=["channels", "groups", "few-filters", "dims", "transposed"],
)
def test_conv_rejection_says_what_the_real_kernel_says(x_shape, w_shape, groups, transposed):
    x, w = torch.zeros(x_shape), torch.zeros(w_shape)
    n = w.dim() - 2
    args = (None, [1] * n, [0] * n, [1] * n, transposed, [0] * n, groups)
    with pytest.raises(RuntimeError) as real:
        aten.convolution.default(x, w, *args)
    ours = conv_rejection(x, w, *args)
    assert ours is not None and ours in str(real.value)
    with pytest.raises(KernelRejectedError, match="channels|groups|dimensional"):
        meta_shortcut(aten.convolution.default, (x.to("meta"), w.to("meta"), *args))


def test_conv_rejection_accepts_what_the_kernel_runs():
    x, w = torch.zeros(1, 4, 8, 8), torch.zeros(8, 2, 3, 3)
    assert conv_rejection(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 2) is None


def test_conv_rejection_of_arguments():
    x, w = torch.zeros(1, 4, 8, 8), torch.zeros(8, 4, 3, 3)
    assert conv_rejection(x, w, None, [0, 1], [0, 0], [1, 1], False, [0], 1) == (
        "non-positive stride is not supported"
    )
    assert conv_rejection(x, w, None, [1, 1], [-1, 0], [1, 1], False, [0], 1) == (
        "negative padding is not supported"
    )
    assert conv_rejection(x, w, None, [1, 1, 1], [0], [1], False, [0], 1) == (
        "expected stride to be a single integer value or a list of 2 values to match the "
        "convolution dimensions, but got stride=[1, 1, 1]"
    )
