from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnstat.formulas import (
    adaptive_pool_output_shape,
    linear_macs,
    linear_params,
    mha_macs,
    mha_params,
    norm_params,
    pool_output_length,
)


@pytest.mark.parametrize(
    ("length", "kernel", "stride", "padding", "ceil", "expected"),
    [
        pytest.param(55, 3, 2, 0, False, 27, id="alexnet-pool1"),  # (55-3)/2+1
        pytest.param(224, 2, 2, 0, False, 112, id="vgg-pool"),
        pytest.param(112, 3, 2, 1, False, 56, id="resnet-maxpool"),  # (112+2-3)/2+1 = 56.5
        pytest.param(112, 3, 2, 0, True, 56, id="googlenet-ceil"),  # ceil(109/2)+1
        pytest.param(5, 2, 2, 1, True, 3, id="ceil-last-window-in-padding"),
    ],
)
def test_pool_output_length(length, kernel, stride, padding, ceil, expected):
    assert pool_output_length(length, kernel, stride, padding, 1, ceil) == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 2), st.booleans(), st.integers(0, 12))
def test_max_pool_matches_real_module(k, s, p, ceil, extra):
    p = min(p, k // 2)  # PyTorch requires pad <= kernel / 2
    length = k + extra
    out = nn.MaxPool2d(k, s, p, ceil_mode=ceil)(torch.zeros(1, 1, length, length))
    assert out.shape[-1] == pool_output_length(length, k, s, p, 1, ceil)


def test_adaptive_pool_keeps_none_axes():
    assert adaptive_pool_output_shape((13, 13), (6, 6)) == (6, 6)
    assert adaptive_pool_output_shape((13, 9), (None, 1)) == (13, 1)


def test_linear_vgg_fc6_from_lecture():
    # FC6: 7*7*512 inputs to 4096 outputs, the lecture counts weights only
    assert linear_params(7 * 7 * 512, 4096, bias=False) == 7 * 7 * 512 * 4096  # 102,760,448
    assert linear_params(4096, 1000) == 4096 * 1000 + 1000
    assert linear_macs(197, 768, 3072) == 197 * 768 * 3072


def test_norm_params():
    assert norm_params(64) == 128
    assert norm_params(64, affine=False) == 0
    assert sum(p.numel() for p in nn.BatchNorm2d(64).parameters()) == norm_params(64)
    assert sum(p.numel() for p in nn.LayerNorm(768).parameters()) == norm_params(768)


@pytest.mark.parametrize("bias", [True, False])
def test_mha_params_match_real_module(bias):
    layer = nn.MultiheadAttention(768, 12, bias=bias)
    assert sum(p.numel() for p in layer.parameters()) == mha_params(768, bias=bias)
    layer = nn.MultiheadAttention(64, 4, kdim=32, vdim=48)
    assert sum(p.numel() for p in layer.parameters()) == mha_params(64, 32, 48)


def test_mha_macs_vit_b16_block():
    # 197 tokens, E=768: 4 projections of 197*768*768 + QK^T and AV of 197*197*768 each
    assert mha_macs(1, 197, 197, 768) == 4 * 197 * 768 * 768 + 2 * 197 * 197 * 768  # 524,386,176
