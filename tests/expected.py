"""Expected figures that several tests share, each with its arithmetic or its source.

Nothing here is computed by cnnstat: closed-form arithmetic is written out, published figures
are read from torchvision's weights metadata (offline, no download) when a test asks.
"""

from __future__ import annotations

from cnnstat.facts import VGG16_LECTURE

# The lectures' LeNet-5 on 1x32x32: conv 5x5 to 6, conv 5x5 to 16, then 400 -> 120 -> 84 -> 10
LENET5_PARAMS = (
    (5 * 5 * 1 + 1) * 6  # conv1: 156
    + (5 * 5 * 6 + 1) * 16  # conv2: 2,416
    + (16 * 5 * 5 + 1) * 120  # fc1: 48,120
    + (120 + 1) * 84  # fc2: 10,164
    + (84 + 1) * 10  # fc3: 850
)  # 61,706

# Krizhevsky et al. 2012 on one device, 227x227x3: five convs and three FCs, with biases
ALEXNET_ORIGINAL_PARAMS = (
    (11 * 11 * 3 + 1) * 96  # conv1: 34,944
    + (5 * 5 * 96 + 1) * 256  # conv2: 614,656
    + (3 * 3 * 256 + 1) * 384  # conv3: 885,120
    + (3 * 3 * 384 + 1) * 384  # conv4: 1,327,488
    + (3 * 3 * 384 + 1) * 256  # conv5: 884,992
    + (6 * 6 * 256 + 1) * 4096  # fc6: 37,752,832
    + (4096 + 1) * 4096  # fc7: 16,781,312
    + (4096 + 1) * 1000  # fc8: 4,097,000
)  # 62,378,344: the lectures' "62M"


def _hw(shape: str) -> int:
    h, w, _ = map(int, shape.split("x"))
    return h * w


# VGG16's MACs from the lecture's table: each weight (biases aside) multiplies once per output
# position, so a layer's MACs are its output H*W times its weights; pools multiply nothing.
VGG16_MACS = sum(_hw(shape) * weights for _, shape, _, weights, _ in VGG16_LECTURE)
# 15,470,264,320, torchvision's "_ops" 15.47 GMACs


def published_params(name: str) -> int:
    """torchvision's published parameter count for a model (its DEFAULT weights' metadata)."""
    from torchvision.models import get_model_weights

    return int(get_model_weights(name).DEFAULT.meta["num_params"])


def published_top1(name: str) -> float:
    """torchvision's published ImageNet-1K top-1 accuracy in percent (DEFAULT weights)."""
    from torchvision.models import get_model_weights

    return float(get_model_weights(name).DEFAULT.meta["_metrics"]["ImageNet-1K"]["acc@1"])


def published_gmacs(name: str) -> float:
    """torchvision's published GMACs per image (the metadata's "_ops", rounded to 3 decimals)."""
    from torchvision.models import get_model_weights

    return float(get_model_weights(name).DEFAULT.meta["_ops"])

# LeNet-5 on a 1x32x32 input: conv1 5x5 1->6 (28x28), max-pool 2x2 (14x14), conv2 5x5 6->16
# (10x10), max-pool 2x2 (5x5), fc 400->120->84->10; ReLU after conv1 and conv2, tanh after fc1
# and fc2, each one FLOP per element (README: elementwise ops count one FLOP per output).
LENET5_CONV1_MACS = 28 * 28 * 6 * (5 * 5 * 1)  # 117,600
LENET5_MACS = (
    LENET5_CONV1_MACS
    + 10 * 10 * 16 * (5 * 5 * 6)  # conv2: 240,000
    + 400 * 120  # fc1: 48,000
    + 120 * 84  # fc2: 10,080
    + 84 * 10  # fc3: 840
)  # 416,520
_LENET5_BIAS_ADDS = 6 * 28 * 28 + 16 * 10 * 10 + 120 + 84 + 10  # 6,518: one per output
_LENET5_ACTIVATIONS = 6 * 28 * 28 + 16 * 10 * 10 + 120 + 84  # 6,508
_LENET5_POOL_OUTPUTS = 6 * 14 * 14 + 16 * 5 * 5  # 1,576
LENET5_FLOPS = (
    2 * LENET5_MACS
    + _LENET5_BIAS_ADDS
    + _LENET5_ACTIVATIONS  # one FLOP per activated element
    + 4 * _LENET5_POOL_OUTPUTS  # a 2x2 window read per output
)  # 852,370
# Backward of sum(output): every conv/linear computes its weight gradient (its forward MACs)
# and its input gradient (the same again), except conv1, whose input needs no gradient;
# then one add per bias-gradient element, one per activation-gradient element and one per pooled output.
LENET5_BACKWARD_MACS = 2 * LENET5_MACS - LENET5_CONV1_MACS  # 715,440
LENET5_BACKWARD_FLOPS = (
    2 * LENET5_BACKWARD_MACS + _LENET5_BIAS_ADDS + _LENET5_ACTIVATIONS + _LENET5_POOL_OUTPUTS
)  # 1,445,482
