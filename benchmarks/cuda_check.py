"""cnnstat bench on a real GPU, checked against measurements taken by hand.

For each case (model, batch, mode, dtype), side by side:

1. the bench median against a plain CUDA-event loop over the same step (cuDNN
   benchmark on, the same warm-up count, the median of the same number of events);
2. the bench's measured peak against ``torch.cuda.max_memory_allocated`` taken by
   hand around one steady step (counters reset after the warm-up), and the memory
   model's estimate for that phase;
3. the share of the compute ceiling, in the math mode the bench reports, which must
   stay under 100%.

Run:  python benchmarks/cuda_check.py [--iters 30] [--warmup 10] [--cases resnet50:64:forward:fp32,...]
Prints a Markdown table; exits 1 when a ceiling share reaches 100%, and with a one-line
message (exit 0) on a machine without CUDA.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
from typing import Any

DEFAULT_CASES = (
    "resnet50:64:forward:fp32",
    "resnet50:32:train:fp32",
    "vgg16:16:forward:fp32",
    "resnet50:64:train:bf16:cl",
    "resnet18:1:forward:fp32",
)


def _case(text: str) -> dict[str, Any]:
    parts = text.split(":")
    return {"model": parts[0], "batch": int(parts[1]), "mode": parts[2], "dtype": parts[3],
            "channels_last": "cl" in parts[4:]}  # fmt: skip


def _by_hand(case: dict[str, Any], warmup: int, iters: int) -> tuple[float, int]:
    """(median ms of ``iters`` CUDA-event-timed steps, max_memory_allocated of one steady step)."""
    import torch

    from cnnstat import zoo

    torch.backends.cudnn.benchmark = True
    fmt = torch.channels_last if case["channels_last"] else torch.contiguous_format
    spec = zoo.resolve(case["model"])
    model = zoo.build(spec, meta=False).cuda().to(memory_format=fmt)
    x = torch.randn(case["batch"], *spec.default_input_size, device="cuda").to(memory_format=fmt)
    amp = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[case["dtype"]]
    train = case["mode"] == "train"
    model.train(train)

    def step() -> None:
        if train:
            for p in model.parameters():
                p.grad = None
            with torch.autocast("cuda", dtype=amp or torch.float32, enabled=amp is not None):
                out = model(x)
                out = out[0] if isinstance(out, (tuple, list)) else out
                loss = out.float().mean()
            loss.backward()
        else:
            with torch.inference_mode(), torch.autocast(
                "cuda", dtype=amp or torch.float32, enabled=amp is not None
            ):
                model(x)

    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    for p in model.parameters():
        p.grad = None
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return statistics.median(times), torch.cuda.max_memory_allocated()


def _share(share: float | None) -> str:
    if share is None:
        return "—"
    return f"{share:.0%}" + (" (>= 100%: ceiling mis-measured)" if share >= 1 else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES),
                    help="comma list of model:batch:forward|train:fp32|bf16|fp16[:cl]")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("cuda_check: no CUDA device on this machine; nothing to check.")
        return 0
    from cnnstat.bench import BenchConfig, Mode, run_bench
    from cnnstat.bench.environment import capture
    from cnnstat.render import human_bytes

    env = capture(torch.get_num_threads())
    print(f"GPU {env['gpu']}, driver {env['gpu_driver']}, torch {env['torch']}, CUDA {env['cuda']}, "
          f"cuDNN {env['cudnn']}; {args.warmup} warm-up and {args.iters} measured iterations")
    print()
    print("| case | bench ms | CUDA events ms | diff | bench peak | by-hand peak | diff | "
          "estimate (phase) | warm-up peak | reserved | math | % ceiling | bound |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
    bad = False
    for text in args.cases.split(","):
        case = _case(text)
        run = run_bench(BenchConfig(
            models=(case["model"],), devices=("cuda",), batch_sizes=(case["batch"],),
            modes=(Mode(case["mode"]),), dtype=case["dtype"],
            channels_last=case["channels_last"], warmup=args.warmup, iters=args.iters,
        ))  # fmt: skip
        (r,) = run.results
        if r.status != "ok":
            print(f"| {text} | {r.status}: {r.message} |" + " |" * 12)
            continue
        events_ms, hand_peak = _by_hand(case, args.warmup, args.iters)
        gc.collect()  # the hand-built model is gone: give its memory back before the next case
        torch.cuda.empty_cache()
        share = r.ceiling_share
        bad |= bool(share is not None and share >= 1.0)
        estimate = (f"{human_bytes(r.estimated_memory_bytes)} ({r.estimate_phase})"
                    if r.estimated_memory_bytes else "—")  # fmt: skip
        print(
            f"| {text} | {r.total_ms:,.2f} | {events_ms:,.2f} | "
            f"{(r.total_ms - events_ms) / events_ms:+.1%} | {human_bytes(r.peak_memory_bytes)} | "
            f"{human_bytes(hand_peak)} | {(r.peak_memory_bytes - hand_peak) / hand_peak:+.1%} | "
            f"{estimate} | {human_bytes(r.warmup_peak_memory_bytes)} | "
            f"{human_bytes(r.peak_reserved_bytes)} | {r.math} | {_share(share)} | {r.bound} |"
        )
        sys.stdout.flush()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
