"""The TorchDispatchMode that counts every aten op and attributes it to the module that ran it.

Module attribution comes from global forward hooks that keep a stack of
module *calls*; the dispatch mode charges each op to the call on top of the
stack. Functional ops (``F.relu``, residual ``+``, ``torch.cat``, attention
matmuls) are therefore seen exactly like module ops.

Memory is counted per storage: an op output whose storage was seen before
(in-place ops, views) allocates nothing. The bytes autograd saves for backward
are captured with ``saved_tensors_hooks``, each storage once, parameters and
buffers excluded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from cnnstat import ops, receptive
from cnnstat.formulas import conv_output_shape


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


def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for o in obj:
            t = _first_tensor(o)
            if t is not None:
                return t
    if isinstance(obj, dict):
        for o in obj.values():
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


def _tensors(items: Any) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    for a in items:
        if isinstance(a, torch.Tensor):
            found.append(a)
        elif isinstance(a, (tuple, list)):
            found.extend(x for x in a if isinstance(x, torch.Tensor))
    return found


def _shape(obj: Any) -> tuple[int, ...] | None:
    t = _first_tensor(obj)
    return None if t is None else tuple(int(s) for s in t.shape)


def _storage(t: torch.Tensor) -> Any | None:
    try:
        return t.untyped_storage()
    except (RuntimeError, NotImplementedError):
        return None  # sparse, nested or other storage-less tensors


_UNARY_SHAPE_PRESERVING = set(ops.packets(*ops.UNARY_ACTIVATIONS))
_BINARY_SAME_SHAPE = {
    torch.ops.aten.add,
    torch.ops.aten.add_,
    torch.ops.aten.mul,
    torch.ops.aten.mul_,
    torch.ops.aten.sub,
    torch.ops.aten.sub_,
    torch.ops.aten.div,
    torch.ops.aten.div_,
}
_BN_EVAL = getattr(torch.ops.aten, "_native_batch_norm_legit_no_training", None)
_BN = torch.ops.aten.native_batch_norm
_CONV = torch.ops.aten.convolution


def _meta_shortcut(func: Any, args: Any) -> Any:
    """The result of a common op on meta tensors, without running its Python meta kernel.

    Meta kernels for elementwise ops and eval BatchNorm are Python reference
    implementations and dominate analysis time; their results are fully
    determined by the input (same shape, dtype and strides). In-place ops
    return their input. Returns None when the shortcut does not apply.
    """
    packet = func.overloadpacket
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor) or not x.is_meta:
        return None
    inplace = packet.__name__.endswith("_")
    if packet in _UNARY_SHAPE_PRESERVING:
        return x if inplace else torch.empty_like(x)
    if packet in _BINARY_SAME_SHAPE and len(args) >= 2:
        y = args[1]
        if (
            isinstance(y, torch.Tensor)
            and y.is_meta
            and y.dtype == x.dtype
            and y.shape == x.shape
            and y.stride() == x.stride()
        ):
            return x if inplace else torch.empty_like(x)
        return None
    if packet is _BN_EVAL or (packet is _BN and len(args) > 5 and args[5] is False):
        # Like the CPU kernel, eval BatchNorm returns empty statistics.
        return torch.empty_like(x), x.new_empty((0,)), x.new_empty((0,))
    if packet is _CONV and len(args) >= 9:
        rejection = conv_rejection(x, *args[1:])
        if rejection is not None:
            raise KernelRejectedError(rejection)
    if packet is _CONV and len(args) >= 9 and not args[6] and x.is_contiguous() and x.dim() >= 3:
        w = args[1]
        if any(len(a) != x.dim() - 2 for a in args[3:6]):
            return None  # one value for every axis: the real kernel expands it
        spatial = conv_output_shape(
            tuple(x.shape[2:]), tuple(w.shape[2:]), tuple(args[3]), tuple(args[4]), tuple(args[5])
        )
        if min(spatial) <= 0:
            return None  # let the real kernel raise its "input too small" error
        return x.new_empty((x.shape[0], w.shape[0], *spatial))
    return None


_CONV_PACKETS = {torch.ops.aten.convolution, torch.ops.aten._convolution}


def _conv_op(args: Any) -> ConvOp:
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
class KernelRejectedError(RuntimeError):
    """An op's arguments that the real kernel refuses, found by a shortcut that skipped it.

    The text is the real CPU kernel's. Real tensors would fail the same way, so
    there is nothing to gain from retrying there.
    """


def _sizes(t: torch.Tensor) -> str:
    return "[" + ", ".join(map(str, t.shape)) + "]"


def conv_rejection(
    x: torch.Tensor,
    w: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    transposed: bool,
    output_padding: Any,
    groups: int,
) -> str | None:
    """Why ATen's convolution would refuse these ``aten.convolution`` arguments, or None.

    The checks of ``check_shape_forward`` in ATen's Convolution.cpp, in its
    order, with its messages: a shortcut that computes the output shape must
    never accept what the kernel rejects, and PyTorch's own meta kernel does
    not check a transposed convolution's channels.
    """
    if not isinstance(w, torch.Tensor):
        return "expected a weight tensor"
    if w.dim() < 3:
        return "weight should have at least three dimensions"
    spatial = w.dim() - 2
    params = {"stride": stride, "padding": padding, "dilation": dilation}
    if transposed:
        params["output_padding"] = output_padding
    for name, value in params.items():
        if len(value) not in (1, spatial):
            return (
                f"expected {name} to be a single integer value or a list of {spatial} values "
                f"to match the convolution dimensions, but got {name}={list(value)}"
            )
    if any(p < 0 for p in padding):
        return "negative padding is not supported"
    if transposed and any(p < 0 for p in output_padding):
        return "negative output_padding is not supported"
    if any(s <= 0 for s in stride):
        return "non-positive stride is not supported"
    if any(d <= 0 for d in dilation):
        return "dilation should be greater than zero"
    if groups <= 0:
        return "non-positive groups is not supported"
    if w.dim() != x.dim():
        return (
            f"Expected {w.dim()}-dimensional input for {w.dim()}-dimensional weight "
            f"{_sizes(w)}, but got {x.dim()}-dimensional input of size {_sizes(x)} instead"
        )
    if w.shape[0] < groups:
        return (
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, "
            f"but got weight of size {_sizes(w)} instead"
        )
    if w.shape[0] % groups:
        return (
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size {_sizes(w)} instead"
        )
    if transposed:
        if x.shape[1] != w.shape[0]:
            return (
                f"Given transposed=1, weight of size {_sizes(w)}, expected input{_sizes(x)} to "
                f"have {w.shape[0]} channels, but got {x.shape[1]} channels instead"
            )
        if bias is not None and (bias.dim() != 1 or bias.shape[0] != w.shape[1] * groups):
            return (
                f"Given transposed=1, weight of size {_sizes(w)}, expected bias to be "
                f"1-dimensional with {w.shape[1] * groups} elements, but got bias of size "
                f"{_sizes(bias)} instead"
            )
    elif x.shape[1] != w.shape[1] * groups:
        return (
            f"Given groups={groups}, weight of size {_sizes(w)}, expected input{_sizes(x)} to have "
            f"{w.shape[1] * groups} channels, but got {x.shape[1]} channels instead"
        )
    elif bias is not None and (bias.dim() != 1 or bias.shape[0] != w.shape[0]):
        return (
            f"Given weight of size {_sizes(w)}, expected bias to be 1-dimensional with "
            f"{w.shape[0]} elements, but got bias of size {_sizes(bias)} instead"
        )
    if x.dtype != w.dtype or (bias is not None and bias.dtype != w.dtype):
        return (
            f"Input type ({x.dtype}) and weight type ({w.dtype}) should be the same"
            if x.dtype != w.dtype
            else f"Input type ({x.dtype}) and bias type ({bias.dtype}) should be the same"
        )
    return None


class OpCounter(TorchDispatchMode):
    """Counts ops, allocations and saved-for-backward bytes for one forward pass of ``model``."""

    def __init__(
        self, model: nn.Module, tensors: dict[str, torch.Tensor], root_name: str = ""
    ) -> None:
        super().__init__()
        self.model = model
        self.device_type = next((t.device.type for t in tensors.values()), "meta")
        self.names = {id(m): n for n, m in model.named_modules()}
        self.root_name = root_name
        self.calls: list[Call] = []
        self.stack: list[int] = []
        self.unsupported: Counter[str] = Counter()
        self._called: set[int] = set()
        # Storage identity is the StorageImpl pointer; holding the storages keeps
        # every pointer unique for the whole pass, on meta and real tensors alike.
        self._seen: set[int] = set()
        self._saved: set[int] = set()
        self._keep: list[Any] = []
        self._exempt: set[int] = set()
        self._end_seq = 0
        # id(tensor) -> receptive field; the tensors are kept alive so ids stay unique
        self._rf: dict[int, Any] = {}
        self._alive: list[torch.Tensor] = []
        # tensors computed from a data-dependent op's output (kept alive: ids stay unique)
        self._tainted: set[int] = set()
        self._tainted_alive: list[torch.Tensor] = []
        self.data_dependent: Counter[str] = Counter()  # the data-dependent ops that ran
        # the backward pass, when counted, has no module attribution
        self.in_backward = False
        self.backward_macs = 0
        self.backward_flops = 0
        self.backward_unsupported: Counter[str] = Counter()
        # Parameter storage -> the call whose ops first read it. Modules that own
        # parameters but are never called themselves (MultiheadAttention's
        # out_proj) have their parameters charged to the call that used them.
        self._param_storages: dict[int, nn.Parameter] = {}
        self.first_use: dict[int, int] = {}
        originals = dict(model.named_parameters())
        for name, t in tensors.items():
            self._mark_exempt(t)
            s = _storage(t)
            if s is not None and name in originals:
                self._param_storages[s._cdata] = originals[name]

    def release(self) -> None:
        """Drop the tensors and storages held during the pass.

        Their autograd graphs hold this counter's ``pack`` hook: a reference cycle
        through C++ that Python's collector cannot see, which kept every real
        tensor of every analysis alive.
        """
        self._keep.clear()
        self._alive.clear()
        self._tainted_alive.clear()
        self._rf.clear()
        self._tainted.clear()

    def _mark_exempt(self, t: torch.Tensor) -> None:
        s = _storage(t)
        if s is not None:
            self._exempt.add(s._cdata)
            self._seen.add(s._cdata)
            self._keep.append(s)

    def mark_input(self, x: Any) -> None:
        """Storages of the model's inputs are not activations of any layer."""
        for t in x if isinstance(x, (tuple, list)) else (x,):
            if isinstance(t, torch.Tensor):
                s = _storage(t)
                if s is not None:
                    self._seen.add(s._cdata)
                    self._keep.append(s)
                if t.dim() >= 3:
                    ones = (1,) * (t.dim() - 2)
                    self._rf[id(t)] = (ones, ones)
                    self._alive.append(t)

    # -- module hooks ---------------------------------------------------------

    def pre_hook(self, module: nn.Module, args: Any) -> None:
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
            input_shape=_shape(args),
            input_shapes=tuple(
                tuple(int(d) for d in a.shape) for a in args if isinstance(a, torch.Tensor)
            ),
        )
        self.calls.append(call)
        self.stack.append(call.index)

    def post_hook(self, module: nn.Module, args: Any, output: Any) -> None:
        if id(module) not in self.names or not self.stack:
            return
        call = self.calls[self.stack.pop()]
        call.output_shape = _shape(output)
        t = _first_tensor(output)
        call.receptive_field = None if t is None else self._rf.get(id(t))
        call.end_seq = self._end_seq
        self._end_seq += 1

    @property
    def current(self) -> Call | None:
        return self.calls[self.stack[-1]] if self.stack else None

    def called_module_ids(self) -> set[int]:
        return set(self._called)

    # -- saved tensors --------------------------------------------------------

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        s = _storage(t)
        if s is not None and s._cdata not in self._exempt and s._cdata not in self._saved:
            self._saved.add(s._cdata)
            self._keep.append(s)
            call = self.current
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
        return t

    # -- ops ------------------------------------------------------------------

    def _count_backward(self, func: Any, args: Any, kwargs: Any, out: Any) -> None:
        rule = ops.lookup(func)
        if rule is None:
            self.backward_unsupported[str(func.overloadpacket.__name__)] += 1
            return
        cost = rule(args, kwargs, out)
        self.backward_macs += cost.macs
        self.backward_flops += cost.flops

    def _track_receptive_field(self, func: Any, args: Any, out: Any) -> None:
        infos = [self._rf[id(a)] for a in _tensors(args) if id(a) in self._rf]
        if not infos:
            return
        try:
            info = receptive.propagate(func, args, out, infos)
        except Exception:  # an op with unusual arguments: the field stays unknown downstream
            return
        if info is None:
            return
        for t in _tensors(out if isinstance(out, (tuple, list)) else (out,)):
            self._rf[id(t)] = info
            self._alive.append(t)

    def _track_data_dependence(
        self, func: Any, args: Any, kwargs: Any, out: Any, call: Call | None
    ) -> None:
        source = ops.is_data_dependent(func, args)
        if source:
            self.data_dependent[str(func.overloadpacket.__name__)] += 1
        elif not any(id(t) in self._tainted for t in _tensors((*args, *kwargs.values()))):
            return
        if call is not None:
            call.data_dependent[str(func.overloadpacket.__name__)] += 1
        for t in _tensors(out if isinstance(out, (tuple, list)) else (out,)):
            self._tainted.add(id(t))
            self._tainted_alive.append(t)

    def _note_param_use(self, args: Any, call_index: int) -> None:
        for a in args:
            if isinstance(a, torch.Tensor):
                s = _storage(a)
                if s is not None and s._cdata in self._param_storages:
                    p = self._param_storages[s._cdata]
                    self.first_use.setdefault(id(p), call_index)
            elif isinstance(a, (list, tuple)):
                self._note_param_use(a, call_index)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = _meta_shortcut(func, args)
        if out is None:
            out = func(*args, **kwargs)
        if self.in_backward:
            self._count_backward(func, args, kwargs, out)
            return out
        call = self.current
        if call is not None:
            self._note_param_use(args, call.index)
        rule = ops.lookup(func)
        if rule is None:
            name = str(func.overloadpacket.__name__)
            self.unsupported[name] += 1
            if call is not None:
                call.unsupported[name] += 1
        elif call is not None:
            if func.overloadpacket in _CONV_PACKETS:
                call.conv_ops.append(_conv_op(args))
            cost = rule(args, kwargs, out)
            call.macs += cost.macs
            call.flops += cost.flops
            if cost.macs:
                call.op_macs[func.overloadpacket.__name__] += cost.macs
        self._track_receptive_field(func, args, out)
        self._track_data_dependence(func, args, kwargs, out, call)
        # Only the primary output allocates an activation; extra outputs
        # (pooling indices, norm statistics) are autograd bookkeeping.
        t = _first_tensor(out)
        if t is not None and call is not None:
            s = _storage(t)
            if s is not None and s._cdata not in self._seen:
                self._seen.add(s._cdata)
                self._keep.append(s)
                call.activation_bytes += s.nbytes()
        return out


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
    pre = nn.modules.module.register_module_forward_pre_hook(counter.pre_hook)
    post = nn.modules.module.register_module_forward_hook(counter.post_hook)
    try:
        with (
            torch.enable_grad(),
            torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack),
            counter,
        ):
            out = torch.func.functional_call(model, tensors, inputs, kwargs)
            if backward:
                first = _first_tensor(out)
                if first is not None and first.requires_grad:
                    loss = first.sum()
                    counter.in_backward = True
                    loss.backward()
    except BaseException as exc:
        exc.cnnstat_counter = counter  # type: ignore[attr-defined]
        raise
    finally:
        pre.remove()
        post.remove()
        counter.release()
    return counter
