"""``cnnstat memory --budget ... --verify``: run the real model at the predicted batch size."""

from __future__ import annotations

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


def verify_batch(report: MemoryReport, size: tuple[int, ...] | None, mode: str) -> list[str]:
    """Run the predicted largest batch and one above it; one line per run."""
    from cnnstat.render import human_bytes

    if report.max_batch_size is None:
        return []
    lines = []
    for batch in (report.max_batch_size, report.max_batch_size + 1):
        what, peak = _run_once(report, size, batch, "inference" if mode == "inference" else "train")
        seen = f", peak {human_bytes(peak)}" if peak is not None else ""
        lines.append(f"verify: batch {batch} {what}{seen}")
    return lines
