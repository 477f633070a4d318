from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnstat.formulas import (
    conv_macs,
    conv_output_length,
    conv_output_shape,
    conv_params,
    conv_transpose_macs,
    conv_transpose_output_shape,
)


@pytest.mark.parametrize(
    ("length", "kernel", "stride", "padding", "dilation", "expected"),
    [
        pytest.param(227, 11, 4, 0, 1, 55, id="alexnet-conv1-lecture"),  # (227-11)/4+1
        pytest.param(
            224, 11, 4, 2, 1, 55, id="alexnet-conv1-torchvision"
        ),  # (224+4-11)/4+1 = 55.25
        pytest.param(224, 3, 1, 1, 1, 224, id="vgg-same"),
        pytest.param(32, 5, 1, 0, 1, 28, id="lenet-conv1"),
        pytest.param(224, 9, 2, 4, 1, 112, id="lecture-9x9-stride2"),  # (224+8-9)/2+1 = 112.5
        pytest.param(7, 3, 1, 0, 2, 3, id="dilated"),  # 7 - 2*2 - 1 + 1
        pytest.param(3, 5, 1, 0, 1, -1, id="input-too-small"),
    ],
)
def test_conv_output_length(length, kernel, stride, padding, dilation, expected):
    assert conv_output_length(length, kernel, stride, padding, dilation) == expected


def test_alexnet_conv1_params_from_lecture():
    # 96 filters of 11x11x3 plus 96 biases: (11*11*3 + 1) * 96
    assert conv_params(3, 96, (11, 11)) == (11 * 11 * 3 + 1) * 96  # 34,944


def test_vgg_conv_params_without_bias_match_lecture_table():
    # the lecture writes (3*3*3)*64 = 1,728, (3*3*64)*64 = 36,864, (3*3*512)*512 = 2,359,296
    assert conv_params(3, 64, (3, 3), bias=False) == (3 * 3 * 3) * 64
    assert conv_params(64, 64, (3, 3), bias=False) == (3 * 3 * 64) * 64
    assert conv_params(512, 512, (3, 3), bias=False) == (3 * 3 * 512) * 512


def test_inception_5x5_example_from_lecture():
    # 28x28x192 input, 32 filters of 5x5 "same": 28*28*32 outputs, each 5*5*192 products
    assert conv_macs(1, 192, 32, (28, 28), (5, 5)) == 28 * 28 * 32 * 5 * 5 * 192  # 120,422,400


def test_inception_bottleneck_example_from_lecture():
    # 1x1 to 16 channels, then 5x5 to 32: 28*28*16*192 + 28*28*32*5*5*16
    reduce = conv_macs(1, 192, 16, (28, 28), (1, 1))
    conv = conv_macs(1, 16, 32, (28, 28), (5, 5))
    assert reduce == 28 * 28 * 16 * 192  # 2,408,448
    assert conv == 28 * 28 * 32 * 5 * 5 * 16  # 10,035,200
    assert round((reduce + conv) / 1e6, 1) == 12.4  # the lecture's "12.4M"


def test_grouped_and_depthwise_conv():
    # depthwise 3x3 on 32 channels at 112x112: one 3x3 window per output element
    assert conv_macs(1, 32, 32, (112, 112), (3, 3), groups=32) == 112 * 112 * 32 * 9
    assert conv_params(32, 32, (3, 3), groups=32) == 32 * 9 + 32
    # ResNeXt-style: 32 groups of 4 channels
    assert conv_params(128, 128, (3, 3), groups=32, bias=False) == 128 * 4 * 9


def test_transposed_conv_shape_and_macs():
    # 2x upsampling: (7-1)*2 - 2*1 + (4-1) + 0 + 1 = 14
    assert conv_transpose_output_shape((7, 7), (4, 4), (2, 2), (1, 1), (1, 1), (0, 0)) == (14, 14)
    assert conv_transpose_macs(2, 8, 4, (7, 7), (4, 4)) == 2 * 8 * 49 * 4 * 16


conv_cases = st.fixed_dictionaries(
    {
        "dims": st.integers(1, 3),
        "groups": st.sampled_from([1, 2, 4]),
        "c_mult_in": st.integers(1, 3),
        "c_mult_out": st.integers(1, 3),
        "kernel": st.integers(1, 5),
        "stride": st.integers(1, 3),
        "padding": st.integers(0, 3),
        "dilation": st.integers(1, 3),
        "extra": st.integers(0, 9),
        "bias": st.booleans(),
    }
)


@settings(max_examples=60, deadline=None)
@given(conv_cases)
def test_conv_formulas_match_real_module(case):
    d, g = case["dims"], case["groups"]
    c_in, c_out = g * case["c_mult_in"], g * case["c_mult_out"]
    k, s, p, dl = case["kernel"], case["stride"], case["padding"], case["dilation"]
    length = dl * (k - 1) + 1 + case["extra"]  # always at least one output
    conv_cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[d]
    layer = conv_cls(c_in, c_out, k, stride=s, padding=p, dilation=dl, groups=g, bias=case["bias"])
    out = layer(torch.zeros(1, c_in, *(length,) * d))
    spatial = conv_output_shape((length,) * d, (k,) * d, (s,) * d, (p,) * d, (dl,) * d)
    assert tuple(out.shape) == (1, c_out, *spatial)
    assert sum(t.numel() for t in layer.parameters()) == conv_params(
        c_in, c_out, (k,) * d, g, case["bias"]
    )


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 2),
    st.integers(1, 2),
    st.integers(0, 1),
    st.integers(1, 6),
)
def test_conv_transpose_shape_matches_real_module(k, s, p, dl, op, length):
    op = min(op, max(s, dl) - 1)  # PyTorch requires output_padding < stride or dilation
    layer = nn.ConvTranspose2d(2, 3, k, stride=s, padding=p, dilation=dl, output_padding=op)
    expected = conv_transpose_output_shape(
        (length, length), (k, k), (s, s), (p, p), (dl, dl), (op, op)
    )
    if min(expected) <= 0:
        return
    out = layer(torch.zeros(1, 2, length, length))
    assert tuple(out.shape[2:]) == expected
