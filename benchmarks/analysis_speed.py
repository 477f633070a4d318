"""Analysis speed and memory: cnnstat against torchinfo, fvcore, ptflops, thop and FlopCounterMode.

Every (tool, model) pair runs in its own fresh Python process, several times;
the figure reported is the median. Each worker reports:

* seconds: model construction + analysis, after imports (peers need a real
  model, cnnstat builds on the meta device);
* peak_rss_bytes: the worker's peak resident memory (imports included);
* macs and params as the tool reports them.

It also times whole processes: ``cnnstat summary vit_h_14`` against a bare
``python -c "import torch, torchvision"``, and the whole 80-model zoo.

Run:  python benchmarks/analysis_speed.py [--repeats 3] [--models resnet152,vgg16,vit_b_16,vit_h_14]
Writes the "Analysis speed" section of benchmarks/RESULTS.md and every raw
measurement to benchmarks/analysis_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS = ["cnnstat", "torchinfo", "fvcore", "ptflops", "thop", "flopcountermode"]
DEFAULT_MODELS = ["resnet152", "vgg16", "vit_b_16", "vit_h_14"]


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def worker(tool: str, name: str) -> dict:
    import torch
    import torchvision.models  # noqa: F401  imported before the clock, for every tool alike

    import cnnstat.analysis  # noqa: F401
    from cnnstat import zoo

    spec = zoo.resolve(name)
    size = spec.default_input_size
    start = time.perf_counter()
    if tool == "cnnstat":
        import cnnstat

        r = cnnstat.analyze(name)
        macs, params = r.totals.macs, r.totals.params
    else:
        model = zoo.build(spec, meta=False).eval()
        x = torch.zeros(1, *size)
        if tool == "torchinfo":
            from torchinfo import summary

            s = summary(model, input_size=(1, *size), verbose=0)
            macs, params = s.total_mult_adds, s.total_params
        elif tool == "fvcore":
            from fvcore.nn import FlopCountAnalysis, parameter_count

            fca = FlopCountAnalysis(model, x)
            fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            macs, params = fca.total(), parameter_count(model)[""]
        elif tool == "ptflops":
            from ptflops import get_model_complexity_info

            macs, params = get_model_complexity_info(
                model, tuple(size), as_strings=False, print_per_layer_stat=False, verbose=False
            )
        elif tool == "thop":
            from thop import profile

            macs, params = profile(model, inputs=(x,), verbose=False)
        elif tool == "flopcountermode":
            from torch.utils.flop_counter import FlopCounterMode

            with torch.no_grad(), FlopCounterMode(display=False) as fc:
                model(x)
            macs, params = fc.get_total_flops() // 2, sum(p.numel() for p in model.parameters())
        else:
            raise SystemExit(f"unknown tool {tool}")
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_rss_bytes": _peak_rss(),
        "macs": int(macs),
        "params": int(params),
    }


def run_worker(tool: str, name: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", tool, name],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last[:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_process(cmd: list[str], repeats: int) -> tuple[float, int, list[float]]:
    """Median wall seconds, max peak RSS (this command's own, via wait4) and every wall time."""
    walls, peaks = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - t)
        if status != 0:
            raise SystemExit(f"{' '.join(cmd)} failed with status {status}")
        peaks.append(usage.ru_maxrss * 1024)
    return statistics.median(walls), max(peaks), walls


def zoo_worker() -> dict:
    import cnnstat
    from cnnstat import zoo

    start = time.perf_counter()
    for name in zoo.TORCHVISION_CROP_SIZES:
        cnnstat.analyze(name)
    return {"seconds": time.perf_counter() - start, "peak_rss_bytes": _peak_rss()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=2, metavar=("TOOL", "MODEL"))
    ap.add_argument("--zoo-worker", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    if args.zoo_worker:
        print(json.dumps(zoo_worker()))
        return

    models = args.models.split(",")
    tools = args.tools.split(",")
    results: dict[tuple[str, str], dict] = {}
    raw: dict[str, object] = {"repeats": args.repeats, "runs": []}
    for name in models:
        for tool in tools:
            runs = [run_worker(tool, name) for _ in range(args.repeats)]
            raw["runs"].append({"tool": tool, "model": name, "repeats": runs})  # type: ignore[union-attr]
            ok = [r for r in runs if "error" not in r]
            if not ok:
                results[(tool, name)] = runs[0]
            else:
                results[(tool, name)] = {
                    "seconds": statistics.median(r["seconds"] for r in ok),
                    "peak_rss_bytes": max(r["peak_rss_bytes"] for r in ok),
                    "macs": ok[0]["macs"],
                    "params": ok[0]["params"],
                }
            print(tool, name, results[(tool, name)], flush=True)

    bare, bare_rss, bare_walls = time_process(
        [sys.executable, "-c", "import torch, torchvision"], args.repeats
    )
    whole, whole_rss, whole_walls = time_process(
        [sys.executable, "-m", "cnnstat", "summary", "vit_h_14", "-f", "json"], args.repeats
    )
    raw["bare_import_s"] = bare_walls
    raw["summary_vit_h_14_s"] = whole_walls
    zoo = json.loads(
        subprocess.run(
            [sys.executable, __file__, "--zoo-worker"], capture_output=True, text=True, check=True
        ).stdout
    )
    print("bare import", bare, "cnnstat summary vit_h_14", whole, "zoo", zoo, flush=True)
    raw["zoo"] = zoo
    # every sample is kept beside the summary
    (HERE / "analysis_speed.json").write_text(json.dumps(raw, indent=1) + "\n")
    write_results(args.output, models, tools, results, bare, bare_rss, whole, whole_rss, zoo)


def write_results(path, models, tools, results, bare, bare_rss, whole, whole_rss, zoo) -> None:
    import torch

    mib = 2**20
    lines = [
        "## Analysis speed and memory",
        "",
        f"Measured by `benchmarks/analysis_speed.py` on {time.strftime('%Y-%m-%d')}, "
        f"{platform.processor() or platform.machine()}, {_cpus()} CPU cores, torch {torch.__version__}. "
        "Each cell is the median of the repeats, each run in a fresh process; time is model "
        "construction + analysis after imports; memory is the worker's peak RSS (imports included).",
        "",
    ]

    def table(cell) -> list[str]:
        out = ["| model | " + " | ".join(tools) + " |", "|---|" + "---:|" * len(tools)]
        for name in models:
            row = [results[(tool, name)] for tool in tools]
            out.append(
                f"| {name} | "
                + " | ".join("error" if "error" in r else cell(r) for r in row)
                + " |"
            )
        return out

    lines += table(lambda r: f"{r['seconds']:.2f} s / {r['peak_rss_bytes'] / mib:,.0f} MiB")
    lines += ["", "MACs each tool reports (G):", ""]
    lines += table(lambda r: f"{r['macs'] / 1e9:.3f}")
    verdicts = []
    for name in models:
        mine = results[("cnnstat", name)]
        if "error" in mine:
            verdicts.append(f"- {name}: cnnstat failed")
            continue
        slower = [
            t
            for t in tools
            if t != "cnnstat"
            and "error" not in results[(t, name)]
            and results[(t, name)]["seconds"] <= mine["seconds"]
        ]
        verdict = (
            "is faster than every peer" if not slower else "is NOT faster than " + ", ".join(slower)
        )
        verdicts.append(f"- {name}: cnnstat {verdict}")
    ratio = whole / bare
    lines += [
        "",
        "Targets:",
        "",
        *verdicts,
        f"- `cnnstat summary vit_h_14` as a whole process: {whole:.2f} s, {whole_rss / mib:,.0f} MiB peak; "
        f"bare `import torch, torchvision`: {bare:.2f} s, {bare_rss / mib:,.0f} MiB. "
        f"Ratio {ratio:.2f}× (target ≤ 1.5×: {'met' if ratio <= 1.5 else 'MISSED'}).",
        f"- Whole 80-model zoo in one process: {zoo['seconds']:.1f} s, {zoo['peak_rss_bytes'] / mib:,.0f} MiB peak "
        f"(target < 60 s: {'met' if zoo['seconds'] < 60 else 'MISSED'}).",
        "",
    ]
    _replace_section(path, "## Analysis speed and memory", "\n".join(lines))


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def _replace_section(path: Path, heading: str, body: str) -> None:
    """Replace one '## ' section of RESULTS.md, keeping the others."""
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    start = text.find(heading)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + body.rstrip("\n") + ("" if end == -1 else "\n\n" + text[end + 1 :])
    path.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
