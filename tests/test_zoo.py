"""Every torchvision classification model against torchvision's published metadata."""

from __future__ import annotations

import pytest
import torchvision.models as tvm
from torchvision.models import get_model_weights

import cnnstat
from cnnstat import zoo
from tests.expected import published_params

TORCHVISION = sorted(tvm.list_models(module=tvm))


def test_zoo_table_is_torchvision_classification_list():
    assert sorted(zoo.TORCHVISION_CROP_SIZES) == TORCHVISION
    assert len(TORCHVISION) == 80


@pytest.mark.parametrize("name", TORCHVISION)
def test_default_input_is_published_crop_size(name):
    crop = get_model_weights(name).DEFAULT.transforms.keywords["crop_size"]
    assert zoo.resolve(name).default_input_size == (3, crop, crop)


@pytest.mark.parametrize("name", TORCHVISION)
def test_params_and_macs_match_published_metadata(name):
    meta = get_model_weights(name).DEFAULT.meta
    r = cnnstat.analyze(name)
    assert r.device_mode == "meta"
    assert r.totals.params == meta["num_params"]
    # _ops is GMACs rounded to 3 decimals: allow 0.5% or the rounding, whichever is larger
    gmacs = r.totals.macs / 1e9
    assert abs(gmacs - meta["_ops"]) <= max(0.005 * meta["_ops"], 0.0005)
    assert r.agreeing_layers == r.checked_layers
    assert r.unsupported_ops == {}


def test_googlenet_has_no_aux_heads():
    r = cnnstat.analyze("googlenet")
    assert r.totals.params == published_params("googlenet")
    assert not any(layer.name.startswith("aux") for layer in r.layers)


def test_inception_v3_keeps_aux_logits_uncalled_in_eval():
    r = cnnstat.analyze("inception_v3")
    assert r.totals.params == published_params("inception_v3")  # aux head included
    assert r.input_shape == (1, 3, 299, 299)
    assert r.uncalled_modules == ("AuxLogits",)
    aux = [layer for layer in r.layers if layer.name.startswith("AuxLogits")]
    assert aux and all(not layer.called for layer in aux)


def test_vit_h_14_is_built_for_518():
    r = cnnstat.analyze("vit_h_14")
    # 518/14 = 37 patches a side: 37*37 + 1 class token = 1370 tokens
    assert r.layers[0].output_shape == (1, 1280, 37, 37)


def test_unknown_name_suggests_close_ones():
    assert zoo.suggest("resnet150")[:2] == ["resnet50", "resnet152"]
    with pytest.raises(cnnstat.CnnstatError, match="did you mean"):
        zoo.resolve("vgg17")
