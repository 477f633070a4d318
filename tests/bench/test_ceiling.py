"""The ceilings are measured in the math mode that runs, and sized by a time budget."""

from __future__ import annotations

import pytest
import torch

from cnnstat.bench import ceiling


def test_math_mode_follows_the_backend_flags() -> None:
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    try:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = True, False
        assert ceiling.math_mode("cuda", torch.float32) == "tf32"  # cuDNN's default
        assert ceiling.math_mode("cuda", torch.float32, uses_conv=False) == "fp32"  # a pure MLP
        torch.backends.cudnn.allow_tf32 = False
        assert ceiling.math_mode("cuda", torch.float32) == "fp32"
        torch.backends.cuda.matmul.allow_tf32 = True
        assert ceiling.math_mode("cuda", torch.float32) == "tf32"
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    assert ceiling.math_mode("cpu", torch.float32) == "fp32"
    assert ceiling.math_mode("cuda", torch.bfloat16) == "bf16"
    assert ceiling.math_mode("cpu", torch.float16) == "fp16"


class _FakeClock:
    """A clock where every timed product takes ``step_s``: 1 ms, so the budget decides n."""

    def __init__(self, step_s: float) -> None:
        self.t = 0.0
        self.step_s = step_s
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        if self.reads % 2 == 0:
            self.t += self.step_s
        return self.t


def test_matmul_ceiling_is_sized_by_the_budget() -> None:
    # Every product "takes" 0.1 s: with a 1 s budget over 7 products the first size (n=128)
    # already exceeds an eighth of 1/7 s, so n stays 128: 2 * 128**3 FLOPs / 0.1 s.
    clock = _FakeClock(0.1)
    got = ceiling.matmul_ceiling("cpu", math="bf16", budget_s=1.0, clock=clock)
    ceiling._MATMUL_CACHE.clear()
    assert got == pytest.approx(2 * 128**3 / 0.1)
    assert clock.reads == 2 * (2 + 5)  # two sizing products and five measured ones


def test_copy_bandwidth_counts_read_and_write() -> None:
    clock = _FakeClock(0.5)
    got = ceiling.copy_bandwidth("cpu", budget_s=1.0, clock=clock)
    ceiling._COPY_CACHE.clear()
    assert got == pytest.approx(2 * (1 << 20) / 0.5)


def test_bound_compares_time_at_each_ceiling() -> None:
    # 1 GFLOP at 100 GFLOP/s is 10 ms; 1 MB at 10 GB/s is 0.1 ms: compute-bound.
    assert ceiling.bound(1e9, 1e6, 100e9, 10e9) == "compute"
    # 1 MFLOP is 0.01 ms; 1 GB is 100 ms: memory-bound.
    assert ceiling.bound(1e6, 1e9, 100e9, 10e9) == "memory"


def test_a_larger_budget_measures_again_and_keeps_the_best() -> None:
    ceiling._MATMUL_CACHE.clear()
    ceiling._MATMUL_BUDGET.clear()
    try:
        slow = ceiling.matmul_ceiling("cpu", math="fp32", budget_s=0.5, clock=_FakeClock(0.1))
        # cached: the same budget does not measure again (a clock that would fail is not read)
        assert ceiling.matmul_ceiling("cpu", math="fp32", budget_s=0.5, clock=None) == slow  # type: ignore[arg-type]
        clock = _FakeClock(0.05)  # a faster product at the same n
        fast = ceiling.matmul_ceiling("cpu", math="fp32", budget_s=1.0, clock=clock)
        assert clock.reads > 0 and fast == pytest.approx(2 * 128**3 / 0.05)
        # a slower re-measurement never lowers the cached figure
        again = ceiling.matmul_ceiling("cpu", math="fp32", budget_s=2.0, clock=_FakeClock(0.2))
        assert again == fast
    finally:
        ceiling._MATMUL_CACHE.clear()
        ceiling._MATMUL_BUDGET.clear()


def test_bench_ceiling_budget_never_exceeds_the_measurement() -> None:
    from cnnstat.bench.runner import ceiling_budget_s

    assert ceiling_budget_s(0.3) == 0.125  # half is 150 ms; 2**-3 is the power of two below
    assert ceiling_budget_s(10.0) == 1.0  # capped
    assert ceiling_budget_s(0.0) == 0.0
    for measured in (0.001, 0.07, 0.5, 1.9, 3.0):
        assert 2 * ceiling_budget_s(measured) <= measured
