"""The bench runner: one cell per model × device × batch size × mode, each kept whatever the others do.

A cell that runs out of CUDA memory is recorded as ``oom`` and the CUDA cache
is freed before the next; any other failure is ``error`` with its message.
Ctrl-C stops the run and keeps every finished cell.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cnnstat.bench.peak import CpuPeak, CudaPeak
from cnnstat.bench.stats import TimingStats, summarize
from cnnstat.bench.timers import CpuTimer, CudaTimer
from cnnstat.errors import InvalidInputError


class Mode(str, Enum):
    """forward: eval under inference_mode; train: forward with grad, then backward of a scalar loss."""

    forward = "forward"
    train = "train"


DTYPES = ("fp32", "fp16", "bf16")


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
    status: str = "ok"  # ok | oom | error
    message: str = ""
    forward_ms: TimingStats | None = None
    backward_ms: TimingStats | None = None
    images_per_s: float | None = None
    flops: int | None = None  # counted FLOPs of one measured iteration
    achieved_flops_per_s: float | None = None
    ceiling_flops_per_s: float | None = None
    peak_memory_bytes: int | None = None
    estimated_memory_bytes: int | None = None

    @property
    def total_ms(self) -> float | None:
        if self.forward_ms is None:
            return None
        return self.forward_ms.median + (self.backward_ms.median if self.backward_ms else 0.0)

    @property
    def noisy(self) -> bool:
        return any(t is not None and t.noisy for t in (self.forward_ms, self.backward_ms))

    @property
    def memory_error(self) -> float | None:
        """(measured - estimated) / estimated."""
        if not self.peak_memory_bytes or not self.estimated_memory_bytes:
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
            "status": self.status,
            "message": self.message,
            "forward_ms": self.forward_ms.to_dict() if self.forward_ms else None,
            "backward_ms": self.backward_ms.to_dict() if self.backward_ms else None,
            "total_ms": self.total_ms,
            "noisy": self.noisy,
            "images_per_s": self.images_per_s,
            "flops": self.flops,
            "achieved_flops_per_s": self.achieved_flops_per_s,
            "ceiling_flops_per_s": self.ceiling_flops_per_s,
            "peak_memory_bytes": self.peak_memory_bytes,
            "estimated_memory_bytes": self.estimated_memory_bytes,
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


def _torch_dtype(name: str) -> Any:
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


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
                    "--device cuda: no CUDA device is available on this machine"
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
        raise InvalidInputError("batch sizes must be positive integers")
    if config.iters is not None and config.iters < 1:
        raise InvalidInputError("--iters must be positive")
    if config.warmup is not None and config.warmup < 0:
        raise InvalidInputError("--warmup must be >= 0")
    if config.min_time_s <= 0:
        raise InvalidInputError("--min-time must be positive")
    if config.threads is not None and config.threads < 1:
        raise InvalidInputError("--threads must be positive")
    if config.dtype != "fp32":
        for device in devices:
            try:
                with torch.autocast(device_type=device, dtype=_torch_dtype(config.dtype)):
                    conv = torch.nn.Conv2d(1, 1, 1).to(device)
                    conv(torch.zeros(1, 1, 2, 2, device=device))
            except Exception as exc:
                raise InvalidInputError(
                    f"--dtype {config.dtype} is not supported on {device} by this torch build: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                ) from None
    if config.compile:
        try:
            fn = torch.compile(lambda x: x * 2 + 1)
            fn(torch.zeros(4))
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidInputError(f"--compile needs a working compiler: {first}") from None


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _free(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


class _Loop:
    """Warm-up until settled (or fixed), then measure until ``iters`` or ``min_time``."""

    SETTLE_WINDOW = 3
    SETTLE_TOLERANCE = 0.05
    MAX_WARMUP = 20

    def __init__(self, config: BenchConfig) -> None:
        self.config = config

    def warmup(self, step: Callable[[], list[float]]) -> None:
        if self.config.warmup is not None:
            for _ in range(self.config.warmup):
                step()
            return
        totals: list[float] = []
        for _ in range(self.MAX_WARMUP):
            totals.append(sum(step()))
            if len(totals) >= self.SETTLE_WINDOW + 1:
                window = totals[-self.SETTLE_WINDOW :]
                mid = sorted(window)[len(window) // 2]
                if mid > 0 and (max(window) - min(window)) / mid <= self.SETTLE_TOLERANCE:
                    return

    def measure(self, step: Callable[[], list[float]]) -> list[list[float]]:
        samples: list[list[float]] = []
        spent_ms = 0.0
        while True:
            phases = step()
            samples.append(phases)
            spent_ms += sum(phases)
            if self.config.iters is not None:
                if len(samples) >= self.config.iters:
                    return samples
            elif len(samples) >= self.config.min_iters and spent_ms >= self.config.min_time_s * 1e3:
                return samples


def _measure_cell(
    config: BenchConfig,
    model_name: str,
    device: str,
    batch: int,
    mode: Mode,
    threads: int,
    build: Callable[[], Any] | None = None,
) -> BenchResult:
    import torch

    import cnnstat
    from cnnstat import zoo
    from cnnstat.bench.ceiling import matmul_ceiling

    base = dict(
        model=model_name,
        device=device,
        batch_size=batch,
        mode=mode.value,
        dtype=config.dtype,
        channels_last=config.channels_last,
        compiled=config.compile,
        threads=threads,
    )
    spec = zoo.resolve(model_name)
    size = config.input_size or spec.default_input_size
    if size is None:
        raise InvalidInputError(f"custom model '{model_name}' needs --input-size")
    report = cnnstat.analyze(
        model_name,
        input_size=size,
        batch_size=batch,
        backward=mode is Mode.train,
        freeze=config.freeze,
        freeze_ratio=config.freeze_ratio,
    )
    t = report.totals
    flops = t.flops + (t.backward_flops or 0) if mode is Mode.train else t.flops
    amp_dtype = _torch_dtype(config.dtype)
    estimate = predicted_peak_bytes(model_name, size, batch, device, mode, config)
    peak = CudaPeak() if device == "cuda" else CpuPeak()
    peak.start()
    model = (build or (lambda: zoo.build(spec, meta=False)))()
    frozen = _frozen_names(model, config)
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=memory_format)  # type: ignore[call-overload]
    x = (
        torch.randn(batch, *size, device=device).to(memory_format=memory_format)
        if len(size) == 3
        else torch.randn(batch, *size, device=device)
    )
    if mode is Mode.forward:
        model.eval()
    else:
        model.train()
    runner = torch.compile(model) if config.compile else model
    timer: Any = CudaTimer() if device == "cuda" else CpuTimer()
    autocast = config.dtype != "fp32"

    def forward_step() -> list[float]:
        with torch.inference_mode(), torch.autocast(device, dtype=amp_dtype, enabled=autocast):
            timer.start()
            runner(x)
            timer.mark()
        return timer.elapsed_ms()  # type: ignore[no-any-return]

    def train_step() -> list[float]:
        for p in model.parameters():
            p.grad = None
        timer.start()
        with torch.autocast(device, dtype=amp_dtype, enabled=autocast):
            out = runner(x)
            out = out[0] if isinstance(out, (tuple, list)) else out
            loss = out.float().mean()
        timer.mark()
        if loss.requires_grad:
            loss.backward()
        timer.mark()
        return timer.elapsed_ms()  # type: ignore[no-any-return]

    step = forward_step if mode is Mode.forward else train_step
    loop = _Loop(config)
    loop.warmup(step)
    samples = loop.measure(step)
    peak_bytes = peak.peak_bytes()
    fwd = summarize([s[0] for s in samples])
    bwd = summarize([s[1] for s in samples]) if mode is Mode.train else None
    total_s = (fwd.median + (bwd.median if bwd else 0.0)) / 1e3
    ceiling = matmul_ceiling(device, amp_dtype)
    return BenchResult(
        **base,  # type: ignore[arg-type]
        forward_ms=fwd,
        backward_ms=bwd,
        images_per_s=batch / total_s if total_s > 0 else None,
        flops=flops,
        achieved_flops_per_s=flops / total_s if total_s > 0 else None,
        ceiling_flops_per_s=ceiling,
        peak_memory_bytes=peak_bytes,
        estimated_memory_bytes=estimate,
    )


def predicted_peak_bytes(model_name: str, size: tuple[int, ...], batch: int, device: str,
                         mode: Mode, config: BenchConfig) -> int | None:
    """The memory model's peak for the phase a cell measures: inference for forward, the
    first training step for train; None where the model has no prediction (CPU autocast)."""
    from cnnstat.errors import CnnstatError
    from cnnstat.memory import memory

    phase = "train_step" if mode is Mode.train else "inference"
    if config.dtype != "fp32" and device != "cuda":
        return None
    try:
        report = memory(model_name, input_size=size, batch_size=batch, device=device,
                        dtype=config.dtype, phases=(phase,), channels_last=config.channels_last,
                        freeze=config.freeze, freeze_ratio=config.freeze_ratio)
    except CnnstatError:
        return None
    return report.peak(phase)


def _frozen_names(model: Any, config: BenchConfig) -> set[str]:
    from cnnstat.transfer import frozen_parameters

    return frozen_parameters(model, config.freeze, config.freeze_ratio)


def run_bench(
    config: BenchConfig,
    on_cell: Callable[[str, int, int], None] | None = None,
    measure: Callable[..., BenchResult] = _measure_cell,
) -> BenchRun:
    """Measure every cell of ``config``; ``on_cell(description, done, total)`` reports progress."""
    import torch

    from cnnstat import zoo
    from cnnstat.bench.environment import capture

    for name in config.models:
        zoo.resolve(name)  # unknown names fail before anything is measured
    devices, skipped = resolve_devices(config.devices)
    validate_options(config, devices)
    threads = config.threads or os.cpu_count() or 1
    previous_threads = torch.get_num_threads()
    previous_cudnn = torch.backends.cudnn.benchmark
    torch.set_num_threads(threads)
    torch.backends.cudnn.benchmark = config.cudnn_benchmark
    run = BenchRun(environment=capture(threads), skipped=skipped)
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
            base = dict(
                model=m, device=d, batch_size=b, mode=mode.value, dtype=config.dtype,
                channels_last=config.channels_last, compiled=config.compile, threads=threads,
            )  # fmt: skip
            try:
                run.results.append(measure(config, m, d, b, mode, threads))
            except KeyboardInterrupt:
                raise
            except InvalidInputError:
                raise
            except Exception as exc:
                status = "oom" if _is_oom(exc) else "error"
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                run.results.append(
                    BenchResult(**base, status=status, message=f"{type(exc).__name__}: {first}")  # type: ignore[arg-type]
                )
            finally:
                _free(d)
        if on_cell is not None:
            on_cell("done", len(cells), len(cells))
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        torch.set_num_threads(previous_threads)
        torch.backends.cudnn.benchmark = previous_cudnn
    return run
