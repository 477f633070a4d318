"""The memory model: predicted device peaks for inference, training and optimizer steps.

``memory()`` runs the model's phases on the meta device, records when every
tensor storage is allocated and freed (``tracker.py``), applies what the
device runs differently (``emulation.py``), and replays the allocations on
the device's allocator (``allocator.py``) to find each phase's peak. Nothing
is computed and no device memory is used, so a GPU is not needed.

    allocator.py  PyTorch's CUDA caching allocator and the CPU allocator, in pure Python
    profiles.py   device profiles: allocator, resident workspaces, kernel choices, assumptions
    emulation.py  fused attention and dropout, CUDA autocast policy, on meta tensors
    tracker.py    the dispatch mode that records storage lifetimes
    simulate.py   runs the phases and replays the trace
    report.py     memory(), max_batch_size() and the MemoryReport record
"""

from __future__ import annotations

import sys
import types
from typing import Any

from cnnstat.memory.report import MemoryReport, max_batch_size, memory, parse_bytes

__all__ = ["MemoryReport", "max_batch_size", "memory", "parse_bytes"]


class _CallableModule(types.ModuleType):
    """``cnnstat.memory`` is this package once it is imported; calling it calls ``memory()``,
    so ``cnnstat.memory(...)`` works however often and in whatever order it is used."""

    def __call__(self, *args: Any, **kwargs: Any) -> MemoryReport:
        return memory(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
