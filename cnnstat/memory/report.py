"""``memory()``: the memory model's entry point, its record, and the largest batch that fits."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from cnnstat import transfer, zoo
from cnnstat.dtypes import canonical, torch_dtype
from cnnstat.errors import CnnstatError, ForwardError, InvalidInputError
from cnnstat.memory.profiles import PROFILES, DeviceProfile
from cnnstat.memory.simulate import CATEGORIES, OPTIMIZERS, PHASES, Simulation, replay, trace_phases
from cnnstat.trackers.kernels import KernelRejectedError
from cnnstat.usercode import guarded

_UNITS = {
    "": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
    "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}


def parse_bytes(text: str) -> int:
    """``"24GiB"``, ``"80 GB"``, ``"512MiB"``, ``"1e9"`` -> bytes (GB = 10^9, GiB = 2^30)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _UNITS:
        raise InvalidInputError(
            f"cannot read memory size {text!r}: use a number with a unit, e.g. 24GiB, 80GB, 512MiB"
        )
    value = float(m.group(1)) * _UNITS[unit]
    if value <= 0:
        raise InvalidInputError(f"memory size must be positive, got {text!r}")
    return int(value)


@dataclass(frozen=True)
class MemoryReport:
    """Predicted device memory of one model: peaks per phase, what was alive, the timeline."""

    model: str
    device: str
    input_shape: tuple[int, ...]
    dtype: str  # "float32", or the autocast dtype
    optimizer: str | None
    channels_last: bool
    inference_peak_bytes: int | None
    train_step_peak_bytes: int | None
    steady_step_peak_bytes: int | None
    static_bytes: dict[str, int]
    breakdown: dict[str, dict[str, int]]
    peak_where: dict[str, str]
    timeline: tuple[tuple[int, str, str, int], ...]
    category_timeline: dict[str, tuple[int, ...]] = field(repr=False)
    reserved_bytes: dict[str, int]
    assumptions: tuple[str, ...]
    max_batch_size: int | None = None
    budget_bytes: int | None = None
    budget_mode: str | None = None

    @property
    def batch_size(self) -> int:
        return self.input_shape[0]

    def peak(self, phase: str) -> int | None:
        """The predicted peak of ``phase`` ("inference", "train_step" or "steady_step")."""
        return {"inference": self.inference_peak_bytes, "train_step": self.train_step_peak_bytes,
                "steady_step": self.steady_step_peak_bytes}[phase]

    def to_dict(self, timeline_points: int = 400) -> dict[str, Any]:
        """The JSON of ``cnnstat memory --format json``; the timeline is thinned to about
        ``timeline_points`` points, always keeping each phase's peak."""
        from cnnstat import __version__

        step = max(1, len(self.timeline) // max(1, timeline_points))
        keep = set(range(0, len(self.timeline), step))
        for phase in PHASES:
            pts = [i for i, t in enumerate(self.timeline) if t[1] == phase]
            if pts:
                keep.add(max(pts, key=lambda i: self.timeline[i][3]))
        return {
            "cnnstat_version": __version__,
            "model": self.model,
            "device": self.device,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype,
            "optimizer": self.optimizer,
            "channels_last": self.channels_last,
            "inference_peak_bytes": self.inference_peak_bytes,
            "train_step_peak_bytes": self.train_step_peak_bytes,
            "steady_step_peak_bytes": self.steady_step_peak_bytes,
            "static_bytes": self.static_bytes,
            "breakdown": {
                phase: {"where": self.peak_where[phase], "bytes": self.breakdown[phase]}
                for phase in self.breakdown
            },
            "reserved_bytes": self.reserved_bytes,
            "timeline": [
                {"event": e, "phase": p, "where": w, "allocated_bytes": b}
                for i, (e, p, w, b) in enumerate(self.timeline) if i in keep
            ],
            "max_batch_size": self.max_batch_size,
            "budget_bytes": self.budget_bytes,
            "budget_mode": self.budget_mode,
            "assumptions": list(self.assumptions),
        }


def _resolve(model_or_name: nn.Module | str, input_size: tuple[int, ...] | None
             ) -> tuple[str, Callable[[], nn.Module], tuple[int, ...]]:
    if isinstance(model_or_name, nn.Module):
        if input_size is None:
            raise InvalidInputError("an nn.Module needs input_size, e.g. (3, 224, 224)")
        return type(model_or_name).__name__, lambda: model_or_name, tuple(input_size)
    spec = zoo.resolve(model_or_name)
    size = input_size if input_size is not None else spec.default_input_size
    if size is None:
        raise InvalidInputError(
            f"custom model '{spec.name}' needs an input size: give input_size, e.g. 3x224x224",
            fields=("input_size",))
    return spec.name, lambda: zoo.build(spec, meta=True), tuple(size)


def _options(device: str, dtype: Any, optimizer: str | None) -> tuple[DeviceProfile, torch.dtype | None]:
    profile = PROFILES.get(str(device))
    if profile is None:
        raise InvalidInputError(f"unknown device {device!r}; choose one of {', '.join(PROFILES)}")
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise InvalidInputError(
            f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if isinstance(dtype, str):
        if canonical(dtype) is None:
            raise InvalidInputError(f"unknown dtype {dtype!r}; choose fp32, bf16 or fp16")
        dtype = torch_dtype(dtype)
    if dtype == torch.float32:
        dtype = None
    if dtype not in (None, torch.bfloat16, torch.float16):
        raise InvalidInputError(f"dtype must be float32, bfloat16 or float16, got {dtype}")
    if dtype is not None and not profile.cuda_kernels:
        raise InvalidInputError("autocast (dtype bf16/fp16) is modelled for device cuda only",
                                fields=("dtype", "device"))
    return profile, dtype


def _simulate(model: nn.Module, shape: tuple[int, ...], profile: DeviceProfile,
              phases: tuple[str, ...], optimizer: str | None, autocast: torch.dtype | None,
              frozen: frozenset[str], channels_last: bool, name: str) -> Simulation:
    try:
        with guarded(f"{name} forward"):
            trace = trace_phases(model, shape, profile, phases, optimizer, autocast, frozen,
                                 channels_last)
    except CnnstatError:
        raise
    except Exception as exc:
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, KernelRejectedError):  # the input, not the meta device, is at fault
            raise ForwardError(
                f"{name} forward failed on input {'x'.join(map(str, shape[1:]))}: "
                f"RuntimeError: {text}"
            ) from exc
        raise ForwardError(
            f"{name} cannot be run on the meta device at input "
            f"{'x'.join(map(str, shape[1:]))}, batch {shape[0]}: {type(exc).__name__}: {text}"
        ) from exc
    return replay(trace, profile)


def memory(
    model_or_name: nn.Module | str,
    input_size: tuple[int, ...] | None = None,
    batch_size: int = 1,
    device: str = "cuda",
    dtype: Any = None,
    optimizer: str | None = None,
    phases: tuple[str, ...] = PHASES,
    channels_last: bool = False,
    num_classes: int | None = None,
    freeze: str | None = None,
    freeze_ratio: float | None = None,
    budget: int | str | None = None,
    budget_mode: str = "train",
) -> MemoryReport:
    """Predict a model's device memory for inference, a training step and an optimizer step.

    Args:
        model_or_name: a zoo name, ``"file.py:Name"``, or an nn.Module (never moved or changed).
        input_size: one sample's shape without the batch; defaults to the zoo model's crop size.
        batch_size: N.
        device: ``"cuda"`` (PyTorch's caching allocator, cuBLAS workspaces, fused kernels)
            or ``"cpu"``.
        dtype: None/``"fp32"``, or ``"bf16"``/``"fp16"`` for autocast with float32 parameters.
        optimizer: None, ``"sgd"``, ``"sgd-momentum"``, ``"adam"`` or ``"adamw"``: the steady
            step is predicted only with one.
        phases: any of ``"inference"``, ``"train_step"``, ``"steady_step"``.
        channels_last: 4-D parameters and the input in channels-last layout.
        num_classes, freeze, freeze_ratio: as in :func:`cnnstat.analyze`.
        budget: bytes (or ``"24GiB"``): also search the largest batch whose peak fits.
        budget_mode: ``"inference"``, ``"train"`` (first step) or ``"steady"`` for the search.

    Returns:
        A :class:`MemoryReport`; every figure is a device total in the semantics of
        ``torch.cuda.max_memory_allocated``.
    """
    profile, autocast = _options(device, dtype, optimizer)
    bad = [p for p in phases if p not in PHASES]
    if bad:
        raise InvalidInputError(f"unknown phase {bad[0]!r}; choose from {', '.join(PHASES)}")
    if batch_size < 1:
        raise InvalidInputError(
            f"batch_size must be a positive integer, got {batch_size}", fields=("batch_size",))
    if isinstance(input_size, str):
        raise InvalidInputError(
            f"input_size takes a shape as a tuple of ints, like (3, 224, 224), not {input_size!r}",
            fields=("input_size",))
    name, build, size = _resolve(model_or_name, input_size)
    if not size or any((not isinstance(d, int)) or d < 1 for d in size):
        raise InvalidInputError(
            f"input_size must be positive integers, got {size}", fields=("input_size",))
    model, frozen = _prepared(build, size, batch_size, name, isinstance(model_or_name, nn.Module),
                              num_classes, freeze, freeze_ratio)  # fmt: skip
    budget_bytes = parse_bytes(budget) if isinstance(budget, str) else budget
    if budget_bytes is not None and not budget_bytes > 0:  # also NaN
        raise InvalidInputError(f"budget must be positive, got {budget!r}", fields=("budget",))
    mode_phase = _budget_phase(budget_mode, optimizer) if budget_bytes is not None else None
    if mode_phase is not None and mode_phase not in phases:
        phases = (*phases, mode_phase)

    def run(batch: int, which: tuple[str, ...]) -> Simulation:
        return _simulate(model, (batch, *size), profile, which, optimizer, autocast, frozen,
                         channels_last, name)

    sim = run(batch_size, phases)
    fits: int | None = None
    if budget_bytes is not None and mode_phase is not None:
        fits = _search(lambda b: run(b, (mode_phase,)).peaks[mode_phase].peak_bytes,
                       budget_bytes, name, mode_phase)
    report = _from_simulation(sim, name, profile, (batch_size, *size), autocast, optimizer,
                              channels_last)  # fmt: skip
    return replace(
        report,
        max_batch_size=fits,
        budget_bytes=budget_bytes,
        budget_mode=budget_mode if budget_bytes is not None else None,
    )


def _prepared(build: Callable[[], nn.Module], size: tuple[int, ...], batch_size: int, name: str,
              given: bool, num_classes: int | None, freeze: str | None,
              freeze_ratio: float | None) -> tuple[nn.Module, frozenset[str]]:
    """The model to trace (a caller's is copied before it is changed) and its frozen names."""
    from cnnstat.analysis import materialise_lazy, validate_input

    validate_input(size, batch_size)  # sizes whose tensors would overflow, named
    model = build()
    model = materialise_lazy(model, size, name, copy_model=given)
    if num_classes is not None:
        model = transfer.replace_head(model, num_classes, copy_model=given)
    return model, frozenset(transfer.frozen_parameters(model, freeze, freeze_ratio))


def _from_simulation(sim: Simulation, name: str, profile: DeviceProfile,
                     input_shape: tuple[int, ...], autocast: torch.dtype | None,
                     optimizer: str | None, channels_last: bool) -> MemoryReport:
    """The record of one simulation: its peaks, what was alive at each, and its timeline."""
    static = {c: _static_bytes(sim, c) for c in ("parameters", "buffers", "input", "workspaces")}
    return MemoryReport(
        model=name,
        device=profile.name,
        input_shape=input_shape,
        dtype="float32" if autocast is None else str(autocast).removeprefix("torch."),
        optimizer=optimizer,
        channels_last=channels_last,
        inference_peak_bytes=_peak(sim, "inference"),
        train_step_peak_bytes=_peak(sim, "train_step"),
        steady_step_peak_bytes=_peak(sim, "steady_step"),
        static_bytes=static,
        breakdown={p: {c: v for c, v in pk.breakdown.items() if v}
                   for p, pk in sim.peaks.items()},
        peak_where={p: pk.where for p, pk in sim.peaks.items()},
        timeline=sim.timeline,
        category_timeline=sim.category_timeline,
        reserved_bytes=sim.reserved_bytes,
        assumptions=profile.assumptions,
    )


def _static_bytes(sim: Simulation, category: str) -> int:
    """Bytes of ``category`` once set-up is done: parameters, buffers, input and the resident
    workspaces, before any phase (and any transient convolution workspace) runs."""
    setup = [i for i, t in enumerate(sim.timeline) if t[1] == "(setup)"]
    values = sim.category_timeline.get(category, ())
    return values[setup[-1]] if setup and values else 0


def _peak(sim: Simulation, phase: str) -> int | None:
    pk = sim.peaks.get(phase)
    return None if pk is None else pk.peak_bytes


def _budget_phase(mode: str, optimizer: str | None) -> str:
    phases = {"inference": "inference", "train": "train_step", "steady": "steady_step"}
    if mode not in phases:
        raise InvalidInputError(
            f"unknown budget_mode {mode!r}; choose inference, train or steady", fields=("budget_mode",))
    if mode == "steady" and optimizer is None:
        raise InvalidInputError("budget_mode steady needs optimizer (sgd, sgd-momentum, adam, adamw)",
                                fields=("budget_mode", "optimizer"))
    return phases[mode]


def _search(peak_of: Callable[[int], int], budget: int, name: str, phase: str,
            limit: int = 1 << 24) -> int:
    """The largest batch whose predicted peak fits ``budget``.

    Peaks grow almost linearly with the batch, but not from batch 1 (fixed costs such
    as workspaces weigh most there), so secant steps refine the guess: each fits a line
    through the last two simulated batches. From the guess, steps that double bracket
    the answer and bisection finishes it: every answer is checked by a simulation, so
    non-linear models (allocator rounding) still get the exact largest batch that fits.
    """
    cache: dict[int, int] = {}

    def peak(b: int) -> int:
        if b not in cache:
            cache[b] = peak_of(b)
        return cache[b]

    def fits(b: int) -> bool:
        return peak(b) <= budget

    if not fits(1):
        raise InvalidInputError(
            f"{name} does not fit in the budget even at batch size 1 ({phase} peak "
            f"{cache[1]:,} bytes > budget {budget:,} bytes)")
    if not fits(2):
        return 1
    guess = _secant_guess(peak, budget, limit)
    if fits(guess):
        lo, step = guess, 1
        while lo < limit and fits(min(lo + step, limit)):
            lo, step = min(lo + step, limit), step * 2
        if lo == limit:
            raise InvalidInputError(
                f"{name} fits the budget ({budget:,} bytes) at the search's limit of "
                f"{limit:,} samples per batch and beyond; give a smaller budget")
        hi = min(lo + step, limit)
    else:
        hi, step = guess, 1
        while not fits(max(2, hi - step)):
            hi, step = max(2, hi - step), step * 2
        lo = max(2, hi - step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _secant_guess(peak: Callable[[int], int], budget: int, limit: int, steps: int = 3) -> int:
    """Where the line through the last two simulated batches meets ``budget``, refined
    ``steps`` times; batches 1 and 2 are simulated already and fit."""
    a, b = 1, 2
    for _ in range(steps):
        slope = (peak(b) - peak(a)) / (b - a)
        if slope <= 0:
            return b
        guess = max(2, min(limit, b + int((budget - peak(b)) // slope)))
        if guess in (a, b):
            return guess
        a, b = b, guess
    return b


def max_batch_size(model_or_name: nn.Module | str, budget: int | str, mode: str = "train",
                   **kwargs: Any) -> int:
    """The largest batch size whose predicted peak for ``mode`` fits ``budget``."""
    report = memory(model_or_name, budget=budget, budget_mode=mode, phases=(), **kwargs)
    assert report.max_batch_size is not None
    return report.max_batch_size


__all__ = ["CATEGORIES", "MemoryReport", "max_batch_size", "memory", "parse_bytes"]
