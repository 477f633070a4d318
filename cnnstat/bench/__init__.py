"""``cnnstat bench``: forward and backward timing on CPU and CUDA, with memory and achieved FLOP/s."""

from __future__ import annotations

from cnnstat.bench.runner import BenchConfig, BenchResult, BenchRun, Mode, run_bench
from cnnstat.bench.stats import TimingStats, summarize

__all__ = [
    "BenchConfig",
    "BenchResult",
    "BenchRun",
    "Mode",
    "TimingStats",
    "run_bench",
    "summarize",
]
