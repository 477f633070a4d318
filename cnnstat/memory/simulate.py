"""Run a model's phases on the meta device and replay its allocations on a simulated device.

One session builds stand-in parameters, buffers and an input on meta, then
runs the phases a user asks about while :class:`LifetimeTracker` records
every allocation and release:

* ``inference``: ``model.eval()`` and a forward under ``torch.inference_mode``;
* ``train_step``: ``model.train()``, a forward with grad and the backward of
  the sum of the outputs, gradients starting as None, no optimizer;
* ``steady_step``: ``zero_grad(set_to_none=True)``, forward, backward and
  ``optimizer.step()``, measured on the second step so the optimizer's state
  already exists.

The trace is then replayed on the device's allocator, phase by phase with
``empty_cache`` and a peak reset in between, like
``torch.cuda.reset_peak_memory_stats``.
"""

from __future__ import annotations

import gc
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnnstat.memory.allocator import CachingAllocator, ExactAllocator
from cnnstat.memory.emulation import CudaKernels
from cnnstat.memory.profiles import DeviceProfile
from cnnstat.memory.tracker import ALLOC, LifetimeTracker, Trace

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": lambda ps, foreach: torch.optim.SGD(ps, lr=0.1, foreach=foreach),
    "sgd-momentum": lambda ps, foreach: torch.optim.SGD(ps, lr=0.1, momentum=0.9, foreach=foreach),
    "adam": lambda ps, foreach: torch.optim.Adam(ps, lr=1e-3, foreach=foreach),
    "adamw": lambda ps, foreach: torch.optim.AdamW(ps, lr=1e-3, foreach=foreach),
}

PHASES = ("inference", "train_step", "steady_step")

_warmed: weakref.WeakSet[nn.Module] = weakref.WeakSet()

CATEGORIES = (
    "parameters",
    "buffers",
    "input",
    "workspaces",
    "gradients",
    "optimizer state",
    "autocast weight copies",
    "activations",
    "backward temporaries",
    "optimizer temporaries",
)


@dataclass(frozen=True)
class PhasePeak:
    """One phase's peak: the bytes, where it happened, and what was alive."""

    phase: str
    peak_bytes: int
    where: str
    breakdown: dict[str, int]
    start_bytes: int
    end_bytes: int


@dataclass(frozen=True)
class Simulation:
    """Peaks per phase and the replayed timeline (event index, phase, where, allocated bytes)."""

    peaks: dict[str, PhasePeak]
    timeline: tuple[tuple[int, str, str, int], ...]
    category_timeline: dict[str, tuple[int, ...]]
    reserved_bytes: dict[str, int]


def _loss(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out.float().sum() if out.is_floating_point() and out.requires_grad else None
    items = out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list)) else ()
    losses = [loss for loss in (_loss(o) for o in items) if loss is not None]
    if not losses:
        return None
    total = losses[0]
    for loss in losses[1:]:
        total = total + loss
    return total


def _apply_order(model: nn.Module) -> list[tuple[str, torch.Tensor, bool]]:
    """Parameters and buffers in the order ``model.cuda()`` moves them: children first."""
    seen: set[int] = set()
    out: list[tuple[str, torch.Tensor, bool]] = []

    def walk(m: nn.Module, prefix: str) -> None:
        for name, child in m.named_children():
            walk(child, f"{prefix}{name}.")
        for name, p in m._parameters.items():
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                out.append((prefix + name, p, True))
        for name, b in m._buffers.items():
            if b is not None and id(b) not in seen:
                seen.add(id(b))
                out.append((prefix + name, b, False))

    walk(model, "")
    return out


def trace_phases(
    model: nn.Module,
    input_shape: tuple[int, ...],
    profile: DeviceProfile,
    phases: tuple[str, ...] = PHASES,
    optimizer: str | None = None,
    autocast_dtype: torch.dtype | None = None,
    frozen: frozenset[str] = frozenset(),
    channels_last: bool = False,
) -> Trace:
    """Run ``phases`` on meta stand-ins of ``model`` and record every allocation."""
    if model not in _warmed:
        # The first call of an op in a process can leave a reference to its inputs in a
        # reference cycle (lazily registered Python kernels), which would delay a free. A
        # discarded small run makes every trace look like a warm process's.
        _warmed.add(model)
        trace_phases(model, _warm_up_shape(input_shape), profile, phases, optimizer,
                     autocast_dtype, frozen, channels_last)
    trace = Trace()
    tracker = _tracker(model, trace, profile)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    tensors = _stand_ins(model, tracker, frozen, fmt)
    x = torch.empty(input_shape, dtype=torch.float32, device="meta",
                    memory_format=fmt if len(input_shape) == 4 else torch.contiguous_format)
    tracker.register(x, "input", "input")
    leaves = [t for t in dict.fromkeys(tensors.values()) if t.requires_grad]
    kernels = CudaKernels(autocast_dtype) if profile.cuda_kernels else None
    if kernels is not None:
        kernels.on_param_cast = tracker.relabel_last  # type: ignore[attr-defined]

    def forward() -> Any:
        tracker.begin_forward()
        if kernels is None:
            return torch.func.functional_call(model, tensors, (x,))
        with kernels:
            try:
                return torch.func.functional_call(model, tensors, (x,))
            finally:
                kernels.exit_autocast()

    def backward(out: Any) -> None:
        loss = _loss(out)
        del out
        if loss is None:
            return
        tracker.direction, tracker.category = "backward", "backward temporaries"
        loss.backward()
        del loss
        for t in leaves:
            if t.grad is not None:
                tracker.relabel(t.grad, "gradients")
        tracker.direction, tracker.category = "forward", "activations"

    with _collector_between_phases(model), tracker:
        _first_steps(model, trace, phases, forward, backward, leaves)
        if "steady_step" in phases and optimizer is not None and leaves:
            trace.phases.append((len(trace.events), "(optimizer warm-up)"))
            opt = OPTIMIZERS[optimizer](leaves, profile.foreach_optimizers)
            for step in range(2):
                if step == 1:
                    gc.collect(0)
                    trace.phases.append((len(trace.events), "steady_step"))
                opt.zero_grad(set_to_none=True)
                backward(forward())
                tracker.direction, tracker.category = "optimizer", "optimizer temporaries"
                opt.step()
                for state in opt.state.values():
                    for v in state.values():
                        if isinstance(v, torch.Tensor):
                            tracker.relabel(v, "optimizer state")
                tracker.direction, tracker.category = "forward", "activations"
            trace.phases.append((len(trace.events), "(end)"))
            del opt
        else:
            trace.phases.append((len(trace.events), "(end)"))
    return trace


@contextmanager
def _collector_between_phases(model: nn.Module) -> Iterator[None]:
    """The cycle collector off for the block, and ``model``'s training flag restored after it.

    Tensors are freed by reference counting, as on a device; the cycle collector's timing
    depends on the whole process, so it runs only between phases, like gc.collect() in a
    measurement script, and the trace is the same in every process.
    """
    was_training = model.training
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        model.train(was_training)
        if gc_was_enabled:
            gc.enable()


def _first_steps(model: nn.Module, trace: Trace, phases: tuple[str, ...],
                 forward: Callable[[], Any], backward: Callable[[Any], None],
                 leaves: list[torch.Tensor]) -> None:
    """The inference phase, then a training step from gradients set to None."""
    if "inference" in phases:
        gc.collect(0)
        model.eval()
        trace.phases.append((len(trace.events), "inference"))
        with torch.inference_mode():
            out = forward()
        del out
    if "train_step" in phases or "steady_step" in phases:
        model.train()
    if "train_step" in phases:
        gc.collect(0)
        trace.phases.append((len(trace.events), "train_step"))
        backward(forward())
        for t in leaves:
            t.grad = None


def _warm_up_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The discarded warm-up trace's input: batch 2 where the trace has it, as training-mode
    BatchNorm on a 1x1 map (inception_v3's aux head) refuses a batch of one."""
    return (min(input_shape[0], 2), *input_shape[1:])


def _tracker(model: nn.Module, trace: Trace, profile: DeviceProfile) -> LifetimeTracker:
    """A lifetime tracker for ``trace`` that holds the device's resident workspaces already."""
    tracker = LifetimeTracker(model, trace, profile.conv_workspace)
    for what, nbytes in profile.workspaces:
        tracker.synthetic(nbytes, "workspaces", what)
    return tracker


def _stand_ins(model: nn.Module, tracker: LifetimeTracker, frozen: frozenset[str],
               fmt: torch.memory_format) -> dict[str, torch.Tensor]:
    """Meta stand-ins of the parameters and buffers, registered in the order ``model.to()``
    allocates them; a tied tensor's every name gets the same stand-in."""
    tensors: dict[str, torch.Tensor] = {}
    names_of = {id(t): n for n, t in (*model.named_parameters(remove_duplicate=False),
                                      *model.named_buffers(remove_duplicate=False))}
    for name, t, is_param in _apply_order(model):
        dtype = torch.float32 if t.is_floating_point() else t.dtype
        new = torch.empty(
            t.shape, dtype=dtype, device="meta",
            memory_format=fmt if t.dim() == 4 else torch.contiguous_format,
        )
        if is_param and new.is_floating_point():
            new.requires_grad_(t.requires_grad and name not in frozen)
        tensors[name] = new
        tracker.register(new, "parameters" if is_param else "buffers", name)
    for n, t in (*model.named_parameters(remove_duplicate=False),
                 *model.named_buffers(remove_duplicate=False)):
        if n not in tensors:
            tensors[n] = tensors[names_of[id(t)]]
    return tensors


def replay(trace: Trace, profile: DeviceProfile) -> Simulation:
    """Replay a trace on the profile's allocator: each phase's peak, breakdown and timeline."""
    cats = {h: c for h, (_, c) in trace.handles.items()}
    starts = dict(trace.phases)
    allocator = CachingAllocator() if profile.caching_allocator else ExactAllocator()
    live: Counter[str] = Counter()
    charged: dict[int, int] = {}
    timeline: list[tuple[int, str, str, int]] = []
    by_cat: dict[str, list[int]] = {c: [] for c in CATEGORIES}
    peaks: dict[str, PhasePeak] = {}
    reserved: dict[str, int] = {}
    phase = "(setup)"
    peak_at: tuple[int, dict[str, int], str] | None = None
    phase_start_bytes = 0

    def close() -> None:
        if phase in PHASES and peak_at is not None:
            peaks[phase] = PhasePeak(
                phase=phase,
                peak_bytes=allocator.peak_bytes,
                where=peak_at[2],
                breakdown=peak_at[1],
                start_bytes=phase_start_bytes,
                end_bytes=allocator.allocated_bytes,
            )
            reserved[phase] = allocator.reserved_bytes

    for i, (kind, handle, nbytes, place) in enumerate(trace.events):
        if i in starts:
            close()
            phase = starts[i]
            allocator.empty_cache()
            allocator.reset_peak()
            phase_start_bytes = allocator.allocated_bytes
            peak_at = (i, dict(live), "(phase start)")
        if kind == ALLOC:
            charged[handle] = allocator.malloc(handle, nbytes)
            live[cats[handle]] += charged[handle]
            if peak_at is not None and allocator.allocated_bytes >= allocator.peak_bytes:
                peak_at = (i, dict(live), trace.places[place])
        else:
            allocator.free(handle)
            live[cats[handle]] -= charged.pop(handle)
        timeline.append((i, phase, trace.places[place], allocator.allocated_bytes))
        for c in CATEGORIES:
            by_cat[c].append(live[c])
    if len(trace.events) in starts:
        close()
    return Simulation(
        peaks=peaks,
        timeline=tuple(timeline),
        category_timeline={c: tuple(v) for c, v in by_cat.items()},
        reserved_bytes=reserved,
    )
