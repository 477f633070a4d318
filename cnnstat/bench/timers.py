"""Timers: ``perf_counter_ns`` on CPU, CUDA events with synchronisation on GPU.

Both time a sequence of phases within one iteration (forward, then backward):
``mark()`` at each boundary, ``elapsed_ms()`` once the iteration is over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class CpuTimer:
    """Wall-clock phases from an injectable nanosecond clock."""

    def __init__(self, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        self.clock = clock
        self._marks: list[int] = []

    def start(self) -> None:
        self._marks = [self.clock()]

    def mark(self) -> None:
        self._marks.append(self.clock())

    def elapsed_ms(self) -> list[float]:
        """Milliseconds of each phase since ``start``."""
        return [(b - a) / 1e6 for a, b in zip(self._marks, self._marks[1:], strict=False)]


class CudaTimer:
    """CUDA events recorded on the current stream; the clock is read after a synchronize."""

    def __init__(self) -> None:
        import torch

        self._torch = torch
        self._events: list[Any] = []

    def _event(self) -> Any:
        e = self._torch.cuda.Event(enable_timing=True)
        e.record()
        return e

    def start(self) -> None:
        self._events = [self._event()]

    def mark(self) -> None:
        self._events.append(self._event())

    def elapsed_ms(self) -> list[float]:
        self._torch.cuda.synchronize()
        return [a.elapsed_time(b) for a, b in zip(self._events, self._events[1:], strict=False)]
