"""Cost accumulation: MACs and FLOPs per module call, by the rules of :mod:`cnnstat.ops`.

Every op with a rule adds its cost to the call running it, and its MACs to
that call's per-op breakdown; convolutions also record their own arguments
(:class:`ConvOp`). An op with no rule is counted as unsupported by name, never
as zero. The backward pass, when counted, has no module attribution: its
costs add up to totals only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from cnnstat import ops
from cnnstat.trackers.modules import Call


@dataclass(frozen=True)
class ConvOp:
    """One aten convolution's own arguments: what really ran, whatever the module's attributes say."""

    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    transposed: bool
    output_padding: tuple[int, ...]
    groups: int
    has_bias: bool


def conv_op(args: Any) -> ConvOp:
    """The :class:`ConvOp` of ``aten.convolution``'s (or ``_convolution``'s) arguments."""

    # convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    def ints(v: Any) -> tuple[int, ...]:
        return tuple(int(i) for i in v)

    return ConvOp(
        input_shape=ints(args[0].shape),
        weight_shape=ints(args[1].shape),
        stride=ints(args[3]),
        padding=ints(args[4]),
        dilation=ints(args[5]),
        transposed=bool(args[6]),
        output_padding=ints(args[7]),
        groups=int(args[8]),
        has_bias=args[2] is not None,
    )


class CostTracker:
    """MACs, FLOPs and unsupported ops of the forward pass per call, and of the backward in total."""

    def __init__(self) -> None:
        self.unsupported: Counter[str] = Counter()
        self.backward_macs = 0
        self.backward_flops = 0
        self.backward_unsupported: Counter[str] = Counter()

    def on_op(self, func: Any, args: Any, kwargs: Any, out: Any, call: Call | None) -> None:
        """Charge a forward op to ``call``; an op outside every module counts only if unsupported."""
        rule = ops.lookup(func)
        if rule is None:
            name = str(func.overloadpacket.__name__)
            self.unsupported[name] += 1
            if call is not None:
                call.unsupported[name] += 1
        elif call is not None:
            if ops.kind_of(func) is ops.OpKind.conv:
                call.conv_ops.append(conv_op(args))
            cost = rule(args, kwargs, out)
            call.macs += cost.macs
            call.flops += cost.flops
            if cost.macs:
                call.op_macs[func.overloadpacket.__name__] += cost.macs

    def on_backward_op(self, func: Any, args: Any, kwargs: Any, out: Any) -> None:
        """Add a backward op's cost to the backward totals."""
        rule = ops.lookup(func)
        if rule is None:
            self.backward_unsupported[str(func.overloadpacket.__name__)] += 1
            return
        cost = rule(args, kwargs, out)
        self.backward_macs += cost.macs
        self.backward_flops += cost.flops
