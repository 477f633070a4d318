from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cnnstat
from cnnstat.errors import ForwardError, InputTooSmallError, InvalidInputError, ModelLoadError
from cnnstat.facts import VGG16_LECTURE, VGG16_LECTURE_TOTAL_PARAMS
from tests.expected import LENET5_PARAMS

FIXTURES = Path(__file__).parent / "fixtures" / "custom_models.py"


def by_name(report, name):
    return next(r for r in report.layers if r.name == name)


def test_lenet5_matches_lecture():
    r = cnnstat.analyze("lenet5")
    # conv1 (5*5*1+1)*6 + conv2 (5*5*6+1)*16 + fc 400*120+120 + 120*84+84 + 84*10+10
    assert r.totals.params == 156 + 2_416 + 48_120 + 10_164 + 850 == 61_706
    assert by_name(r, "conv1").output_shape == (1, 6, 28, 28)
    assert by_name(r, "conv2").output_shape == (1, 16, 10, 10)
    # conv1: 28*28*6 outputs * 25 products; conv2: 10*10*16 * 150; fcs: weights
    assert r.totals.macs == 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 48_000 + 10_080 + 840
    assert r.agreeing_layers == r.checked_layers == 7


def test_torchvision_alexnet_first_conv():
    r = cnnstat.analyze("alexnet")
    conv = by_name(r, "features.0")
    assert conv.output_shape == (1, 64, 55, 55)
    assert conv.params == (11 * 11 * 3 + 1) * 64 == 23_296
    assert conv.kernel == (11, 11) and conv.stride == (4, 4) and conv.padding == (2, 2)


def _elements(shape: str) -> int:
    """'224x224x64' -> 224 * 224 * 64, the lecture's "memory" of a layer."""
    h, w, c = map(int, shape.split("x"))
    return h * w * c


# The lecture's VGG16 table (lecture 4, transcribed in cnnstat.facts and checked against the
# lecture's text in test_facts.py): per conv layer, weights without biases and output elements.
VGG16_LECTURE_CONVS = [
    (layer, params, _elements(shape))
    for name, shape, _, params, layer in VGG16_LECTURE
    if name.startswith("CONV")
]


@pytest.mark.parametrize(
    ("name", "weights", "elements"), VGG16_LECTURE_CONVS, ids=[v[0] for v in VGG16_LECTURE_CONVS]
)
def test_vgg16_conv_layers_match_lecture_table(name, weights, elements):
    layer = by_name(vgg16_report(), name)
    out_channels = layer.output_shape[1]
    assert layer.params - out_channels == weights  # the lecture leaves biases out
    assert layer.activation_bytes == elements * 4  # fp32
    assert layer.output_shape[1] * layer.output_shape[2] * layer.output_shape[3] == elements


def test_vgg16_fc_layers_match_lecture_table():
    from torchvision.models import VGG16_Weights

    r = vgg16_report()
    fcs = [
        (layer, shape, params) for name, shape, _, params, layer in VGG16_LECTURE if name == "FC"
    ]
    assert [p for *_, p in fcs] == [7 * 7 * 512 * 4096, 4096 * 4096, 4096 * 1000]
    for layer, shape, params in fcs:
        assert by_name(r, layer).params - _elements(shape) == params  # biases left out
    assert r.totals.params == VGG16_Weights.IMAGENET1K_V1.meta["num_params"]
    assert round(r.totals.params / 1e6) == VGG16_LECTURE_TOTAL_PARAMS / 1e6  # "138M"


_VGG16 = {}


def vgg16_report():
    if "r" not in _VGG16:
        _VGG16["r"] = cnnstat.analyze("vgg16")
    return _VGG16["r"]


@pytest.mark.parametrize("model", ["lenet5", "resnet18", "googlenet", "vit_b_16", "inception_v3"])
def test_layer_rows_add_up_to_totals(model):
    r = cnnstat.analyze(model)
    assert sum(layer.params for layer in r.layers) == r.totals.params
    assert sum(layer.macs for layer in r.layers) == r.totals.macs
    assert sum(layer.flops for layer in r.layers) == r.totals.flops
    assert sum(layer.activation_bytes for layer in r.layers) == r.totals.activation_bytes
    assert sum(layer.saved_bytes for layer in r.layers) == r.totals.saved_for_backward_bytes
    assert r.totals.flops >= 2 * r.totals.macs
    assert r.agreeing_layers == r.checked_layers > 0


def test_depth_rolls_up_children():
    leaf = cnnstat.analyze("resnet18")
    top = cnnstat.analyze("resnet18", depth=1)
    assert [layer.name for layer in top.layers] == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "fc",
    ]
    assert sum(layer.macs for layer in top.layers) == leaf.totals.macs
    layer1 = by_name(top, "layer1")
    assert layer1.params == sum(x.params for x in leaf.layers if x.name.startswith("layer1."))
    whole = cnnstat.analyze("resnet18", depth=0)
    assert len(whole.layers) == 1 and whole.layers[0].macs == leaf.totals.macs


def test_batch_size_scales_work_not_params():
    one = cnnstat.analyze("resnet18")
    eight = cnnstat.analyze("resnet18", input_size=(3, 160, 160), batch_size=8)
    assert eight.totals.params == one.totals.params
    assert eight.input_shape == (8, 3, 160, 160)
    assert by_name(eight, "conv1").output_shape == (8, 64, 80, 80)
    # conv1: 8 images * 64 * 80*80 * 3*7*7
    assert by_name(eight, "conv1").macs == 8 * 64 * 80 * 80 * 3 * 7 * 7


def test_half_precision_halves_memory():
    fp32 = cnnstat.analyze("resnet18")
    fp16 = cnnstat.analyze("resnet18", dtype=torch.float16)
    assert fp16.totals.param_bytes * 2 == fp32.totals.param_bytes
    assert fp16.totals.activation_bytes * 2 == fp32.totals.activation_bytes
    assert fp16.totals.macs == fp32.totals.macs


def test_user_model_is_not_modified():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    before = model[0].weight.detach().clone()
    model.train()
    cnnstat.analyze(model, input_size=(4,), dtype=torch.float16)
    assert model[0].weight.device.type == "cpu"
    assert model[0].weight.dtype == torch.float32
    assert torch.equal(model[0].weight, before)
    assert model.training


def test_constructor_that_needs_real_tensors_falls_back():
    r = cnnstat.analyze(f"{FIXTURES}:WidthsFromTensors", input_size=(3, 8, 8))
    assert r.device_mode == "cpu"
    assert "cannot be built on the meta device" in r.fallback_reason
    assert r.totals.params == (3 * 9 + 1) * 4


def test_forward_that_reads_values_falls_back():
    r = cnnstat.analyze(f"{FIXTURES}:DataDependent", input_size=(3, 8, 8))
    assert r.device_mode == "cpu"
    assert "cannot run on the meta device" in r.fallback_reason
    assert r.totals.macs == 6 * 6 * 4 * 3 * 9


def test_custom_function_builder():
    r = cnnstat.analyze(f"{FIXTURES}:make_tiny", input_size=(1, 32, 32))
    assert r.totals.params == (9 + 1) * 8 + 8 * 10 + 10


def test_input_too_small_names_the_layer():
    with pytest.raises(InputTooSmallError, match=r"features\.\d+ \((MaxPool2d|Conv2d)"):
        cnnstat.analyze("alexnet", input_size=(3, 16, 16))


def test_forward_error_names_the_layer():
    with pytest.raises(ForwardError, match="broken on purpose"):
        cnnstat.analyze(f"{FIXTURES}:Broken", input_size=(4,))


def test_custom_model_needs_input_size():
    with pytest.raises(InvalidInputError, match="needs an input size"):
        cnnstat.analyze(f"{FIXTURES}:TinyNet")


def test_custom_name_missing_lists_candidates():
    with pytest.raises(ModelLoadError, match="does not define 'Nope'.*TinyNet"):
        cnnstat.analyze(f"{FIXTURES}:Nope", input_size=(1, 32, 32))


def test_report_frame_and_dict():
    r = cnnstat.analyze("lenet5")
    frame = r.to_frame()
    assert list(frame["name"]) == [layer.name for layer in r.layers]
    assert int(frame["params"].sum()) == LENET5_PARAMS
    d = r.to_dict()
    assert set(d["totals"]) >= {
        "params",
        "trainable_params",
        "macs",
        "flops",
        "activation_bytes",
        "saved_for_backward_bytes",
        "param_bytes",
    }
    assert {
        "name",
        "type",
        "output_shape",
        "params",
        "macs",
        "flops",
        "activation_bytes",
        "check",
    } <= set(d["layers"][0])
    assert d["unsupported_ops"] == {}


def test_uncalled_modules_are_reported_but_containers_that_ran_are_not():
    class WithList(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)])
            self.unused = torch.nn.Linear(4, 2)

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    r = cnnstat.analyze(WithList(), input_size=(4,))
    assert r.uncalled_modules == ("unused",)
    assert r.totals.params == 2 * (16 + 4) + (8 + 2)
    assert [x.name for x in r.layers if not x.called] == ["unused"]


def test_rolling_rows_up_by_depth_keeps_the_verdict_on_every_leaf_layer():
    leaf = cnnstat.analyze("resnet18")
    rolled = cnnstat.analyze("resnet18", depth=1)
    # the depth-1 rows alone carry checks only for the leaves at depth 1 (stem and head);
    # the verdict must still cover the convs inside layer1..layer4
    assert (rolled.checked_layers, rolled.agreeing_layers) == (
        leaf.checked_layers,
        leaf.agreeing_layers,
    )
    rows_checked = sum(1 for r in rolled.layers if r.check.status != "n/a")
    assert rows_checked < leaf.checked_layers


def test_check_statuses_are_an_enum_that_prints_as_before():
    from cnnstat.records import Check, CheckStatus

    assert Check().status is CheckStatus.not_applicable and str(Check().status) == "n/a"
    mismatch = Check("mismatch", ("macs",))
    assert mismatch.status is CheckStatus.mismatch and mismatch.symbol == "✗"
    assert f"{Check('ok').status}" == "ok" and Check("ok").symbol == "✓"
