"""Receptive field and effective stride ("jump") through a sliding-window layer.

With r the receptive field and j the distance in input pixels between
neighbouring positions of the incoming feature map, a layer with kernel k,
stride s and dilation d gives, per axis:

    r_out = r_in + d·(k − 1)·j_in
    j_out = j_in · s

Three stacked 3×3 stride-1 convs: 1 → 3 → 5 → 7, as in the VGG lecture.
"""

from __future__ import annotations


def receptive_field_after(
    rf: tuple[int, ...],
    jump: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Receptive field and jump after one sliding-window layer, per axis."""
    new_rf = tuple(
        r + d * (k - 1) * j for r, j, k, d in zip(rf, jump, kernel, dilation, strict=True)
    )
    new_jump = tuple(j * s for j, s in zip(jump, stride, strict=True))
    return new_rf, new_jump


def receptive_field_of_map(
    rf: tuple[int, ...], jump: tuple[int, ...], size: tuple[int, ...]
) -> tuple[int, ...]:
    """Receptive field of a whole feature map of ``size`` positions (what a flatten + linear sees)."""
    return tuple(r + (n - 1) * j for r, j, n in zip(rf, jump, size, strict=True))
