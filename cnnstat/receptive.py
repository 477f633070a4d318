"""Receptive-field tracking along the dispatch trace.

Every tensor the counted forward pass produces carries the receptive field
and effective stride of its spatial positions, per axis. Sliding-window ops
(convolution, pooling) grow it; ops that combine tensors (residual add,
concatenation) take the maximum over their inputs, so branching models
(Inception, ResNet, DenseNet) get the largest receptive field over all paths;
ops that mix every position (global pooling, attention, spatial means) make
it ``GLOBAL``; a flatten of a spatial map covers the whole map.
"""

from __future__ import annotations

from typing import Any

import torch

from cnnstat import ops
from cnnstat.formulas import receptive_field_after, receptive_field_of_map

aten = torch.ops.aten
GLOBAL = "global"
Field = tuple[tuple[int, ...], tuple[int, ...]]  # (receptive field, jump) per axis
RF = Field | str  # or GLOBAL

_CONV = {aten.convolution, aten._convolution}
_MAX_POOL = set(ops.packets(*ops.MAX_POOL_OPS))
_AVG_POOL = set(ops.packets(*ops.AVG_POOL_OPS))
_ADAPTIVE = set(ops.packets(*ops.ADAPTIVE_POOL_OPS))
_GLOBAL_MIXING = {
    getattr(aten, n)
    for n in (
        "bmm",
        "baddbmm",
        "_softmax",
        "softmax",
        "_safe_softmax",
        "mean",
        "sum",
        "amax",
        "scaled_dot_product_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "var_mean",
        "var",
    )
    if hasattr(aten, n)
}


def _seq(value: Any, n: int) -> tuple[int, ...]:
    """Per-axis values for the last ``n`` axes (LRN pools a 5-d view with a 3-d kernel)."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    return value * n if len(value) == 1 else value[-n:]


def _combine(infos: list[RF]) -> RF | None:
    if not infos:
        return None
    fields = [i for i in infos if not isinstance(i, str)]
    if len(fields) < len(infos):
        return GLOBAL
    rf, jump = fields[0]
    for o_rf, o_jump in fields[1:]:
        if len(o_rf) == len(rf):
            rf = tuple(max(a, b) for a, b in zip(rf, o_rf, strict=True))
            jump = tuple(max(a, b) for a, b in zip(jump, o_jump, strict=True))
    return rf, jump


def propagate(func: Any, args: Any, out: Any, infos: list[RF]) -> RF | None:
    """The receptive field of ``out`` given those of the op's tensor inputs (``infos``)."""
    base = _combine(infos)
    if base is None or isinstance(base, str):
        return base
    rf, jump = base
    packet = func.overloadpacket
    x = args[0]
    n = len(rf)
    if packet in _CONV and not args[6]:
        kernel = tuple(int(k) for k in args[1].shape[2:])
        return receptive_field_after(rf, jump, kernel, _seq(args[3], n), _seq(args[5], n))
    if packet in _MAX_POOL:
        kernel = _seq(args[1], n)
        stride = _seq(args[2], n) if len(args) > 2 and args[2] else kernel
        dilation = _seq(args[4], n) if len(args) > 4 else (1,) * n
        return receptive_field_after(rf, jump, kernel, stride, dilation)
    if packet in _AVG_POOL:
        kernel = _seq(args[1], n)
        stride = _seq(args[2], n) if len(args) > 2 and args[2] else kernel
        return receptive_field_after(rf, jump, kernel, stride, (1,) * n)
    if packet in _ADAPTIVE:
        in_size = tuple(int(s) for s in x.shape[-n:])
        out_t = out[0] if isinstance(out, (tuple, list)) else out
        out_size = tuple(int(s) for s in out_t.shape[-n:])
        if out_size == in_size:
            return base
        if all(o == 1 for o in out_size):
            return GLOBAL
        kernel = tuple(-(-i // o) for i, o in zip(in_size, out_size, strict=True))
        stride = tuple(max(i // o, 1) for i, o in zip(in_size, out_size, strict=True))
        return receptive_field_after(rf, jump, kernel, stride, (1,) * n)
    if packet in _GLOBAL_MIXING:
        return GLOBAL
    out_t = out[0] if isinstance(out, (tuple, list)) and out else out
    if (
        isinstance(x, torch.Tensor)
        and isinstance(out_t, torch.Tensor)
        and x.dim() >= n + 2
        and out_t.dim() < 3
    ):
        # a spatial map flattened into features: what follows sees the whole map
        return receptive_field_of_map(rf, jump, tuple(int(s) for s in x.shape[-n:])), jump
    return base
