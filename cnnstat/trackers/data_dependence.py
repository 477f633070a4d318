"""Data dependence: the ops that ran on tensors whose size or values a data-dependent op decided.

A data-dependent op (``nonzero``, ``nms``, boolean-mask indexing; see
:func:`cnnstat.ops.is_data_dependent`) taints its outputs, and every op that
reads a tainted tensor taints its own. Tensors are known by ``id()``; the
tracker keeps them alive for the pass so the ids stay unique.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch

from cnnstat import ops
from cnnstat.trackers.modules import Call
from cnnstat.trackers.tensors import outputs, tensors_in


class DataDependenceTracker:
    """Counts the data-dependent ops, and per call every op computed from their outputs."""

    def __init__(self) -> None:
        self.data_dependent: Counter[str] = Counter()  # the data-dependent ops that ran
        self._tainted: set[int] = set()
        self._tainted_alive: list[torch.Tensor] = []

    def on_op(self, func: Any, args: Any, kwargs: Any, out: Any, call: Call | None) -> None:
        """Taint the outputs of a data-dependent op, or of an op that reads a tainted tensor."""
        if ops.is_data_dependent(func, args):
            self.data_dependent[str(func.overloadpacket.__name__)] += 1
        elif not any(id(t) in self._tainted for t in tensors_in((*args, *kwargs.values()))):
            return
        if call is not None:
            call.data_dependent[str(func.overloadpacket.__name__)] += 1
        for t in outputs(out):
            self._tainted.add(id(t))
            self._tainted_alive.append(t)

    def release(self) -> None:
        """Drop the tensors held for the pass."""
        self._tainted_alive.clear()
        self._tainted.clear()
