"""Depthwise-separable convolution (MobileNet, Xception): a k×k depthwise conv then a 1×1 pointwise conv.

The lectures' parameter formula, for an h×w kernel, C input and C' output channels:

    params = (h·w + 1)·C + C·C'       (depthwise weights and biases, pointwise weights)

against (h·w·C + 1)·C' for a standard convolution.
"""

from __future__ import annotations

from math import prod

from cnnstat.formulas.conv import conv_macs


def depthwise_separable_params(
    in_channels: int,
    out_channels: int,
    kernel: tuple[int, ...],
    depthwise_bias: bool = True,
    pointwise_bias: bool = False,
) -> int:
    """Parameters of a depthwise conv followed by a pointwise conv; defaults follow the lecture."""
    depthwise = (prod(kernel) + (1 if depthwise_bias else 0)) * in_channels
    pointwise = in_channels * out_channels + (out_channels if pointwise_bias else 0)
    return depthwise + pointwise


def depthwise_separable_macs(
    batch: int,
    in_channels: int,
    out_channels: int,
    out_spatial: tuple[int, ...],
    kernel: tuple[int, ...],
) -> int:
    """MACs of the depthwise conv (stride applied there) plus the pointwise conv on its output."""
    depthwise = conv_macs(batch, in_channels, in_channels, out_spatial, kernel, groups=in_channels)
    pointwise = conv_macs(batch, in_channels, out_channels, out_spatial, (1,) * len(kernel))
    return depthwise + pointwise
