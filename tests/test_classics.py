"""The lectures' classic networks: shape tables and totals, checked by hand arithmetic."""

from __future__ import annotations

import pytest

import cnnstat
from cnnstat import zoo
from tests.expected import LENET5_PARAMS


def shapes(report, types=("Conv2d", "MaxPool2d")):
    return [r.output_shape[1:] for r in report.layers if r.type in types]


@pytest.mark.parametrize("name", sorted(zoo.CLASSICS))
def test_every_classic_passes_the_closed_form_check(name):
    r = cnnstat.analyze(name)
    assert r.checked_layers > 0
    assert r.agreeing_layers == r.checked_layers
    assert r.unsupported_ops == {}
    assert sum(x.params for x in r.layers) == r.totals.params


def test_alexnet_original_matches_the_lecture_walkthrough():
    r = cnnstat.analyze("alexnet_original")
    assert r.input_shape == (1, 3, 227, 227)
    # CONV1, POOL1, CONV2, POOL2, CONV3, CONV4, CONV5, POOL3 as C, H, W
    assert shapes(r) == [
        (96, 55, 55), (96, 27, 27), (256, 27, 27), (256, 13, 13),
        (384, 13, 13), (384, 13, 13), (256, 13, 13), (256, 6, 6),
    ]  # fmt: skip
    conv1 = next(x for x in r.layers if x.name == "features.conv1")
    assert conv1.params == (11 * 11 * 3 + 1) * 96 == 34_944
    convs = (
        34_944  # CONV1
        + (5 * 5 * 96 + 1) * 256  # CONV2
        + (3 * 3 * 256 + 1) * 384  # CONV3
        + (3 * 3 * 384 + 1) * 384  # CONV4
        + (3 * 3 * 384 + 1) * 256  # CONV5
    )
    fcs = (6 * 6 * 256 + 1) * 4096 + (4096 + 1) * 4096 + (4096 + 1) * 1000
    assert r.totals.params == convs + fcs == 62_378_344  # the lectures' "62M"


def test_alexnet_two_gpu_variant():
    r = cnnstat.analyze("alexnet_original_2gpu")
    # CONV2, CONV4, CONV5 see half the input channels: groups=2
    saved = (5 * 5 * 48) * 256 + (3 * 3 * 192) * 384 + (3 * 3 * 192) * 256
    assert r.totals.params == 62_378_344 - saved == 60_965_224  # the paper's "60M"
    assert shapes(r) == shapes(cnnstat.analyze("alexnet_original"))


def test_lenet5_original_1998():
    r = cnnstat.analyze("lenet5_original")
    c1 = (5 * 5 + 1) * 6
    s2 = 2 * 6  # a coefficient and a bias per map
    # C3: six maps read 3 inputs, nine read 4, one reads all 6
    c3 = 6 * (3 * 25 + 1) + 9 * (4 * 25 + 1) + (6 * 25 + 1)
    s4 = 2 * 16
    c5 = (16 * 25 + 1) * 120
    f6 = (120 + 1) * 84
    rbf = 84 * 10
    assert c3 == 1_516
    assert r.totals.params == c1 + s2 + c3 + s4 + c5 + f6 + rbf == 60_840
    assert cnnstat.analyze("lenet5").totals.params == LENET5_PARAMS  # the modern variant


def test_zfnet_shapes():
    r = cnnstat.analyze("zfnet")
    convs = [x.output_shape[1:] for x in r.layers if x.type == "Conv2d"]
    assert convs == [(96, 110, 110), (256, 26, 26), (512, 13, 13), (1024, 13, 13), (512, 13, 13)]


def test_nin_ends_in_global_average_pooling():
    r = cnnstat.analyze("nin")
    assert not any(x.type == "Linear" for x in r.layers)
    assert r.layers[-2].output_shape == (1, 1000, 1, 1)


def test_inception_bottleneck_saves_about_60_percent():
    naive = cnnstat.analyze("inception_naive_block")
    reduced = cnnstat.analyze("inception_block")
    hw = 28 * 28
    assert naive.totals.macs == hw * 192 * (64 + 128 * 9 + 32 * 25) == 303_464_448
    assert reduced.totals.macs == hw * (
        192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16 + 16 * 32 * 25 + 192 * 32
    ) == 128_049_152  # fmt: skip
    assert 0.55 < 1 - reduced.totals.macs / naive.totals.macs < 0.60  # 57.8%
    assert naive.layers[-1].output_shape == (1, 64 + 128 + 32 + 192, 28, 28)
    assert reduced.layers[-1].output_shape == (1, 64 + 128 + 32 + 32, 28, 28)


def test_se_resnet50_overhead():
    se = cnnstat.analyze("se_resnet50")
    base = cnnstat.analyze("resnet50")
    # per block with C output channels: FC C->C/16 and C/16->C with biases
    blocks = [(256, 3), (512, 4), (1024, 6), (2048, 3)]
    overhead = sum(n * (c * (c // 16) + c // 16 + (c // 16) * c + c) for c, n in blocks)
    assert se.totals.params - base.totals.params == overhead == 2_530_992
    assert se.totals.params == 28_088_024  # Hu et al. report 28.1M
    # the SE FCs' multiply-adds: 2 * C * C/16 per block
    assert se.totals.macs - base.totals.macs == sum(n * 2 * c * (c // 16) for c, n in blocks)


def test_mobilenet_v1_against_the_paper():
    r = cnnstat.analyze("mobilenet_v1")
    blocks = [
        (32, 64, 112),
        (64, 128, 56),
        (128, 128, 56),
        (128, 256, 28),
        (256, 256, 28),
        (256, 512, 14),
        *[(512, 512, 14)] * 5,
        (512, 1024, 7),
        (1024, 1024, 7),
    ]  # (C_in, C_out, output size) of each depthwise-separable block
    macs = (
        112 * 112 * 32 * 27 + sum(n * n * c * 9 + n * n * c * o for c, o, n in blocks) + 1024 * 1000
    )
    assert r.totals.macs == macs == 568_740_352  # the paper's 569M mult-adds
    bn = 2 * (32 + sum(c + o for c, o, _ in blocks))
    params = 27 * 32 + sum(9 * c + c * o for c, o, _ in blocks) + 1024 * 1000 + 1000 + bn
    assert r.totals.params == params == 4_231_976  # the paper's 4.2M


def test_lenet5_original_shape_table():
    r = cnnstat.analyze("lenet5_original")
    by_name = {x.name: x.output_shape[1:] for x in r.layers}
    # the 1998 paper: C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5, C5 120, F6 84, output 10
    assert by_name["c1"] == (6, 28, 28)
    assert by_name["s2.scale"] == (6, 14, 14)
    assert by_name["c3"] == (16, 10, 10)
    assert by_name["s4.scale"] == (16, 5, 5)
    assert by_name["c5"] == (120, 1, 1)
    assert by_name["f6"] == (84,)
    assert by_name["output"] == (10,)


def test_modern_classics_final_feature_maps():
    # MobileNet v1 and SE-ResNet-50 end in a 7x7 map before global pooling (stride 32 at 224)
    mobile = cnnstat.analyze("mobilenet_v1")
    assert mobile.layers[-3].output_shape == (1, 1024, 7, 7)
    se = cnnstat.analyze("se_resnet50")
    last = [x for x in se.layers if x.name.startswith("layer4.2.")][-1]
    assert last.output_shape == (1, 2048, 7, 7)
    nin = cnnstat.analyze("nin")
    convs = [x.output_shape[1:] for x in nin.layers if x.type == "Conv2d"]
    # mlpconv blocks at 54, 26, 12 and 5 pixels: (224-11)/4+1, then 3x3/2 pools
    assert [c[1] for c in convs] == [54] * 3 + [26] * 3 + [12] * 3 + [5] * 3
