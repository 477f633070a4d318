"""Parameter first use: which module call's ops first read each parameter.

Modules that own parameters but are never called themselves (MultiheadAttention's
``out_proj``) have their parameters charged to the call that used them.
Parameters are recognised by storage: the substituted tensors of the pass
share no storage with anything else.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnnstat.trackers.modules import Call
from cnnstat.trackers.tensors import storage_of


class ParamUseTracker:
    """Maps ``id(parameter)`` of the original model to the index of the call that first read it."""

    def __init__(self, model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
        originals = dict(model.named_parameters())
        self._param_storages: dict[int, nn.Parameter] = {}
        self.first_use: dict[int, int] = {}
        for name, t in tensors.items():
            s = storage_of(t)
            if s is not None and name in originals:
                self._param_storages[s._cdata] = originals[name]

    def on_op(self, func: Any, args: Any, kwargs: Any, out: Any, call: Call | None) -> None:
        """Note the parameters among an op's positional arguments."""
        if call is not None:
            self._note(args, call.index)

    def _note(self, args: Any, call_index: int) -> None:
        for a in args:
            if isinstance(a, torch.Tensor):
                s = storage_of(a)
                if s is not None and s._cdata in self._param_storages:
                    p = self._param_storages[s._cdata]
                    self.first_use.setdefault(id(p), call_index)
            elif isinstance(a, (list, tuple)):
                self._note(a, call_index)
