"""A custom model for cnnstat, as README's examples use it.

    cnnstat summary examples/my_models.py:TinyNet --input-size 1x32x32
    cnnstat check examples/my_models.py:TinyNet --input-size 1x32x32 --against formulas

``NAME`` after the colon is an ``nn.Module`` subclass, or a function returning a module,
built with no arguments. A model has no default input size, so pass --input-size (C×H×W).
"""

import torch
from torch import nn


class TinyNet(nn.Module):
    """1×32×32 -> conv 3×3, 8 filters (8×30×30) -> ReLU -> 2×2 max-pool (8×15×15)
    -> global average pool -> linear 8 -> 10."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, kernel_size=3)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


def tiny_net_for_20_classes() -> nn.Module:
    """A factory function works too: examples/my_models.py:tiny_net_for_20_classes."""
    return TinyNet(num_classes=20)
