"""The CUDA paths of a bench cell, run on a CPU with the CUDA calls replaced by stand-ins:
the timer, the peak counters (allocated and reserved) and the device's free memory."""

from __future__ import annotations

import pytest
import torch

import cnnstat
from cnnstat.bench import BenchConfig, Mode, run_bench
from cnnstat.bench.peak import CudaPeak
from cnnstat.bench.runner import (
    BenchResult,
    Probes,
    _measure_cell,
    bytes_moved,
    oom_fields,
    parse_oom,
)
from cnnstat.render import bench_table, oom_note

GiB = 1 << 30
MiB = 1 << 20


class FakeCuda:
    """``torch.cuda``'s allocator statistics, driven by the test: ``allocate(n)`` is a step's
    high-water mark, ``reset_peak_memory_stats`` brings the peaks down to what is held now."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.held = 300 * MiB  # what stays allocated between steps
        self.max_allocated = self.held
        self.max_reserved = self.held

    def allocate(self, peak: int, reserved: int) -> None:
        self.max_allocated = max(self.max_allocated, peak)
        self.max_reserved = max(self.max_reserved, reserved)

    def synchronize(self) -> None:
        pass

    def empty_cache(self) -> None:
        self.log.append("empty_cache")

    def reset_peak_memory_stats(self) -> None:
        self.log.append("reset")
        self.max_allocated = self.max_reserved = self.held

    def max_memory_allocated(self) -> int:
        self.log.append("read")
        return self.max_allocated

    def max_memory_reserved(self) -> int:
        return self.max_reserved


class FakeEventTimer:
    """A CUDA-event timer whose phases take 10 ms (forward) and 20 ms (backward). The first
    step is cuDNN's autotuning: it touches 2.5 GiB of trial workspaces; later steps 700 MiB."""

    def __init__(self, log: list[str], cuda: FakeCuda) -> None:
        self.log, self.cuda = log, cuda
        self.steps = 0
        self.marks = 0

    def start(self) -> None:
        self.log.append("step")
        self.steps += 1
        self.marks = 0
        if self.steps == 1:
            self.cuda.allocate(5 * GiB // 2, 3 * GiB)
        else:
            self.cuda.allocate(700 * MiB, 1 * GiB)

    def mark(self) -> None:
        self.marks += 1

    def elapsed_ms(self) -> list[float]:
        return [10.0, 20.0][: self.marks]


def fake_probes(log: list[str]) -> tuple[Probes, FakeCuda]:
    cuda = FakeCuda(log)
    timers: list[FakeEventTimer] = []

    def timer() -> FakeEventTimer:
        timers.append(FakeEventTimer(log, cuda))
        return timers[-1]

    return Probes("cuda", timer, lambda: CudaPeak(cuda), lambda: (GiB, 80 * GiB)), cuda


def _cell(config: BenchConfig, mode: Mode, log: list[str], budgets: list[float],
          ceiling: float = 1e12, bandwidth: float = 1e12) -> BenchResult:
    probes, _ = fake_probes(log)

    def ceilings(device: str, math: str, budget_s: float) -> tuple[float, float]:
        budgets.append(budget_s)
        return ceiling, bandwidth

    return _measure_cell(config, "lenet5", "cpu", 2, mode, 1, probes=probes, ceilings=ceilings)


def test_peak_is_the_measured_iterations_not_warm_up_or_autotuning() -> None:
    log: list[str] = []
    budgets: list[float] = []
    r = _cell(BenchConfig(models=("lenet5",), warmup=2, iters=3), Mode.train, log, budgets)
    # start (reset), 2 warm-up steps, the warm-up's peak read, its cache given back, a reset,
    # 3 measured steps, a read
    assert log == ["reset", "step", "step", "read", "empty_cache", "reset",
                   "step", "step", "step", "read"]  # fmt: skip
    assert r.warmup_peak_memory_bytes == 5 * GiB // 2  # autotuning's trial workspaces
    assert r.peak_memory_bytes == 700 * MiB  # the measured steps alone
    assert r.peak_reserved_bytes == 1 * GiB
    d = r.to_dict()
    assert d["warmup_peak_memory_bytes"] == 5 * GiB // 2 and d["peak_reserved_bytes"] == GiB
    assert d["estimate_phase"] == "train_step"
    from cnnstat.memory import memory

    predicted = memory("lenet5", batch_size=2, device="cpu", phases=("train_step",))
    assert r.estimated_memory_bytes == predicted.train_step_peak_bytes


def test_zero_warm_up_still_keeps_autotuning_out_of_the_measured_peak() -> None:
    log: list[str] = []
    r = _cell(BenchConfig(models=("lenet5",), warmup=0, iters=2), Mode.forward, log, [])
    # cuDNN benchmark mode on a CUDA device: one untimed first call before the reset
    assert log == ["reset", "step", "read", "empty_cache", "reset", "step", "step", "read"]
    assert r.peak_memory_bytes == 700 * MiB and r.forward_stats.n == 2
    assert r.estimate_phase == "inference"
    log.clear()
    _cell(BenchConfig(models=("lenet5",), warmup=0, iters=2, cudnn_benchmark=False),
          Mode.forward, log, [])
    assert log == ["reset", "read", "empty_cache", "reset", "step", "step", "read"]  # no autotuning


def test_ceiling_share_math_mode_and_roofline_from_the_cell() -> None:
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default: convolutions in TF32
    try:
        budgets: list[float] = []
        r = _cell(BenchConfig(models=("lenet5",), warmup=1, iters=4), Mode.train, [], budgets,
                  ceiling=1e9, bandwidth=1e9)
    finally:
        torch.backends.cudnn.allow_tf32 = saved
    assert r.math == "tf32"  # lenet5 has convolutions, so cuDNN's TF32 is what ran
    report = cnnstat.analyze("lenet5", batch_size=2, backward=True)
    flops = report.totals.flops + report.totals.backward_flops
    assert r.flops == flops
    # 4 steps of 10 + 20 ms: the median step is 30 ms
    assert r.achieved_flops_per_s == pytest.approx(flops / 0.030)
    assert r.ceiling_share == pytest.approx(flops / 0.030 / 1e9)
    t = report.totals
    moved = (t.param_bytes + t.buffer_bytes + 2 * 1 * 32 * 32 * 4 + 2 * t.activation_bytes
             + t.param_bytes + t.gradient_bytes + t.saved_for_backward_bytes
             + 2 * t.activation_bytes)  # fmt: skip
    assert r.bytes_moved == moved
    assert r.bound == ("compute" if flops / 1e9 >= moved / 1e9 else "memory")
    # the two ceiling microbenchmarks together never take longer than the 120 ms measured
    (budget,) = budgets
    assert 2 * budget <= 0.120 and budget == 2**-5  # 31.25 ms: the power of two below 60 ms


def test_bytes_moved_of_a_forward_pass() -> None:
    from cnnstat.records import Totals

    t = Totals(params=10, trainable_params=10, frozen_params=0, param_bytes=40, buffer_bytes=8,
               macs=0, flops=0, activation_bytes=100, saved_for_backward_bytes=60,
               gradient_bytes=40)
    assert bytes_moved(t, 12, train=False) == 40 + 8 + 12 + 2 * 100
    assert bytes_moved(t, 12, train=True) == (40 + 8 + 12 + 200) + (40 + 40 + 60 + 200)


TORCH2_OOM = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.10 GiB "
    "of which 1.25 GiB is free. Including non-PyTorch memory, this process has 77.85 GiB memory "
    "in use. Of the allocated memory 75.50 GiB is allocated by PyTorch, and 1.20 GiB is reserved "
    "by PyTorch but unallocated. If reserved but unallocated memory is large try setting "
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation "
    "for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
)
TORCH1_OOM = (
    "CUDA out of memory. Tried to allocate 36.00 MiB (GPU 0; 7.93 GiB total capacity; 130.35 MiB "
    "already allocated; 47.00 MiB free; 188.00 MiB reserved in total by PyTorch)\n"
    "If reserved memory is >> allocated memory try setting max_split_size_mb"
)


def test_oom_messages_are_parsed() -> None:
    assert parse_oom(TORCH2_OOM) == (2 * GiB, int(1.25 * GiB), int(79.10 * GiB))
    assert parse_oom(TORCH1_OOM) == (36 * MiB, 47 * MiB, int(7.93 * GiB))
    cpu = "DefaultCPUAllocator: can't allocate memory: you tried to allocate 123456 bytes."
    assert parse_oom(cpu) == (123456, None, None)
    assert parse_oom("something else") == (None, None, None)


def test_oom_without_free_bytes_asks_the_device() -> None:
    fields = oom_fields(RuntimeError("CUDA out of memory."), lambda: (5 * MiB, 80 * GiB))
    assert fields["requested_bytes"] is None and fields["available_bytes"] == 5 * MiB
    fields = oom_fields(RuntimeError("CUDA out of memory."), lambda: None)
    assert fields["available_bytes"] is None


def test_oom_cell_is_one_line_with_requested_and_available_bytes() -> None:
    def measure(config, model, device, batch, mode, threads):
        if batch == 8:
            raise torch.cuda.OutOfMemoryError(TORCH2_OOM)
        return BenchResult(model, device, batch, mode.value, "fp32", False, False, threads)

    run = run_bench(BenchConfig(models=("lenet5",), batch_sizes=(1, 8), modes=(Mode.forward,)),
                    measure=measure)
    ok, oom = run.results
    assert ok.status == "ok" and oom.status == "oom"
    assert oom.requested_bytes == 2 * GiB and oom.available_bytes == int(1.25 * GiB)
    assert "\n" not in oom.message and "PYTORCH_CUDA_ALLOC_CONF" not in oom.message
    note = oom_note(oom)
    assert "2.0 GiB" in note and "1.2 GiB" in note and "\n" not in note
    from rich.console import Console

    console = Console(width=200, color_system=None)
    with console.capture() as cap:
        console.print(bench_table(run))
    lines = cap.get().splitlines()
    assert sum("lenet5" in line for line in lines) == 2  # one line per cell, none wrapped


def test_a_share_above_the_ceiling_is_flagged() -> None:
    from rich.text import Text

    from cnnstat.render import bench_note, ceiling_cell

    over = BenchResult("m", "cuda", 1, "forward", "fp32", False, False, 1,
                       achieved_flops_per_s=153e12, ceiling_flops_per_s=100e12, math="fp32")
    under = BenchResult("m", "cuda", 1, "forward", "fp32", False, False, 1,
                        achieved_flops_per_s=60e12, ceiling_flops_per_s=100e12, math="tf32",
                        bound="compute")
    assert over.ceiling_exceeded and over.to_dict()["ceiling_exceeded"] is True
    assert not under.ceiling_exceeded
    flagged = ceiling_cell(over)
    assert isinstance(flagged, Text) and "153%" in flagged.plain and flagged.style
    assert "100%" in str(bench_note(over))  # the note says the share is above 100%
    assert str(ceiling_cell(under)) == "60% tf32" and under.bound == "compute"
    assert bench_note(under) == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_check_script_exits_cleanly_without_cuda() -> None:
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "cuda_check.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0
    assert len(done.stdout.strip().splitlines()) == 1 and "CUDA" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_cpu_allocation_failure_is_an_oom_cell_with_the_hosts_free_memory() -> None:
    def measure(config, model, device, batch, mode, threads):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                           "1099511627776 bytes. Error code 12 (Cannot allocate memory)")

    run = run_bench(BenchConfig(models=("lenet5",), modes=(Mode.forward,)), measure=measure)
    (r,) = run.results
    assert r.status == "oom" and r.requested_bytes == 1 << 40
    from cnnstat.bench.runner import _host_memory

    host = _host_memory()
    if host is not None:  # Linux: /proc/meminfo
        assert 0 < r.available_bytes <= host[1]
