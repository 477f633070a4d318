"""The device's two practical ceilings, cached per device and math mode:

- compute: a square matmul in the math mode the model's ops run in (fp32, tf32, bf16, fp16);
- bandwidth: a large device-to-device copy (bytes read + bytes written per second).

Both microbenchmarks are sized by a time budget, never by a fixed n, so a slow dtype on a
slow device (bf16 on a CPU without bf16 units) costs a fraction of a second, not minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

_MATMUL_CACHE: dict[tuple[str, str], float] = {}
_COPY_CACHE: dict[str, float] = {}
# The budget each cached figure was measured with: a later, larger budget measures again
# (keeping the best), since a short budget stops at a small n that under-states the device.
_MATMUL_BUDGET: dict[tuple[str, str], float] = {}
_COPY_BUDGET: dict[str, float] = {}

MATH_MODES = ("fp32", "tf32", "bf16", "fp16")

# The largest square matmul and copy tried: big enough to reach the device's steady rate.
_MAX_N = {"cuda": 8192, "cpu": 2048}
_MAX_COPY_BYTES = {"cuda": 1 << 30, "cpu": 256 << 20}


def math_mode(device: str, dtype: Any, uses_conv: bool = True, uses_matmul: bool = True) -> str:
    """The fastest math mode the model's ops run in: what a ceiling must be measured in.

    Under autocast (``dtype`` bf16/fp16) the convolutions and matmuls run in that dtype.
    In fp32 on CUDA, cuDNN convolutions use TF32 when ``torch.backends.cudnn.allow_tf32``
    (the default) and matmuls when ``torch.backends.cuda.matmul.allow_tf32`` or
    ``torch.set_float32_matmul_precision`` below "highest" allow it. CPUs run fp32 as fp32.
    """
    import torch

    if dtype in (torch.bfloat16, "bf16"):
        return "bf16"
    if dtype in (torch.float16, "fp16"):
        return "fp16"
    if device != "cuda":
        return "fp32"
    conv_tf32 = uses_conv and bool(torch.backends.cudnn.allow_tf32)
    matmul_tf32 = uses_matmul and (
        bool(torch.backends.cuda.matmul.allow_tf32)
        or torch.get_float32_matmul_precision() != "highest"
    )
    return "tf32" if conv_tf32 or matmul_tf32 else "fp32"


def _dtype_of(math: str) -> Any:
    from cnnstat.dtypes import torch_dtype

    return torch_dtype("fp32" if math == "tf32" else math)  # TF32 is a math mode on fp32


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _timed(device: str, work: Callable[[], Any], clock: Callable[[], float]) -> float:
    _sync(device)
    t = clock()
    work()
    _sync(device)
    return clock() - t


def matmul_ceiling(device: str, dtype: Any = None, *, math: str | None = None,
                   size: int | None = None, repeats: int = 5, budget_s: float = 1.0,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """Best FLOP/s of n×n matmuls (2n³ FLOPs each) in ``math`` mode, within about ``budget_s``.

    n starts small and doubles while one product takes under an eighth of the per-product
    budget (doubling n costs 8×), up to 8192 on CUDA and 2048 on CPU; ``size`` fixes n.
    The figure is cached per device and math mode; a later call with a larger budget
    measures again and keeps the better figure.
    """
    import torch

    if math is None:
        math = math_mode(device, dtype)
    if math not in MATH_MODES:
        raise ValueError(f"math mode must be one of {', '.join(MATH_MODES)}, not {math!r}")
    key = (device, math)
    if size is None and key in _MATMUL_CACHE and _MATMUL_BUDGET.get(key, 0.0) >= budget_s:
        return _MATMUL_CACHE[key]
    per_product_s = budget_s / (repeats + 2)
    torch_dtype = _dtype_of(math)
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = math == "tf32"
    try:
        n = size or 128
        while True:
            a = torch.randn(n, n, device=device).to(torch_dtype)
            b = torch.randn(n, n, device=device).to(torch_dtype)
            product = partial(torch.mm, a, b)
            _timed(device, product, clock)  # a cold first call says little
            one = _timed(device, product, clock)
            if size or n >= _MAX_N.get(device, 2048) or one * 8 > per_product_s:
                break
            n *= 2
        best = 0.0
        for _ in range(repeats):  # the sizing runs were the warm-ups
            dt = _timed(device, product, clock)
            if dt > 0:
                best = max(best, 2 * n**3 / dt)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    if size is None:
        best = max(best, _MATMUL_CACHE.get(key, 0.0))
        _MATMUL_CACHE[key] = best
        _MATMUL_BUDGET[key] = budget_s
    return best


def copy_bandwidth(device: str, *, size_bytes: int | None = None, repeats: int = 5,
                   budget_s: float = 1.0,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """Best bytes/s of a device-to-device copy (each copy reads and writes its size), within
    about ``budget_s``; the size doubles from 1 MiB up to 1 GiB on CUDA, 256 MiB on CPU."""
    import torch

    if size_bytes is None and device in _COPY_CACHE and _COPY_BUDGET.get(device, 0.0) >= budget_s:
        return _COPY_CACHE[device]
    per_copy_s = budget_s / (repeats + 2)
    nbytes = size_bytes or (1 << 20)
    while True:
        src = torch.empty(nbytes, dtype=torch.uint8, device=device)
        dst = torch.empty_like(src)
        copy = partial(dst.copy_, src)
        _timed(device, copy, clock)
        one = _timed(device, copy, clock)
        if size_bytes or nbytes >= _MAX_COPY_BYTES.get(device, 256 << 20) or one * 2 > per_copy_s:
            break
        nbytes *= 2
    best = 0.0
    for _ in range(repeats):
        dt = _timed(device, copy, clock)
        if dt > 0:
            best = max(best, 2 * nbytes / dt)
    if size_bytes is None:
        best = max(best, _COPY_CACHE.get(device, 0.0))
        _COPY_CACHE[device] = best
        _COPY_BUDGET[device] = budget_s
    return best


def bound(flops: float, bytes_moved: float, ceiling_flops_per_s: float,
          bandwidth_bytes_per_s: float) -> str:
    """'compute' when the work's FLOPs take longer at the compute ceiling than its bytes at the
    bandwidth ceiling (arithmetic intensity above the ridge point), else 'memory'."""
    if ceiling_flops_per_s <= 0 or bandwidth_bytes_per_s <= 0:
        raise ValueError("ceilings must be positive")
    return "compute" if flops / ceiling_flops_per_s >= bytes_moved / bandwidth_bytes_per_s else "memory"
