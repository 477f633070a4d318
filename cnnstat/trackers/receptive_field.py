"""Receptive-field tracking along the op stream.

Every tensor the counted forward pass produces carries the receptive field
and effective stride of its spatial positions, per axis. Sliding-window ops
(convolution, pooling) grow it; ops that combine tensors (residual add,
concatenation) take the maximum over their inputs, so branching models
(Inception, ResNet, DenseNet) get the largest receptive field over all paths;
ops that mix every position (global pooling, attention, spatial means) make
it ``GLOBAL``; a flatten of a spatial map covers the whole map. The op groups
come from the registry in :mod:`cnnstat.ops`.

Tensors are known by ``id()``; the tracker keeps them alive for the pass so
the ids stay unique.
"""

from __future__ import annotations

from typing import Any

import torch

from cnnstat import ops
from cnnstat.formulas import receptive_field_after, receptive_field_of_map
from cnnstat.trackers.modules import Call
from cnnstat.trackers.tensors import first_tensor, outputs, tensors_in

aten = torch.ops.aten
GLOBAL = "global"
Field = tuple[tuple[int, ...], tuple[int, ...]]  # (receptive field, jump) per axis
RF = Field | str  # or GLOBAL


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
    if ops.kind_of(packet) is ops.OpKind.conv and not args[6]:
        kernel = tuple(int(k) for k in args[1].shape[2:])
        return receptive_field_after(rf, jump, kernel, _seq(args[3], n), _seq(args[5], n))
    if packet in ops.MAX_POOL:
        kernel = _seq(args[1], n)
        stride = _seq(args[2], n) if len(args) > 2 and args[2] else kernel
        dilation = _seq(args[4], n) if len(args) > 4 else (1,) * n
        return receptive_field_after(rf, jump, kernel, stride, dilation)
    if packet in ops.AVG_POOL:
        kernel = _seq(args[1], n)
        stride = _seq(args[2], n) if len(args) > 2 and args[2] else kernel
        return receptive_field_after(rf, jump, kernel, stride, (1,) * n)
    if packet in ops.ADAPTIVE_POOL:
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
    if packet in ops.GLOBAL_MIXING:
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


class ReceptiveFieldTracker:
    """Carries each tensor's receptive field from the model's inputs through every op."""

    def __init__(self) -> None:
        # id(tensor) -> receptive field; the tensors are kept alive so ids stay unique
        self._rf: dict[int, RF] = {}
        self._alive: list[torch.Tensor] = []

    def mark_input(self, x: Any) -> None:
        """Every position of a spatial input (3 or more dimensions) sees only itself."""
        for t in x if isinstance(x, (tuple, list)) else (x,):
            if isinstance(t, torch.Tensor) and t.dim() >= 3:
                ones = (1,) * (t.dim() - 2)
                self._rf[id(t)] = (ones, ones)
                self._alive.append(t)

    def on_op(self, func: Any, args: Any, kwargs: Any, out: Any, call: Call | None) -> None:
        """Give the op's outputs the field :func:`propagate` derives from its inputs'."""
        infos = [self._rf[id(a)] for a in tensors_in(args) if id(a) in self._rf]
        if not infos:
            return
        try:
            info = propagate(func, args, out, infos)
        except Exception:  # an op with unusual arguments: the field stays unknown downstream
            return
        if info is None:
            return
        for t in outputs(out):
            self._rf[id(t)] = info
            self._alive.append(t)

    def on_module_exit(self, call: Call, output: Any) -> None:
        """A call's field is that of its module's first output tensor."""
        t = first_tensor(output)
        call.receptive_field = None if t is None else self._rf.get(id(t))

    def release(self) -> None:
        """Drop the tensors held for the pass."""
        self._alive.clear()
        self._rf.clear()
