from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstat.cli import main
from cnnstat.crosscheck import Source, cross_check
from tests.expected import published_params

FIXTURES = Path(__file__).parent / "fixtures" / "custom_models.py"


def test_resnet18_explains_fvcore_batchnorm():
    result = cross_check("resnet18")
    assert result.passed
    by_source = {t.source: t for t in result.totals}
    published = published_params("resnet18")  # read here from torchvision's metadata
    assert by_source["published"].params == by_source["cnnstat"].params == published
    # fvcore counts an affine eval BatchNorm as 2 "flops" per element: bn1 is 64x112x112
    bn1 = next(d for d in result.disagreements if d.name == "bn1")
    assert bn1.fvcore_macs == 2 * 64 * 112 * 112 and bn1.cnnstat_macs == 0
    assert "normalisation" in bn1.reasons[0]
    assert any("aten::add_" in n for n in result.notes)  # fvcore skips the residual adds


def test_vit_attention_products_are_what_fvcore_misses():
    result = cross_check("vit_b_16", sources=(Source.fvcore,))
    attn = next(
        d for d in result.disagreements if d.name.endswith("encoder_layer_0.self_attention")
    )
    # QKᵀ and AV: 2 * 197 * 197 * 768 multiply-adds fvcore does not see
    assert attn.cnnstat_macs - attn.fvcore_macs == 2 * 197 * 197 * 768
    assert "scaled_dot_product_attention" in attn.reasons[0]


def test_untraceable_model_is_reported_and_other_checks_run():
    result = cross_check(f"{FIXTURES}:Untraceable", input_size=(3, 8, 8))
    assert any(n.startswith("fvcore could not trace this model") for n in result.notes)
    assert not any(t.source == "fvcore" and t.macs is not None for t in result.totals)
    by_source = {t.source: t for t in result.totals}
    # 4 filters of 3x3x3 over a 6x6 output: 4 * 6 * 6 * 27 = 3,888 multiply-adds
    assert by_source["cnnstat"].macs == 4 * 6 * 6 * 27


def test_check_cli_exit_status_and_json(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", "lenet5", "--against", "formulas", "-f", "json"])
    assert exc.value.code == 0
    d = json.loads(capsys.readouterr().out)
    assert d["passed"] is True and d["sources"] == ["formulas"]


def test_check_cli_unknown_source(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", "lenet5", "--against", "magic"])
    assert exc.value.code == 2
    assert "unknown source" in capsys.readouterr().err
