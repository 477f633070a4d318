"""The bench runner: one cell per model × device × batch size × mode, each kept whatever the others do.

A cell that runs out of memory is recorded as ``oom`` with one line saying what was
asked for and what the device had, and the CUDA cache is freed before the next; any
other failure is ``error`` with its message. A problem with one model (a ``--freeze``
module it lacks) becomes that model's error rows, found before anything is measured.
Ctrl-C stops the run and keeps every finished cell.

Each cell: warm-up (which also holds cuDNN's autotuning and ``torch.compile``), then
the peak counters are reset, then the measured iterations. The peak reported is that
of the measured iterations; the warm-up's is kept apart (``warmup_peak_memory_bytes``).
The device calls (timer, peak counters, free memory) come from :class:`Probes`, so the
CUDA path runs on a CPU-only machine with stand-ins in the tests.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cnnstat.bench.peak import CpuPeak, CudaPeak
from cnnstat.bench.setup import Loop as _Loop
from cnnstat.bench.setup import free as _free
from cnnstat.bench.setup import random_input, ready_model, timed_step
from cnnstat.bench.stats import TimingStats, summarize
from cnnstat.bench.timers import CpuTimer, CudaTimer
from cnnstat.dtypes import torch_dtype
from cnnstat.enums import Word
from cnnstat.errors import CnnstatError, InvalidInputError


class Mode(str, Enum):
    """forward: eval under inference_mode; train: forward with grad, then backward of a scalar loss."""

    forward = "forward"
    train = "train"


DTYPES = ("fp32", "fp16", "bf16")


class BenchStatus(Word):
    """How a cell ended: measured, out of memory, or failed otherwise."""

    ok = "ok"
    oom = "oom"
    error = "error"


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return (value,) if isinstance(value, (str, int, Mode)) else tuple(value)


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and how."""

    models: tuple[str, ...]
    devices: tuple[str, ...] = ("cpu",)
    batch_sizes: tuple[int, ...] = (1,)
    modes: tuple[Mode, ...] = (Mode.forward, Mode.train)
    dtype: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    warmup: int | None = None  # None: until timings settle
    iters: int | None = None  # None: until min_time
    min_time_s: float = 1.0
    min_iters: int = 5
    threads: int | None = None
    cudnn_benchmark: bool = True
    input_size: tuple[int, ...] | None = None
    freeze: str | None = None
    freeze_ratio: float | None = None

    def __post_init__(self) -> None:
        # Users pass strings ("forward") and single values; inside, only tuples of enums travel.
        for name in ("models", "devices", "batch_sizes"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        modes: list[Mode] = []
        for m in _as_tuple(self.modes):
            try:
                modes.append(Mode(m))
            except ValueError:
                choices = ", ".join(x.value for x in Mode)
                raise InvalidInputError(f"unknown mode {m!r}; choose {choices}") from None
        object.__setattr__(self, "modes", tuple(modes))


@dataclass(frozen=True)
class BenchResult:
    """One cell of the bench table, with every raw sample."""

    model: str
    device: str
    batch_size: int
    mode: str
    dtype: str
    channels_last: bool
    compiled: bool
    threads: int
    status: BenchStatus = BenchStatus.ok
    message: str = ""
    forward_stats: TimingStats | None = None  # milliseconds, every sample kept
    backward_stats: TimingStats | None = None
    images_per_s: float | None = None
    flops: int | None = None  # counted FLOPs of one measured iteration
    achieved_flops_per_s: float | None = None
    ceiling_flops_per_s: float | None = None  # a matmul in ``math`` mode
    math: str | None = None  # fp32 | tf32 | bf16 | fp16: what the convs and matmuls ran in
    bytes_moved: int | None = None  # estimated DRAM traffic of one iteration (see bytes_moved())
    bandwidth_bytes_per_s: float | None = None  # a device-to-device copy
    bound: str | None = None  # compute | memory
    peak_memory_bytes: int | None = None  # the measured iterations' peak (device total)
    peak_reserved_bytes: int | None = None  # the CUDA caching allocator's peak reserve
    warmup_peak_memory_bytes: int | None = None  # warm-up and autotuning, kept apart
    estimated_memory_bytes: int | None = None
    estimated_reserved_bytes: int | None = None
    estimate_phase: str | None = None  # the memory model's phase the estimate is for
    requested_bytes: int | None = None  # oom: what the failing allocation asked for
    available_bytes: int | None = None  # oom: what the device had free

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", BenchStatus(self.status))

    @property
    def total_ms(self) -> float | None:
        if self.forward_stats is None:
            return None
        backward = self.backward_stats.median if self.backward_stats else 0.0
        return self.forward_stats.median + backward

    @property
    def noisy(self) -> bool:
        return any(t is not None and t.noisy for t in (self.forward_stats, self.backward_stats))

    @property
    def ceiling_share(self) -> float | None:
        """Achieved over ceiling FLOP/s; above 1 means the ceiling was measured wrong."""
        if not self.achieved_flops_per_s or not self.ceiling_flops_per_s:
            return None
        return self.achieved_flops_per_s / self.ceiling_flops_per_s

    @property
    def ceiling_exceeded(self) -> bool:
        share = self.ceiling_share
        return share is not None and share > 1.0

    @property
    def memory_error(self) -> float | None:
        """(measured - estimated) / estimated, on CUDA only.

        On CPU the measured figure is resident-set growth: pages of the allocator, thread
        pools and libraries, not the tensor bytes the estimate counts, so no error is given.
        """
        if self.device != "cuda" or not self.peak_memory_bytes or not self.estimated_memory_bytes:
            return None
        return (self.peak_memory_bytes - self.estimated_memory_bytes) / self.estimated_memory_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "batch_size": self.batch_size,
            "mode": self.mode,
            "dtype": self.dtype,
            "channels_last": self.channels_last,
            "compiled": self.compiled,
            "threads": self.threads,
            "status": self.status.value,
            "message": self.message,
            "forward_ms": self.forward_stats.to_dict() if self.forward_stats else None,
            "backward_ms": self.backward_stats.to_dict() if self.backward_stats else None,
            "total_ms": self.total_ms,
            "noisy": self.noisy,
            "images_per_s": self.images_per_s,
            "flops": self.flops,
            "achieved_flops_per_s": self.achieved_flops_per_s,
            "ceiling_flops_per_s": self.ceiling_flops_per_s,
            "ceiling_share": self.ceiling_share,
            "ceiling_exceeded": self.ceiling_exceeded,
            "math": self.math,
            "bytes_moved": self.bytes_moved,
            "bandwidth_bytes_per_s": self.bandwidth_bytes_per_s,
            "bound": self.bound,
            "peak_memory_bytes": self.peak_memory_bytes,
            "peak_reserved_bytes": self.peak_reserved_bytes,
            "warmup_peak_memory_bytes": self.warmup_peak_memory_bytes,
            "estimated_memory_bytes": self.estimated_memory_bytes,
            "estimated_reserved_bytes": self.estimated_reserved_bytes,
            "estimate_phase": self.estimate_phase,
            "requested_bytes": self.requested_bytes,
            "available_bytes": self.available_bytes,
        }


@dataclass
class BenchRun:
    """Everything a run measured, in order; ``interrupted`` when Ctrl-C stopped it early."""

    environment: dict[str, Any]
    results: list[BenchResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    interrupted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "interrupted": self.interrupted,
            "skipped": list(self.skipped),
            "results": [r.to_dict() for r in self.results],
        }


def resolve_devices(requested: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """Devices to run on, and what ``all`` skipped; a CUDA request without CUDA is an error."""
    import torch

    devices: list[str] = []
    skipped: list[str] = []
    for d in requested:
        if d == "all":
            devices.append("cpu")
            if torch.cuda.is_available():
                devices.append("cuda")
            else:
                skipped.append("cuda: no CUDA device is available")
        elif d == "cuda":
            if not torch.cuda.is_available():
                raise InvalidInputError(
                    "device cuda: no CUDA device is available on this machine", fields=("device",)
                )
            devices.append("cuda")
        elif d == "cpu":
            devices.append("cpu")
        else:
            raise InvalidInputError(f"unknown device '{d}'; choose cpu, cuda or all")
    return tuple(dict.fromkeys(devices)), skipped


def validate_options(config: BenchConfig, devices: tuple[str, ...]) -> None:
    """Fail before measuring when an option cannot be honoured on a device."""
    import torch

    if config.dtype not in DTYPES:
        raise InvalidInputError(f"unknown dtype '{config.dtype}'; choose fp32, fp16 or bf16")
    if any(b < 1 for b in config.batch_sizes):
        raise InvalidInputError("batch_sizes must be positive integers", fields=("batch_sizes",))
    if config.iters is not None and config.iters < 1:
        raise InvalidInputError("iters must be positive", fields=("iters",))
    if config.warmup is not None and config.warmup < 0:
        raise InvalidInputError("warmup must be >= 0", fields=("warmup",))
    if not (math.isfinite(config.min_time_s) and config.min_time_s > 0):
        raise InvalidInputError(
            f"min_time_s must be a positive number of seconds, not {config.min_time_s}",
            fields=("min_time_s",),
        )
    if config.min_iters < 1:
        raise InvalidInputError("min_iters must be positive")
    if config.freeze is not None and config.freeze_ratio is not None:
        raise InvalidInputError(
            "use either freeze or freeze_ratio, not both", fields=("freeze", "freeze_ratio")
        )
    if config.freeze_ratio is not None and not 0.0 < config.freeze_ratio <= 1.0:
        raise InvalidInputError(
            f"freeze_ratio must be in (0, 1], got {config.freeze_ratio}", fields=("freeze_ratio",)
        )
    if config.threads is not None and config.threads < 1:
        raise InvalidInputError("threads must be positive", fields=("threads",))
    if config.dtype != "fp32":
        for device in devices:
            try:
                with torch.autocast(device_type=device, dtype=torch_dtype(config.dtype)):
                    conv = torch.nn.Conv2d(1, 1, 1).to(device)
                    conv(torch.zeros(1, 1, 2, 2, device=device))
            except Exception as exc:
                raise InvalidInputError(
                    f"dtype {config.dtype} is not supported on {device} by this torch build: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                    fields=("dtype",),
                ) from None
    if config.compile:
        try:
            fn = torch.compile(lambda x: x * 2 + 1)
            fn(torch.zeros(4))
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidInputError(
                f"compile needs a working compiler: {first}", fields=("compile",)
            ) from None


def _is_oom(exc: BaseException) -> bool:
    import torch

    text = str(exc).lower()
    return (
        isinstance(exc, torch.cuda.OutOfMemoryError)
        or "out of memory" in text
        or "can't allocate memory" in text  # the CPU allocator
    )


_UNITS = {"bytes": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_SIZE = r"([\d.]+) ?(bytes|B|KiB|MiB|GiB|TiB)"


def _size(match: re.Match[str] | None) -> int | None:
    if match is None:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_oom(text: str) -> tuple[int | None, int | None, int | None]:
    """(requested, free, total) bytes from an out-of-memory message, None where it doesn't say.

    Reads PyTorch's CUDA wording since 2.1 ("Tried to allocate 2.00 GiB. GPU 0 has a total
    capacity of 79.10 GiB of which 1.23 GiB is free."), the older one ("Tried to allocate
    36.00 MiB (GPU 0; 7.93 GiB total capacity; ...; 47.06 MiB free; ...)") and the CPU
    allocator's ("you tried to allocate 1234 bytes"). Sizes are as printed, to 2 decimals.
    """
    requested = _size(re.search(r"[Tt]ried to allocate " + _SIZE, text))
    free = _size(re.search(r"of which " + _SIZE + " is free", text)) or _size(
        re.search(_SIZE + " free", text)
    )
    total = _size(re.search(r"total capacity of " + _SIZE, text)) or _size(
        re.search(_SIZE + " total capacity", text)
    )
    return requested, free, total


def oom_fields(exc: BaseException, free_bytes: Callable[[], tuple[int, int] | None]) -> dict[str, Any]:
    """The one-line message and byte counts of an OOM cell (raw bytes: render.py makes them
    human); the device is asked for its free and total memory when the message doesn't say."""
    requested, free, total = parse_oom(str(exc))
    if free is None or total is None:
        try:
            queried = free_bytes()
        except Exception:  # the device may be in no state to answer
            queried = None
        if queried is not None:
            free = queried[0] if free is None else free
            total = queried[1] if total is None else total
    parts = [f"tried to allocate {requested} bytes" if requested is not None else "an allocation failed"]
    if free is not None:
        parts.append(f"{free} bytes free" + (f" of {total}" if total is not None else ""))
    return {"message": "out of memory: " + ", ".join(parts), "requested_bytes": requested,
            "available_bytes": free}


@dataclass(frozen=True)
class Probes:
    """The device calls a cell makes: its timer, its peak counters and, after an OOM, the
    device's (free, total) bytes. Stand-ins replace them to test the CUDA path on a CPU."""

    kind: str  # "cpu" or "cuda"
    timer: Callable[[], Any]
    peak: Callable[[], Any]
    free_bytes: Callable[[], tuple[int, int] | None] = lambda: None


def probes_for(device: str) -> Probes:
    """The real device calls: perf_counter and RSS on CPU; CUDA events and allocator stats on CUDA."""
    if device == "cuda":
        import torch

        return Probes("cuda", CudaTimer, CudaPeak, lambda: tuple(torch.cuda.mem_get_info()))  # type: ignore[arg-type,return-value]
    return Probes("cpu", CpuTimer, CpuPeak, _host_memory)


def _host_memory() -> tuple[int, int] | None:
    """(available, total) bytes of host memory from /proc/meminfo; None where there is none."""
    fields: dict[str, int] = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("MemAvailable", "MemTotal"):
                    fields[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    if len(fields) < 2:
        return None
    return fields["MemAvailable"], fields["MemTotal"]


def _uses(report: Any) -> tuple[bool, bool]:
    """(uses convolutions, uses matrix products): the op kinds whose math mode sets the ceiling."""
    from cnnstat.ops import OpKind, kind_of

    kinds = {kind_of(op) for layer in report.layers for op, macs in layer.macs_by_op if macs}
    return OpKind.conv in kinds, bool(kinds & {OpKind.matmul, OpKind.attention})


def bytes_moved(totals: Any, input_bytes: int, train: bool) -> int:
    """Estimated DRAM traffic of one iteration, from what the analysis counts.

    Forward: parameters and buffers read once, the input read once, every layer output
    written once and read once by the next layer. A training step adds the backward:
    parameters read again, their gradients written, the saved activations read, and one
    gradient per activation written and read. Caches, fusion and kernels that re-read
    their inputs are ignored, so this is a floor-like estimate for the roofline test.
    """
    forward = totals.param_bytes + totals.buffer_bytes + input_bytes + 2 * totals.activation_bytes
    if not train:
        return int(forward)
    backward = (totals.param_bytes + totals.gradient_bytes + totals.saved_for_backward_bytes
                + 2 * totals.activation_bytes)  # fmt: skip
    return int(forward + backward)


def ceiling_budget_s(measured_s: float, cap_s: float = 1.0) -> float:
    """The time each of the two ceiling microbenchmarks may take: together no longer than the
    measurement they serve, at most ``cap_s`` each, rounded down to a power of two so a
    sweep of growing cells re-measures the cached ceiling only when the budget doubles."""
    half = min(cap_s, measured_s / 2)
    if half <= 0:
        return 0.0
    return float(2.0 ** math.floor(math.log2(half)))


def measure_ceilings(device: str, math_mode: str, budget_s: float) -> tuple[float, float]:
    """(matmul FLOP/s in ``math_mode``, copy bytes/s), each within about ``budget_s``."""
    from cnnstat.bench.ceiling import copy_bandwidth, matmul_ceiling

    return (matmul_ceiling(device, math=math_mode, budget_s=budget_s),
            copy_bandwidth(device, budget_s=budget_s))


class _Analyses:
    """One analysis per model, input, batch and freezing, for every cell that shares them.

    The cells of a model differ in device and mode only: a forward cell and a train cell
    read the same forward counts, so the analysis counts the backward too when the run has
    train cells, and serves both.
    """

    def __init__(self) -> None:
        self._reports: dict[tuple[Any, ...], Any] = {}

    def get(self, config: BenchConfig, model_name: str, size: tuple[int, ...], batch: int,
            backward: bool) -> Any:
        from cnnstat.analysis import analyze

        key = (model_name, tuple(size), batch, config.freeze, config.freeze_ratio)
        report = self._reports.get(key)
        if report is not None and (report.totals.backward_flops is not None or not backward):
            return report

        def run(with_backward: bool) -> Any:
            return analyze(model_name, input_size=size, batch_size=batch, backward=with_backward,
                           freeze=config.freeze, freeze_ratio=config.freeze_ratio)

        want_backward = backward or Mode.train in config.modes
        try:
            report = run(want_backward)
        except CnnstatError:
            if backward or not want_backward:
                raise
            report = run(False)  # the backward cannot be counted: the forward cells still can
        self._reports[key] = report
        return report


@dataclass(frozen=True)
class _CellPlan:
    """What a cell expects before it runs: from the analysis and the memory model."""

    size: tuple[int, ...]
    flops: int  # of one measured iteration
    bytes_moved: int
    amp_dtype: Any
    math: str
    phase: str  # the memory model's phase the estimate is for
    estimate: int | None
    estimate_reserved: int | None


def _plan_cell(config: BenchConfig, model_name: str, device: str, batch: int, mode: Mode,
               probes: Probes, analyses: _Analyses) -> _CellPlan:
    from cnnstat import zoo
    from cnnstat.bench.ceiling import math_mode

    spec = zoo.resolve(model_name)
    size = config.input_size or spec.default_input_size
    if size is None:
        raise InvalidInputError(
            f"custom model '{model_name}' needs an input size: give input_size", fields=("input_size",)
        )
    train = mode is Mode.train
    report = analyses.get(config, model_name, size, batch, backward=train)
    t = report.totals
    amp_dtype = torch_dtype(config.dtype)
    uses_conv, uses_matmul = _uses(report)
    phase = "train_step" if train else "inference"
    estimate, estimate_reserved = predicted_memory(model_name, size, batch, device, phase, config)
    return _CellPlan(
        size=tuple(size),
        flops=t.flops + (t.backward_flops or 0) if train else t.flops,
        bytes_moved=bytes_moved(t, batch * math.prod(size) * 4, train),
        amp_dtype=amp_dtype,
        math=math_mode(probes.kind, amp_dtype, uses_conv, uses_matmul),
        phase=phase,
        estimate=estimate,
        estimate_reserved=estimate_reserved,
    )


@dataclass(frozen=True)
class _Timings:
    """What the measured iterations of a cell gave: statistics in ms, peaks in bytes."""

    forward: TimingStats
    backward: TimingStats | None
    measured_s: float  # every measured iteration together
    peak_bytes: int | None
    peak_reserved_bytes: int | None
    warmup_peak_bytes: int | None


def _time_cell(config: BenchConfig, model: Any, plan: _CellPlan, batch: int, device: str,
               mode: Mode, probes: Probes, peak: Any) -> _Timings:
    """Warm up, reset the peak counters, and time the measured iterations."""
    import torch

    train = mode is Mode.train
    model = ready_model(model, device, train, config.channels_last, _frozen_names(model, config))
    x = random_input(plan.size, batch, device, config.channels_last)
    runner = torch.compile(model) if config.compile else model
    step = timed_step(runner, model, x, device, plan.amp_dtype, config.dtype != "fp32",
                      probes.timer(), train=train)  # fmt: skip
    loop = _Loop(config)
    loop.warmup(step)
    if config.warmup == 0 and (config.compile or (probes.kind == "cuda" and config.cudnn_benchmark)):
        step()  # compilation and cuDNN's autotuning happen on the first call: never measured
    if train:
        for p in model.parameters():
            p.grad = None  # the last warm-up's gradients are not the measured steps' memory
    warmup_peak = peak.peak_bytes()
    peak.reset()
    samples = loop.measure(step)
    return _Timings(
        forward=summarize([s[0] for s in samples]),
        backward=summarize([s[1] for s in samples]) if train else None,
        measured_s=sum(sum(s) for s in samples) / 1e3,
        peak_bytes=peak.peak_bytes(),
        peak_reserved_bytes=peak.peak_reserved_bytes(),
        warmup_peak_bytes=warmup_peak,
    )


def _measure_cell(
    config: BenchConfig,
    model_name: str,
    device: str,
    batch: int,
    mode: Mode,
    threads: int,
    build: Callable[[], Any] | None = None,
    probes: Probes | None = None,
    ceilings: Callable[[str, str, float], tuple[float, float]] = measure_ceilings,
    analyses: _Analyses | None = None,
) -> BenchResult:
    from cnnstat import zoo
    from cnnstat.bench.ceiling import bound

    probes = probes or probes_for(device)
    plan = _plan_cell(config, model_name, device, batch, mode, probes, analyses or _Analyses())
    peak = probes.peak()
    peak.start()
    model = (build or (lambda: zoo.build(zoo.resolve(model_name), meta=False)))()
    timings = _time_cell(config, model, plan, batch, device, mode, probes, peak)
    fwd, bwd = timings.forward, timings.backward
    total_s = (fwd.median + (bwd.median if bwd else 0.0)) / 1e3
    budget = ceiling_budget_s(timings.measured_s)
    ceiling, bandwidth = ceilings(device, plan.math, budget) if budget > 0 else (None, None)
    flops, moved = plan.flops, plan.bytes_moved
    return BenchResult(
        **_cell_fields(config, model_name, device, batch, mode, threads),
        forward_stats=fwd,
        backward_stats=bwd,
        images_per_s=batch / total_s if total_s > 0 else None,
        flops=flops,
        achieved_flops_per_s=flops / total_s if total_s > 0 else None,
        ceiling_flops_per_s=ceiling or None,
        math=plan.math,
        bytes_moved=moved,
        bandwidth_bytes_per_s=bandwidth or None,
        bound=bound(flops, moved, ceiling, bandwidth) if ceiling and bandwidth else None,
        peak_memory_bytes=timings.peak_bytes,
        peak_reserved_bytes=timings.peak_reserved_bytes,
        warmup_peak_memory_bytes=timings.warmup_peak_bytes,
        estimated_memory_bytes=plan.estimate,
        estimated_reserved_bytes=plan.estimate_reserved,
        estimate_phase=plan.phase if plan.estimate is not None else None,
    )


def _cell_fields(config: BenchConfig, model_name: str, device: str, batch: int, mode: Mode,
                 threads: int) -> dict[str, Any]:
    """The fields that name a cell, whatever it measured."""
    return dict(
        model=model_name, device=device, batch_size=batch, mode=Mode(mode).value,
        dtype=config.dtype, channels_last=config.channels_last, compiled=config.compile,
        threads=threads,
    )  # fmt: skip


def predicted_memory(model_name: str, size: tuple[int, ...], batch: int, device: str,
                     phase: str, config: BenchConfig) -> tuple[int | None, int | None]:
    """The memory model's (peak, reserved) bytes for ``phase``: "inference" for a forward cell,
    "train_step" (gradients starting as None, no optimizer: what a measured train step is)
    for a train cell; None where the model has no prediction (CPU autocast)."""
    from cnnstat.errors import CnnstatError
    from cnnstat.memory import memory

    if config.dtype != "fp32" and device != "cuda":
        return None, None
    try:
        report = memory(model_name, input_size=size, batch_size=batch, device=device,
                        dtype=config.dtype, phases=(phase,), channels_last=config.channels_last,
                        freeze=config.freeze, freeze_ratio=config.freeze_ratio)
    except CnnstatError:
        return None, None
    return report.peak(phase), report.reserved_bytes.get(phase)


def predicted_peak_bytes(model_name: str, size: tuple[int, ...], batch: int, device: str,
                         mode: Mode, config: BenchConfig) -> int | None:
    """The memory model's peak for the phase a cell measures (see :func:`predicted_memory`)."""
    phase = "train_step" if Mode(mode) is Mode.train else "inference"
    return predicted_memory(model_name, size, batch, device, phase, config)[0]


def _frozen_names(model: Any, config: BenchConfig) -> set[str]:
    from cnnstat.transfer import frozen_parameters

    return frozen_parameters(model, config.freeze, config.freeze_ratio)


def precheck_model(config: BenchConfig, name: str) -> str | None:
    """What stops ``name`` from being measured at all (no input size, a ``--freeze`` module it
    lacks), found on a meta build before any cell runs; None when nothing does."""
    from cnnstat import zoo
    from cnnstat.errors import CnnstatError

    try:
        spec = zoo.resolve(name)
        if (config.input_size or spec.default_input_size) is None:
            return f"custom model '{name}' needs an input size (input_size)"
        if config.freeze is not None or config.freeze_ratio is not None:
            _frozen_names(zoo.build(spec, meta=True), config)
    except CnnstatError as exc:
        return str(exc)
    return None


def run_bench(
    config: BenchConfig,
    on_cell: Callable[[str, int, int], None] | None = None,
    measure: Callable[..., BenchResult] | None = None,
) -> BenchRun:
    """Measure every cell of ``config``; ``on_cell(description, done, total)`` reports progress.

    Options that are wrong for every model raise :class:`InvalidInputError` before anything
    is measured; a problem of one model becomes that model's error rows. ``measure`` times
    one cell (default: :func:`_measure_cell`, sharing one analysis per model and batch).
    """
    import torch

    from cnnstat import zoo
    from cnnstat.bench.ceiling import math_mode
    from cnnstat.bench.environment import capture

    for name in config.models:
        zoo.resolve(name)  # unknown names fail before anything is measured
    devices, skipped = resolve_devices(config.devices)
    validate_options(config, devices)
    problems = {name: precheck_model(config, name) for name in config.models}
    if measure is None:
        measure = functools.partial(_measure_cell, analyses=_Analyses())
    threads = config.threads or os.cpu_count() or 1
    previous_threads = torch.get_num_threads()
    previous_cudnn = torch.backends.cudnn.benchmark
    torch.set_num_threads(threads)
    torch.backends.cudnn.benchmark = config.cudnn_benchmark
    run = BenchRun(environment=capture(threads), skipped=skipped)
    # The math mode the backend flags give convolutions and matmuls; a cell whose model has
    # no conv (or no matmul) may run in a different one, which its own ``math`` says.
    modes = {d: math_mode(d, torch_dtype(config.dtype)) for d in devices}
    run.environment["math"] = (
        ", ".join(f"{d}: {m}" for d, m in modes.items()) if len(modes) > 1 else next(iter(modes.values()), None)
    )
    cells = [
        (m, d, b, mode)
        for m in config.models
        for d in devices
        for b in config.batch_sizes
        for mode in config.modes
    ]
    try:
        for i, (m, d, b, mode) in enumerate(cells):
            if on_cell is not None:
                on_cell(f"{m} · {d} · batch {b} · {mode.value}", i, len(cells))
            base = _cell_fields(config, m, d, b, mode, threads)
            problem = problems[m]
            if problem is not None:
                run.results.append(BenchResult(**base, status=BenchStatus.error, message=problem))
                continue
            run.results.append(_run_cell(measure, config, base, threads))
        if on_cell is not None:
            on_cell("done", len(cells), len(cells))
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        torch.set_num_threads(previous_threads)
        torch.backends.cudnn.benchmark = previous_cudnn
    return run


def _run_cell(measure: Callable[..., BenchResult], config: BenchConfig, base: dict[str, Any],
              threads: int) -> BenchResult:
    """One measured cell, or its ``oom`` or ``error`` row; Ctrl-C goes through."""
    device = base["device"]
    try:
        return measure(config, base["model"], device, base["batch_size"], Mode(base["mode"]),
                       threads)  # fmt: skip
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        if _is_oom(exc):
            fields = oom_fields(exc, probes_for(device).free_bytes)
            return BenchResult(**base, status=BenchStatus.oom, **fields)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        message = first if isinstance(exc, CnnstatError) else f"{type(exc).__name__}: {first}"
        return BenchResult(**base, status=BenchStatus.error, message=message)
    finally:
        _free(device)
