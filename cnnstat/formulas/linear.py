"""Fully connected layers: y = x W^T + b."""

from __future__ import annotations


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Learnable parameters of a linear layer."""
    return in_features * out_features + (out_features if bias else 0)


def linear_macs(rows: int, in_features: int, out_features: int) -> int:
    """Multiply-accumulates of a linear layer applied to ``rows`` input vectors."""
    return rows * in_features * out_features
