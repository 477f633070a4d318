"""Module attribution: the stack of module calls during a counted pass.

Global forward pre- and post-hooks push and pop one :class:`Call` per module
invocation; the op stream charges each op to the call on top of the stack.
The other trackers write their figures into that call; listeners in
``on_exit`` see each call and the module's output when the call returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from cnnstat.trackers.tensors import shape_of

if TYPE_CHECKING:
    from cnnstat.trackers.costs import ConvOp


@dataclass
class Call:
    """One invocation of one module during the counted forward pass."""

    index: int
    module: nn.Module
    name: str
    depth: int
    parent: int | None
    first_call: bool
    input_shape: tuple[int, ...] | None
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...] | None = None
    macs: int = 0
    flops: int = 0
    activation_bytes: int = 0
    saved_bytes: int = 0
    has_children: bool = False
    end_seq: int = -1
    unsupported: Counter[str] = field(default_factory=Counter)
    op_macs: Counter[str] = field(default_factory=Counter)
    receptive_field: Any = None  # ((rf...), (jump...)), "global", or None when not spatial
    # the convolutions this call ran, as the op saw them (see ConvOp)
    conv_ops: list[ConvOp] = field(default_factory=list)
    # ops of this call that ran on data-dependent tensors (after nonzero, nms, ...)
    data_dependent: Counter[str] = field(default_factory=Counter)


class ModuleCallTracker:
    """Keeps the :class:`Call` records and the stack of calls running now."""

    def __init__(self, model: nn.Module, root_name: str = "") -> None:
        self.names = {id(m): n for n, m in model.named_modules()}
        self.root_name = root_name
        self.calls: list[Call] = []
        self.stack: list[int] = []
        self.on_exit: list[Callable[[Call, Any], None]] = []
        self._called: set[int] = set()
        self._end_seq = 0

    def pre_hook(self, module: nn.Module, args: Any) -> None:
        """Open a call for ``module``; modules outside the analysed model are ignored."""
        name = self.names.get(id(module))
        if name is None:
            return  # a module outside the analysed model
        parent = self.stack[-1] if self.stack else None
        if parent is not None:
            self.calls[parent].has_children = True
        first = id(module) not in self._called
        self._called.add(id(module))
        call = Call(
            index=len(self.calls),
            module=module,
            name=name or self.root_name,
            depth=0 if parent is None else self.calls[parent].depth + 1,
            parent=parent,
            first_call=first,
            input_shape=shape_of(args),
            input_shapes=tuple(
                tuple(int(d) for d in a.shape) for a in args if isinstance(a, torch.Tensor)
            ),
        )
        self.calls.append(call)
        self.stack.append(call.index)

    def post_hook(self, module: nn.Module, args: Any, output: Any) -> None:
        """Close the call on top of the stack and tell the ``on_exit`` listeners."""
        if id(module) not in self.names or not self.stack:
            return
        call = self.calls[self.stack.pop()]
        call.output_shape = shape_of(output)
        for listener in self.on_exit:
            listener(call, output)
        call.end_seq = self._end_seq
        self._end_seq += 1

    def current(self) -> Call | None:
        """The innermost call running now, or None outside every module."""
        return self.calls[self.stack[-1]] if self.stack else None

    def called_module_ids(self) -> set[int]:
        """``id()`` of every module that ran at least once."""
        return set(self._called)
