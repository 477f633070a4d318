"""Counting one forward pass: the op stream and its trackers, wired together.

Module attribution comes from global forward hooks that keep a stack of
module *calls* (:mod:`cnnstat.trackers.modules`); the op stream charges each
op to the call on top of the stack. Functional ops (``F.relu``, residual
``+``, ``torch.cat``, attention matmuls) are therefore seen exactly like
module ops. Costs, memory, receptive fields, data dependence and parameter use
are separate trackers subscribed to the stream (see :mod:`cnnstat.trackers`);
:class:`OpCounter` holds them and reads them out for the analysis.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import nn

from cnnstat.trackers.costs import ConvOp, CostTracker
from cnnstat.trackers.data_dependence import DataDependenceTracker
from cnnstat.trackers.kernels import KernelRejectedError, conv_rejection
from cnnstat.trackers.memory import MemoryTracker
from cnnstat.trackers.modules import Call, ModuleCallTracker
from cnnstat.trackers.params import ParamUseTracker
from cnnstat.trackers.receptive_field import ReceptiveFieldTracker
from cnnstat.trackers.stream import OpStream
from cnnstat.trackers.tensors import first_tensor

__all__ = [
    "Call",
    "ConvOp",
    "KernelRejectedError",
    "OpCounter",
    "conv_rejection",
    "run_counted",
]


class OpCounter:
    """The trackers of one counted pass of ``model`` with its parameters and buffers ``tensors``."""

    def __init__(
        self, model: nn.Module, tensors: dict[str, torch.Tensor], root_name: str = ""
    ) -> None:
        self.model = model
        self.device_type = next((t.device.type for t in tensors.values()), "meta")
        self.modules = ModuleCallTracker(model, root_name)
        self.params = ParamUseTracker(model, tensors)
        self.costs = CostTracker()
        self.receptive = ReceptiveFieldTracker()
        self.data = DataDependenceTracker()
        self.memory = MemoryTracker(self.modules.current)
        self.memory.exempt(tensors)
        self.modules.on_exit.append(self.receptive.on_module_exit)
        self.stream = OpStream(
            self.modules.current,
            forward=(
                self.params.on_op,
                self.costs.on_op,
                self.receptive.on_op,
                self.data.on_op,
                self.memory.on_op,
            ),
            backward=(self.costs.on_backward_op,),
        )

    def mark_input(self, x: Any) -> None:
        """The model's inputs: no layer's activations, and the origin of receptive fields."""
        self.memory.mark_input(x)
        self.receptive.mark_input(x)

    def release(self) -> None:
        """Drop the tensors and storages held during the pass.

        Their autograd graphs hold the memory tracker's ``pack`` hook: a reference
        cycle through C++ that Python's collector cannot see, which kept every real
        tensor of every analysis alive.
        """
        self.memory.release()
        self.receptive.release()
        self.data.release()

    # -- what the analysis reads ------------------------------------------------

    @property
    def root_name(self) -> str:
        return self.modules.root_name

    @property
    def names(self) -> dict[int, str]:
        """``id(module)`` -> qualified name, for every module of the model."""
        return self.modules.names

    @property
    def calls(self) -> list[Call]:
        return self.modules.calls

    @property
    def stack(self) -> list[int]:
        """Indices into ``calls`` of the calls running now; after a failure, where it failed."""
        return self.modules.stack

    def called_module_ids(self) -> set[int]:
        return self.modules.called_module_ids()

    @property
    def first_use(self) -> dict[int, int]:
        return self.params.first_use

    @property
    def unsupported(self) -> Counter[str]:
        return self.costs.unsupported

    @property
    def backward_macs(self) -> int:
        return self.costs.backward_macs

    @property
    def backward_flops(self) -> int:
        return self.costs.backward_flops

    @property
    def backward_unsupported(self) -> Counter[str]:
        return self.costs.backward_unsupported

    @property
    def data_dependent(self) -> Counter[str]:
        return self.data.data_dependent


def run_counted(
    model: nn.Module,
    inputs: tuple[Any, ...],
    tensors: dict[str, torch.Tensor],
    root_name: str = "",
    backward: bool = False,
    kwargs: dict[str, Any] | None = None,
) -> OpCounter:
    """Run ``model(*inputs, **kwargs)`` with its parameters and buffers replaced by ``tensors``.

    The substitution (``torch.func.functional_call``) leaves the caller's
    model untouched, so a user's real weights are never moved or converted.
    Grad is enabled so that autograd's saved tensors can be measured. Hooks
    are removed in ``finally``; on an exception the counter's ``stack`` still
    names the module that was running, for the caller's error message.
    With ``backward`` the backward of the output's sum is run and counted too,
    op by op, as autograd really executes it (frozen weights get no gradient,
    nothing before the first trainable layer gets an input gradient).
    """
    counter = OpCounter(model, tensors, root_name)
    counter.mark_input((*inputs, *(kwargs or {}).values()))
    pre = nn.modules.module.register_module_forward_pre_hook(counter.modules.pre_hook)
    post = nn.modules.module.register_module_forward_hook(counter.modules.post_hook)
    try:
        with (
            torch.enable_grad(),
            torch.autograd.graph.saved_tensors_hooks(counter.memory.pack, counter.memory.unpack),
            counter.stream,
        ):
            out = torch.func.functional_call(model, tensors, inputs, kwargs)
            if backward:
                first = first_tensor(out)
                if first is not None and first.requires_grad:
                    loss = first.sum()
                    counter.stream.in_backward = True
                    loss.backward()
    except BaseException as exc:
        exc.cnnstat_counter = counter  # type: ignore[attr-defined]
        raise
    finally:
        pre.remove()
        post.remove()
        counter.release()
    return counter
