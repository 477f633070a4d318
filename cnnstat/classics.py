"""Classic networks from the lectures that torchvision does not ship."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LeNet5(nn.Module):
    """LeNet-5 as written in the lectures: 1x32x32 input, 61,706 params.

    conv(1->6, 5x5) -> ReLU -> maxpool 2 -> conv(6->16, 5x5) -> ReLU -> maxpool 2
    -> FC 400->120 -> tanh -> FC 120->84 -> tanh -> FC 84->10.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(5 * 5 * 16, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool1(F.relu(self.conv2(x)))
        x = x.view(-1, 5 * 5 * 16)
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)


def lenet5() -> nn.Module:
    """The lectures' LeNet-5."""
    return LeNet5()
