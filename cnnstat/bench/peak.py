"""Peak memory of a measurement: CUDA's allocator statistics, or the process's resident set on CPU.

On Linux the resident high-water mark (VmHWM) is reset through
/proc/self/clear_refs, so the CPU peak belongs to this measurement alone; it
is reported above the resident size just before the measurement began.
"""

from __future__ import annotations

import resource
import sys


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
    """Resident-memory growth during a measurement, in bytes."""

    def __init__(self) -> None:
        self.baseline = 0
        self.exact = False

    def start(self) -> None:
        _release_freed_memory()
        rss = _status_kib("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")  # reset the high-water mark to the current RSS
            self.exact = rss is not None
        except OSError:
            self.exact = False
        self.baseline = (rss or 0) * 1024

    def peak_bytes(self) -> int:
        hwm = _status_kib("VmHWM") if self.exact else None
        if hwm is None:
            # ru_maxrss is the peak of the process's whole life (KiB on Linux, bytes on macOS)
            scale = 1 if sys.platform == "darwin" else 1024
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
        return max(hwm * 1024 - self.baseline, 0)


class CudaPeak:
    """``torch.cuda.max_memory_allocated`` since ``start``."""

    def start(self) -> None:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    def peak_bytes(self) -> int:
        import torch

        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated())
