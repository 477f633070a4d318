"""cnnstat's memory model against what a real H100 allocated (../shared/ground-truth/).

For every model of ``cuda_memory_h100_batch8.json`` and every phase measured
there, the prediction of ``cnnstat.memory`` (CUDA profile) is compared with
``torch.cuda.max_memory_allocated``. Writes ``benchmarks/memory_accuracy.json``
(every figure) and the "Memory model accuracy" section of RESULTS.md.

    python benchmarks/memory_accuracy.py                 # all models
    python benchmarks/memory_accuracy.py resnet50,vgg16  # a few
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

from cnnstat.memory import memory

HERE = Path(__file__).resolve().parent
GROUND_TRUTH = HERE.parent.parent / "shared" / "ground-truth" / "cuda_memory_h100_batch8.json"
PHASES = (
    ("inference peak", "inference_peak_bytes"),
    ("first-step peak", "train_step_peak_bytes"),
    ("Adam steady-step peak", "adam_steady_step_peak_bytes"),
    ("bf16 first-step peak", "bf16_autocast_train_step_peak_bytes"),
)
MiB = 1 << 20


def predict(name: str, batch: int) -> dict[str, int]:
    fp32 = memory(name, batch_size=batch, device="cuda", optimizer="adam")
    bf16 = memory(name, batch_size=batch, device="cuda", dtype=torch.bfloat16,
                  phases=("train_step",))
    return {
        "inference_peak_bytes": fp32.inference_peak_bytes,
        "train_step_peak_bytes": fp32.train_step_peak_bytes,
        "adam_steady_step_peak_bytes": fp32.steady_step_peak_bytes,
        "bf16_autocast_train_step_peak_bytes": bf16.train_step_peak_bytes,
    }


def main() -> None:
    truth = json.loads(GROUND_TRUTH.read_text())
    rows = [r for r in truth["models"] if "error" not in r]
    if len(sys.argv) > 1:
        wanted = set(sys.argv[1].split(","))
        rows = [r for r in rows if r["model"] in wanted]
    results = []
    t_start = time.perf_counter()
    for r in rows:
        t0 = time.perf_counter()
        try:
            pred = predict(r["model"], r["batch_size"])
        except Exception as exc:  # a model the memory model cannot run is a miss, recorded
            results.append({"model": r["model"], "error": f"{type(exc).__name__}: {exc}"})
            print(r["model"], "ERROR", exc, flush=True)
            continue
        entry = {"model": r["model"], "seconds": round(time.perf_counter() - t0, 2)}
        for _, key in PHASES:
            entry[key] = {"predicted": pred[key], "measured": r[key],
                          "error": pred[key] / r[key] - 1}
        results.append(entry)
        print(r["model"], " ".join(f"{entry[k]['error']:+.1%}" for _, k in PHASES), flush=True)
    elapsed = time.perf_counter() - t_start
    (HERE / "memory_accuracy.json").write_text(json.dumps(
        {"ground_truth": truth["device"], "torch_measured": truth["torch"],
         "torch_predicting": torch.__version__, "results": results}, indent=1))
    if len(sys.argv) == 1:
        write_results(results, elapsed)


def table(results: list[dict]) -> list[str]:
    ok = [r for r in results if "error" not in r]
    lines = ["| phase | models | within 5% | within 15% | median error | worst |",
             "|---|---|---|---|---|---|"]
    for label, key in PHASES:
        errs = [(r[key]["error"], r["model"]) for r in ok]
        within5 = sum(abs(e) <= 0.05 for e, _ in errs)
        within15 = sum(abs(e) <= 0.15 for e, _ in errs)
        worst = max(errs, key=lambda e: abs(e[0]))
        lines.append(
            f"| {label} | {len(errs)} | {within5} ({within5 / len(errs):.0%}) | "
            f"{within15} ({within15 / len(errs):.0%}) | "
            f"{statistics.median(e for e, _ in errs):+.1%} | {worst[0]:+.1%} ({worst[1]}) |"
        )
    return lines


def _seconds(*cmd: str) -> float:
    import subprocess

    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def speed() -> list[str]:
    """Wall-clock targets, median of 3 runs each, as separate processes."""
    py = sys.executable
    bare = statistics.median(_seconds(py, "-c", "import torch, torchvision") for _ in range(3))
    vit = statistics.median(_seconds(py, "-m", "cnnstat", "memory", "vit_h_14", "--format",
                                     "json") for _ in range(3))
    search = statistics.median(
        _seconds(py, "-m", "cnnstat", "memory", "resnet50", "--budget", "24GiB", "--format", "json")
        for _ in range(3)
    )
    return [
        "| target | measured | met |",
        "|---|---|---|",
        f"| `cnnstat memory vit_h_14` under 2x a bare `import torch, torchvision` | "
        f"{vit:.1f} s vs 2 x {bare:.1f} s | {'yes' if vit < 2 * bare else 'no'} |",
        f"| `cnnstat memory resnet50 --budget 24GiB` under 10 s | {search:.1f} s | "
        f"{'yes' if search < 10 else 'no'} |",
    ]


def write_results(results: list[dict], elapsed: float) -> None:
    failed = [r for r in results if "error" in r]
    misses = []
    for r in results:
        if "error" in r:
            continue
        for label, key in PHASES:
            e = r[key]
            if abs(e["error"]) > 0.05:
                misses.append(
                    f"| {r['model']} | {label} | {e['predicted'] / MiB:,.1f} | "
                    f"{e['measured'] / MiB:,.1f} | {e['error']:+.1%} |"
                )
    section = [
        "## Memory model accuracy",
        "",
        "`python benchmarks/memory_accuracy.py`: `cnnstat.memory` (CUDA profile, predicted on the",
        "meta device without a GPU) against `torch.cuda.max_memory_allocated` on an H100",
        "(`../shared/ground-truth/cuda_memory_h100_batch8.json`, batch 8, every model at its",
        f"default input size). {len(results)} models, {elapsed:.0f} s for all predictions on this",
        "machine. Every figure is in `benchmarks/memory_accuracy.json`.",
        "",
        *table(results),
        "",
        "Speed (whole commands, imports included, median of 3):",
        "",
        *speed(),
        "",
        "Not measured here: batch sizes other than 8 against a real device (no GPU was",
        "available); the model has no batch-dependent constant, and",
        "`tests/memory/test_cuda.py` checks batch 4 wherever a GPU is present.",
        "",
        f"Models the memory model could not run: {len(failed)}"
        + ("" if not failed else " (" + ", ".join(r["model"] for r in failed) + ")") + ".",
        "",
        "Every prediction more than 5% off (MiB):",
        "",
        "| model | phase | predicted | measured | error |",
        "|---|---|---|---|---|",
        *misses,
        "",
    ]
    path = HERE / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    head, sep, tail = text.partition("## Memory model accuracy")
    if sep:
        rest = tail.split("\n## ", 1)
        tail = "\n## " + rest[1] if len(rest) > 1 else ""
    path.write_text(head.rstrip() + "\n\n" + "\n".join(section) + tail)


if __name__ == "__main__":
    main()
