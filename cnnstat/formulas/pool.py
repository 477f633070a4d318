"""Pooling: output size. Pooling has no parameters and no multiply-accumulates."""

from __future__ import annotations

from cnnstat.formulas.conv import conv_output_length


def pool_output_length(
    length: int,
    kernel: int,
    stride: int,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output length of a max/avg pool along one axis, with PyTorch's ceil_mode rule."""
    if not ceil_mode:
        return conv_output_length(length, kernel, stride, padding, dilation)
    span = length + 2 * padding - dilation * (kernel - 1) - 1
    out = -(-span // stride) + 1  # ceil division
    # PyTorch drops a last window that would start inside the right padding.
    if (out - 1) * stride >= length + padding:
        out -= 1
    return out


def pool_output_shape(
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    ceil_mode: bool = False,
) -> tuple[int, ...]:
    """Spatial output shape of a max/avg pool."""
    return tuple(
        pool_output_length(n, k, s, p, d, ceil_mode)
        for n, k, s, p, d in zip(spatial, kernel, stride, padding, dilation, strict=True)
    )


def adaptive_pool_output_shape(
    spatial: tuple[int, ...], output_size: tuple[int | None, ...]
) -> tuple[int, ...]:
    """Spatial output shape of an adaptive pool; ``None`` keeps the input's size on that axis."""
    return tuple(n if o is None else o for n, o in zip(spatial, output_size, strict=True))
