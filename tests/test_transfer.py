from __future__ import annotations

import pytest
from torch import nn

import cnnstat
from cnnstat.errors import InvalidInputError
from tests.expected import published_params


def test_vgg16_lecture_fine_tuning_example():
    # freeze everything but the last FC, re-initialised for 20 classes
    r = cnnstat.analyze("vgg16", num_classes=20, freeze="classifier.5")
    assert r.totals.trainable_params == 4096 * 20 + 20 == 81_940
    assert r.totals.params == published_params("vgg16") - (4096 * 1000 + 1000) + 81_940
    assert r.totals.frozen_params == r.totals.params - 81_940
    last = r.layers[-1]
    assert last.output_shape == (1, 20) and last.trainable_params == 81_940
    # only the last FC needs its input for the weight gradient: 4096 fp32 values
    assert r.totals.saved_for_backward_bytes == 4096 * 4
    assert r.totals.gradient_bytes == 81_940 * 4


def test_freeze_by_module_name():
    full = cnnstat.analyze("resnet18")
    r = cnnstat.analyze("resnet18", freeze="layer3")
    tail = sum(x.params for x in full.layers if x.name.startswith(("layer4", "fc")))
    assert r.totals.trainable_params == tail
    assert r.totals.saved_for_backward_bytes < full.totals.saved_for_backward_bytes


def test_freeze_ratio_freezes_whole_tensors_from_the_input_side():
    r = cnnstat.analyze("resnet18", freeze_ratio=0.8)
    assert r.totals.frozen_params >= 0.8 * r.totals.params
    assert r.layers[-1].trainable_params == r.layers[-1].params  # fc stays trainable


def test_num_classes_on_a_conv_head():
    r = cnnstat.analyze("squeezenet1_0", num_classes=20)
    published = published_params("squeezenet1_0")
    assert r.totals.params == published - (512 * 1000 + 1000) + (512 * 20 + 20)


def test_user_model_head_is_replaced_on_a_copy():
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 3))
    r = cnnstat.analyze(model, input_size=(8,), num_classes=5)
    assert r.totals.params == (8 * 4 + 4) + (4 * 5 + 5)
    assert model[2].out_features == 3
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(freeze="layer9"), "did you mean"),
        (dict(freeze_ratio=1.5), "freeze_ratio"),
        (dict(freeze="layer1", freeze_ratio=0.5), "not both"),
        (dict(num_classes=0), "positive"),
    ],
)
def test_bad_transfer_options(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        cnnstat.analyze("resnet18", **kwargs)


def test_frozen_weights_are_not_gradients():
    r = cnnstat.analyze("resnet18", freeze="layer4")
    fc = (512 + 1) * 1000  # only the head after layer4 still trains
    assert r.totals.gradient_bytes == fc * 4  # fp32: 4 bytes per gradient element
