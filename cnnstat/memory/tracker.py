"""Storage lifetimes on the meta device: when each tensor storage is allocated and freed.

A TorchDispatchMode sees every op's outputs (forward, backward and the
optimizer alike). Each output storage that was not seen before is an
allocation; a weak reference to the storage reports its release when the
last tensor using it dies, exactly when the caching allocator on a real
device would get the block back. In-place ops and views return storages
already known and allocate nothing. The tracker holds no tensor, so it never
extends a lifetime.

Every event names where it happened: the innermost module running in the
forward pass, or, in backward, the module whose forward created the autograd
node being run.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from cnnstat import ops
from cnnstat.trackers.kernels import KernelRejectedError, conv_rejection

ALLOC, FREE = 1, -1


@dataclass
class Trace:
    """The recorded allocation stream: ``(kind, handle, nbytes, where)`` per event."""

    events: list[tuple[int, int, int, int]] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    #: handle -> (nbytes, category at allocation)
    handles: dict[int, tuple[int, str]] = field(default_factory=dict)
    #: (event index, phase name) where each phase starts
    phases: list[tuple[int, str]] = field(default_factory=list)
    _place_ids: dict[str, int] = field(default_factory=dict)

    def place(self, name: str) -> int:
        i = self._place_ids.get(name)
        if i is None:
            i = self._place_ids[name] = len(self.places)
            self.places.append(name)
        return i


def _storages(out: Any) -> list[Any]:
    found = []
    for t in out if isinstance(out, (tuple, list)) else (out,):
        if isinstance(t, torch.Tensor) and t.is_meta:
            with contextlib.suppress(RuntimeError, NotImplementedError):  # storage-less tensors
                found.append(t.untyped_storage())
    return found


class LifetimeTracker(TorchDispatchMode):
    """Records allocations and releases of meta storages into a :class:`Trace`."""

    def __init__(self, model: nn.Module, trace: Trace,
                 conv_workspace: Callable[..., int] | None = None) -> None:
        super().__init__()
        self.conv_workspace = conv_workspace
        self.trace = trace
        self.names = {id(m): n for n, m in model.named_modules()}
        self.stack: list[str] = []
        self.category = "activations"
        self.direction = "forward"
        self._live: dict[int, int] = {}  # StorageImpl pointer -> handle
        self._refs: dict[int, Any] = {}
        self._next = 0
        self._node_owner: dict[int, str] = {}  # autograd node sequence number -> module
        self._hooks: list[Any] = []

    # -- static tensors --------------------------------------------------------

    def register(self, t: torch.Tensor, category: str, where: str) -> None:
        """Record ``t``'s storage as allocated now (parameters, buffers, the input)."""
        for s in _storages(t):
            self._alloc(s, category, where)

    # -- module attribution ------------------------------------------------------

    def __enter__(self) -> LifetimeTracker:
        self._hooks = [
            nn.modules.module.register_module_forward_pre_hook(self._pre),
            nn.modules.module.register_module_forward_hook(self._post),
        ]
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []
        super().__exit__(*exc)

    def _pre(self, module: nn.Module, args: Any) -> None:
        name = self.names.get(id(module))
        if name is not None:
            self.stack.append(name or "(model)")

    def _post(self, module: nn.Module, args: Any, output: Any) -> None:
        if id(module) not in self.names or not self.stack:
            return
        name = self.stack.pop()
        # Autograd nodes this module's forward created, not claimed by an inner module.
        todo = [t.grad_fn for t in (output if isinstance(output, (tuple, list)) else (output,))
                if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        while todo:
            node = todo.pop()
            seq = node._sequence_nr()
            if seq in self._node_owner:
                continue
            self._node_owner[seq] = name
            todo.extend(n for n, _ in node.next_functions if n is not None)

    def where(self) -> str:
        if self.direction == "backward":
            node = torch._C._current_autograd_node()
            owner = self._node_owner.get(node._sequence_nr()) if node is not None else None
            return f"{owner or '(autograd)'} [backward]"
        if self.direction == "optimizer":
            return "(optimizer step)"
        return self.stack[-1] if self.stack else "(outside any module)"

    # -- storages ---------------------------------------------------------------

    def _alloc(self, storage: Any, category: str, where: str | None = None) -> None:
        key = storage._cdata
        if key in self._live:
            return
        nbytes = storage.nbytes()
        if nbytes == 0:
            return  # a zero-byte tensor has no device allocation
        handle = self._next
        self._next += 1
        self._live[key] = handle
        trace = self.trace
        trace.handles[handle] = (nbytes, category)
        trace.events.append((ALLOC, handle, nbytes, trace.place(where or self.where())))

        def released(_: Any, key: int = key, handle: int = handle) -> None:
            if self._live.get(key) == handle:
                del self._live[key]
                self._refs.pop(key, None)
                self.trace.events.append((FREE, handle, 0, self.trace.place(self.where())))

        self._refs[key] = weakref.ref(storage, released)

    def synthetic(self, nbytes: int, category: str, where: str) -> None:
        """Record an allocation that is no tensor (a library workspace); it is never freed."""
        handle = self._next
        self._next += 1
        self.trace.handles[handle] = (nbytes, category)
        self.trace.events.append((ALLOC, handle, nbytes, self.trace.place(where)))

    def relabel(self, t: torch.Tensor, category: str) -> None:
        """Give a live tensor's storage a category known only later (a gradient, optimizer state)."""
        handle = self.handle_of(t)
        if handle is not None:
            self.trace.handles[handle] = (self.trace.handles[handle][0], category)

    def relabel_last(self, t: torch.Tensor) -> None:
        """Mark an autocast cast of a parameter."""
        self.relabel(t, "autocast weight copies")

    def begin_forward(self) -> None:
        """Forget the autograd nodes of earlier passes: a new forward builds a new graph."""
        self._node_owner.clear()

    def handle_of(self, t: torch.Tensor) -> int | None:
        """The handle of a live tensor's storage, if it was tracked."""
        s = _storages(t)
        return self._live.get(s[0]._cdata) if s else None

    def _workspace(self, func: Any, args: Any, out: Any) -> None:
        """A convolution's transient workspace: allocated after its output, freed on return."""
        if self.conv_workspace is None or self.direction != "forward":
            return
        packet = func.overloadpacket
        if ops.kind_of(packet) is ops.OpKind.conv:  # aten.convolution, aten._convolution
            if args[6]:
                return
            groups = args[8]
        elif packet in _CONVS:
            groups = args[6] if len(args) > 6 else 1
        else:
            return
        x, w = args[0], args[1]
        if not isinstance(out, torch.Tensor) or x.dim() < 3 or not x.is_contiguous():
            return
        nbytes = self.conv_workspace(tuple(x.shape), tuple(out.shape), tuple(w.shape), groups,
                                     x.element_size())
        if nbytes:
            handle = self._next
            self._next += 1
            self.trace.handles[handle] = (nbytes, "workspaces")
            place = self.trace.place(self.where())
            self.trace.events.append((ALLOC, handle, nbytes, place))
            self.trace.events.append((FREE, handle, 0, place))

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        rejection = _conv_rejection(func, args, kwargs or {})
        if rejection is not None:
            raise KernelRejectedError(rejection)
        out = func(*args, **(kwargs or {}))
        for s in _storages(out):
            self._alloc(s, self.category)
        self._workspace(func, args, out)
        return out


_aten = torch.ops.aten
# The composite convolutions (their own argument order), which the op registry has no rule for
_CONVS = {_aten.conv1d, _aten.conv2d, _aten.conv3d}


def _conv_rejection(func: Any, args: Any, kwargs: dict[str, Any]) -> str | None:
    """What the real kernel would refuse in a convolution, with its message: the meta
    kernels say only "Invalid channel dimensions", and pass a transposed conv's channels."""
    packet = func.overloadpacket
    if packet is _aten.convolution and len(args) >= 9 and not kwargs:
        return conv_rejection(*args[:9])
    if packet in _CONVS and len(args) >= 2 and isinstance(args[0], torch.Tensor):
        x, w = args[0], args[1]
        if x.dim() == w.dim() - 1:
            x = x.unsqueeze(0)  # an unbatched input gets its batch dimension, as in the kernel
        names = ("bias", "stride", "padding", "dilation", "groups")
        named = dict(zip(names, args[2:], strict=False))
        named.update(kwargs)
        padding = named.get("padding", [0])
        if isinstance(padding, str):
            return None  # "same"/"valid": the kernel computes it
        return conv_rejection(
            x, w, named.get("bias"), named.get("stride", [1]), padding,
            named.get("dilation", [1]), False, [0], named.get("groups", 1),
        )  # fmt: skip
    return None
