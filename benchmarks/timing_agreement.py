"""cnnstat bench against torch.utils.benchmark.Timer, and the lectures' CPU timing table.

1. Times resnet18 and vgg11 forward passes (eval, inference_mode, batch 8) on
   CPU with cnnstat's runner and with torch.utils.benchmark.Timer, on the same
   thread count, in the same process. Target: medians within 5%.
2. Reproduces the lectures' table shape, Forward / Backward / Total ms at batch
   16, for alexnet, vgg16, vgg19, resnet18/34/50/101/152 and googlenet on this
   machine's CPU.

3. When a CUDA device is present, the same table on the GPU, written to
   reports/gpu_timings.md with the GPU's name, its driver and the math mode the
   convolutions ran in (on a machine without CUDA it is skipped with a note).

Run:  python benchmarks/timing_agreement.py [--iters 3] [--gpu-only]
Writes the "Timing" sections of benchmarks/RESULTS.md, reports/cpu_timings.md and,
with CUDA, reports/gpu_timings.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
import torch.utils.benchmark as tb
from analysis_speed import _replace_section

from cnnstat import zoo
from cnnstat.bench import BenchConfig, Mode, run_bench
from cnnstat.bench.environment import capture

HERE = Path(__file__).resolve().parent
LECTURE_MODELS = [
    "alexnet", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "googlenet",
]  # fmt: skip


def _cnnstat_median(name: str, threads: int, min_time: float) -> float:
    run = run_bench(
        BenchConfig(
            models=(name,),
            batch_sizes=(8,),
            modes=(Mode.forward,),
            threads=threads,
            min_time_s=min_time,
            min_iters=10,
        )  # fmt: skip
    )
    return run.results[0].forward_stats.median


def _timer_median(name: str, threads: int, min_time: float) -> float:
    torch.set_num_threads(threads)
    model = zoo.build(zoo.resolve(name), meta=False).eval()
    x = torch.randn(8, 3, 224, 224)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
    timer = tb.Timer(
        stmt="with torch.inference_mode(): model(x)",
        globals={"model": model, "x": x, "torch": torch},
        num_threads=threads,
    )
    return timer.blocked_autorange(min_run_time=min_time).median * 1e3


def agreement(threads: int, min_time: float, rounds: int) -> list[tuple]:
    """Alternate the two timers for ``rounds`` rounds each, so neither always runs first."""
    rows = []
    for name in ("resnet18", "vgg11"):
        ours, theirs = [], []
        for i in range(rounds):
            order = (ours, theirs) if i % 2 == 0 else (theirs, ours)
            for sink in order:
                fn = _cnnstat_median if sink is ours else _timer_median
                sink.append(fn(name, threads, min_time))
        rows.append((name, statistics.median(ours), statistics.median(theirs), ours, theirs))
        print(name, ours, theirs, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--iters", type=int, default=3, help="measured iterations per lecture-table cell"
    )
    ap.add_argument("--min-time", type=float, default=3.0, help="seconds per agreement measurement")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds per timer")
    ap.add_argument("--skip-lecture-table", action="store_true")
    ap.add_argument("--gpu-only", action="store_true", help="only the GPU table")
    args = ap.parse_args()
    threads = os.cpu_count() or 1
    env = capture(threads)
    if args.gpu_only:
        gpu_table(args.iters)
        return

    rows = agreement(threads, args.min_time, args.rounds)
    lines = [
        "## Timing agreement with torch.utils.benchmark",
        "",
        f"Measured by `benchmarks/timing_agreement.py` on {time.strftime('%Y-%m-%d')}: {env['cpu']}, "
        f"{threads} threads, torch {env['torch']}. Forward pass, eval, inference_mode, batch 8, "
        f"both timers in the same process, alternating for {args.rounds} rounds (median of the "
        "rounds' medians).",
        "",
        "| model | cnnstat bench median (ms) | torch.utils.benchmark median (ms) | difference | within 5% |",
        "|---|---:|---:|---:|---|",
    ]
    for name, ours, theirs, _, _ in rows:
        diff = (ours - theirs) / theirs
        lines.append(
            f"| {name} | {ours:,.1f} | {theirs:,.1f} | {diff:+.1%} | {'yes' if abs(diff) <= 0.05 else 'NO'} |"
        )
    lines.append("")
    lines.append("Every round's median (ms), cnnstat then torch.utils.benchmark:")
    lines.append("")
    for name, _, _, ours_all, theirs_all in rows:
        fmt = ", ".join
        lines.append(
            f"- {name}: {fmt(f'{v:,.1f}' for v in ours_all)} / {fmt(f'{v:,.1f}' for v in theirs_all)}"
        )
    _replace_section(
        HERE / "RESULTS.md", "## Timing agreement with torch.utils.benchmark", "\n".join(lines)
    )

    if args.skip_lecture_table:
        return
    run = run_bench(
        BenchConfig(
            models=tuple(LECTURE_MODELS),
            batch_sizes=(16,),
            modes=(Mode.train,),
            threads=threads,
            warmup=1,
            iters=args.iters,
        )  # fmt: skip
    )
    table = [
        "| model | Forward (ms) | Backward (ms) | Total (ms) | images/s | noisy |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in run.results:
        if r.status != "ok":
            table.append(f"| {r.model} | {r.status} | | | | |")
            continue
        table.append(
            f"| {r.model} | {r.forward_stats.median:,.0f} | {r.backward_stats.median:,.0f} | "
            f"{r.total_ms:,.0f} | {r.images_per_s:,.1f} | {'yes' if r.noisy else ''} |"
        )
        print(r.model, r.total_ms, flush=True)
    intro = (
        f"Batch 16, training step (forward with grad, then backward of a scalar loss), fp32, "
        f"{env['cpu']}, {threads} threads, torch {env['torch']}, {time.strftime('%Y-%m-%d')}. "
        f"Medians of {args.iters} measured iterations after one warm-up; written by "
        "`benchmarks/timing_agreement.py`."
    )
    body = "\n".join(["## CPU timings in the lectures' format", "", intro, "", *table])
    _replace_section(HERE / "RESULTS.md", "## CPU timings in the lectures' format", body)
    report = HERE.parent / "reports" / "cpu_timings.md"
    report.write_text("# CPU timings, batch 16\n\n" + intro + "\n\n" + "\n".join(table) + "\n")
    gpu_table(args.iters)


def lecture_rows(run: object) -> list[str]:
    """The lectures' Forward / Backward / Total ms table of a batch-16 training run."""
    table = [
        "| model | Forward (ms) | Backward (ms) | Total (ms) | images/s | noisy |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in run.results:  # type: ignore[attr-defined]
        if r.status != "ok":
            table.append(f"| {r.model} | {r.status}: {r.message} | | | | |")
            continue
        table.append(
            f"| {r.model} | {r.forward_stats.median:,.2f} | {r.backward_stats.median:,.2f} | "
            f"{r.total_ms:,.2f} | {r.images_per_s:,.1f} | {'yes' if r.noisy else ''} |"
        )
    return table


def gpu_table(iters: int) -> None:
    """reports/gpu_timings.md: the lectures' GPU table (cnn-benchmarks' batch-16 forward /
    backward / total ms), measured on this machine's GPU; skipped with a note without CUDA."""
    if not torch.cuda.is_available():
        print("reports/gpu_timings.md: skipped, no CUDA device on this machine")
        return
    run = run_bench(
        BenchConfig(
            models=tuple(LECTURE_MODELS), devices=("cuda",), batch_sizes=(16,),
            modes=(Mode.train,), warmup=10, iters=max(iters, 30),
        )  # fmt: skip
    )
    env = run.environment
    n = max(iters, 30)
    intro = (
        f"Batch 16, training step (forward with grad, then backward of a scalar loss), fp32 "
        f"parameters and inputs, math mode {env['math']} (cuDNN convolutions in TF32 unless "
        f"`torch.backends.cudnn.allow_tf32` is off), cuDNN benchmark on. {env['gpu']}, driver "
        f"{env['gpu_driver']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}, torch {env['torch']}, "
        f"{time.strftime('%Y-%m-%d')}. Medians of {n} CUDA-event-timed iterations after 10 "
        "warm-up iterations; written by `benchmarks/timing_agreement.py`. The lectures' table "
        "(cnn-benchmarks) has the same columns for older GPUs."
    )
    table = lecture_rows(run)
    report = HERE.parent / "reports" / "gpu_timings.md"
    report.write_text("# GPU timings, batch 16\n\n" + intro + "\n\n" + "\n".join(table) + "\n")
    print("\n".join(table), flush=True)


if __name__ == "__main__":
    main()
