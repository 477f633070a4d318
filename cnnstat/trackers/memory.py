"""Memory of a counted forward pass: activation bytes and saved-for-backward bytes per call.

Memory is counted per storage: an op output whose storage was seen before
(in-place ops, views) allocates nothing, and only an op's primary output
allocates an activation. The bytes autograd saves for backward are captured
with ``saved_tensors_hooks`` (:meth:`MemoryTracker.pack`), each storage once,
parameters, buffers and the model's inputs excluded.

Storage identity is the StorageImpl pointer; holding the storages keeps every
pointer unique for the whole pass, on meta and real tensors alike, until
:meth:`MemoryTracker.release`. (The memory model's storage lifetimes, which
need weak references instead, are :mod:`cnnstat.memory.tracker`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from cnnstat.trackers.modules import Call
from cnnstat.trackers.tensors import first_tensor, storage_of


class MemoryTracker:
    """Charges new output storages to the running call as activations, saved ones as saved bytes."""

    def __init__(self, current: Callable[[], Call | None]) -> None:
        self._current = current
        self._seen: set[int] = set()
        self._saved: set[int] = set()
        self._keep: list[Any] = []
        self._exempt: set[int] = set()

    def exempt(self, tensors: dict[str, torch.Tensor]) -> None:
        """Parameters and buffers: neither activations nor saved-for-backward bytes."""
        for t in tensors.values():
            s = storage_of(t)
            if s is not None:
                self._exempt.add(s._cdata)
                self._seen.add(s._cdata)
                self._keep.append(s)

    def mark_input(self, x: Any) -> None:
        """Storages of the model's inputs are not activations of any layer."""
        for t in x if isinstance(x, (tuple, list)) else (x,):
            if isinstance(t, torch.Tensor):
                s = storage_of(t)
                if s is not None:
                    self._seen.add(s._cdata)
                    self._keep.append(s)

    def on_op(self, func: Any, args: Any, kwargs: Any, out: Any, call: Call | None) -> None:
        """Charge the op's primary output storage to ``call`` if it is new."""
        # Extra outputs (pooling indices, norm statistics) are autograd bookkeeping.
        t = first_tensor(out)
        if t is not None and call is not None:
            s = storage_of(t)
            if s is not None and s._cdata not in self._seen:
                self._seen.add(s._cdata)
                self._keep.append(s)
                call.activation_bytes += s.nbytes()

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        """The ``saved_tensors_hooks`` pack hook: count each saved storage once."""
        s = storage_of(t)
        if s is not None and s._cdata not in self._exempt and s._cdata not in self._saved:
            self._saved.add(s._cdata)
            self._keep.append(s)
            call = self._current()
            if call is not None:
                call.saved_bytes += s.nbytes()
        # A saved output packed as itself holds its own grad_fn: a cycle through C++
        # that keeps the graph, this hook and the counter alive for good (PyTorch's
        # saved-tensor hooks documentation warns of it). A detached alias shares the
        # storage and version counter without the grad_fn.
        with torch._C._DisableTorchDispatch():
            return t.detach()

    @staticmethod
    def unpack(t: torch.Tensor) -> torch.Tensor:
        """The ``saved_tensors_hooks`` unpack hook: the detached alias as it was packed."""
        return t

    def release(self) -> None:
        """Drop the storages held for the pass."""
        self._keep.clear()
