"""matplotlib figures. Data preparation is separate from drawing; drawing returns PNG bytes
and ``cnnstat.export`` writes them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnstat.bench import BenchRun
    from cnnstat.compare import Comparison
    from cnnstat.memory import MemoryReport
    from cnnstat.profile import ProfileReport
    from cnnstat.records import Report

DPI = 100
SIZE_IN = (10.0, 6.5)  # 1000 x 650 pixels


@dataclass(frozen=True)
class Point:
    """One labelled point of a scatter plot; ``size`` drives the bubble area."""

    label: str
    x: float
    y: float
    size: float


def accuracy_vs_macs_points(comparison: Comparison) -> list[Point]:
    """Models with both a MAC count and a published top-1: x = GMACs, y = top-1 %, size = params."""
    return [
        Point(r.model, r.macs / 1e9, r.top1, float(r.params))
        for r in comparison.rows
        if r.status == "ok" and r.macs and r.top1 is not None and r.params
    ]


def time_per_image_series(runs: Sequence[BenchRun]) -> dict[str, list[tuple[int, float]]]:
    """Per model: (batch size, milliseconds per image of a training step), batch sizes ascending."""
    series: dict[str, list[tuple[int, float]]] = {}
    for run in runs:
        for r in run.results:
            if r.status == "ok" and r.total_ms is not None:
                series.setdefault(r.model, []).append((r.batch_size, r.total_ms / r.batch_size))
    return {m: sorted(v) for m, v in series.items()}


def layer_bars(report: Report) -> list[tuple[str, int, int]]:
    """(layer name, params, MACs) of every layer that holds parameters or does multiply-adds."""
    return [(r.name, r.params, r.macs) for r in report.layers if r.params or r.macs]


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=SIZE_IN, dpi=DPI)
    return fig, ax


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def _place_labels(ax: Any, fig: Any, points: Sequence[Point]) -> None:
    """Label each point, trying offsets around it until the label overlaps no earlier one."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    offsets = [(6, 6), (6, -12), (-6, 6), (-6, -12), (10, 16), (10, -22), (-10, 16), (-10, -22),
               (0, 24), (0, -30), (18, 0), (-18, 0)]  # fmt: skip
    for p in sorted(points, key=lambda p: -p.size):
        for dx, dy in offsets:
            text = ax.annotate(
                p.label, (p.x, p.y), xytext=(dx, dy), textcoords="offset points", fontsize=8,
                ha="left" if dx >= 0 else "right",
            )  # fmt: skip
            box = text.get_window_extent(renderer).expanded(1.05, 1.1)
            if not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            text.remove()


def accuracy_vs_macs_png(points: Sequence[Point], title: str = "") -> bytes:
    """Top-1 accuracy against GMACs (log scale), bubble area proportional to parameters."""
    fig, ax = _figure()
    if points:
        biggest = max(p.size for p in points)
        areas = [20 + 1500 * p.size / biggest for p in points]
        ax.scatter([p.x for p in points], [p.y for p in points], s=areas, alpha=0.45,
                   edgecolors="black", linewidths=0.5)  # fmt: skip
        if max(p.x for p in points) / max(min(p.x for p in points), 1e-9) > 20:
            ax.set_xscale("log")
        _place_labels(ax, fig, points)
    ax.set_xlabel("Multiply-accumulates per image (GMACs)")
    ax.set_ylabel("ImageNet top-1 accuracy (%)")
    ax.set_title(title or "Accuracy against compute; bubble area ∝ parameters")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def time_per_image_png(series: dict[str, list[tuple[int, float]]], device: str = "cpu") -> bytes:
    """Milliseconds per image of a training step against batch size, one line per model."""
    fig, ax = _figure()
    for model, pts in series.items():
        ax.plot([b for b, _ in pts], [t for _, t in pts], marker="o", label=model)
    ax.set_xscale("log", base=2)
    batches = sorted({b for pts in series.values() for b, _ in pts})
    if batches:
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.minorticks_off()
    values = [t for pts in series.values() for _, t in pts]
    if values and max(values) / max(min(values), 1e-9) > 20:
        ax.set_yscale("log")
    ax.set_xlabel("Batch size")
    ax.set_ylabel(f"Time per image, forward + backward (ms, {device})")
    ax.set_title("Training-step time per image against batch size")
    ax.grid(True, which="both", alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def layer_bars_png(bars: Sequence[tuple[str, int, int]], model: str) -> bytes:
    """Parameters and MACs per layer, side by side: FC layers hold the parameters, conv layers
    the compute."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = max(4.0, 0.22 * len(bars) + 1.5)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, height), dpi=DPI, sharey=True)
    names = [b[0] for b in bars]
    ys = list(range(len(bars)))
    left.barh(ys, [max(b[1], 0) for b in bars], color="tab:blue")
    right.barh(ys, [max(b[2], 0) for b in bars], color="tab:orange")
    left.set_yticks(ys, names, fontsize=7 if len(bars) > 30 else 9)
    left.invert_yaxis()
    from matplotlib.ticker import FuncFormatter

    from cnnstat.render import human_count

    # linear axes: the point is how lopsided the shares are (FC layers hold the
    # parameters, conv layers the compute), which a log axis would hide
    for ax, label in ((left, "Parameters"), (right, "MACs")):
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: human_count(int(v))))
        ax.set_xlabel(label)
        ax.grid(True, axis="x", alpha=0.3)
    left.set_title(f"{model}: parameters per layer")
    right.set_title(f"{model}: multiply-accumulates per layer")
    fig.tight_layout()
    return _png(fig)


def memory_timeline_series(
    report: MemoryReport,
) -> tuple[list[str], dict[str, list[float]], list[tuple[int, str]]]:
    """Per event of the replayed trace: allocated MiB per category (those ever non-zero), and
    where each phase starts. The set-up events (parameters allocated) are left out."""
    from cnnstat.memory.simulate import CATEGORIES, PHASES

    events = [i for i, t in enumerate(report.timeline) if t[1] in PHASES]
    cats = [c for c in CATEGORIES
            if any(report.category_timeline[c][i] for i in events)]
    series = {c: [report.category_timeline[c][i] / 2**20 for i in events] for c in cats}
    starts: list[tuple[int, str]] = []
    for k, i in enumerate(events):
        phase = report.timeline[i][1]
        if not starts or starts[-1][1] != phase:
            starts.append((k, phase))
    return cats, series, starts


def memory_timeline_png(report: MemoryReport) -> bytes:
    """Allocated device memory over the simulated run, stacked by what it holds, like
    PyTorch's memory viewer; each phase's peak is marked with the layer that reached it."""
    cats, series, starts = memory_timeline_series(report)
    fig, ax = _figure()
    n = len(next(iter(series.values()))) if series else 0
    if n:
        xs = list(range(n))
        ax.stackplot(xs, *[series[c] for c in cats], labels=cats, alpha=0.85, linewidth=0)
        totals = [sum(series[c][i] for c in cats) for i in range(n)]
        labels = {"inference": "inference", "train_step": "train step",
                  "steady_step": f"steady step ({report.optimizer})"}
        bounds = [*starts, (n, "")]
        for (k, phase), (k_next, _) in zip(bounds, bounds[1:], strict=False):
            if phase not in labels:
                continue
            ax.axvline(k, color="black", linewidth=0.6, alpha=0.5)
            seg = range(k, k_next)
            top = max(seg, key=lambda i: totals[i])
            where = report.peak_where.get(phase, "")
            ax.annotate(f"{labels[phase]}\npeak {totals[top]:,.0f} MiB\n{where}",
                        (top, totals[top]), xytext=(0, 8), textcoords="offset points",
                        fontsize=7, ha="center")
            ax.plot([top], [totals[top]], marker="v", color="black", markersize=5)
        ax.set_xlim(0, n - 1)
        ax.set_ylim(0, max(totals) * 1.25)
        ax.legend(loc="upper left", fontsize=7, ncol=2)
    mode = report.dtype if report.dtype == "float32" else f"autocast {report.dtype}"
    ax.set_xlabel("Allocation events, in the order the simulated run makes them")
    ax.set_ylabel(f"Allocated on {report.device} (MiB)")
    ax.set_title(f"{report.model}: predicted {report.device} memory, batch {report.batch_size}, "
                 f"{mode}")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, read from its IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


__all__ = [
    "Point", "accuracy_vs_macs_png", "memory_timeline_png", "memory_timeline_series",
    "accuracy_vs_macs_points", "layer_bars", "layer_bars_png",
    "png_size", "time_per_image_png", "time_per_image_series",
]  # fmt: skip


def time_vs_flops_shares(
    report: ProfileReport, depth: int = 1
) -> tuple[list[tuple[str, float, float]], list[tuple[str, float, float]]]:
    """(label, time share, FLOP share) per stage (rows at ``depth``) and per kind of layer.

    Shares are of the attributed time (forward plus backward medians) and of the forward
    FLOPs; a layer whose time share is far above its FLOP share is slow for its FLOPs.
    """

    def shares(groups: dict[str, tuple[float, int]]) -> list[tuple[str, float, float]]:
        time_total = sum(t for t, _ in groups.values()) or 1.0
        flops_total = sum(f for _, f in groups.values()) or 1
        return [(k, t / time_total, f / flops_total) for k, (t, f) in groups.items()]

    stages: dict[str, tuple[float, int]] = {}
    for r in report.rows(depth):
        t, f = stages.get(r.name, (0.0, 0))
        stages[r.name] = (t + r.total_ms, f + r.flops)
    kinds: dict[str, tuple[float, int]] = {}
    for r in report.leaf_rows():
        t, f = kinds.get(r.kind, (0.0, 0))
        kinds[r.kind] = (t + r.total_ms, f + r.flops)
    by_kind = sorted(shares(kinds), key=lambda s: -s[1])
    return shares(stages), by_kind


def stage_depth(report: ProfileReport, min_rows: int = 4, max_depth: int = 4) -> int:
    """The shallowest depth at which the model splits into at least ``min_rows`` rows: its stages
    (resnet50's layer1-layer4 at depth 1, mobilenet_v2's blocks at depth 2)."""
    for depth in range(1, max_depth + 1):
        if len(report.rows(depth)) >= min_rows:
            return depth
    return max_depth


def time_vs_flops_png(
    stages: Sequence[tuple[str, float, float]],
    kinds: Sequence[tuple[str, float, float]],
    title: str,
) -> bytes:
    """Time share beside FLOP share, per stage (left) and per kind of layer (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = max(4.5, 0.32 * max(len(stages), len(kinds)) + 2.0)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, height), dpi=DPI, gridspec_kw={"width_ratios": [3, 2]}
    )
    for ax, data, label in ((left, stages, "per stage"), (right, kinds, "per kind of layer")):
        ys = list(range(len(data)))
        bar = 0.4
        ax.barh([y - bar / 2 for y in ys], [100 * d[1] for d in data], height=bar,
                color="tab:red", label="share of time")
        ax.barh([y + bar / 2 for y in ys], [100 * d[2] for d in data], height=bar,
                color="tab:blue", label="share of FLOPs")
        ax.set_yticks(ys, [d[0] for d in data], fontsize=7 if len(data) > 30 else 9)
        ax.invert_yaxis()
        ax.set_xlabel("% of the attributed time / of the forward FLOPs")
        ax.set_title(label)
        ax.grid(True, axis="x", alpha=0.3)
        for y, d in zip(ys, data, strict=True):
            if d[2] > 0 and d[1] / d[2] >= 2 and d[1] >= 0.01:
                ax.annotate(f"{d[1] / d[2]:.0f}× its FLOP share", (100 * d[1], y - bar / 2),
                            xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
            elif d[2] == 0 and d[1] >= 0.01:
                ax.annotate("no FLOPs", (100 * d[1], y - bar / 2), xytext=(3, 0),
                            textcoords="offset points", va="center", fontsize=7)
    left.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)
