"""The only place that builds rich tables and formats human units."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from cnnstat.bench import BenchRun, TimingStats
    from cnnstat.calculator import ConvComparison
    from cnnstat.compare import Comparison
    from cnnstat.crosscheck import CrossCheck
    from cnnstat.memory import MemoryReport
    from cnnstat.profile import ProfileReport
    from cnnstat.records import LayerRecord, Report
    from cnnstat.zoo import ModelSpec

_COUNT_UNITS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))
_BYTE_UNITS = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


def human_count(n: int | float) -> str:
    """61100840 -> '61.1 M'; below a thousand the plain number."""
    for scale, unit in _COUNT_UNITS:
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:,.0f}" if isinstance(n, float) else f"{n:,}"


def human_bytes(n: int) -> str:
    """2411724 -> '2.3 MiB'."""
    for scale, unit in _BYTE_UNITS:
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:,} B"


def exact_and_human(n: int) -> str:
    """61100840 -> '61,100,840 (61.1 M)'."""
    return f"{n:,}" if abs(n) < 1000 else f"{n:,} ({human_count(n)})"


def format_shape(shape: Sequence[int] | None, batch: bool = True) -> str:
    """(1, 64, 55, 55) -> '1×64×55×55'; None -> '—'."""
    if shape is None:
        return "—"
    return "×".join(str(s) for s in shape) if shape else "scalar"


def format_geometry(r: LayerRecord) -> str:
    """Kernel/stride/padding/dilation/groups in one short cell, e.g. 'k3 s2 p1 g32'."""
    if r.kernel is None:
        return ""

    def one(v: Sequence[int] | str | None) -> str:
        if v is None:
            return ""
        if isinstance(v, str):
            return v
        return str(v[0]) if len(set(v)) == 1 else "×".join(map(str, v))

    parts = [f"k{one(r.kernel)}", f"s{one(r.stride)}", f"p{one(r.padding)}"]
    if r.dilation is not None and any(d != 1 for d in r.dilation):
        parts.append(f"d{one(r.dilation)}")
    if r.groups not in (None, 1):
        parts.append(f"g{r.groups}")
    return " ".join(parts)


def layer_label(r: LayerRecord) -> str:
    """The type cell: the module's class, marked when the row holds only its own functional ops."""
    if not r.called:
        return f"{r.type} (not called)"
    if r.own_ops_only:
        return f"{r.type} (own ops)"
    return r.type


def format_rf(r: LayerRecord) -> tuple[str, str]:
    """Receptive field and effective stride cells: '7×7', '2' or 'global'."""
    rf = r.receptive_field
    if rf is None:
        return "", ""
    if isinstance(rf, str):
        return rf, ""
    stride = r.effective_stride or ()

    def one(v: Sequence[int]) -> str:
        return str(v[0]) if len(set(v)) == 1 else "×".join(map(str, v))

    return one(rf), one(stride) if stride else ""


def layers_table(report: Report, show_rf: bool = False) -> Table:
    """The per-layer rich table; ``show_rf`` adds receptive field and effective stride."""
    show_trainable = report.totals.frozen_params > 0
    table = Table(box=box.SIMPLE_HEAD, show_footer=False, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("Layer", overflow="fold", min_width=10)
    table.add_column("Type", no_wrap=True)
    table.add_column("Output shape", no_wrap=True)
    table.add_column("Kernel", no_wrap=True)
    table.add_column("Params", justify="right", no_wrap=True)
    if show_trainable:
        table.add_column("Trainable", justify="right", no_wrap=True)
    table.add_column("MACs", justify="right", no_wrap=True)
    table.add_column("FLOPs", justify="right", no_wrap=True)
    table.add_column("Act. mem", justify="right", no_wrap=True)
    if show_rf:
        table.add_column("RF", justify="right", no_wrap=True)
        table.add_column("Eff. stride", justify="right", no_wrap=True)
    table.add_column("Check", justify="center", no_wrap=True)
    for r in report.layers:
        cells: list[str | Text] = [
            str(r.index),
            r.name,
            layer_label(r),
            format_shape(r.output_shape),
            format_geometry(r),
            human_count(r.params) if r.params else "–",
        ]
        if show_trainable:
            cells.append(human_count(r.trainable_params) if r.trainable_params else "–")
        cells += [
            human_count(r.macs) if r.macs else "–",
            human_count(r.flops) if r.flops else "–",
            human_bytes(r.activation_bytes) if r.activation_bytes else "–",
        ]
        if show_rf:
            cells += list(format_rf(r))
        cells += [
            Text(r.check.symbol, style="green" if r.check.status == "ok" else "bold red"),
        ]
        table.add_row(*cells)
    return table


def totals_lines(report: Report) -> list[str]:
    """The totals as plain lines, shared by the terminal panel and text exports."""
    t = report.totals
    lines = [
        f"Params: {exact_and_human(t.params)}  trainable {t.trainable_params:,}, "
        f"frozen {t.frozen_params:,}",
        f"Parameter memory: {human_bytes(t.param_bytes)} ({report.dtype})"
        + (f", buffers {human_bytes(t.buffer_bytes)}" if t.buffer_bytes else ""),
        f"MACs: {exact_and_human(t.macs)}   FLOPs: {exact_and_human(t.flops)}",
        f"Forward activations: {human_bytes(t.activation_bytes)}   "
        f"saved for backward: {human_bytes(t.saved_for_backward_bytes)}",
    ]
    if t.backward_macs is not None and t.backward_flops is not None:
        lines.append(
            f"Backward: {exact_and_human(t.backward_macs)} MACs, {exact_and_human(t.backward_flops)} FLOPs "
            f"({t.backward_macs / t.macs:.3g}× the forward MACs)"
            if t.macs
            else f"Backward: {t.backward_macs:,} MACs"
        )
    lines += [
        f"{report.agreeing_layers} of {report.checked_layers} layers agree with the "
        "closed-form formulas"
        if report.checked_layers
        else "No row at this depth has a closed-form formula (the default depth checks every leaf layer)",
    ]
    if report.unsupported_ops:
        ops = ", ".join(f"{k} ×{v}" for k, v in report.unsupported_ops.items())
        lines.append(f"Not counted (no formula): {ops}")
    else:
        lines.append("Every op that ran was counted.")
    if report.uncalled_modules:
        lines.append("Modules that never ran: " + ", ".join(report.uncalled_modules))
    if report.fallback_reason:
        lines.append(f"Note: {report.fallback_reason}")
    return lines


def summary(report: Report, console: Console, show_rf: bool = False) -> None:
    """Print the per-layer table and the totals panel."""
    n, *sample = report.input_shape
    title = (
        f"{report.model} · input {n}×{'×'.join(map(str, sample))} · {report.dtype} · "
        f"{'meta device' if report.device_mode == 'meta' else 'real CPU tensors'}"
    )
    console.print(Text(title, style="bold"))
    console.print(layers_table(report, show_rf))
    mismatched = [r for r in report.layers if r.check.status == "mismatch"]
    body: list[Text] = [Text(line) for line in totals_lines(report)]
    for r in mismatched:
        body.append(Text(f"✗ {r.name}: {'; '.join(r.check.mismatches)}", style="red"))
    console.print(Panel(Group(*body), title="Totals", title_align="left", expand=False))


def models_table(specs: Sequence[ModelSpec]) -> Table:
    """The ``cnnstat models`` table."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("Model")
    table.add_column("Source")
    table.add_column("Default input (C×H×W)")
    for s in specs:
        table.add_row(s.name, s.source, format_shape(s.default_input_size))
    return table


def conv_table(comparison: ConvComparison) -> Table:
    """The ``cnnstat conv`` table: the conv and any alternative, with the ratio to the conv."""
    spec = comparison.spec
    in_shape = "×".join(map(str, (*spec.spatial, spec.in_channels)))
    table = Table(
        title=f"input {in_shape} (lecture order, channels last)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title_justify="left",
    )
    for col, justify in (
        ("Layer", "left"),
        ("Output", "left"),
        ("Params", "right"),
        ("Params w/o bias", "right"),
        ("MACs", "right"),
        ("FLOPs", "right"),
        ("vs conv", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=col != "Layer")  # type: ignore[arg-type]
    base = comparison.rows[0].macs
    for row in comparison.rows:
        out = "×".join(map(str, (*row.output_spatial, row.out_channels)))
        table.add_row(
            row.label,
            out,
            f"{row.params:,}",
            f"{row.params_without_bias:,}",
            exact_and_human(row.macs),
            exact_and_human(row.flops),
            f"{row.macs / base:.1%}" if base else "—",
        )
    return table


def check_tables(result: CrossCheck, console: Console, limit: int = 20) -> None:
    """Print ``cnnstat check``: totals per source, disagreeing layers, notes and the verdict."""
    r = result.report
    console.print(
        Text(
            f"{result.model} · input {format_shape(r.input_shape)} · sources: "
            f"{', '.join(result.sources)}",
            style="bold",
        )
    )
    base = r.totals.macs
    totals = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("Source", "Params", "MACs", "vs cnnstat", "Note"):
        totals.add_column(col, justify="left" if col in ("Source", "Note") else "right")
    for t in result.totals:
        totals.add_row(
            t.source,
            f"{t.params:,}" if t.params is not None else "—",
            exact_and_human(t.macs) if t.macs is not None else "—",
            f"{t.macs / base:.4f}×" if t.macs is not None and base else "—",
            t.note,
        )
    console.print(totals)
    if result.disagreements:
        table = Table(
            title=f"Layers where a source disagrees ({len(result.disagreements)})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        for col in ("Layer", "Type", "cnnstat MACs", "fvcore MACs", "Formula", "Why"):
            table.add_column(
                col,
                justify="right" if "MACs" in col else "left",
                overflow="fold",
                no_wrap=col != "Why" and col != "Layer",
            )
        for d in result.disagreements[:limit]:
            table.add_row(
                d.name,
                d.type,
                f"{d.cnnstat_macs:,}",
                f"{d.fvcore_macs:,}" if d.fvcore_macs is not None else "—",
                {"ok": "✓", "mismatch": "✗"}.get(d.formula, ""),
                "; ".join(d.reasons),
            )
        console.print(table)
        if len(result.disagreements) > limit:
            console.print(
                f"… and {len(result.disagreements) - limit} more layers (--limit to show more)",
                style="dim",
            )
    for note in result.notes:
        console.print(f"• {note}", highlight=False)
    if result.passed:
        console.print(
            Text(
                "PASS: cnnstat agrees with the closed forms on every layer"
                + (" and with the published figures" if "published" in result.sources else ""),
                style="bold green",
            )
        )
    else:
        for f in result.failures:
            console.print(Text(f"FAIL: {f}", style="bold red"))


def format_ms(t: TimingStats | None) -> str:
    """'12.3 [11.9–13.0]': median and p10–p90 in milliseconds."""
    if t is None:
        return "—"
    return f"{t.median:,.1f} [{t.p10:,.1f}–{t.p90:,.1f}]"


def bench_table(run: BenchRun) -> Table:
    """The ``cnnstat bench`` table: one row per model × device × batch × mode."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col, justify in (
        ("Model", "left"), ("Device", "left"), ("Batch", "right"), ("Mode", "left"),
        ("Forward ms", "right"), ("Backward ms", "right"), ("Total ms", "right"),
        ("img/s", "right"), ("GFLOP/s", "right"), ("% ceiling", "right"),
        ("Peak mem", "right"), ("Estimate (err)", "right"), ("Note", "left"),
    ):  # fmt: skip
        table.add_column(col, justify=justify, no_wrap=col != "Note")  # type: ignore[arg-type]
    for r in run.results:
        if r.status != "ok":
            label = "OOM" if r.status == "oom" else "error"
            table.add_row(
                r.model, r.device, str(r.batch_size), r.mode, Text(label, style="bold red"),
                "", "", "", "", "", "", "", r.message,
            )  # fmt: skip
            continue
        ceiling = (
            f"{r.achieved_flops_per_s / r.ceiling_flops_per_s:.0%}"
            if r.achieved_flops_per_s and r.ceiling_flops_per_s
            else "—"
        )
        err = r.memory_error
        estimate = (
            f"{human_bytes(r.estimated_memory_bytes)} ({err:+.0%})"
            if r.estimated_memory_bytes and err is not None
            else "—"
        )
        table.add_row(
            r.model, r.device, str(r.batch_size), r.mode,
            format_ms(r.forward_ms), format_ms(r.backward_ms),
            f"{r.total_ms:,.1f}" if r.total_ms is not None else "—",
            f"{r.images_per_s:,.1f}" if r.images_per_s else "—",
            f"{r.achieved_flops_per_s / 1e9:,.1f}" if r.achieved_flops_per_s else "—",
            ceiling,
            human_bytes(r.peak_memory_bytes) if r.peak_memory_bytes is not None else "—",
            estimate,
            Text("noisy (IQR > 10% of median)", style="yellow") if r.noisy else "",
        )  # fmt: skip
    return table


def bench_footer(run: BenchRun) -> list[str]:
    """Environment and caveat lines printed under the bench table."""
    env = run.environment
    lines = [
        f"torch {env.get('torch')}, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}; "
        f"CPU {env.get('cpu')} ({env.get('cpu_count')} cores, {env.get('threads')} threads)"
        + (f"; GPU {env.get('gpu')}" if env.get("gpu") else "")
        + f"; {env.get('date')}",
        "Times are medians [p10–p90] of every measured iteration. CPU peak memory is the "
        "resident-set growth during the cell; the estimate is params + grads + saved "
        "activations (train) or params + activations (forward).",
    ]
    lines += [f"Skipped {s}" for s in run.skipped]
    if run.interrupted:
        lines.append("Interrupted: the table holds the cells finished before Ctrl-C.")
    return lines


def compare_table(comparison: Comparison) -> Table:
    """The ``cnnstat compare`` table, one row per model."""
    timed = any(r.total_ms is not None for r in comparison.rows)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    columns = [
        ("Model", "left"), ("Year", "right"), ("Salient feature", "left"), ("Params", "right"),
        ("GMACs", "right"), ("GFLOPs", "right"), ("Param mem", "right"), ("Act./image", "right"),
        ("Train peak CUDA", "right"), ("Top-1", "right"), ("Top-5", "right"),
    ]  # fmt: skip
    if timed:
        columns += [
            ("Fwd ms", "right"),
            ("Bwd ms", "right"),
            ("Total ms", "right"),
            ("img/s", "right"),
        ]
    for col, justify in columns:
        table.add_column(col, justify=justify, no_wrap=col != "Salient feature")  # type: ignore[arg-type]

    def num(v: float | None, fmt: str) -> str:
        return "—" if v is None else format(v, fmt)

    for r in comparison.rows:
        if r.status != "ok":
            error_cells: list[str | Text] = [
                r.model, num(r.year, "d"), r.feature, Text(f"error: {r.message}", style="red"),
            ]  # fmt: skip
            table.add_row(*error_cells, *[""] * (len(columns) - len(error_cells)))
            continue
        cells: list[str | Text] = [
            r.model, num(r.year, "d"), r.feature,
            human_count(r.params) if r.params is not None else "—",
            num(r.macs / 1e9 if r.macs is not None else None, ",.3f"),
            num(r.flops / 1e9 if r.flops is not None else None, ",.3f"),
            human_bytes(r.param_bytes) if r.param_bytes is not None else "—",
            human_bytes(r.activation_bytes_per_image) if r.activation_bytes_per_image is not None else "—",
            human_bytes(r.training_memory_bytes) if r.training_memory_bytes is not None else "—",
            num(r.top1, ".2f"), num(r.top5, ".2f"),
        ]  # fmt: skip
        if timed:
            cells += [
                num(r.forward_ms, ",.1f"), num(r.backward_ms, ",.1f"), num(r.total_ms, ",.1f"),
                num(r.images_per_s, ",.1f"),
            ]  # fmt: skip
        table.add_row(*cells)
    return table


_PHASE_LABELS = {
    "inference": "inference (eval, inference_mode)",
    "train_step": "first training step (forward + backward)",
    "steady_step": "steady step with optimizer",
}


def memory_rows(report: MemoryReport) -> list[tuple[str, str, str]]:
    """(phase, peak, where the peak happens) for each predicted phase."""
    rows = []
    for phase, label in _PHASE_LABELS.items():
        peak = report.peak(phase)
        if peak is None:
            continue
        if phase == "steady_step":
            label = f"steady step with {report.optimizer}"
        rows.append((label, human_bytes(peak), report.peak_where.get(phase, "")))
    return rows


def memory_tables(report: MemoryReport, console: Console) -> None:
    """The peaks, what is alive at each, the assumptions and the largest batch."""
    from cnnstat.memory.simulate import CATEGORIES

    mode = report.dtype if report.dtype == "float32" else f"autocast {report.dtype}"
    console.print(
        f"[bold]{report.model}[/] memory on {report.device}, input "
        f"{format_shape(report.input_shape)}, {mode}"
        + (", channels_last" if report.channels_last else ""),
        highlight=False,
    )
    peaks = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    peaks.add_column("Phase", no_wrap=True)
    peaks.add_column("Peak", justify="right", no_wrap=True)
    peaks.add_column("Peak reached at", overflow="fold")
    for row in memory_rows(report):
        peaks.add_row(*row)
    console.print(peaks)
    phases = [p for p in _PHASE_LABELS if p in report.breakdown]
    if phases:
        alive = Table(title="Alive at each peak", box=box.SIMPLE_HEAD, pad_edge=False)
        alive.add_column("What", no_wrap=True)
        short = {"inference": "inference", "train_step": "train step", "steady_step": "steady"}
        for p in phases:
            alive.add_column(short[p], justify="right", no_wrap=True)
        for cat in CATEGORIES:
            values = [report.breakdown[p].get(cat, 0) for p in phases]
            if any(values):
                alive.add_row(cat, *(human_bytes(v) if v else "—" for v in values))
        alive.add_row(
            "[bold]total[/]", *(f"[bold]{human_bytes(report.peak(p) or 0)}[/]" for p in phases)
        )
        console.print(alive)
    if report.max_batch_size is not None and report.budget_bytes is not None:
        console.print(
            f"Largest batch that fits {human_bytes(report.budget_bytes)} "
            f"({report.budget_mode}): [bold]{report.max_batch_size}[/]",
            highlight=False,
        )
    console.print("Assumptions:", style="dim")
    for a in report.assumptions:
        console.print(f"  • {a}", style="dim", highlight=False)


def profile_table(report: ProfileReport, depth: int | None = None,
                  width: int | None = None) -> Table:
    """The ``cnnstat profile`` table: one row per module at ``depth``, then unattributed and total.

    For a narrow ``width`` the p10–p90 ranges go first, then bytes and GB/s, then the type;
    the layer's name always stays.
    """
    train = report.mode == "train"
    wide = width is None or width >= 150
    keep_bytes = width is None or width >= 110
    keep_type = width is None or width >= 90
    ms = format_ms_fine if wide else (lambda t: "—" if t is None else f"{t.median:,.2f}")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    columns = [("Layer", "left"), ("Type", "left"), ("Forward ms", "right"),
               ("Backward ms", "right"), ("Share", "right"), ("FLOPs", "right"),
               ("Bytes", "right"), ("GFLOP/s", "right"), ("GB/s", "right"), ("Bound", "left")]
    shown = [c for c, _ in columns if (c != "Backward ms" or train)
             and (c not in ("Bytes", "GB/s") or keep_bytes) and (c != "Type" or keep_type)]
    for col, justify in columns:
        if col in shown:
            table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]

    def add(cells: dict[str, object]) -> None:
        table.add_row(*(cells.get(c, "") for c in shown))  # type: ignore[arg-type]

    for r in report.rows(depth):
        add({
            "Layer": r.name, "Type": r.type, "Forward ms": ms(r.forward_ms),
            "Backward ms": ms(r.backward_ms),
            "Share": f"{r.share:.1%}" if r.share is not None else "—",
            "FLOPs": human_count(r.flops) if r.flops else "—",
            "Bytes": human_bytes(r.bytes) if r.bytes else "—",
            "GFLOP/s": f"{r.achieved_flops_per_s / 1e9:,.1f}" if r.achieved_flops_per_s else "—",
            "GB/s": f"{r.achieved_bytes_per_s / 1e9:,.1f}" if r.achieved_bytes_per_s else "—",
            "Bound": r.bound or "—",
        })  # fmt: skip
    unattributed = report.unattributed_ms(depth)
    total = report.total_ms
    table.add_section()
    add({
        "Layer": Text("unattributed", style="italic"), "Type": "overhead, loss, gaps",
        "Forward ms": f"{unattributed:,.2f}" if unattributed is not None else "—",
        "Share": f"{unattributed / total:.1%}" if unattributed is not None and total else "—",
    })  # fmt: skip
    add({"Layer": Text("total step", style="bold"), "Forward ms": ms(report.step),
         "Share": "100.0%" if total else "—"})  # fmt: skip
    return table


def format_ms_fine(t: TimingStats | None) -> str:
    """'1.23 [1.19–1.30]': median and p10–p90 in milliseconds, to the hundredth."""
    if t is None:
        return "—"
    return f"{t.median:,.2f} [{t.p10:,.2f}–{t.p90:,.2f}]"


def profile_footer(report: ProfileReport, depth: int | None = None) -> list[str]:
    """What the profile was checked against and how it was measured, under the table."""
    d = report.to_dict(depth)
    lines = [
        f"{report.model} · {report.device} · batch {report.batch_size} · {report.mode} · "
        f"{report.dtype} · {report.threads} thread{'s' if report.threads != 1 else ''} · "
        f"{report.iterations} profiled steps",
    ]
    if d["bench_ms"] is not None:
        ratio = d["profiled_over_bench"]
        check = d["attributed_over_bench"]
        lines.append(
            f"Plain bench step (no profiler, no hooks): {format_ms_fine(report.bench)} ms; "
            + (f"profiled step {ratio:.2f}× it; " if ratio else "")
            + (f"the rows sum to {check:.0%} of it." if check is not None else "")
        )
    lines.append(
        f"Ceilings ({report.math}): matmul {report.ceiling_flops_per_s / 1e9:,.1f} GFLOP/s, "
        f"copy {report.bandwidth_bytes_per_s / 1e9:,.1f} GB/s. Achieved rates and the bound "
        "use forward FLOPs and bytes (inputs read, outputs written, weights read) over the "
        "forward median."
    )
    lines.append("Times are medians [p10–p90] over the profiled steps; unattributed is the "
                 "whole step's median less the rows' medians.")
    breakdown = report.unattributed_breakdown_ms(depth)
    if breakdown:
        lines.append("Unattributed: " + "; ".join(
            f"{cause} {ms:,.2f} ms" for cause, ms in breakdown.items()) + ".")
    if report.interrupted:
        lines.append("Interrupted: the table holds the steps finished before Ctrl-C.")
    return lines
