"""``cnnstat profile``: per-module forward and backward time from torch.profiler, beside the analysis.

Plain steps (no profiler, no hooks; bench's warm-up first) alternate with profiled steps,
so both see the same machine even when its load changes. In a profiled step, module ranges
are opened and closed by forward hooks. The hooks only enter and leave ``record_function``
ranges: they never synchronise the device. Each profiled step is its own
``cnnstat::step::<i>`` range, so every module gets one sample per step, and medians and
p10-p90 come from bench's statistics.
"""

from __future__ import annotations

import math as _math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cnnstat.bench import ceiling as _ceiling
from cnnstat.bench.runner import BenchConfig, resolve_devices, validate_options
from cnnstat.bench.setup import Loop, free, random_input, ready_model, timed_step, using_threads
from cnnstat.bench.stats import TimingStats, summarize
from cnnstat.dtypes import torch_dtype
from cnnstat.errors import InvalidInputError
from cnnstat.profile.attribute import (
    MODULE_PREFIX,
    OVERHEADS,
    STEP_PREFIX,
    Event,
    StepTimes,
    attribute,
)
from cnnstat.profile.records import LeafTimes, ProfileReport

# The profiler's C++ side (Kineto) logs every start and stop, and a failed GPU count on a
# machine without one, to stderr; 6 is above its highest level (USDT). A user's own setting wins.
os.environ.setdefault("KINETO_LOG_LEVEL", "6")

MODES = ("train", "forward")
# On CPU the ceiling's own sizing stops at n=128 when a busy machine slows the first product,
# and a 128x128 matmul is far below the rate the model's own matmuls reach: use n=1024.
CPU_CEILING_N = 1024
# Parsing profiler events costs far more than running them: cap the profiled steps.
MAX_PROFILED_STEPS = 20


def profile(
    model_or_name: Any,
    input_size: tuple[int, ...] | None = None,
    batch_size: int = 1,
    device: str = "cpu",
    mode: str = "train",
    dtype: str = "fp32",
    depth: int | None = None,
    warmup: int | None = None,
    iters: int | None = None,
    min_time_s: float = 1.0,
    threads: int | None = None,
    ceilings: tuple[float, float] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> ProfileReport:
    """Time every module's forward and backward, and set them beside its FLOPs and bytes.

    Args:
        model_or_name: a zoo name, a custom ``"file.py:Name"``, or an nn.Module (with ``input_size``).
        input_size: one sample's shape without the batch; default: the zoo model's.
        batch_size: N of the timed input.
        device: ``"cpu"`` or ``"cuda"``; CUDA without a device is an error.
        mode: ``"train"`` (forward, then backward of a scalar loss) or ``"forward"`` (inference).
        dtype: ``"fp32"``, or ``"fp16"``/``"bf16"`` under autocast.
        depth: the depth rows roll up to by default (None: the finest modules).
        warmup: warm-up steps; None: until the plain bench's timings settle.
        iters: measured steps, plain and profiled each, alternating; None: as many as the
            first plain step says fill ``min_time_s`` (at least 5, at most 20).
        min_time_s: the plain steps' minimum total time when ``iters`` is None.
        threads: CPU threads; default all cores.
        ceilings: (matmul FLOP/s, copy bytes/s) to judge bound-ness against; default: measured
            with :mod:`cnnstat.bench.ceiling` in the math mode that runs.
        on_progress: called with a short description of each phase.

    Returns:
        A :class:`ProfileReport`; ``interrupted`` when Ctrl-C stopped it, with what was measured.
    """
    from cnnstat import zoo
    from cnnstat.analysis import analyze

    say = on_progress or (lambda _text: None)
    config = _checked_config(model_or_name, batch_size, device, mode, dtype, depth, warmup,
                             iters, min_time_s, threads, ceilings)  # fmt: skip
    say("analysing")
    analysis = analyze(model_or_name, input_size=input_size, batch_size=batch_size)
    if isinstance(model_or_name, str):
        model = zoo.build(zoo.resolve(model_or_name), meta=False)
        name = analysis.model
    else:
        model = model_or_name
        name = type(model_or_name).__name__
    n_threads = threads or os.cpu_count() or 1
    was_training = model.training
    home = next((p.device for p in model.parameters()), None)  # a user's module goes back there
    run = _Run(name=name, device=device, dtype=dtype, train=mode == "train", say=say)
    try:
        with using_threads(n_threads):
            model = ready_model(model, device, run.train)
            x = random_input(tuple(analysis.input_shape[1:]), batch_size, device)
            _measure(run, model, x, config, batch_size)
            ceilings = _ceilings(run, ceilings)
    finally:
        model.train(was_training)
        if home is not None and not isinstance(model_or_name, str):
            model.to(home)
        free(device)

    return _profile_report(run, analysis, model, mode, batch_size, n_threads, ceilings, depth)


def _profile_report(run: _Run, analysis: Any, model: Any, mode: str, batch_size: int,
                    threads: int, ceilings: tuple[float, float], depth: int | None,
                    ) -> ProfileReport:
    """The report of the finished steps: each module's samples beside its FLOPs and bytes."""
    steps = sorted(s for s in run.per_step if 0 <= s < len(run.step_samples))
    leaves = _leaves(analysis, model, [run.per_step[s] for s in steps], run.dtype, run.name)
    return ProfileReport(
        model=run.name,
        device=run.device,
        mode=mode,
        dtype=run.dtype,
        batch_size=batch_size,
        input_shape=tuple(analysis.input_shape),
        threads=threads,
        math=run.math,
        ceiling_flops_per_s=ceilings[0],
        bandwidth_bytes_per_s=ceilings[1],
        step=summarize([run.step_samples[s] for s in steps]) if steps else None,
        bench=summarize(run.bench_samples) if run.bench_samples else None,
        leaves=tuple(leaves),
        module_types={n: type(m).__name__ for n, m in model.named_modules()},
        depth=depth,
        interrupted=run.interrupted,
        overhead_samples_ms={
            cause: tuple(run.per_step[s].overhead_us.get(cause, 0.0) / 1e3 for s in steps)
            for cause in OVERHEADS
        },
    )


def _checked_config(
    model_or_name: Any, batch_size: int, device: str, mode: str, dtype: str, depth: int | None,
    warmup: int | None, iters: int | None, min_time_s: float, threads: int | None,
    ceilings: tuple[float, float] | None,
) -> BenchConfig:
    """The bench options a profile runs with, every one checked before anything runs."""
    if mode not in MODES:
        raise InvalidInputError(f"unknown mode '{mode}'; choose train or forward")
    if device not in ("cpu", "cuda"):
        raise InvalidInputError(f"unknown device '{device}'; choose cpu or cuda")
    if batch_size < 1:
        raise InvalidInputError(
            f"batch_size must be a positive integer, got {batch_size}", fields=("batch_size",)
        )
    if depth is not None and depth < 0:
        raise InvalidInputError(f"depth must be >= 0, got {depth}")
    if ceilings is not None and not all(c > 0 for c in ceilings):
        raise InvalidInputError("ceilings must be positive")
    devices, _ = resolve_devices((device,))
    name = model_or_name if isinstance(model_or_name, str) else type(model_or_name).__name__
    config = BenchConfig(
        models=(name,), devices=devices, batch_sizes=(batch_size,), dtype=dtype,
        warmup=warmup, iters=iters, min_time_s=min_time_s, threads=threads,
    )  # fmt: skip
    validate_options(config, devices)
    return config


@dataclass
class _Run:
    """What a profile has measured so far; each list grows as its step ends."""

    name: str
    device: str
    dtype: str
    train: bool
    say: Callable[[str], None]
    interrupted: bool = False
    math: str = ""
    bench_samples: list[float] = field(default_factory=list)
    step_samples: list[float] = field(default_factory=list)
    per_step: dict[int, StepTimes] = field(default_factory=dict)
    events: list[list[Event]] = field(default_factory=list)


def _measure(run: _Run, model: Any, x: Any, config: BenchConfig, batch_size: int) -> None:
    """Warm up, then plain and profiled steps in turn; Ctrl-C keeps what was measured."""
    device = run.device
    amp_dtype = torch_dtype(run.dtype)
    timer = _timer(device)
    step = timed_step(model, model, x, device, amp_dtype, run.dtype != "fp32", timer, run.train)
    try:
        run.say("warm-up")
        Loop(config).warmup(step)
        run.say("plain bench and profile, step by step")
        _interleaved(step, model, device, config, run.bench_samples, run.step_samples,
                     run.events, run.say)  # fmt: skip
    except KeyboardInterrupt:
        run.interrupted = True
    except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is one
        if "out of memory" not in str(exc).lower():
            raise
        raise InvalidInputError(
            f"{run.name} ran out of {device} memory at batch {batch_size}; "
            "try a smaller batch_size",
            fields=("batch_size",),
        ) from None
    run.say("attributing")
    for chunk in run.events:
        run.per_step.update(attribute(chunk))
    run.math = _ceiling.math_mode(device, amp_dtype)


def _ceilings(run: _Run, given: tuple[float, float] | None) -> tuple[float, float]:
    """The device's (matmul FLOP/s, copy bytes/s): given, measured, or (0, 0) when unknown."""
    if given is not None:
        return given
    if run.interrupted:
        return (0.0, 0.0)  # unknown: no bound is judged
    run.say("measuring the device's ceilings")  # on the threads the model ran on
    try:
        n = CPU_CEILING_N if run.device == "cpu" else None
        # looked up at call time, so a stand-in set on the module is the one that runs
        return (
            _ceiling.matmul_ceiling(run.device, math=run.math, size=n),
            _ceiling.copy_bandwidth(run.device),
        )
    except KeyboardInterrupt:
        run.interrupted = True
        return (0.0, 0.0)


def _timer(device: str) -> Any:
    from cnnstat.bench.timers import CpuTimer, CudaTimer

    return CudaTimer() if device == "cuda" else CpuTimer()


def _interleaved(
    step: Callable[[], list[float]],
    model: Any,
    device: str,
    config: Any,
    bench_samples: list[float],
    step_samples: list[float],
    events: list[list[Event]],
    say: Callable[[str], None],
) -> None:
    """Alternate plain and profiled steps, so that both see the same machine: plain 0,
    profiled 0, profiled 1, plain 1, plain 2, profiled 2, profiled 3, plain 3 ...

    The first plain step sizes the run when ``config.iters`` is None: enough steps for
    ``config.min_time_s`` of plain stepping, at least ``config.min_iters``, at most
    ``MAX_PROFILED_STEPS``. One profiled step is run and discarded before the first kept one.
    Each list grows as its step ends, so Ctrl-C keeps every finished step.
    """
    bench_samples.append(sum(step()))
    n = config.iters
    if n is None:
        wanted = config.min_time_s * 1e3 / max(bench_samples[0], 1e-6)
        n = max(config.min_iters, _math.ceil(wanted))
    n = max(1, min(n, MAX_PROFILED_STEPS))
    _profiled_step(step, model, device, -1)  # the profiler's own first-use costs
    for i in range(n):
        say(f"step {i + 1} of {n}: plain and profiled")
        # the order flips each time, so neither kind always follows the other
        if i > 0 and i % 2 == 0:
            bench_samples.append(sum(step()))
        phases, chunk = _profiled_step(step, model, device, i)
        events.append(chunk)
        step_samples.append(sum(phases))
        if i % 2 == 1:
            bench_samples.append(sum(step()))


def _profiled_step(
    step: Callable[[], list[float]], model: Any, device: str, index: int
) -> tuple[list[float], list[Event]]:
    """One step under torch.profiler, with a ``cnnstat::module::<name>`` range per module call.

    The hooks only enter and leave ranges; they are installed for this step alone, so plain
    steps run without them. The profiler starts before and stops after the step's timer.
    """
    import torch
    from torch.autograd.profiler import record_function
    from torch.profiler import ProfilerActivity

    names = {id(m): n for n, m in model.named_modules()}
    open_ranges: list[Any] = []

    def enter(module: Any, args: Any) -> None:
        qualified = names.get(id(module))
        if qualified is None:
            return  # a module outside the profiled model
        r = record_function(MODULE_PREFIX + qualified)
        r.__enter__()
        open_ranges.append(r)

    def leave(module: Any, args: Any, output: Any) -> None:
        if id(module) in names and open_ranges:
            open_ranges.pop().__exit__(None, None, None)

    activities = [ProfilerActivity.CPU]
    if device == "cuda":
        activities.append(ProfilerActivity.CUDA)
    prof = torch.profiler.profile(activities=activities)
    pre = torch.nn.modules.module.register_module_forward_pre_hook(enter)
    post = torch.nn.modules.module.register_module_forward_hook(leave)
    try:
        with prof:
            try:
                with record_function(f"{STEP_PREFIX}{index}"):
                    phases = step()
            finally:
                while open_ranges:  # a forward that raised leaves its ranges open
                    open_ranges.pop().__exit__(None, None, None)
    finally:
        pre.remove()
        post.remove()
    return phases, _events(prof, device)


def _events(prof: Any, device: str) -> list[Event]:
    """The profiler's CPU-side events as :class:`Event`s, costed in CPU or own-kernel time."""
    try:
        raw = [e for e in prof.events() if _is_cpu(e)]
    except Exception:  # the profiler was stopped before it collected anything
        return []
    return to_events(raw, device)


def _is_cpu(e: Any) -> bool:
    return str(getattr(e, "device_type", "DeviceType.CPU")).endswith("CPU")


def to_events(raw: list[Any], device: str) -> list[Event]:
    """Convert torch's ``FunctionEvent``s (or look-alikes with ``name``, ``cpu_parent``,
    ``sequence_nr``, ``self_cpu_time_total``, ``self_device_time_total``) to :class:`Event`s."""
    index = {id(e): i for i, e in enumerate(raw)}
    out = []
    for e in raw:
        parent = getattr(e, "cpu_parent", None)
        cost = e.self_device_time_total if device == "cuda" else e.self_cpu_time_total
        out.append(
            Event(
                name=e.name,
                parent=index.get(id(parent)) if parent is not None else None,
                sequence_nr=int(getattr(e, "sequence_nr", -1)),
                self_us=float(cost),
            )
        )
    return out


def _leaves(
    analysis: Any, model: Any, steps: list[StepTimes], dtype: str, root_label: str
) -> list[LeafTimes]:
    """One entry per analysed module (and per profiled module the analysis has no row for)."""
    itemsize = torch_dtype(dtype).itemsize
    modules = dict(model.named_modules())
    entries: dict[str, dict[str, Any]] = {}
    for r in analysis.layers:
        if not r.called:
            continue
        key = "" if r.depth == 0 else r.name
        e = entries.setdefault(
            key, {"type": r.type, "flops": 0, "bytes": 0, "params": 0, "macs": 0,
                  "own": r.own_ops_only},
        )  # fmt: skip
        e["flops"] += r.flops
        e["macs"] += r.macs
        e["params"] += r.params
        e["bytes"] += _bytes_moved(r, itemsize)
    for st in steps:
        for key in (*st.forward_us, *st.backward_us):
            if key not in entries and key in modules:
                entries[key] = {"type": type(modules[key]).__name__, "flops": 0, "bytes": 0,
                                "params": 0, "macs": 0, "own": bool(list(modules[key].children()))}
    leaves = []
    for key, e in entries.items():
        leaves.append(
            LeafTimes(
                key=key,
                type=e["type"],
                kind=kind_of(modules.get(key), own_ops_only=e["own"], macs=e["macs"]),
                flops=e["flops"],
                bytes=e["bytes"],
                params=e["params"],
                forward_samples_ms=tuple(st.forward_us.get(key, 0.0) / 1e3 for st in steps),
                backward_samples_ms=tuple(st.backward_us.get(key, 0.0) / 1e3 for st in steps),
            )
        )
    return leaves


def _numel(shape: tuple[int, ...] | None) -> int:
    return _math.prod(shape) if shape else 0


def _bytes_moved(r: Any, itemsize: int) -> int:
    """Bytes a layer moves: its input read, its output written and its weights read.

    A container's own ops (a residual add, a flatten, attention's matmuls) have no input and
    output of their own: each element they produce is taken to read two operands and write
    one, counted from the activations they allocate or, for in-place ops (``out += x``), from
    their elementwise FLOPs (one per element).
    """
    if r.own_ops_only:
        elements = max(0, r.flops - 2 * r.macs)
        return 3 * max(int(r.activation_bytes), elements * itemsize)
    return (_numel(r.input_shape) + _numel(r.output_shape) + r.params) * itemsize


def kind_of(module: Any, own_ops_only: bool = False, macs: int = 0) -> str:
    """What a layer is, by its type's MRO: conv, depthwise conv, linear, attention, norm,
    elementwise, pool or other; a container's own ops are matmul or elementwise."""
    from torch import nn

    if own_ops_only or module is None:
        return "matmul" if macs else "elementwise"
    if isinstance(module, nn.modules.conv._ConvNd):
        groups, cin = module.groups, module.in_channels
        return "depthwise conv" if groups > 1 and groups == cin else "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.MultiheadAttention):
        return "attention"
    mro_modules = {c.__module__ for c in type(module).__mro__}
    if mro_modules & {"torch.nn.modules.batchnorm", "torch.nn.modules.normalization",
                      "torch.nn.modules.instancenorm"}:  # fmt: skip
        return "norm"
    if "torch.nn.modules.activation" in mro_modules:
        return "elementwise"
    if "torch.nn.modules.pooling" in mro_modules:
        return "pool"
    return "other"


__all__ = ["MODES", "TimingStats", "kind_of", "profile", "to_events"]
