"""The only place that builds rich tables and formats human units."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
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
    from cnnstat.memory.verify import VerifiedBatch
    from cnnstat.profile import ProfileReport
    from cnnstat.records import LayerRecord, Report
    from cnnstat.zoo import ModelSpec

_COUNT_UNITS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))

CONVENTION = (
    "1 MAC = one multiply-add = 2 FLOPs. FLOPs also count each bias add, activation, "
    "normalisation and pooling element (README: What is counted)."
)
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


def verify_line(run: VerifiedBatch) -> str:
    """``verify: batch 57 ran, peak 78.1 GiB`` for one ``memory --verify`` run."""
    seen = f", peak {human_bytes(run.peak_bytes)}" if run.peak_bytes is not None else ""
    return f"verify: batch {run.batch_size} {run.outcome}{seen}"


def exact_and_human(n: int) -> str:
    """61100840 -> '61,100,840 (61.1 M)'."""
    return f"{n:,}" if abs(n) < 1000 else f"{n:,} ({human_count(n)})"


@dataclass(frozen=True)
class Column:
    """One column of a terminal table. ``drop`` 0 is always shown; when the table is wider
    than the terminal, the column with the highest ``drop`` is left out first. A ``wrap``
    column is free text that may wrap, given at least ``min_width`` cells; the others
    are never wrapped or cut, so a name or a figure is shown whole or not at all."""

    header: str
    justify: str = "left"
    drop: int = 0
    wrap: bool = False
    min_width: int = 16
    style: str | None = None


Cell = str | Text

# SIMPLE_HEAD without edge padding: one blank edge cell each side, three cells between columns
_EDGES, _GAP = 2, 3


def _cell_width(cell: Cell) -> int:
    if isinstance(cell, Text):
        plain = cell.plain
    else:
        try:
            plain = Text.from_markup(cell).plain
        except Exception:  # not markup after all: measure it as it is
            plain = cell
    return max((cell_len(line) for line in plain.split("\n")), default=0)


def fit_columns(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> list[int]:
    """Indices of the columns to show in ``width`` cells: left out by descending ``drop``
    (the rightmost first among equals) until the rest fits; ``drop`` 0 columns always stay."""
    natural = [
        max([cell_len(c.header), *(_cell_width(row[i]) for row in rows)])
        for i, c in enumerate(columns)
    ]
    need = [min(n, c.min_width) if c.wrap else n for n, c in zip(natural, columns, strict=True)]
    keep = list(range(len(columns)))

    def total(idx: list[int]) -> int:
        return sum(need[i] for i in idx) + _EDGES + _GAP * (len(idx) - 1)

    order = sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: (-columns[i].drop, -i))
    dropped: list[int] = []
    for i in order:
        if total(keep) <= width:
            break
        keep.remove(i)
        dropped.append(i)
    # a wide column left out may have made room for a narrower one left out before it
    for i in reversed(dropped):
        if total(sorted([*keep, i])) <= width:
            keep = sorted([*keep, i])
    return keep


def build_table(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], keep: Sequence[int] | None = None,
    **kwargs: object,
) -> Table:
    """A rich table of the ``keep`` columns (all by default)."""
    idx = list(range(len(columns))) if keep is None else list(keep)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, **kwargs)  # type: ignore[arg-type]
    for i in idx:
        c = columns[i]
        table.add_column(
            c.header, justify=c.justify, style=c.style, no_wrap=not c.wrap,  # type: ignore[arg-type]
            overflow="fold", min_width=c.min_width if c.wrap else None,
        )  # fmt: skip
    for row in rows:
        table.add_row(*(row[i] for i in idx))
    return table


WIDE_HINT = "--wide shows them; --format csv, markdown or json has every figure"


def print_fitted(
    console: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    wide: bool = False,
    hint: str = WIDE_HINT,
    **kwargs: object,
) -> list[str]:
    """Print the table with the columns that fit the console, and a one-line note naming
    those left out. ``wide`` prints every column at its full width and lets the terminal
    wrap. Returns the headers left out."""
    if wide:
        table = build_table(columns, rows, **kwargs)
        natural = fit_columns(columns, rows, 10**9)
        needed = sum(
            max([cell_len(columns[i].header), *(_cell_width(r[i]) for r in rows)]) for i in natural
        ) + _EDGES + _GAP * (len(natural) - 1)
        saved = console.width
        console.width = max(saved, needed)
        try:
            console.print(table)
        finally:
            console.width = saved
        return []
    keep = fit_columns(columns, rows, console.width)
    console.print(build_table(columns, rows, keep, **kwargs))
    dropped = [c.header for i, c in enumerate(columns) if i not in keep]
    if dropped:
        console.print(
            Text(f"Not shown at {console.width} columns: {', '.join(dropped)} ({hint}).",
                 style="dim"),
        )  # fmt: skip
    return dropped


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


def layers_columns(report: Report, show_rf: bool = False) -> tuple[list[Column], list[list[Cell]]]:
    """The per-layer table's columns, by priority, and its rows."""
    show_trainable = report.totals.frozen_params > 0
    columns = [
        Column("#", "right", drop=7, style="dim"),
        Column("Layer"),
        Column("Type", drop=5),
        Column("Output shape", drop=2),
        Column("Kernel", drop=9),
        Column("Params", "right"),
    ]
    if show_trainable:
        columns.append(Column("Trainable", "right", drop=4))
    columns += [
        Column("MACs", "right"),
        Column("FLOPs", "right", drop=8),
        Column("Act. mem", "right", drop=6),
    ]
    if show_rf:  # asked for: kept before the type and the other figures
        columns += [Column("RF", "right", drop=3), Column("Eff. stride", "right", drop=3)]
    columns.append(Column("Check", "center", drop=1))
    rows: list[list[Cell]] = []
    for r in report.layers:
        cells: list[Cell] = [
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
        cells.append(
            Text(r.check.symbol, style="green" if r.check.status == "ok" else "bold red"),
        )
        rows.append(cells)
    return columns, rows


def layers_table(report: Report, show_rf: bool = False, width: int | None = None) -> Table:
    """The per-layer rich table; ``show_rf`` adds receptive field and effective stride;
    ``width`` keeps the columns that fit it."""
    columns, rows = layers_columns(report, show_rf)
    keep = None if width is None else fit_columns(columns, rows, width)
    return build_table(columns, rows, keep)


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


def summary(report: Report, console: Console, show_rf: bool = False, wide: bool = False) -> None:
    """Print the per-layer table (the columns that fit, or all with ``wide``) and the totals."""
    n, *sample = report.input_shape
    inputs = f"input {n}×{'×'.join(map(str, sample))}"
    if len(report.input_shapes) > 1 or report.input_names:
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
    print_fitted(console, *layers_columns(report, show_rf), wide=wide)
    mismatched = [r for r in report.layers if r.check.status == "mismatch"]
    body: list[Text] = [Text(line) for line in totals_lines(report)]
    for r in mismatched:
        body.append(Text(f"✗ {r.name}: {'; '.join(r.check.mismatches)}", style="red"))
    body.append(Text(CONVENTION, style="dim"))
    console.print(Panel(Group(*body), title="Totals", title_align="left", expand=False))


def models_columns(specs: Sequence[ModelSpec]) -> tuple[list[Column], list[list[Cell]]]:
    """The ``cnnstat models`` table's columns and rows."""
    columns = [Column("Model"), Column("Source", drop=2), Column("Default input (C×H×W)", drop=1)]
    return columns, [[s.name, s.source, format_shape(s.default_input_size)] for s in specs]


def models_table(specs: Sequence[ModelSpec]) -> Table:
    """The ``cnnstat models`` table."""
    return build_table(*models_columns(specs))


def conv_columns(comparison: ConvComparison) -> tuple[list[Column], list[list[Cell]]]:
    """The ``cnnstat conv`` table's columns and rows: the conv and any alternative."""
    columns = [
        Column("Layer", wrap=True, min_width=20), Column("Output"), Column("Params", "right"),
        Column("Params w/o bias", "right", drop=2), Column("MACs", "right"),
        Column("FLOPs", "right", drop=3), Column("vs conv", "right", drop=1),
    ]  # fmt: skip
    base = comparison.rows[0].macs
    rows: list[list[Cell]] = []
    for row in comparison.rows:
        out = "×".join(map(str, (*row.output_spatial, row.out_channels)))
        rows.append([
            row.label, out, f"{row.params:,}", f"{row.params_without_bias:,}",
            exact_and_human(row.macs), exact_and_human(row.flops),
            f"{row.macs / base:.1%}" if base else "—",
        ])  # fmt: skip
    return columns, rows


def conv_title(comparison: ConvComparison) -> str:
    spec = comparison.spec
    return f"input {'×'.join(map(str, (*spec.spatial, spec.in_channels)))} (lecture order, channels last)"


def conv_table(comparison: ConvComparison) -> Table:
    """The ``cnnstat conv`` table: the conv and any alternative, with the ratio to the conv."""
    return build_table(*conv_columns(comparison), title=conv_title(comparison),
                       title_justify="left")  # fmt: skip


def print_conv(comparison: ConvComparison, console: Console, wide: bool = False) -> None:
    """``cnnstat conv`` on the terminal, with the FLOPs convention."""
    print_fitted(console, *conv_columns(comparison), wide=wide, title=conv_title(comparison),
                 title_justify="left")  # fmt: skip
    console.print(Text(CONV_CONVENTION, style="dim"))


CONV_CONVENTION = (
    "1 MAC = one multiply-add; FLOPs = 2 × MACs + 1 per output element of each conv's bias, "
    "as `cnnstat summary` counts. Params count every conv's bias (a depthwise-separable pair "
    "has two; the lecture's (h·w + 1)·C + C·C′ keeps only the depthwise one)."
)


def check_tables(
    result: CrossCheck, console: Console, limit: int = 20, wide: bool = False
) -> None:
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
    hint = "--wide shows them; --format json has every figure"
    columns = [
        Column("Source"), Column("Params", "right", drop=2), Column("MACs", "right"),
        Column("vs cnnstat", "right", drop=3), Column("Note", wrap=True, min_width=20, drop=1),
    ]  # fmt: skip
    rows: list[list[Cell]] = [
        [
            t.source,
            f"{t.params:,}" if t.params is not None else "—",
            exact_and_human(t.macs) if t.macs is not None else "—",
            f"{t.macs / base:.4f}×" if t.macs is not None and base else "—",
            t.note,
        ]
        for t in result.totals
    ]
    print_fitted(console, columns, rows, wide=wide, hint=hint)
    if result.disagreements:
        columns = [
            Column("Layer"), Column("Type", drop=3), Column("cnnstat MACs", "right"),
            Column("fvcore MACs", "right"), Column("Formula", "center", drop=2),
            Column("Why", wrap=True, min_width=24, drop=1),
        ]  # fmt: skip
        rows = [
            [
                d.name,
                d.type,
                f"{d.cnnstat_macs:,}",
                f"{d.fvcore_macs:,}" if d.fvcore_macs is not None else "—",
                {"ok": "✓", "mismatch": "✗"}.get(d.formula, ""),
                "; ".join(d.reasons),
            ]
            for d in result.disagreements[:limit]
        ]
        print_fitted(
            console, columns, rows, wide=wide, hint=hint,
            title=f"Layers where a source disagrees ({len(result.disagreements)})",
            title_justify="left",
        )  # fmt: skip
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


def bench_columns(run: BenchRun) -> tuple[list[Column], list[list[Cell]]]:
    """The ``cnnstat bench`` table's columns, by priority, and rows."""
    # the estimate's error is given on CUDA only (see BenchResult.memory_error)
    estimate = "Estimate (err)" if any(r.device == "cuda" for r in run.results) else "Estimate"
    columns = [
        Column("Model"), Column("Device", drop=4), Column("Batch", "right"), Column("Mode"),
        Column("Forward ms", "right", drop=1), Column("Backward ms", "right", drop=2),
        Column("Total ms", "right"), Column("img/s", "right", drop=9),
        Column("FLOP/s", "right", drop=6), Column("% ceiling", "right", drop=7),
        Column("Bound", drop=10), Column("Peak mem", "right", drop=5),
        Column(estimate, "right", drop=8), Column("Note", wrap=True, min_width=16, drop=3),
    ]  # fmt: skip
    rows: list[list[Cell]] = []
    for r in run.results:
        if r.status != "ok":
            label = "OOM" if r.status == "oom" else "error"
            rows.append([
                r.model, r.device, str(r.batch_size), r.mode, Text(label, style="bold red"),
                "", Text(label, style="bold red"), "", "", "", "", "", "",
                oom_note(r) if r.status == "oom" else r.message,
            ])  # fmt: skip
            continue
        ceiling = ceiling_cell(r)
        err = r.memory_error
        estimate = (
            "—"
            if not r.estimated_memory_bytes
            else human_bytes(r.estimated_memory_bytes)
            + (f" ({err:+.0%})" if err is not None else "")
        )
        rows.append([
            r.model, r.device, str(r.batch_size), r.mode,
            format_ms(r.forward_stats), format_ms(r.backward_stats),
            f"{r.total_ms:,.1f}" if r.total_ms is not None else "—",
            f"{r.images_per_s:,.1f}" if r.images_per_s else "—",
            human_count(r.achieved_flops_per_s) if r.achieved_flops_per_s else "—",
            ceiling,
            r.bound or "—",
            peak_cell(r),
            estimate,
            bench_note(r),
        ])  # fmt: skip
    return columns, rows


def bench_table(run: BenchRun) -> Table:
    """The ``cnnstat bench`` table: one row per model × device × batch × mode."""
    return build_table(*bench_columns(run))


def oom_note(r: BenchResult) -> str:
    """One line for an out-of-memory cell: what was asked for and what the device had."""
    asked = (
        f"tried to allocate {human_bytes(r.requested_bytes)}"
        if r.requested_bytes is not None
        else "an allocation failed"
    )
    had = f", {human_bytes(r.available_bytes)} free" if r.available_bytes is not None else ""
    return f"out of memory: {asked}{had}"


def ceiling_cell(r: BenchResult) -> Cell:
    """'62% tf32': share of the matmul ceiling in the math mode that ran. A share above 100%
    is a wrongly measured ceiling and is flagged in red (the note says so), never hidden."""
    share = r.ceiling_share
    if share is None:
        return "—"
    # a tiny model's share is not "0%"
    text = f"{share:.0%}" if share >= 0.01 else f"{share * 100:.2g}%"
    text = f"{text} {r.math}" if r.math else text
    return Text(f"{text} !", style="bold red") if r.ceiling_exceeded else text


def peak_cell(r: BenchResult) -> str:
    """Measured iterations' peak, with the CUDA allocator's reserve where there is one."""
    if r.peak_memory_bytes is None:
        return "—"
    if r.peak_reserved_bytes is not None:
        return f"{human_bytes(r.peak_memory_bytes)} (res. {human_bytes(r.peak_reserved_bytes)})"
    return human_bytes(r.peak_memory_bytes)


def bench_note(r: BenchResult) -> Cell:
    """The note of a measured cell: a ceiling that was measured wrong, then the noise flag."""
    noise = noise_note(r)
    if not r.ceiling_exceeded:
        return noise
    note = Text("ceiling mis-measured: share above 100%", style="bold red")
    return note + Text("; ") + noise if noise else note


def noise_note(r: BenchResult) -> str | Text:
    """'noisy (p10–p90 71% of median)' when the robust spread passes the threshold."""
    from cnnstat.bench.stats import NOISY_SPREAD_RATIO

    spreads = [t.spread for t in (r.forward_stats, r.backward_stats) if t is not None and t.noisy]
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
        "train_step (forward + backward, gradients starting as None, no optimizer); its error "
        "is shown on CUDA only (resident-set growth also holds pages no tensor asked for).",
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


def compare_columns(comparison: Comparison) -> tuple[list[Column], list[list[Cell]]]:
    """The ``cnnstat compare`` table's columns, by priority, and rows: one row per model."""
    timed = any(r.total_ms is not None for r in comparison.rows)
    columns = [
        Column("Model"), Column("Year", "right", drop=7),
        Column("Salient feature", wrap=True, min_width=20, drop=2),
        Column("Params", "right"), Column("MACs", "right"), Column("FLOPs", "right", drop=10),
        Column("Param mem", "right", drop=9), Column("Act./image", "right", drop=8),
        Column("Train peak CUDA", "right", drop=4), Column("Top-1 %", "right", drop=1),
        Column("Top-5 %", "right", drop=3),
    ]  # fmt: skip
    if timed:
        columns += [
            Column("Fwd ms", "right", drop=2), Column("Bwd ms", "right", drop=2),
            Column("Total ms", "right", drop=1), Column("img/s", "right", drop=2),
        ]  # fmt: skip

    def num(v: float | None, fmt: str) -> str:
        return "—" if v is None else format(v, fmt)

    def count(v: int | None) -> str:
        return "—" if v is None else human_count(v)

    def size(v: int | None) -> str:
        return "—" if v is None else human_bytes(v)

    rows: list[list[Cell]] = []
    for r in comparison.rows:
        if r.status != "ok":
            error_cells: list[Cell] = [
                r.model, num(r.year, "d"), r.feature, Text("error", style="bold red"),
            ]  # fmt: skip
            rows.append([*error_cells, *[""] * (len(columns) - len(error_cells))])
            continue
        cells: list[Cell] = [
            r.model, num(r.year, "d"), r.feature, count(r.params), count(r.macs),
            count(r.flops), size(r.param_bytes), size(r.activation_bytes_per_image),
            size(r.training_memory_bytes), num(r.top1, ".2f"), num(r.top5, ".2f"),
        ]  # fmt: skip
        if timed:
            total: str | Text = num(r.total_ms, ",.1f")
            if r.noisy:  # the p10-p90 spread passed the threshold: the ranking may not hold
                total = Text(f"{total} noisy", style="yellow")
            cells += [
                num(r.forward_ms, ",.1f"), num(r.backward_ms, ",.1f"), total,
                num(r.images_per_s, ",.1f"),
            ]  # fmt: skip
        rows.append(cells)
    return columns, rows


def compare_table(comparison: Comparison) -> Table:
    """The ``cnnstat compare`` table, one row per model."""
    return build_table(*compare_columns(comparison))


def print_compare(comparison: Comparison, console: Console, wide: bool = False) -> None:
    """``cnnstat compare`` on the terminal: the columns that fit, the convention, the errors."""
    print_fitted(console, *compare_columns(comparison), wide=wide)
    notes = [CONVENTION]
    if any(r.training_memory_bytes is not None for r in comparison.rows):
        notes.append("Train peak CUDA: predicted first training step at batch 1 on CUDA "
                     "(cnnstat memory), with 65 MiB of cuBLAS workspaces.")
    if any(r.top1 is not None for r in comparison.rows):
        notes.append("Top-1/top-5: ImageNet-1K accuracy of torchvision's DEFAULT weights.")
    for note in notes:
        console.print(Text(note, style="dim"))


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


def memory_tables(report: MemoryReport, console: Console, wide: bool = False) -> None:
    """The peaks, what is alive at each, the assumptions and the largest batch."""
    from cnnstat.memory.simulate import CATEGORIES

    mode = report.dtype if report.dtype == "float32" else f"autocast {report.dtype}"
    console.print(
        f"[bold]{report.model}[/] memory on {report.device}, input "
        f"{format_shape(report.input_shape)}, {mode}"
        + (", channels_last" if report.channels_last else ""),
        highlight=False,
    )
    columns = [Column("Phase"), Column("Peak", "right"),
               Column("Peak reached at", wrap=True, min_width=20, drop=1)]  # fmt: skip
    rows_at = [[label, peak, Text(where)] for label, peak, where in memory_rows(report)]
    print_fitted(console, columns, rows_at, wide=wide)  # Text: "[backward]" is not markup
    phases = [p for p in _PHASE_LABELS if p in report.breakdown]
    if phases:
        short = {"inference": "inference", "train_step": "train step", "steady_step": "steady"}
        columns = [Column("What"), *(Column(short[p], "right") for p in phases)]
        rows: list[list[Cell]] = []
        for cat in CATEGORIES:
            values = [report.breakdown[p].get(cat, 0) for p in phases]
            if any(values):
                rows.append([cat, *(human_bytes(v) if v else "—" for v in values)])
        rows.append(["[bold]total[/]", *(f"[bold]{human_bytes(report.peak(p) or 0)}[/]" for p in phases)])
        print_fitted(console, columns, rows, wide=wide, title="Alive at each peak")
    if report.max_batch_size is not None and report.budget_bytes is not None:
        console.print(
            f"Largest batch that fits {human_bytes(report.budget_bytes)} "
            f"({report.budget_mode}): [bold]{report.max_batch_size}[/]",
            highlight=False,
        )
    console.print("Assumptions:", style="dim")
    for a in report.assumptions:
        console.print(f"  • {a}", style="dim", highlight=False)


def profile_columns(
    report: ProfileReport, depth: int | None = None, ranges: bool = True
) -> tuple[list[Column], list[list[Cell]]]:
    """The ``cnnstat profile`` table's columns, by priority, and rows: one row per module at
    ``depth``, then unattributed and the total step. ``ranges`` adds p10–p90 to the times."""
    train = report.mode == "train"
    ms = format_ms_fine if ranges else (lambda t: "—" if t is None else f"{t.median:,.2f}")
    columns = [
        Column("Layer"), Column("Type", drop=3), Column("Forward ms", "right"),
        *([Column("Backward ms", "right")] if train else []), Column("Share", "right"),
        Column("FLOPs", "right", drop=2), Column("Bytes", "right", drop=5),
        Column("GFLOP/s", "right", drop=4), Column("GB/s", "right", drop=6),
        Column("Bound", drop=1),
    ]  # fmt: skip
    headers = [c.header for c in columns]

    def row(cells: dict[str, Cell]) -> list[Cell]:
        return [cells.get(h, "") for h in headers]

    rows = [
        row({
            "Layer": r.name, "Type": r.type, "Forward ms": ms(r.forward_stats),
            "Backward ms": ms(r.backward_stats),
            "Share": f"{r.share:.1%}" if r.share is not None else "—",
            "FLOPs": human_count(r.flops) if r.flops else "—",
            "Bytes": human_bytes(r.bytes) if r.bytes else "—",
            "GFLOP/s": f"{r.achieved_flops_per_s / 1e9:,.1f}" if r.achieved_flops_per_s else "—",
            "GB/s": f"{r.achieved_bytes_per_s / 1e9:,.1f}" if r.achieved_bytes_per_s else "—",
            "Bound": r.bound or "—",
        })  # fmt: skip
        for r in report.rows(depth)
    ]
    unattributed = report.unattributed_ms(depth)
    total = report.total_ms
    rows.append(row({
        "Layer": Text("unattributed", style="italic"), "Type": "overhead, loss, gaps",
        "Forward ms": f"{unattributed:,.2f}" if unattributed is not None else "—",
        "Share": f"{unattributed / total:.1%}" if unattributed is not None and total else "—",
    }))  # fmt: skip
    rows.append(row({"Layer": Text("total step", style="bold"), "Forward ms": ms(report.step),
                     "Share": "100.0%" if total else "—"}))  # fmt: skip
    return columns, rows


def profile_table(report: ProfileReport, depth: int | None = None) -> Table:
    """The whole ``cnnstat profile`` table, every column, times with p10–p90."""
    return build_table(*profile_columns(report, depth))


def print_profile(report: ProfileReport, console: Console, depth: int | None = None,
                  wide: bool = False) -> None:
    """``cnnstat profile`` on the terminal: p10–p90 ranges where there is room (150 columns
    or ``wide``), then the columns that fit by priority; the name and times always stay."""
    ranges = wide or console.width >= 150
    print_fitted(console, *profile_columns(report, depth, ranges), wide=wide)


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
