"""Classic networks from the lectures that torchvision does not ship.

Each builder takes no arguments and returns an ``nn.Module``; ``cnnstat.zoo``
lists them with their paper, year, input size and salient feature.
"""

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


# --- LeNet-5, 1998 ------------------------------------------------------------------


class ScaledTanh(nn.Module):
    """LeCun's squashing function f(a) = 1.7159 tanh(2a/3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsampling(nn.Module):
    """S2/S4: 2x2 average, times a trainable coefficient, plus a trainable bias, per map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(2)
        # a 1x1 depthwise conv is exactly one coefficient and one bias per map
        self.scale = nn.Conv2d(channels, channels, 1, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(self.pool(x))


# Table I of LeCun et al. 1998: which S2 maps each C3 map reads.
C3_CONNECTIONS = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip


class SparseC3(nn.Module):
    """C3: sixteen 5x5 maps, each connected to a subset of S2's six maps (1,516 params)."""

    def __init__(self) -> None:
        super().__init__()
        self.maps = nn.ModuleList(nn.Conv2d(len(c), 1, 5) for c in C3_CONNECTIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [conv(x[:, list(c)]) for conv, c in zip(self.maps, C3_CONNECTIONS, strict=True)], 1
        )


class EuclideanRBF(nn.Module):
    """The output layer: y_i = sum_j (x_j - w_ij)^2, one unit per class."""

    def __init__(self, in_features: int, classes: int) -> None:
        super().__init__()
        self.centres = nn.Parameter(torch.empty(classes, in_features))
        nn.init.uniform_(self.centres, -1.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.unsqueeze(1) - self.centres) ** 2).sum(-1)


class LeNet5Original(nn.Module):
    """LeNet-5 as in LeCun et al. 1998: trainable subsampling, sparse C3, scaled tanh, RBF output."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.act1 = ScaledTanh()
        self.s2 = Subsampling(6)
        self.act2 = ScaledTanh()
        self.c3 = SparseC3()
        self.act3 = ScaledTanh()
        self.s4 = Subsampling(16)
        self.act4 = ScaledTanh()
        self.c5 = nn.Conv2d(16, 120, 5)
        self.act5 = ScaledTanh()
        self.f6 = nn.Linear(120, 84)
        self.act6 = ScaledTanh()
        self.output = EuclideanRBF(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.s2(self.act1(self.c1(x))))
        x = self.act4(self.s4(self.act3(self.c3(x))))
        x = self.act5(self.c5(x)).flatten(1)
        return self.output(self.act6(self.f6(x)))


def lenet5_original() -> nn.Module:
    """LeNet-5 of 1998: 60,840 parameters."""
    return LeNet5Original()


# --- AlexNet as in the paper and the lectures ------------------------------------------


class AlexNetOriginal(nn.Module):
    """AlexNet at 227x227 with LRN; ``groups=2`` splits CONV2, CONV4, CONV5 across two GPUs as in the paper."""

    def __init__(self, groups: int = 1, num_classes: int = 1000) -> None:
        super().__init__()
        lrn = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)
        self.features = nn.Sequential()
        layers: list[tuple[str, nn.Module]] = [
            ("conv1", nn.Conv2d(3, 96, 11, stride=4)),
            ("relu1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(3, 2)),
            ("norm1", nn.LocalResponseNorm(**lrn)),  # type: ignore[arg-type]
            ("conv2", nn.Conv2d(96, 256, 5, padding=2, groups=groups)),
            ("relu2", nn.ReLU(inplace=True)),
            ("pool2", nn.MaxPool2d(3, 2)),
            ("norm2", nn.LocalResponseNorm(**lrn)),  # type: ignore[arg-type]
            ("conv3", nn.Conv2d(256, 384, 3, padding=1)),
            ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(384, 384, 3, padding=1, groups=groups)),
            ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(384, 256, 3, padding=1, groups=groups)),
            ("relu5", nn.ReLU(inplace=True)),
            ("pool3", nn.MaxPool2d(3, 2)),
        ]
        for name, layer in layers:
            self.features.add_module(name, layer)
        self.classifier = nn.Sequential()
        for name, layer in [
            ("drop6", nn.Dropout()),
            ("fc6", nn.Linear(6 * 6 * 256, 4096)),
            ("relu6", nn.ReLU(inplace=True)),
            ("drop7", nn.Dropout()),
            ("fc7", nn.Linear(4096, 4096)),
            ("relu7", nn.ReLU(inplace=True)),
            ("fc8", nn.Linear(4096, num_classes)),
        ]:
            self.classifier.add_module(name, layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def alexnet_original() -> nn.Module:
    """The lectures' AlexNet on one device: 62,378,344 params (the '62M')."""
    return AlexNetOriginal(groups=1)


def alexnet_original_2gpu() -> nn.Module:
    """The paper's two-GPU AlexNet, CONV2/4/5 grouped: 60,965,224 params (the '60M')."""
    return AlexNetOriginal(groups=2)


# --- ZFNet -------------------------------------------------------------------------------


def zfnet() -> nn.Module:
    """ZFNet (Zeiler & Fergus 2013), the lectures' variant: CONV1 7x7/2, CONV3-5 with 512, 1024, 512."""
    lrn = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)
    return nn.Sequential(
        nn.Conv2d(3, 96, 7, stride=2, padding=1),  # 110x110
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, padding=1),  # 55x55
        nn.LocalResponseNorm(**lrn),  # type: ignore[arg-type]
        nn.Conv2d(96, 256, 5, stride=2),  # 26x26
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, padding=1),  # 13x13
        nn.LocalResponseNorm(**lrn),  # type: ignore[arg-type]
        nn.Conv2d(256, 512, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(512, 1024, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(1024, 512, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),  # 6x6
        nn.Flatten(),
        nn.Dropout(),
        nn.Linear(6 * 6 * 512, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, 1000),
    )


# --- Network in Network ---------------------------------------------------------------


def _mlpconv(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 1),
        nn.ReLU(inplace=True),
    )


def nin() -> nn.Module:
    """Network in Network (Lin et al. 2014), ImageNet model: mlpconv blocks, global average pooling."""
    return nn.Sequential(
        _mlpconv(3, 96, 11, 4, 0),  # 54x54
        nn.MaxPool2d(3, 2),  # 26x26
        _mlpconv(96, 256, 5, 1, 2),
        nn.MaxPool2d(3, 2),  # 12x12
        _mlpconv(256, 384, 3, 1, 1),
        nn.MaxPool2d(3, 2),  # 5x5
        nn.Dropout(),
        nn.Sequential(
            nn.Conv2d(384, 1024, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(1024, 1024, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(1024, 1000, 1),  # one map per class
            nn.ReLU(inplace=True),
        ),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


# --- Inception modules on 28x28x192 (GoogLeNet's 3a) -------------------------------------


class InceptionNaive(nn.Module):
    """1x1, 3x3 and 5x5 convs and a 3x3 max pool side by side, concatenated: no reductions."""

    def __init__(self, c_in: int = 192, c1: int = 64, c3: int = 128, c5: int = 32) -> None:
        super().__init__()
        self.branch1x1 = nn.Conv2d(c_in, c1, 1)
        self.branch3x3 = nn.Conv2d(c_in, c3, 3, padding=1)
        self.branch5x5 = nn.Conv2d(c_in, c5, 5, padding=2)
        self.branch_pool = nn.MaxPool2d(3, 1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1x1, self.branch3x3, self.branch5x5, self.branch_pool]
        return torch.cat([F.relu(b(x)) for b in branches], 1)


class InceptionReduced(nn.Module):
    """The same module with 1x1 bottlenecks before the 3x3 and 5x5 convs and after the pool."""

    def __init__(
        self, c_in: int = 192, c1: int = 64, r3: int = 96, c3: int = 128, r5: int = 16,
        c5: int = 32, pool_proj: int = 32,
    ) -> None:  # fmt: skip
        super().__init__()
        self.branch1x1 = nn.Sequential(nn.Conv2d(c_in, c1, 1), nn.ReLU(inplace=True))
        self.branch3x3 = nn.Sequential(
            nn.Conv2d(c_in, r3, 1), nn.ReLU(inplace=True), nn.Conv2d(r3, c3, 3, padding=1),
            nn.ReLU(inplace=True),
        )  # fmt: skip
        self.branch5x5 = nn.Sequential(
            nn.Conv2d(c_in, r5, 1), nn.ReLU(inplace=True), nn.Conv2d(r5, c5, 5, padding=2),
            nn.ReLU(inplace=True),
        )  # fmt: skip
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, 1, padding=1), nn.Conv2d(c_in, pool_proj, 1), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1x1, self.branch3x3, self.branch5x5, self.branch_pool]
        return torch.cat([b(x) for b in branches], 1)


def inception_naive_block() -> nn.Module:
    """A naive Inception module on 28x28x192 (filters of GoogLeNet's 3a)."""
    return InceptionNaive()


def inception_block() -> nn.Module:
    """GoogLeNet's Inception 3a module on 28x28x192, with 1x1 reductions."""
    return InceptionReduced()


# --- SE-ResNet-50 -------------------------------------------------------------------------


class SqueezeExcitation(nn.Module):
    """Hu et al. 2018: global average pool, FC C->C/r, ReLU, FC C/r->C, sigmoid, rescale."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(channels // reduction, channels)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.pool(x).flatten(1)
        w = self.sigmoid(self.fc2(self.relu(self.fc1(w))))
        return x * w[:, :, None, None]


def se_resnet50() -> nn.Module:
    """SE-ResNet-50: torchvision's ResNet-50 with an SE block (r = 16) on each bottleneck's residual branch."""
    from torchvision.models.resnet import Bottleneck, ResNet

    class SEBottleneck(Bottleneck):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.se = SqueezeExcitation(self.conv3.out_channels)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.se(self.bn3(self.conv3(out)))
            return self.relu(out + identity)

    return ResNet(SEBottleneck, [3, 4, 6, 3])


# --- MobileNet v1 ---------------------------------------------------------------------------


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class MobileNetV1(nn.Module):
    """Howard et al. 2017, width 1.0 at 224: a 3x3 conv, 13 depthwise-separable blocks, pool, FC."""

    # (output channels, stride) of each depthwise-separable block, Table 1 of the paper
    BLOCKS = (
        (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
    )  # fmt: skip

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers = [_conv_bn(3, 32, 3, 2)]
        c = 32
        for c_out, stride in self.BLOCKS:
            layers.append(
                nn.Sequential(_conv_bn(c, c, 3, stride, groups=c), _conv_bn(c, c_out, 1, 1))
            )
            c = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def mobilenet_v1() -> nn.Module:
    """MobileNet v1, 1.0 width, 224x224."""
    return MobileNetV1()
