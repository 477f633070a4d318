"""Convolution: output size, parameter count and multiply-accumulates.

The lectures' formulas, generalised to N spatial dimensions:

    L_out  = floor((L_in + 2p - d(k - 1) - 1) / s) + 1
    params = (k_1 * ... * k_n * C_in / groups + 1) * C_out      (the +1 is the bias)
    MACs   = N * C_out * prod(L_out) * (C_in / groups) * prod(k)
"""

from __future__ import annotations

from math import prod


def conv_output_length(
    length: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output length of a convolution along one axis; may be <= 0 when the input is too small."""
    return (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_output_shape(
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[int, ...]:
    """Spatial output shape of a convolution, one axis at a time."""
    return tuple(
        conv_output_length(n, k, s, p, d)
        for n, k, s, p, d in zip(spatial, kernel, stride, padding, dilation, strict=True)
    )


def conv_transpose_output_length(
    length: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    output_padding: int = 0,
) -> int:
    """Output length of a transposed convolution along one axis."""
    return (length - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_transpose_output_shape(
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    output_padding: tuple[int, ...],
) -> tuple[int, ...]:
    """Spatial output shape of a transposed convolution."""
    return tuple(
        conv_transpose_output_length(n, k, s, p, d, op)
        for n, k, s, p, d, op in zip(
            spatial, kernel, stride, padding, dilation, output_padding, strict=True
        )
    )


def conv_params(
    in_channels: int, out_channels: int, kernel: tuple[int, ...], groups: int = 1, bias: bool = True
) -> int:
    """Learnable parameters of a (transposed) convolution: weights plus optional bias."""
    weights = prod(kernel) * (in_channels // groups) * out_channels
    return weights + (out_channels if bias else 0)


def conv_macs(
    batch: int,
    in_channels: int,
    out_channels: int,
    out_spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    groups: int = 1,
) -> int:
    """Multiply-accumulates of a convolution: each output element sums k * C_in/groups products."""
    return batch * out_channels * prod(out_spatial) * (in_channels // groups) * prod(kernel)


def conv_transpose_macs(
    batch: int,
    in_channels: int,
    out_channels: int,
    in_spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    groups: int = 1,
) -> int:
    """Multiply-accumulates of a transposed convolution: each input element scatters into k * C_out/groups outputs."""
    return batch * in_channels * prod(in_spatial) * (out_channels // groups) * prod(kernel)
