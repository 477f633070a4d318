"""One layer's closed form, from its attributes: the lectures' arithmetic written out here."""

from __future__ import annotations

from torch import nn

from cnnstat.closed_form import check_call, expected, layer_geometry


def test_alexnet_conv1_as_the_lectures_work_it_out():
    # 227x227x3, 96 filters of 11x11, stride 4: (227 - 11) / 4 + 1 = 55
    conv = nn.Conv2d(3, 96, 11, stride=4)
    exp = expected(conv, (1, 3, 227, 227))
    assert exp.output_shape == (1, 96, 55, 55)
    assert exp.params == (11 * 11 * 3 + 1) * 96  # 34,944
    assert exp.macs == 55 * 55 * 96 * 11 * 11 * 3  # 105,415,200


def test_grouped_dilated_conv():
    # 8 -> 16 channels in 4 groups, 3x3 dilated by 2, padding 2 keeps 20x20
    conv = nn.Conv2d(8, 16, 3, padding=2, dilation=2, groups=4, bias=False)
    exp = expected(conv, (2, 8, 20, 20))
    assert exp.output_shape == (2, 16, 20, 20)
    assert exp.params == 16 * (8 // 4) * 3 * 3  # 288
    assert exp.macs == 2 * 20 * 20 * 16 * (8 // 4) * 3 * 3  # 230,400


def test_transposed_conv_doubles_the_size():
    # (14 - 1) * 2 - 2 * 1 + 4 = 28
    deconv = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)
    exp = expected(deconv, (1, 16, 14, 14))
    assert exp.output_shape == (1, 8, 28, 28)
    assert exp.params == 16 * 8 * 4 * 4 + 8  # 2,056
    assert exp.macs == 14 * 14 * 16 * 8 * 4 * 4  # every input pixel scatters a 4x4x8 patch


def test_linear_and_pool():
    fc = nn.Linear(4096, 1000)
    assert expected(fc, (2, 4096)).params == 4096 * 1000 + 1000
    assert expected(fc, (2, 4096)).macs == 2 * 4096 * 1000
    pool = nn.MaxPool2d(3, stride=2)
    assert expected(pool, (1, 96, 55, 55)).output_shape == (1, 96, 27, 27)  # (55 - 3) / 2 + 1
    assert layer_geometry(pool) == {
        "kernel": (3, 3), "stride": (2, 2), "padding": (0, 0), "dilation": (1, 1), "groups": None,
    }  # fmt: skip


def test_check_call_names_each_disagreement():
    conv = nn.Conv2d(3, 96, 11, stride=4)
    good = check_call(conv, (1, 3, 227, 227), (1, 96, 55, 55), 34_944, 105_415_200)
    assert good.status == "ok" and not good.mismatches
    bad = check_call(conv, (1, 3, 227, 227), (1, 96, 54, 54), 34_945, 1)
    assert bad.status == "mismatch"
    assert len(bad.mismatches) == 3  # shape, params and MACs each named
