from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnstat
from cnnstat.formulas import receptive_field_after


def rf_of(report, name):
    return next(r for r in report.layers if r.name == name)


def test_three_stacked_3x3_convs_see_7x7():
    model = nn.Sequential(*[nn.Conv2d(4, 4, 3, padding=1) for _ in range(3)])
    r = cnnstat.analyze(model, input_size=(4, 32, 32))
    assert [layer.receptive_field for layer in r.layers] == [(3, 3), (5, 5), (7, 7)]  # 1+2, +2, +2


def test_stride_two_doubles_effective_stride():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Conv2d(8, 8, 3, padding=1))
    r = cnnstat.analyze(model, input_size=(3, 32, 32))
    assert r.layers[0].effective_stride == (2, 2)
    # the second 3x3 conv adds (3-1) * 2 input pixels: 3 + 4
    assert r.layers[1].receptive_field == (7, 7)


class TwoPaths(nn.Module):
    """A 1x1 shortcut and two 3x3 convs, added: the field is the larger path's."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)
        self.short = nn.Conv2d(4, 4, 1)
        self.after = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        y = self.b(self.a(x)) + self.short(x)
        return self.after(torch.cat([y, self.short(x)], dim=1))


def test_branches_take_the_maximum_path():
    r = cnnstat.analyze(TwoPaths(), input_size=(4, 16, 16))
    assert rf_of(r, "after").receptive_field == (7, 7)  # 5 on the long path, then +2


def test_resnet50_final_feature_map():
    # Independent walk through torchvision's ResNet-50 (v1.5: stride in the 3x3 conv).
    rf, jump = (1,), (1,)
    rf, jump = receptive_field_after(rf, jump, (7,), (2,), (1,))  # conv1
    rf, jump = receptive_field_after(rf, jump, (3,), (2,), (1,))  # maxpool
    for blocks, first_stride in ((3, 1), (4, 2), (6, 2), (3, 2)):
        for i in range(blocks):
            # each bottleneck has one 3x3 conv on its main path; 1x1s add nothing
            rf, jump = receptive_field_after(rf, jump, (3,), (first_stride if i == 0 else 1,), (1,))
    assert rf == (427,) and jump == (32,)
    r = cnnstat.analyze("resnet50")
    layer4 = [x for x in r.layers if x.name.startswith("layer4.2.")][-1]
    assert layer4.receptive_field == (427, 427)
    assert layer4.effective_stride == (32, 32)
    assert rf_of(r, "avgpool").receptive_field == "global"


# r_out = r_in + (k - 1) * j_in, j_out = j_in * s: a 7x7/2 stem conv (field 7, jump 2), a 3x3/2
# max-pool (7 + 2*2 = 11, jump 4), a 1x1 conv (11), then a 3x3/1 conv (11 + 2*4 = 19).
@pytest.mark.parametrize(
    ("name", "stem", "pool", "three_by_three"),
    [
        ("googlenet", "conv1.conv", "maxpool1", "conv3.conv"),
        ("densenet121", "features.conv0", "features.pool0",
         "features.denseblock1.denselayer1.conv2"),
    ],
)
def test_inception_and_densenet_fields_follow_the_recurrence(name, stem, pool, three_by_three):
    fields = {x.name: x.receptive_field for x in cnnstat.analyze(name).layers}
    assert fields[stem] == (7, 7)
    assert fields[pool] == (7 + 2 * 2,) * 2
    assert fields[three_by_three] == (11 + 2 * 4,) * 2


def test_markdown_carries_receptive_fields_when_asked():
    from cnnstat.export import summary_markdown

    r = cnnstat.analyze("lenet5")
    plain, with_rf = summary_markdown(r), summary_markdown(r, show_rf=True)
    assert "| RF |" not in plain
    # conv1 5x5: field 5, stride 1; pool1 2x2/2 adds (2-1)*1: field 6, stride 2
    conv1 = 6 * 28 * 28  # output elements: 4,704
    params = (5 * 5 * 1 + 1) * 6  # 156
    macs = conv1 * 5 * 5 * 1  # 117,600
    flops = 2 * macs + conv1  # 2 per multiply-add and 1 per bias add: 239,904
    row = f"| {params:,} | {macs:,} | {flops:,} | {conv1 * 4:,} | 5 | 1 | ✓ |"  # fp32: 18,816 B
    assert f"| 0 | conv1 | Conv2d | 1×6×28×28 | k5 s1 p0 {row}" in with_rf
    pool1 = 6 * 14 * 14  # 1,176 outputs, each reading a 2x2 window: 1 FLOP per element read
    row = f"| 0 | 0 | {pool1 * 2 * 2:,} | {pool1 * 4:,} | 6 | 2 | ✓ |"
    assert f"| 1 | pool1 | MaxPool2d | 1×6×14×14 | k2 s2 p0 {row}" in with_rf
