"""``cnnstat memory --budget ... --verify``: run the real model at the predicted batch size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from cnnstat.errors import InvalidInputError

if TYPE_CHECKING:
    from cnnstat.memory.report import MemoryReport


def check_device(device: str) -> None:
    """Verifying a budget needs the device it predicts for."""
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("verifying a memory budget needs a CUDA device, and this machine has none")


def _run_once(report: MemoryReport, size: tuple[int, ...] | None, batch: int, mode: str) -> tuple[str, int | None]:
    from cnnstat import zoo
    from cnnstat.memory.simulate import _loss

    spec = zoo.resolve(report.model)
    shape = (batch, *(size or spec.default_input_size or ()))
    dev = torch.device(report.device)
    model = x = None
    try:
        model = zoo.build(spec, meta=False).to(dev)
        x = torch.randn(shape, device=dev)
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        if mode == "inference":
            model.eval()
            with torch.inference_mode():
                model(x)
        else:
            model.train()
            loss = _loss(model(x))
            if loss is not None:
                loss.backward()
        peak = torch.cuda.max_memory_allocated() if dev.type == "cuda" else None
        return "ran", peak
    except torch.cuda.OutOfMemoryError:
        return "out of memory", None
    finally:
        del model, x
        if dev.type == "cuda":
            torch.cuda.empty_cache()


@dataclass(frozen=True)
class VerifiedBatch:
    """One real run at a batch size: ``outcome`` is "ran" or "out of memory"."""

    batch_size: int
    outcome: str
    peak_bytes: int | None  # max_memory_allocated of the run, on CUDA


def verify_batch(
    report: MemoryReport, size: tuple[int, ...] | None, mode: str
) -> list[VerifiedBatch]:
    """Run the predicted largest batch and one above it, on the report's device."""
    if report.max_batch_size is None:
        return []
    step = "inference" if mode == "inference" else "train"
    runs = []
    for batch in (report.max_batch_size, report.max_batch_size + 1):
        outcome, peak = _run_once(report, size, batch, step)
        runs.append(VerifiedBatch(batch, outcome, peak))
    return runs
