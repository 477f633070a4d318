"""Random small networks: cnnstat against the real forward pass and the closed forms."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cnnstat
from cnnstat import formulas as f


class Residual(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.inner(x)


@st.composite
def networks(draw):
    """A conv/pool/bn/residual stack on a small input, then a linear head."""
    channels = draw(st.sampled_from([2, 4, 6]))
    size = draw(st.integers(12, 24))
    layers: list[nn.Module] = []
    expected_macs = 0
    c, n = channels, size
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "tconv", "pool", "bn", "residual"]))
        if kind == "conv":
            groups = draw(st.sampled_from([g for g in (1, 2) if c % g == 0]))
            c_out = groups * draw(st.integers(1, 3))
            k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
            p, d = draw(st.integers(0, 1)), draw(st.integers(1, 2))
            out = f.conv_output_length(n, k, s, p, d)
            if out < 2:
                continue
            layers.append(nn.Conv2d(c, c_out, k, s, p, d, groups))
            expected_macs += f.conv_macs(1, c, c_out, (out, out), (k, k), groups)
            c, n = c_out, out
        elif kind == "tconv":
            k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
            out = f.conv_transpose_output_length(n, k, s)
            if out > 40:
                continue
            layers.append(nn.ConvTranspose2d(c, c, k, s))
            expected_macs += f.conv_transpose_macs(1, c, c, (n, n), (k, k))
            n = out
        elif kind == "pool":
            k = draw(st.integers(2, 3))
            out = f.pool_output_length(n, k, k)
            if out < 2:
                continue
            layers.append(draw(st.sampled_from([nn.MaxPool2d, nn.AvgPool2d]))(k))
            n = out
        elif kind == "bn":
            layers.append(nn.BatchNorm2d(c))
        else:
            layers.append(Residual(nn.Conv2d(c, c, 3, padding=1, bias=False)))
            expected_macs += f.conv_macs(1, c, c, (n, n), (3, 3))
    layers += [nn.Flatten(), nn.Linear(c * n * n, 5)]
    expected_macs += f.linear_macs(1, c * n * n, 5)
    return nn.Sequential(*layers), (channels, size, size), expected_macs


@settings(max_examples=25, deadline=None)
@given(networks())
def test_random_networks(case):
    model, size, expected_macs = case
    meta = cnnstat.analyze(model, input_size=size)
    real = cnnstat.analyze(model, input_size=size, device="cpu")
    # shapes match the real forward pass, layer by layer
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(module: nn.Module, args: object, out: torch.Tensor) -> None:
            shapes.setdefault(name, tuple(out.shape))

        return hook

    hooks = [m.register_forward_hook(record(name)) for name, m in model.named_modules() if name]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *size))
    for h in hooks:
        h.remove()
    for layer in meta.layers:
        if layer.called and not layer.own_ops_only:
            assert layer.output_shape == shapes[layer.name], layer.name
    assert meta.totals.params == sum(p.numel() for p in model.parameters())
    assert meta.totals.macs == expected_macs
    assert meta.agreeing_layers == meta.checked_layers
    assert meta.totals == real.totals
