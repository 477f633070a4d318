"""Getting a model ready to be timed, shared by ``cnnstat bench`` and ``cnnstat profile``.

A model is frozen as asked, moved to its device (in channels-last layout when asked), put
in train or eval mode, given a random input, and stepped by :func:`timed_step`; the warm-up
and the measured iterations are :class:`Loop`'s. Threads are set for the run and restored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnstat.bench.runner import BenchConfig


class Loop:
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


def timed_step(
    runner: Any,
    model: Any,
    x: Any,
    device: str,
    amp_dtype: Any,
    autocast: bool,
    timer: Any,
    train: bool,
) -> Callable[[], list[float]]:
    """One measured step, returning its timer's milliseconds: a forward under inference_mode,
    or (``train``) forward and backward of the output's mean, timed apart.

    A training step starts with the gradients set to None and runs no optimizer: it is the
    memory model's "train_step" phase, so a measured peak and the estimate are like for like.
    """
    import torch

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

    return train_step if train else forward_step


def ready_model(
    model: Any,
    device: str,
    train: bool,
    channels_last: bool = False,
    frozen: set[str] | None = None,
) -> Any:
    """``model`` on ``device`` in train or eval mode; ``frozen``: the parameter names that
    get no gradient (the others do); None leaves ``requires_grad`` as it is."""
    import torch

    if frozen is not None:
        for name, p in model.named_parameters():
            p.requires_grad_(name not in frozen)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train(train)
    return model


def random_input(
    size: tuple[int, ...], batch: int, device: str, channels_last: bool = False
) -> Any:
    """A standard-normal input batch on ``device``; an image batch in channels-last if asked."""
    import torch

    x = torch.randn(batch, *size, device=device)
    if len(size) == 3:
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        x = x.to(memory_format=memory_format)
    return x


@contextmanager
def using_threads(threads: int) -> Iterator[None]:
    """torch's CPU threads set to ``threads`` for the block, restored after it."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def free(device: str) -> None:
    """Collect garbage and, on CUDA, hand the cached blocks back, between measurements."""
    import gc

    import torch

    gc.collect()
    if device == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
