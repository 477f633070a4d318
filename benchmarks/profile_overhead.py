"""What ``cnnstat profile`` costs, and how much of a step its rows account for.

For resnet50 and vit_b_16 (train: forward + backward of a scalar loss) on CPU, and on CUDA
where there is one, each profile run measures in the same process:

1. the profiled step's median against the plain bench step's median (no profiler, no hooks).
   Target: under 1.3x;
2. the sum of the per-layer medians (forward + backward) against the whole profiled step's
   median. Target: within 10%.

Each model is profiled ``--rounds`` times; every round is reported, misses included.

Run:  python benchmarks/profile_overhead.py [--batch-size 8] [--iters 5] [--rounds 2]
Writes a "Profile overhead and coverage" section of benchmarks/RESULTS.md (one per batch size
and thread count) and profile_overhead_b<batch>_t<threads>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from analysis_speed import _replace_section

from cnnstat.bench.environment import capture
from cnnstat.plots import time_vs_flops_shares
from cnnstat.profile import profile

HERE = Path(__file__).resolve().parent
MODELS = ("resnet50", "vit_b_16")
HEADING = "## Profile overhead and coverage"  # one section per batch size and thread count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--iters", type=int, default=5, help="measured steps, plain and profiled")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    threads = args.threads
    load_before = os.getloadavg()[0]
    env = capture(threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = []
    kinds: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
    for device in devices:
        for name in args.models.split(","):
            for rnd in range(args.rounds):
                t0 = time.perf_counter()
                report = profile(name, batch_size=args.batch_size, device=device,
                                 warmup=args.warmup, iters=args.iters, threads=threads)  # fmt: skip
                d = report.to_dict()
                d.pop("layers")
                d["wall_s"] = time.perf_counter() - t0
                d["round"] = rnd
                results.append(d)
                kinds[(device, name)] = time_vs_flops_shares(report, depth=1)[1]
                print(f"{device} {name} round {rnd}: bench {d['bench_ms']:.1f} ms, profiled "
                      f"{d['total_ms']:.1f} ms ({d['profiled_over_bench']:.2f}x), rows "
                      f"{d['attributed_ms']:.1f} ms ({d['attributed_ms'] / d['total_ms']:.1%})",
                      flush=True)  # fmt: skip
    load_after = os.getloadavg()[0]
    (HERE / f"profile_overhead_b{args.batch_size}_t{threads}.json").write_text(
        json.dumps({"environment": env, "args": vars(args), "load_average": [load_before,
                    load_after], "results": results}, indent=2) + "\n"
    )
    heading = f"{HEADING}, batch {args.batch_size}, {threads} thread{'s' if threads > 1 else ''}"
    lines = [
        heading,
        "",
        f"Measured by `benchmarks/profile_overhead.py` on {time.strftime('%Y-%m-%d')}: "
        f"{env['cpu']}, {threads} thread{'s' if threads > 1 else ''}, torch {env['torch']}"
        + (f", {env.get('gpu')}" if "cuda" in devices else ", no GPU")
        + f". Train step (forward + backward of the output's mean), fp32, batch "
        f"{args.batch_size}, {args.warmup} warm-up steps, then {args.iters} plain bench steps "
        f"and {args.iters} profiled steps (after one discarded profiled step) in the same "
        f"process; {args.rounds} round{'s' if args.rounds > 1 else ''} per model. The plain and "
        f"profiled steps alternate, in an order that flips each time. The "
        f"machine was shared: its 1-minute load average was {load_before:.1f} at the start and "
        f"{load_after:.1f} at the end, on {os.cpu_count()} cores.",
        "",
        "| device | model | round | plain bench step (ms) | profiled step (ms) | profiled / plain "
        "| < 1.3× | sum of layer medians (ms) | sum / whole step | within 10% |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for d in results:
        ratio = d["profiled_over_bench"]
        cover = d["attributed_ms"] / d["total_ms"]
        lines.append(
            f"| {d['device']} | {d['model']} | {d['round']} | {d['bench_ms']:,.1f} "
            f"[{d['bench_step_ms']['p10']:,.1f}–{d['bench_step_ms']['p90']:,.1f}] | "
            f"{d['total_ms']:,.1f} [{d['total_ms_p10']:,.1f}–{d['total_ms_p90']:,.1f}] | "
            f"{ratio:.2f}× | {'yes' if ratio < 1.3 else 'NO'} | {d['attributed_ms']:,.1f} | "
            f"{cover:.1%} | {'yes' if abs(1 - cover) <= 0.10 else 'NO'} |"
        )
    lines += ["", "Time share against forward-FLOP share per kind of layer (the last round):", ""]
    for (device, name), shares in kinds.items():
        parts = ", ".join(f"{k} {t:.1%} of the time / {f:.1%} of the FLOPs" for k, t, f in shares)
        lines.append(f"- {device} {name}: {parts}")
    _replace_section(HERE / "RESULTS.md", heading, "\n".join(lines))


if __name__ == "__main__":
    main()
