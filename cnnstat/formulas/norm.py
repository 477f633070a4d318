"""Normalisation layers: BatchNorm, LayerNorm, GroupNorm, InstanceNorm."""

from __future__ import annotations


def norm_params(normalized_elements: int, affine: bool = True) -> int:
    """Learnable parameters of a normalisation layer: a scale and a shift per normalised element.

    ``normalized_elements`` is C for BatchNorm, GroupNorm and InstanceNorm, and
    prod(normalized_shape) for LayerNorm.
    """
    return 2 * normalized_elements if affine else 0
