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
    from cnnstat.bench.runner import BenchResult
    from cnnstat.calculator import ConvComparison
    from cnnstat.compare import Comparison
    from cnnstat.crosscheck import CrossCheck
    from cnnstat.memory import MemoryReport
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
            (human_count(r.params) if r.params else "–") + ("†" if r.shared_params else ""),
        ]
        if show_trainable:
            cells.append(human_count(r.trainable_params) if r.trainable_params else "–")
        cells += [
            (human_count(r.macs) if r.macs else "–") + ("‡" if r.data_dependent else ""),
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
    shared = [r for r in report.layers if r.shared_params]
    if shared:
        lines.append(
            "† Shared (tied) parameters are counted once, in the first row that holds them: "
            + "; ".join(
                f"{r.name} shares {r.shared_params:,} with {', '.join(r.shared_with)}"
                for r in shared
            )
        )
    if report.fallback_reason:
        lines.append(f"Note: {report.fallback_reason}")
    lines += [f"Note: {note}" for note in report.notes]
    return lines


def summary(report: Report, console: Console, show_rf: bool = False) -> None:
    """Print the per-layer table and the totals panel."""
    n, *sample = report.input_shape
    inputs = f"input {n}×{'×'.join(map(str, sample))}"
    if report.input_shapes:
        names = ("",) * (len(report.input_shapes) - len(report.input_names)) + tuple(
            f"{k}=" for k in report.input_names
        )
        inputs = "inputs " + ", ".join(
            k + "×".join(map(str, s)) for k, s in zip(names, report.input_shapes, strict=True)
        )
    if report.backbone_input_shape:
        inputs += f" (reaches the backbone as {'×'.join(map(str, report.backbone_input_shape))})"
    title = (
        f"{report.model} · {inputs} · {report.dtype} · "
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
                "", "", "", "", "", "", "", oom_note(r) if r.status == "oom" else r.message,
            )  # fmt: skip
            continue
        ceiling = ceiling_cell(r)
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
            peak_cell(r),
            estimate,
            noise_note(r),
        )  # fmt: skip
    return table


def oom_note(r: BenchResult) -> str:
    """One line for an out-of-memory cell: what was asked for and what the device had."""
    asked = (
        f"tried to allocate {human_bytes(r.requested_bytes)}"
        if r.requested_bytes is not None
        else "an allocation failed"
    )
    had = f", {human_bytes(r.available_bytes)} free" if r.available_bytes is not None else ""
    return f"out of memory: {asked}{had}"


def ceiling_cell(r: BenchResult) -> str | Text:
    """'62% tf32 compute': share of the matmul ceiling in the math that ran, and the roofline
    verdict; a share above 100% is a wrongly measured ceiling and is flagged, never hidden."""
    share = r.ceiling_share
    if share is None:
        return "—"
    text = " ".join(x for x in (f"{share:.0%}", r.math or "", r.bound or "") if x)
    if r.ceiling_exceeded:
        return Text(f"{text} (above the ceiling: mis-measured)", style="bold red")
    return text


def peak_cell(r: BenchResult) -> str:
    """Measured iterations' peak, with the CUDA allocator's reserve where there is one."""
    if r.peak_memory_bytes is None:
        return "—"
    if r.peak_reserved_bytes is not None:
        return f"{human_bytes(r.peak_memory_bytes)} (res. {human_bytes(r.peak_reserved_bytes)})"
    return human_bytes(r.peak_memory_bytes)


def noise_note(r: BenchResult) -> str | Text:
    """'noisy (p10–p90 71% of median)' when the robust spread passes the threshold."""
    from cnnstat.bench.stats import NOISY_SPREAD_RATIO

    spreads = [t.spread for t in (r.forward_ms, r.backward_ms) if t is not None and t.noisy]
    if not spreads:
        return ""
    worst = max(x for x in spreads if x is not None)
    return Text(
        f"noisy (p10–p90 {worst:.0%} of median > {NOISY_SPREAD_RATIO:.0%})", style="yellow"
    )


def bench_footer(run: BenchRun) -> list[str]:
    """Environment and caveat lines printed under the bench table."""
    env = run.environment
    lines = [
        f"torch {env.get('torch')}, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}; "
        f"CPU {env.get('cpu')} ({env.get('cpu_count')} cores, {env.get('threads')} threads)"
        + (f"; GPU {env.get('gpu')}" if env.get("gpu") else "")
        + f"; {env.get('date')}",
        "Times are medians [p10–p90] of every measured iteration. Peak memory is that of the "
        "measured iterations only (warm-up and cuDNN autotuning excluded; their peak is in "
        "the JSON as warmup_peak_memory_bytes): on CUDA max_memory_allocated, with the "
        "allocator's reserve, on CPU the resident-set growth since the cell began. The "
        "estimate is the memory model's peak for the same phase: inference (forward) or "
        "train_step (forward + backward, gradients starting as None, no optimizer).",
        "% ceiling: achieved FLOP/s over a matmul measured in the math mode the convolutions and "
        "matmuls ran in (fp32, tf32, bf16, fp16); compute/memory: whether the counted FLOPs at "
        "that ceiling take longer than the estimated bytes moved (params, activations written "
        "and read) at the device-copy bandwidth.",
    ]
    if env.get("math"):
        lines[0] += f"; math {env['math']}"
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
            total: str | Text = num(r.total_ms, ",.1f")
            if r.noisy:  # the p10-p90 spread passed the threshold: the ranking may not hold
                total = Text(f"{total} noisy", style="yellow")
            cells += [
                num(r.forward_ms, ",.1f"), num(r.backward_ms, ",.1f"), total,
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
