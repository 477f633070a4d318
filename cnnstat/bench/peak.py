"""Peak memory of a measurement: CUDA's allocator statistics, or the process's resident set on CPU.

On Linux the resident high-water mark (VmHWM) is reset through
/proc/self/clear_refs, so the CPU peak belongs to this measurement alone; it
is reported above the resident size just before the measurement began.
"""

from __future__ import annotations

import resource
import sys
from typing import Any


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _release_freed_memory() -> None:
    """Hand memory freed by earlier cells back to the OS, so it does not hide this cell's growth."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the baseline may include memory a previous cell freed


class CpuPeak:
    """Resident-memory growth during a measurement, in bytes, above the resident size at ``start``.

    ``reset()`` (after the warm-up) starts a new high-water mark, so ``peak_bytes`` then covers
    the measured iterations only; the baseline stays the one taken at ``start``, before the
    model was built, so the figure still counts the model's parameters like a device total.
    """

    def __init__(self) -> None:
        self.baseline = 0
        self.exact = False

    def _clear_hwm(self) -> bool:
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")  # reset the high-water mark to the current RSS
            return True
        except OSError:
            return False

    def start(self) -> None:
        _release_freed_memory()
        rss = _status_kib("VmRSS")
        self.exact = self._clear_hwm() and rss is not None
        self.baseline = (rss or 0) * 1024

    def reset(self) -> None:
        """Forget the peak so far (the warm-up's) and what it left cached; keep the baseline."""
        if self.exact:
            _release_freed_memory()
            self.exact = self._clear_hwm()

    def peak_bytes(self) -> int:
        hwm = _status_kib("VmHWM") if self.exact else None
        if hwm is None:
            # ru_maxrss is the peak of the process's whole life (KiB on Linux, bytes on macOS)
            scale = 1 if sys.platform == "darwin" else 1024
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
        return max(hwm * 1024 - self.baseline, 0)

    def peak_reserved_bytes(self) -> int | None:
        return None


class CudaPeak:
    """``torch.cuda.max_memory_allocated`` / ``max_memory_reserved`` since ``start`` or ``reset``.

    Both are device totals (parameters, inputs and library workspaces included), like the
    memory model's phase peaks. ``cuda`` is ``torch.cuda`` or a stand-in with the same five
    functions, so the logic is tested on machines without a GPU.
    """

    def __init__(self, cuda: Any = None) -> None:
        if cuda is None:
            import torch

            cuda = torch.cuda
        self.cuda = cuda

    def start(self) -> None:
        self.cuda.synchronize()
        self.cuda.reset_peak_memory_stats()

    def reset(self) -> None:
        """After the warm-up: give back what it left cached (cuDNN's trial workspaces), so the
        reserve reported is what the measured iterations need, then reset the peaks."""
        self.cuda.synchronize()
        self.cuda.empty_cache()
        self.cuda.reset_peak_memory_stats()

    def peak_bytes(self) -> int:
        self.cuda.synchronize()
        return int(self.cuda.max_memory_allocated())

    def peak_reserved_bytes(self) -> int | None:
        """What the caching allocator held at most: what nvidia-smi and an OOM see."""
        self.cuda.synchronize()
        return int(self.cuda.max_memory_reserved())
