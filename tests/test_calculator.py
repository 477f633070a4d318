from __future__ import annotations

import pytest

from cnnstat import calculator
from cnnstat.errors import InvalidInputError


def spec(*args, **kwargs):
    return calculator.make_spec(*args, **kwargs)


def test_alexnet_conv1_quiz():
    row = calculator.conv_cost(spec((227, 227, 3), 96, (11,), (4,)))
    assert row.output_spatial == (55, 55) and row.out_channels == 96  # (227-11)/4+1 = 55
    assert row.params == (11 * 11 * 3 + 1) * 96 == 34_944
    assert row.params_without_bias == 11 * 11 * 3 * 96
    assert row.macs == 55 * 55 * 96 * 11 * 11 * 3  # 105,415,200


def test_inception_bottleneck_example():
    result = calculator.layer_costs(spec((28, 28, 192), 32, (5,), padding=(2,)), bottleneck=16)
    plain, reduced = result.rows
    assert plain.macs == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400  # the lecture's 120M
    assert reduced.macs == 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16 == 12_443_648  # 12.4M
    assert reduced.output_spatial == plain.output_spatial == (28, 28)


def test_depthwise_separable_uses_lecture_formula():
    result = calculator.layer_costs(
        spec((224, 224, 3), 64, (3,), padding=(1,)), depthwise_separable=True
    )
    standard, separable = result.rows
    assert standard.params == (3 * 3 * 3 + 1) * 64 == 1_792
    # a bias on both convs, as on the conv row; the lecture's (h·w + 1)·C + C·C' = 222
    # keeps the depthwise one only: the bias-free count plus C
    assert separable.params == (3 * 3 + 1) * 3 + (3 + 1) * 64 == 286
    assert separable.params_without_bias == 3 * 3 * 3 + 3 * 64 == 219
    assert separable.params_without_bias + 3 == 222
    assert separable.macs == 224 * 224 * 3 * 9 + 224 * 224 * 3 * 64


def test_conv_flops_agree_with_summary():
    """`cnnstat conv` and `cnnstat summary` cost a conv the same way: 2 FLOPs per MAC plus
    one add per output element for the bias."""
    import torch.nn as nn

    import cnnstat

    conv = calculator.conv_cost(spec((28, 28, 192), 32, (5,), padding=(2,)))
    assert conv.flops == 2 * 120_422_400 + 28 * 28 * 32  # 240,869,888
    report = cnnstat.analyze(nn.Conv2d(192, 32, 5, padding=2), input_size=(192, 28, 28))
    assert report.totals.flops == conv.flops
    assert report.totals.params == conv.params

    sep = calculator.layer_costs(
        spec((56, 56, 32), 64, (3,), (2,), (1,)), depthwise_separable=True
    ).rows[1]
    pair = nn.Sequential(nn.Conv2d(32, 32, 3, 2, 1, groups=32), nn.Conv2d(32, 64, 1))
    report = cnnstat.analyze(pair, input_size=(32, 56, 56))
    assert (report.totals.params, report.totals.macs, report.totals.flops) == (
        sep.params, sep.macs, sep.flops
    )


def test_one_and_three_dimensional_inputs():
    row = calculator.conv_cost(spec((100, 3), 8, (3,), (2,)))
    assert row.output_spatial == (49,)  # (100-3)/2+1
    row = calculator.conv_cost(spec((16, 32, 32, 4), 8, (3,), padding=(1,)))
    assert row.output_spatial == (16, 32, 32)
    assert row.params == (27 * 4 + 1) * 8


def test_grouped_and_dilated():
    row = calculator.conv_cost(
        spec((56, 56, 128), 128, (3,), padding=(2,), dilation=(2,), groups=32)
    )
    assert row.output_spatial == (56, 56)  # 56 + 4 - 2*2 - 1 + 1
    assert row.params == 3 * 3 * 4 * 128 + 128


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(input_shape=(28, 28, 190), filters=32, kernel=(5,), groups=4), "not divisible"),
        (dict(input_shape=(28, 28, 192), filters=30, kernel=(5,), groups=4), "not divisible"),
        (dict(input_shape=(4, 4, 3), filters=8, kernel=(7,)), "padded input"),
        (dict(input_shape=(0, 4, 3), filters=8, kernel=(1,)), "positive"),
        (dict(input_shape=(8, 8, 3), filters=0, kernel=(1,)), "positive"),
        (dict(input_shape=(8, 8, 3), filters=4, kernel=(3,), stride=(-1,)), "positive"),
        (dict(input_shape=(8, 8, 3), filters=4, kernel=(3,), padding=(-1,)), "non-negative"),
        (dict(input_shape=(8, 8, 3), filters=4, kernel=(3, 3, 3)), "spatial axes"),
    ],
)
def test_invalid_combinations(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        calculator.make_spec(**kwargs)
