"""Predicted CPU peaks against torch.profiler's memory events of a real run."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnstat.memory import memory
from cnnstat.memory.simulate import _loss


def profiled_peak_bytes(model: nn.Module, shape: tuple[int, ...], phase: str) -> int:
    """Peak of the running sum of the profiler's [memory] events: bytes above the start."""
    x = torch.randn(shape)
    model.train(phase != "inference")
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
    ) as prof:
        if phase == "inference":
            with torch.inference_mode():
                out = model(x)
            del out
        else:
            loss = _loss(model(x))
            loss.backward()
            del loss
    for p in model.parameters():
        p.grad = None
    events = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]"
    )
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


class ResidualMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 64)
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.fc1(x))
        y = self.fc2(y) + x
        return self.head(torch.cat([y, torch.tanh(x)], dim=1))


MODELS = {
    "mlp": lambda: nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)),
    "residual_mlp": ResidualMLP,
    "gelu": lambda: nn.Sequential(nn.Linear(64, 96), nn.GELU(), nn.Linear(96, 8)),
}


@pytest.mark.parametrize("phase", ["inference", "train_step"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_cpu_peak_matches_the_profiler(name: str, phase: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]()
    shape = (16, 64)
    static = (
        sum(p.numel() * 4 for p in model.parameters())
        + sum(b.numel() * b.element_size() for b in model.buffers())
        + math.prod(shape) * 4
    )
    measured = profiled_peak_bytes(model, shape, phase)
    predicted = memory(model, input_size=(64,), batch_size=16, device="cpu", phases=(phase,))
    assert predicted.peak(phase) - static == measured
