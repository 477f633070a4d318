from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnstat


class Residual(nn.Module):
    """conv -> functional relu -> residual add -> cat: all functional ops must be seen."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv(x))
        y = y + x
        return torch.cat([y, x], dim=1)


def test_functional_ops_are_counted_and_attributed():
    r = cnnstat.analyze(Residual(), input_size=(4, 8, 8))
    conv_macs = 8 * 8 * 4 * 4 * 3 * 3  # H*W * C_out * C_in * k*k = 9,216
    assert r.totals.macs == conv_macs
    # relu (256 elements) + add (256) : elementwise ops cost 1 FLOP per output element
    assert r.totals.flops == 2 * conv_macs + 256 + 256
    own = [layer for layer in r.layers if layer.own_ops_only]
    assert len(own) == 1 and own[0].flops == 512
    # conv output, relu output, add output and cat output: 4 + 4 + 4 + 8 channels of 8x8 fp32
    assert r.totals.activation_bytes == (4 + 4 + 4 + 8) * 64 * 4
    assert r.unsupported_ops == {}


class InPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.relu = nn.ReLU(inplace=True)
        self.flat = nn.Flatten()
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.flat(self.relu(self.conv(x))))


def test_inplace_and_views_allocate_nothing():
    r = cnnstat.analyze(InPlace(), input_size=(3, 4, 4))
    by_type = {layer.type: layer.activation_bytes for layer in r.layers}
    assert by_type["Conv2d"] == 8 * 16 * 4
    assert by_type["ReLU"] == 0
    assert by_type["Flatten"] == 0
    assert by_type["Dropout"] == 0
    assert r.totals.activation_bytes == 8 * 16 * 4


class Unsupported(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumprod(self.fc(x), dim=-1)


def test_unsupported_op_is_reported_not_zero():
    r = cnnstat.analyze(Unsupported(), input_size=(4,), device="cpu")
    assert r.unsupported_ops == {"cumprod": 1}
    assert r.layers[-1].unsupported_ops == ("cumprod",)


def test_saved_for_backward_counts_each_storage_once():
    model = nn.Sequential(nn.Linear(10, 20, bias=False), nn.Linear(20, 30, bias=False))
    r = cnnstat.analyze(model, input_size=(10,), batch_size=4)
    # fc1 saves its input (4x10), fc2 saves its input (4x20); weights are parameters, excluded
    assert r.totals.saved_for_backward_bytes == (4 * 10 + 4 * 20) * 4


def test_meta_and_real_runs_agree():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    meta = cnnstat.analyze(model, input_size=(3, 16, 16), device="meta")
    real = cnnstat.analyze(nn.Sequential(*[m for m in model]), input_size=(3, 16, 16), device="cpu")
    assert meta.device_mode == "meta" and real.device_mode == "cpu"
    # every total, saved-for-backward bytes included: eval BatchNorm's statistics
    # outputs are empty on meta as on CPU
    assert meta.totals == real.totals
    assert [r.output_shape for r in meta.layers] == [r.output_shape for r in real.layers]


def test_hooks_removed_and_training_mode_restored_after_failure():
    class Boom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    model = Boom().train()
    with pytest.raises(cnnstat.CnnstatError, match="boom"):
        cnnstat.analyze(model, input_size=(3,), device="cpu")
    assert model.training
    assert not nn.modules.module._global_forward_hooks
    assert not nn.modules.module._global_forward_pre_hooks


def test_a_failed_pass_carries_its_counter_pointing_at_the_failing_module():
    from cnnstat.counter import run_counted

    class Boom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    model = nn.Sequential(nn.Linear(3, 3), Boom())
    tensors = {n: p.detach().clone() for n, p in model.named_parameters()}
    with pytest.raises(RuntimeError, match="boom") as failure:
        run_counted(model, (torch.zeros(1, 3),), tensors)
    counter = failure.value.cnnstat_counter
    assert [counter.calls[i].name for i in counter.stack] == ["", "1"]
    assert counter.calls[1].macs == 3 * 3  # the Linear ran before the failure: 1x3 @ 3x3
    assert not nn.modules.module._global_forward_hooks
