"""Small models for the profile tests: one layer made deliberately dominant."""

from __future__ import annotations

import torch
from torch import nn


class Dominant(nn.Module):
    """A 1024x1024 matmul between two small ones: 2*B*1024*1024 FLOPs against 2*B*16*1024."""

    def __init__(self) -> None:
        super().__init__()
        self.small_in = nn.Linear(16, 1024)
        self.act = nn.ReLU()
        self.big = nn.Linear(1024, 1024)
        self.head = nn.Sequential(nn.Linear(1024, 16), nn.ReLU(), nn.Linear(16, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.big(self.act(self.small_in(x)))))


class TinyConv(nn.Module):
    """Two stages of conv, norm, activation, with a residual add in the container."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = Residual(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.block(self.stem(x))), 1))


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn(self.dw(x))


class InterruptAfter(nn.Module):
    """Raises KeyboardInterrupt on its ``n``-th forward, as Ctrl-C would."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.calls = 0
        self.fc = nn.Linear(64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.fc(x)


class OutOfMemoryAfter(InterruptAfter):
    """Raises the allocator's out-of-memory error on its ``n``-th forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.n:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.fc(x)
