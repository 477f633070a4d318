"""Multi-head attention (``nn.MultiheadAttention``): parameters and multiply-accumulates.

For embed dim E, key/value dims k_d and v_d, query length L, key length S, batch N:

    params = E*E + E*k_d + E*v_d  (in projections)  + 3E  (their biases)
           + E*E + E               (out projection)
    MACs   = N * (L*E*E + S*E*k_d + S*E*v_d)   in projections
           + N * L*S*E                        Q K^T, summed over heads
           + N * L*S*E                        softmax(.) V
           + N * L*E*E                        out projection
"""

from __future__ import annotations


def mha_params(
    embed_dim: int,
    kdim: int | None = None,
    vdim: int | None = None,
    bias: bool = True,
    add_bias_kv: bool = False,
) -> int:
    """Learnable parameters of nn.MultiheadAttention."""
    e = embed_dim
    kd = e if kdim is None else kdim
    vd = e if vdim is None else vdim
    in_proj = e * e + e * kd + e * vd + (3 * e if bias else 0)
    out_proj = e * e + (e if bias else 0)
    bias_kv = 2 * e if add_bias_kv else 0
    return in_proj + out_proj + bias_kv


def mha_macs(
    batch: int,
    query_len: int,
    key_len: int,
    embed_dim: int,
    kdim: int | None = None,
    vdim: int | None = None,
) -> int:
    """Multiply-accumulates of one nn.MultiheadAttention call."""
    e = embed_dim
    kd = e if kdim is None else kdim
    vd = e if vdim is None else vdim
    projections = query_len * e * e + key_len * e * kd + key_len * e * vd
    attention = 2 * query_len * key_len * e
    out = query_len * e * e
    return batch * (projections + attention + out)
