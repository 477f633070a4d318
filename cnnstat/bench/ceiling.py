"""The device's practical FLOP/s ceiling: a short square-matmul microbenchmark, cached per device and dtype."""

from __future__ import annotations

import time
from typing import Any

_CACHE: dict[tuple[str, str], float] = {}


def matmul_ceiling(device: str, dtype: Any, size: int | None = None, repeats: int = 5) -> float:
    """Best FLOP/s of ``repeats`` n×n matmuls (2n³ FLOPs each) after two warm-ups."""
    import torch

    key = (device, str(dtype))
    if key in _CACHE:
        return _CACHE[key]
    n = size or (8192 if device == "cuda" else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = 0.0
    for i in range(repeats + 2):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        if i >= 2:  # the first two are warm-ups
            best = max(best, 2 * n**3 / dt)
    _CACHE[key] = best
    return best
