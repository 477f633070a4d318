"""Report serialisation (csv, markdown, json, plain table) and the only code that writes files.

Files are written atomically: a temporary file in the target directory, then
``os.replace``. A failed run never leaves a half-written report, and an
existing file is replaced only by a complete one.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from cnnstat.errors import ExportError, InvalidInputError
from cnnstat.render import format_geometry, format_rf, format_shape, layer_label, totals_lines

if TYPE_CHECKING:
    from cnnstat.bench import BenchRun
    from cnnstat.calculator import ConvComparison
    from cnnstat.compare import Comparison
    from cnnstat.memory import MemoryReport
    from cnnstat.profile import ProfileReport
    from cnnstat.records import Report


class Format(str, Enum):
    """Output formats, shared by every command."""

    table = "table"
    csv = "csv"
    markdown = "markdown"
    json = "json"


_EXTENSIONS = {
    ".csv": Format.csv,
    ".md": Format.markdown,
    ".markdown": Format.markdown,
    ".json": Format.json,
    ".txt": Format.table,
}


def format_for_path(path: Path) -> Format:
    """The format an output file's extension asks for."""
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_EXTENSIONS))
        raise InvalidInputError(
            f"cannot tell the format of '{path}' from its extension; use one of {known} "
            "or pass --format"
        )
    return fmt


def check_writable(path: Path) -> None:
    """Fail early, before any analysis, when ``path`` cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"cannot write {path}: directory {parent} does not exist")
    if path.is_dir():
        raise ExportError(f"cannot write {path}: it is a directory")
    if not os.access(parent, os.W_OK):
        raise ExportError(f"cannot write {path}: directory {parent} is not writable")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8) through a temporary file and a rename."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp creates 0600; give the file the mode a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise


def report_json(report: Report) -> str:
    """The stable JSON interface."""
    return json.dumps(report.to_dict(), indent=2) + "\n"


def report_csv(report: Report) -> str:
    """One row per layer record, raw integers."""
    buf = io.StringIO()
    report.to_frame().to_csv(buf, lineterminator="\n")
    return buf.getvalue()


def report_markdown(report: Report, show_rf: bool = False) -> str:
    """A Markdown report: exact per-layer integers, then the totals; ``show_rf`` adds receptive fields."""
    from cnnstat import __version__

    n, *sample = report.input_shape
    lines = [
        f"# {report.model}",
        "",
        f"Input {n}×{'×'.join(map(str, sample))}, {report.dtype}, counted on "
        f"{'the meta device' if report.device_mode == 'meta' else 'real CPU tensors'} "
        f"by cnnstat {__version__}. One multiply-add = 1 MAC = 2 FLOPs.",
        "",
        "| # | Layer | Type | Output shape | Kernel | Params | MACs | FLOPs | Activation bytes "
        + ("| RF | Eff. stride " if show_rf else "")
        + "| Check |",
        "|---:|---|---|---|---|---:|---:|---:|---:|" + ("---:|---:|" if show_rf else "") + ":---:|",
    ]
    for r in report.layers:
        rf = " | ".join(format_rf(r)) + " | " if show_rf else ""
        lines.append(
            f"| {r.index} | {r.name} | {layer_label(r)} | {format_shape(r.output_shape)} | "
            f"{format_geometry(r)} | {r.params:,} | {r.macs:,} | {r.flops:,} | "
            f"{r.activation_bytes:,} | {rf}{r.check.symbol} |"
        )
    lines += ["", "## Totals", ""]
    lines += [f"- {line}" for line in totals_lines(report)]
    return "\n".join(lines) + "\n"


def report_text(report: Report, fmt: Format, width: int = 160, show_rf: bool = False) -> str:
    """The report in ``fmt`` as a string; ``table`` is the terminal view without colour."""
    if fmt is Format.json:
        return report_json(report)
    if fmt is Format.csv:
        return report_csv(report)
    if fmt is Format.markdown:
        return report_markdown(report, show_rf)
    from rich.console import Console

    from cnnstat.render import summary

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    summary(report, console, show_rf)
    return console.file.getvalue()  # type: ignore[attr-defined]


def conv_text(result: ConvComparison, fmt: Format) -> str:
    """The layer calculator's rows as csv, markdown or json."""
    rows = [
        {
            "layer": r.label,
            "output": list((*r.output_spatial, r.out_channels)),
            "params": r.params,
            "params_without_bias": r.params_without_bias,
            "macs": r.macs,
            "flops": r.flops,
        }
        for r in result.rows
    ]
    if fmt is Format.json:
        return json.dumps(rows, indent=2) + "\n"
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame["output"] = ["x".join(map(str, o)) for o in frame["output"]]
    if fmt is Format.csv:
        return frame.to_csv(index=False, lineterminator="\n")
    return frame.to_markdown(index=False) + "\n"


def _bench_rows(run: BenchRun) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for r in run.results:
        row: dict[str, object] = {
            k: v for k, v in r.to_dict().items() if k not in ("forward_ms", "backward_ms")
        }
        for phase in ("forward_ms", "backward_ms"):
            stats = getattr(r, phase)
            for stat in ("median", "p10", "p90", "iqr"):
                row[f"{phase.removesuffix('_ms')}_{stat}_ms"] = (
                    getattr(stats, stat) if stats else None
                )
            row[f"{phase.removesuffix('_ms')}_samples"] = stats.n if stats else 0
        rows.append(row)
    return rows


def bench_text(run: BenchRun, fmt: Format, width: int = 200) -> str:
    """A bench run as json (raw samples kept), csv, markdown or a plain table."""
    if fmt is Format.json:
        return json.dumps(run.to_dict(), indent=2) + "\n"
    import pandas as pd

    from cnnstat.render import bench_footer

    frame = pd.DataFrame(_bench_rows(run))
    if fmt is Format.csv:
        return frame.to_csv(index=False, lineterminator="\n")
    if fmt is Format.markdown:
        table = frame.to_markdown(index=False, floatfmt=".2f") if len(frame) else "(no results)"
        return table + "\n\n" + "\n".join(f"- {line}" for line in bench_footer(run)) + "\n"
    from rich.console import Console

    from cnnstat.render import bench_table

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(bench_table(run))
    for line in bench_footer(run):
        console.print(line, highlight=False, markup=False)
    return console.file.getvalue()  # type: ignore[attr-defined]


def compare_text(comparison: Comparison, fmt: Format, width: int = 220) -> str:
    """The compare table as json, csv, markdown or a plain table."""
    if fmt is Format.json:
        return json.dumps(comparison.to_dict(), indent=2) + "\n"
    frame = comparison.to_frame()
    if fmt is Format.csv:
        return frame.to_csv(index=False, lineterminator="\n")
    if fmt is Format.markdown:
        return frame.to_markdown(index=False) + "\n"
    from rich.console import Console

    from cnnstat.render import compare_table

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(compare_table(comparison))
    return console.file.getvalue()  # type: ignore[attr-defined]


def memory_text(report: MemoryReport, fmt: Format, width: int = 100) -> str:
    """``cnnstat memory`` as JSON (complete), CSV (one row per phase), Markdown or a table."""
    from cnnstat.memory.simulate import CATEGORIES
    from cnnstat.render import human_bytes, memory_rows, memory_tables

    if fmt is Format.json:
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if fmt is Format.csv:
        import csv

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["model", "device", "batch_size", "dtype", "optimizer", "phase",
                         "peak_bytes", "peak_where", *(f"{c.replace(' ', '_')}_bytes"
                                                        for c in CATEGORIES)])
        for phase, where in report.peak_where.items():
            writer.writerow([report.model, report.device, report.batch_size, report.dtype,
                             report.optimizer or "", phase, report.peak(phase), where,
                             *(report.breakdown[phase].get(c, 0) for c in CATEGORIES)])
        return buf.getvalue()
    if fmt is Format.markdown:
        lines = [f"# {report.model}: predicted {report.device} memory, batch {report.batch_size}",
                 "", "| phase | peak | peak reached at |", "|---|---:|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in memory_rows(report)]
        if report.max_batch_size is not None and report.budget_bytes is not None:
            lines += ["", f"Largest batch that fits {human_bytes(report.budget_bytes)} "
                      f"({report.budget_mode}): **{report.max_batch_size}**"]
        lines += ["", "Assumptions:", "", *(f"- {a}" for a in report.assumptions), ""]
        return "\n".join(lines)
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None)
    memory_tables(report, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def profile_text(report: ProfileReport, fmt: Format, depth: int | None = None,
                 width: int = 200) -> str:
    """``cnnstat profile`` as JSON (every sample kept), CSV, Markdown or a plain table."""
    from cnnstat.render import profile_footer, profile_table

    if fmt is Format.json:
        return json.dumps(report.to_dict(depth), indent=2) + "\n"
    if fmt is Format.csv:
        return report.to_frame(depth).to_csv(index=False, lineterminator="\n")
    if fmt is Format.markdown:
        from cnnstat.render import format_ms_fine, human_bytes, human_count

        train = report.mode == "train"
        head = ["layer", "type", "forward ms"] + (["backward ms"] if train else []) + [
            "share", "FLOPs", "bytes", "GFLOP/s", "GB/s", "bound"]
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join("---" if i < 2 or h == "bound" else "---:"
                                for i, h in enumerate(head)) + "|"]
        for r in report.rows(depth):
            cells = [r.name, r.type, format_ms_fine(r.forward_ms)]
            cells += [format_ms_fine(r.backward_ms)] if train else []
            cells += [f"{r.share:.1%}" if r.share is not None else "—",
                      human_count(r.flops) if r.flops else "—",
                      human_bytes(r.bytes) if r.bytes else "—",
                      f"{r.achieved_flops_per_s / 1e9:,.1f}" if r.achieved_flops_per_s else "—",
                      f"{r.achieved_bytes_per_s / 1e9:,.1f}" if r.achieved_bytes_per_s else "—",
                      r.bound or "—"]
            lines.append("| " + " | ".join(cells) + " |")
        un, total = report.unattributed_ms(depth), report.total_ms
        pad = ["—"] * (1 if train else 0)
        lines.append("| *unattributed* | overhead, loss, gaps | "
                     + (f"{un:,.2f}" if un is not None else "—") + " | "
                     + " | ".join([*pad, f"{un / total:.1%}" if un is not None and total else "—",
                                   "—", "—", "—", "—", "—"]) + " |")
        lines.append("| **total step** | | " + format_ms_fine(report.step) + " | "
                     + " | ".join([*pad, "100.0%", "—", "—", "—", "—", "—"]) + " |")
        table = "\n".join(lines)
        return (f"# {report.model}: time per layer\n\n" + table + "\n\n"
                + "\n".join(f"- {line}" for line in profile_footer(report, depth)) + "\n")
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(profile_table(report, depth))
    for line in profile_footer(report, depth):
        console.print(line, highlight=False, markup=False)
    return console.file.getvalue()  # type: ignore[attr-defined]
