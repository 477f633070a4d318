from __future__ import annotations

import builtins

import pytest

import cnnstat
from cnnstat import zoo
from cnnstat.errors import ModelLoadError, UnknownModelError
from tests.expected import published_params


def test_timm_model_without_weights():
    pytest.importorskip("timm")
    r = cnnstat.analyze("timm:resnet18")
    # timm's resnet18 is the same architecture as torchvision's
    assert r.totals.params == published_params("resnet18")
    assert r.totals.macs == cnnstat.analyze("resnet18").totals.macs
    assert zoo.resolve("timm:resnet18").default_input_size == (3, 224, 224)


def test_unknown_timm_model_suggests():
    pytest.importorskip("timm")
    with pytest.raises(UnknownModelError, match="timm:resnet18"):
        zoo.resolve("timm:resnet19")


def test_missing_timm_gives_install_hint(monkeypatch):
    real_import = builtins.__import__

    def no_timm(name, *args, **kwargs):
        if name == "timm" or name.startswith("timm."):
            raise ImportError("No module named 'timm'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_timm)
    with pytest.raises(ModelLoadError, match=r"pip install 'cnnstat\[timm\]'"):
        zoo.resolve("timm:resnet18")
