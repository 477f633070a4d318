"""matplotlib figures. Data preparation is separate from drawing; drawing returns PNG bytes
and ``cnnstat.export`` writes them.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
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
# the bubble chart labels every model up to this many; beyond, the ones it is told to
LABEL_ALL = 30


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


def missing_accuracy(comparison: Comparison) -> list[Point]:
    """Models with a MAC count but no published top-1 (the classics): x = GMACs, size = params.
    The bubble chart draws them on a strip of their own rather than leaving them out."""
    return [
        Point(r.model, r.macs / 1e9, 0.0, float(r.params))
        for r in comparison.rows
        if r.status == "ok" and r.macs and r.top1 is None and r.params
    ]


def time_per_image_bands(runs: Sequence[BenchRun]) -> dict[str, list[tuple[int, float, float]]]:
    """Per model: (batch size, p10, p90 of milliseconds per image of a training step). A
    step's time is its iteration's forward sample plus its backward sample."""
    from cnnstat.bench.stats import percentile

    bands: dict[str, list[tuple[int, float, float]]] = {}
    for run in runs:
        for r in run.results:
            if r.status != "ok" or r.total_ms is None or r.forward_stats is None:
                continue
            fwd = r.forward_stats.samples
            bwd = r.backward_stats.samples if r.backward_stats else (0.0,) * len(fwd)
            if len(bwd) == len(fwd) and fwd:
                steps = sorted(f + b for f, b in zip(fwd, bwd, strict=True))
                lo, hi = percentile(steps, 10), percentile(steps, 90)
            else:  # unpaired samples: the sum of the percentiles bounds the step's
                lo = r.forward_stats.p10 + (r.backward_stats.p10 if r.backward_stats else 0.0)
                hi = r.forward_stats.p90 + (r.backward_stats.p90 if r.backward_stats else 0.0)
            bands.setdefault(r.model, []).append(
                (r.batch_size, lo / r.batch_size, hi / r.batch_size)
            )
    return {m: sorted(v) for m, v in bands.items()}


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


# more bars than this and the labels are unreadable: summary --plot draws stages instead
MAX_BARS = 40


def plot_depth(report: Report, depth: int | None) -> int | None:
    """The module depth ``summary --plot`` draws: the report's own, or depth 1 (stages)
    when the leaf rows would be more than ``MAX_BARS`` bars and no --depth was given."""
    if depth is None and len(layer_bars(report)) > MAX_BARS:
        return 1
    return depth


def layer_bars_title(report: Report) -> str:
    """'resnet50 · input 3×224×224, batch 1 · 25.6 M params, 4.1 G MACs (depth 1)'."""
    from cnnstat.render import human_count

    n, *sample = report.input_shape
    rows = "" if report.depth is None else f" · rows at module depth {report.depth}"
    return (
        f"{report.model} · input {'×'.join(map(str, sample))}, batch {n} · "
        f"{human_count(report.totals.params)} params, {human_count(report.totals.macs)} MACs"
        + rows
    )


def exact_count(v: float) -> str:
    """A tick label that is the tick's value: 1.25 G, never '1.2 G'; 0 for zero."""
    for scale, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(v) >= scale:
            return f"{v / scale:.6g} {unit}"
    return f"{v:.6g}"


def spans_decades(values: Sequence[float], ratio: float = 100.0) -> bool:
    """Whether the positive values span more than ``ratio`` (two decades by default)."""
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) > ratio


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


def _place_labels(
    ax: Any,
    fig: Any,
    points: Sequence[Point],
    radius: dict[str, float] | None = None,
    always: Collection[str] | None = None,
) -> list[Any]:
    """Label the points: try offsets around each, nearest first, until the label overlaps no
    earlier label, no bubble centre and stays inside the axes; a leader line joins a label
    to its bubble's edge (``radius``: bubble radius in points, by label). The ``always``
    labels (all by default) are placed first and never left out: with no free spot they take
    the least crowded one. Others are left out where no spot is free."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    forced = {p.label for p in points} if always is None else set(always)
    placed: list[Any] = []
    texts: list[Any] = []
    centres = [ax.transData.transform((p.x, p.y)) for p in points]
    offsets = [(dx * r, dy * r) for r in (1, 2, 3, 4.5, 6)
               for dx, dy in ((8, 8), (8, -14), (-8, 8), (-8, -14), (0, 14), (0, -20),
                              (16, 0), (-16, 0))]  # fmt: skip

    def annotate(p: Point, dx: float, dy: float, r: float) -> Any:
        far = (dx * dx + dy * dy) ** 0.5 > r + 4  # the label sits outside the bubble
        return ax.annotate(
            p.label, (p.x, p.y), xytext=(dx, dy), textcoords="offset points", fontsize=8,
            ha="left" if dx > 0 else "right" if dx < 0 else "center",
            va="bottom" if dy > 0 else "top" if dy < 0 else "center",
            arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.6, "shrinkA": 1,
                        "shrinkB": r} if far else None,
        )  # fmt: skip

    order = sorted(points, key=lambda p: (p.label not in forced, -p.size))
    for p in order:
        r = (radius or {}).get(p.label, 0.0)
        best: tuple[float, float, float] | None = None
        for dx, dy in offsets:
            text = annotate(p, dx, dy, r)
            box = text.get_window_extent(renderer).expanded(1.05, 1.15)
            text.remove()
            crowding = (
                sum(box.overlaps(other) for other in placed)
                + 0.5 * sum(box.contains(cx, cy) for cx, cy in centres)
                + (0 if inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1)
                   else 100)
            )  # fmt: skip
            if best is None or crowding < best[0]:
                best = (crowding, dx, dy)
            if crowding == 0:
                break
        if best is None or (best[0] > 0 and p.label not in forced):
            continue
        text = annotate(p, best[1], best[2], r)
        placed.append(text.get_window_extent(renderer).expanded(1.05, 1.15))
        texts.append(text)
    return texts


def _bubble_area(params: float, biggest: float) -> float:
    return 20 + 1500 * params / biggest


def accuracy_vs_macs_figure(
    points: Sequence[Point],
    missing: Sequence[Point] = (),
    title: str = "",
    always: Collection[str] | None = None,
) -> Any:
    """The bubble chart as a matplotlib figure: top-1 against GMACs, bubble area ∝ params;
    ``missing`` (no published accuracy) on a strip below. Every model is labelled when there
    are at most ``LABEL_ALL`` of them; beyond that the ``always`` ones (the lecture
    networks) are, and the others where their label finds room."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if missing:
        fig, (ax, strip) = plt.subplots(
            2, 1, figsize=SIZE_IN, dpi=DPI, gridspec_kw={"height_ratios": [5, 1]}
        )
    else:
        fig, ax = plt.subplots(figsize=SIZE_IN, dpi=DPI)
        strip = None
    everything = [*points, *missing]
    biggest = max((p.size for p in everything), default=1.0)
    if points:
        ax.scatter([p.x for p in points], [p.y for p in points],
                   s=[_bubble_area(p.size, biggest) for p in points], alpha=0.45,
                   edgecolors="black", linewidths=0.5)  # fmt: skip
    if strip is not None:
        _draw_missing_strip(strip, missing, biggest)
    else:
        ax.set_xlabel("Multiply-accumulates per image (GMACs)")
    _gmacs_axes(ax, points, strip, missing)
    if strip is not None and points:
        ax.set_xlabel("Multiply-accumulates per image (GMACs)")
    if points:
        ys = [p.y for p in points]
        ax.set_ylim(min(ys) - 3, max(ys) + 3)
    ax.set_ylabel("ImageNet-1K top-1 accuracy (%)")
    ax.set_title(title or "Accuracy against compute; bubble area ∝ parameters")
    ax.grid(True, which="major", alpha=0.3)
    if everything:
        _size_legend(ax, biggest)
    fig.text(0.01, 0.026, "accuracy: torchvision DEFAULT weights (ImageNet-1K acc@1, from the "
             "weights metadata); MACs counted by cnnstat at each model's default input size",
             fontsize=7, color="0.35")  # fmt: skip
    fig.tight_layout(rect=(0, 0.045, 1, 1))
    import math

    radius = {p.label: math.sqrt(_bubble_area(p.size, biggest) / math.pi) for p in everything}
    forced = None if len(everything) <= LABEL_ALL else set(always or ())
    labelled = 0
    if points:
        labelled += len(_place_labels(ax, fig, points, radius, forced))
    if strip is not None:
        labelled += len(_place_labels(strip, fig, missing, radius, forced))
    if labelled < len(everything):
        fig.text(0.01, 0.006, f"{len(everything) - labelled} of {len(everything)} bubbles left "
                 "unlabelled where labels would overlap", fontsize=7, color="0.35")
    return fig


def _draw_missing_strip(strip: Any, missing: Sequence[Point], biggest: float) -> None:
    """The grey bubbles of models with no published accuracy, on a strip of their own."""
    strip.scatter([p.x for p in missing], [0.0] * len(missing),
                  s=[_bubble_area(p.size, biggest) for p in missing], alpha=0.45,
                  color="tab:gray", edgecolors="black", linewidths=0.5)  # fmt: skip
    strip.set_yticks([])
    strip.set_ylim(-1, 1)
    strip.set_ylabel("no published\naccuracy", fontsize=8, rotation=0, ha="right", va="center")
    strip.set_xlabel("Multiply-accumulates per image (GMACs)")
    strip.grid(True, axis="x", which="major", alpha=0.3)


def _gmacs_axes(ax: Any, points: Sequence[Point], strip: Any, missing: Sequence[Point]) -> None:
    """Each panel its own GMACs axis: a tiny classic in the strip (lenet5, 4e-4 GMACs) must
    not squeeze the ImageNet models into a corner of theirs."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    for panel, shown in ((ax, points), (strip, missing)):
        if panel is None or not shown:
            continue
        xs = [p.x for p in shown]
        if spans_decades(xs, 20):
            panel.set_xscale("log")
            panel.set_xlim(min(xs) / 1.6, max(xs) * 1.6)
        panel.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.6g}"))
        panel.xaxis.set_minor_formatter(NullFormatter())


def _size_legend(ax: Any, biggest: float) -> None:
    """The size legend: three reference bubbles, a decade apart."""
    refs = sorted({_round_1_2_5(biggest), _round_1_2_5(biggest / 10), _round_1_2_5(biggest / 100)})
    handles = [
        ax.scatter([], [], s=_bubble_area(v, biggest), alpha=0.45, color="tab:blue",
                   edgecolors="black", linewidths=0.5, label=f"{exact_count(v)} params")
        for v in refs if v > 0
    ]  # fmt: skip
    ax.legend(handles=handles, title="Bubble area", loc="upper left",
              bbox_to_anchor=(1.01, 1.0), fontsize=8, title_fontsize=8, labelspacing=2.4,
              borderpad=1.4, handletextpad=1.5, frameon=False)  # fmt: skip


def _round_1_2_5(v: float) -> float:
    """The largest 1, 2 or 5 × 10^k at or below ``v`` (legend bubble sizes)."""
    import math

    if v <= 0:
        return 0.0
    k = 10 ** math.floor(math.log10(v))
    return max(m * k for m in (1, 2, 5) if m * k <= v)


def accuracy_vs_macs_png(
    points: Sequence[Point],
    title: str = "",
    missing: Sequence[Point] = (),
    always: Collection[str] | None = None,
) -> bytes:
    """Top-1 accuracy against GMACs (log scale), bubble area proportional to parameters."""
    return _png(accuracy_vs_macs_figure(points, missing, title, always))


def time_per_image_png(
    series: dict[str, list[tuple[int, float]]],
    device: str = "cpu",
    bands: dict[str, list[tuple[int, float, float]]] | None = None,
) -> bytes:
    """Milliseconds per image of a training step against batch size, one line per model,
    with p10–p90 error bars from ``bands`` (``time_per_image_bands``)."""
    fig, ax = _figure()
    for model, pts in series.items():
        xs, ys = [b for b, _ in pts], [t for _, t in pts]
        band = {b: (lo, hi) for b, lo, hi in (bands or {}).get(model, [])}
        if band:
            lo = [max(t - band.get(b, (t, t))[0], 0.0) for b, t in pts]
            hi = [max(band.get(b, (t, t))[1] - t, 0.0) for b, t in pts]
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=4, label=model)
        else:
            ax.plot(xs, ys, marker="o", label=model)
    ax.set_xscale("log", base=2)
    batches = sorted({b for pts in series.values() for b, _ in pts})
    if batches:
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.minorticks_off()
    values = [t for pts in series.values() for _, t in pts]
    if spans_decades(values, 20):
        ax.set_yscale("log")
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.6g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("Batch size")
    ax.set_ylabel(f"Time per image, forward + backward (ms, {device})")
    ax.set_title("Training-step time per image against batch size"
                 + ("; bars: p10–p90 of the measured steps" if bands else ""))  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def layer_bars_png(bars: Sequence[tuple[str, int, int]], model: str, title: str = "") -> bytes:
    """Parameters and MACs per layer, side by side: FC layers hold the parameters, conv layers
    the compute. An axis whose values span more than two decades is logarithmic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    height = max(4.0, 0.22 * len(bars) + 1.8)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, height), dpi=DPI, sharey=True)
    names = [b[0] for b in bars]
    ys = list(range(len(bars)))
    for ax, k, color, label in ((left, 1, "tab:blue", "Parameters"),
                                (right, 2, "tab:orange", "Multiply-accumulates (MACs)")):
        values = [max(b[k], 0) for b in bars]  # type: ignore[call-overload]
        ax.barh(ys, values, color=color)
        if spans_decades(values):
            ax.set_xscale("log")
            ax.set_xlim(left=min(v for v in values if v > 0) / 2)
            label += ", log scale"
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: exact_count(v)))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.grid(True, axis="x", which="major", alpha=0.3)
    left.set_yticks(ys, names, fontsize=7 if len(bars) > 30 else 9)
    left.invert_yaxis()
    left.set_title("parameters per layer")
    right.set_title("multiply-accumulates per layer")
    fig.suptitle(title or model, fontsize=11)
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
    "MAX_BARS", "accuracy_vs_macs_figure", "exact_count", "layer_bars_title", "missing_accuracy",
    "plot_depth", "spans_decades", "time_per_image_bands",
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
