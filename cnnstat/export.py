"""Report serialisation (csv, markdown, json, plain table) and the only code that writes files.

Files are written atomically: a temporary file in the target directory, then
``os.replace``. A failed run never leaves a half-written report, and an
existing file is replaced only by a complete one. What is at the path decides
how it is written: symlinks are followed (the link stays a link), character
devices and FIFOs are written straight through, /dev/stdout goes to the
descriptor, and read-only files are refused (see :func:`resolve_output`).
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from stat import S_ISCHR, S_ISDIR, S_ISFIFO, S_ISREG
from typing import TYPE_CHECKING

from cnnstat.errors import ExportError, InvalidInputError
from cnnstat.render import (
    Column,
    format_geometry,
    format_rf,
    format_shape,
    layer_label,
    totals_lines,
)

if TYPE_CHECKING:
    from cnnstat.bench import BenchRun
    from cnnstat.calculator import ConvComparison
    from cnnstat.compare import Comparison
    from cnnstat.memory import MemoryReport
    from cnnstat.profile import ProfileReport
    from cnnstat.records import Report
    from cnnstat.zoo import ModelSpec


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
    if fmt is None and not path.suffix and _is_stream(path):
        return Format.table  # /dev/stdout, a FIFO, a terminal: what stdout would show
    if fmt is None:
        known = ", ".join(sorted(_EXTENSIONS))
        raise InvalidInputError(
            f"cannot tell the format of '{path}' from its extension; use one of {known} "
            "or pass --format"
        )
    return fmt


# Paths that name one of this process's open descriptors. Replacing them would replace
# the system's /dev/stdout (as root) or fail (otherwise); they are written through the
# descriptor itself, at its offset, so `-o /dev/stdout >> log` appends.
_FD_PATH = re.compile(
    r"^/(?:dev/(?:(?P<std>stdout|stderr)|fd/(?P<fd>\d+))|proc/(?:self|(?P<pid>\d+))/fd/(?P<pfd>\d+))$"
)


@dataclass(frozen=True)
class OutputTarget:
    """How an output path will be written, decided from what is at the path.

    ``how`` is ``"atomic"`` (a regular file or a new path: a temporary file beside
    ``target``, then a rename), ``"stream"`` (a character device or a FIFO: opened
    and written straight through) or ``"fd"`` (/dev/stdout and friends: written to
    descriptor ``fd``). ``target`` is the path with every symlink followed, so a
    link keeps pointing at the file it names.
    """

    path: Path
    target: Path
    how: str
    fd: int | None = None


def _is_stream(path: Path) -> bool:
    """Whether ``path`` names a descriptor, a character device or a FIFO rather than a file."""
    if _FD_PATH.match(os.fspath(path)):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return S_ISCHR(mode) or S_ISFIFO(mode)


def _writable(path: Path, st: os.stat_result) -> bool:
    """Write permission by the mode bits as well as ``os.access``: root passes every
    ``os.access`` check, but a file or directory nobody may write is read-only for it too."""
    return os.access(path, os.W_OK) and bool(st.st_mode & 0o222)


def resolve_output(path: Path, protect: Iterable[Path] = ()) -> OutputTarget:
    """Decide how ``path`` will be written, or raise ``ExportError`` saying why it cannot be.

    ``protect`` lists files that must never be overwritten (a custom model's source).
    Directories that do not exist yet are allowed when they can be created.
    """
    text = os.fspath(path)
    match = _FD_PATH.match(text)
    if match and (match["pid"] is None or int(match["pid"]) == os.getpid()):
        std = match["std"]
        fd = {"stdout": 1, "stderr": 2}[std] if std else int(match["fd"] or match["pfd"])
        import fcntl  # POSIX only, like the paths that lead here

        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            raise ExportError(f"cannot write {path}: descriptor {fd} is not open") from None
        if flags & os.O_ACCMODE == os.O_RDONLY:
            raise ExportError(f"cannot write {path}: descriptor {fd} is open for reading only")
        return OutputTarget(path, path, "fd", fd)
    target = Path(os.path.realpath(path))
    st = _stat_or_none(target, f"cannot write {path}")
    if st is None:
        _check_creatable(path, target)
        return OutputTarget(path, target, "atomic")
    if S_ISDIR(st.st_mode):
        raise ExportError(f"cannot write {path}: it is a directory")
    for source in protect:
        if os.path.realpath(source) == str(target):
            raise ExportError(f"refusing to write {path}: it is the model's own source file")
    if S_ISCHR(st.st_mode) or S_ISFIFO(st.st_mode):
        if not _writable(target, st):
            raise ExportError(f"cannot write {path}: permission denied")
        return OutputTarget(path, target, "stream")
    if not S_ISREG(st.st_mode):
        raise ExportError(f"cannot write {path}: not a regular file, a character device or a FIFO")
    if not _writable(target, st):
        raise ExportError(f"refusing to write {path}: the file is read-only")
    parent = target.parent
    if not _writable(parent, os.stat(parent)):
        raise ExportError(
            f"cannot write {path}: directory {parent} is not writable "
            "(the file is replaced through a temporary file beside it)"
        )
    return OutputTarget(path, target, "atomic")


def _stat_or_none(target: Path, failure: str) -> os.stat_result | None:
    """``os.stat(target)``, None where nothing is there yet; other errors as ``failure: why``."""
    try:
        return os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ExportError(f"{failure}: {exc.strerror or exc}") from None


def _check_creatable(path: Path, target: Path) -> None:
    """A new file at ``target`` can be made: its nearest existing ancestor is a writable directory."""
    ancestor = target.parent
    while True:
        try:
            st = os.stat(ancestor)
            break
        except (FileNotFoundError, NotADirectoryError):
            ancestor = ancestor.parent
        except OSError as exc:
            raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not S_ISDIR(st.st_mode):
        raise ExportError(f"cannot write {path}: {ancestor} is not a directory")
    if not _writable(ancestor, st):
        raise ExportError(f"cannot write {path}: directory {ancestor} is not writable")


def check_writable(path: Path, protect: Iterable[Path] = ()) -> None:
    """Fail early, before any analysis, when ``path`` cannot or must not be written."""
    resolve_output(path, protect)


def prepare_output_dir(directory: Path) -> None:
    """Create ``directory`` (and its parents) if needed; fail unless files can be written in it."""
    target = Path(os.path.realpath(directory))
    st = _stat_or_none(target, f"cannot use {directory}")
    if st is None:
        _check_creatable(directory, target / "x")
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"cannot create {directory}: {exc.strerror or exc}") from None
        st = os.stat(target)
    if not S_ISDIR(st.st_mode):
        raise ExportError(f"cannot use {directory}: it is not a directory")
    if not _writable(target, st):
        raise ExportError(f"cannot write in {directory}: the directory is not writable")


def write_atomic(path: Path, text: str, protect: Iterable[Path] = ()) -> None:
    """Write ``text`` to ``path`` (UTF-8), as :func:`write_bytes_atomic` does."""
    write_bytes_atomic(path, text.encode("utf-8"), protect)


def write_bytes_atomic(path: Path, data: bytes, protect: Iterable[Path] = ()) -> None:
    """Write ``data`` to ``path`` in the way what is there asks for.

    A regular file or a new path is replaced atomically (a temporary file in the
    same directory, then a rename; missing directories are created); a symlink's
    target is written and the link stays; a character device or FIFO is written
    straight through; /dev/stdout, /dev/stderr and /dev/fd/N go to the descriptor.
    """
    out = resolve_output(path, protect)
    try:
        if out.how == "fd":
            stream = {1: sys.stdout, 2: sys.stderr}.get(out.fd)  # type: ignore[arg-type]
            if stream is not None:
                stream.flush()  # what was printed before comes before the report
            _write_all(out.fd, data)  # type: ignore[arg-type]
        elif out.how == "stream":
            fd = os.open(out.target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
        else:
            _replace(out.target, data)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _replace(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp creates 0600; give the file the mode a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_with_fallback(path: Path, data: bytes, kind: str, fmt: Format) -> None:
    """Write ``data`` (in ``fmt``) to ``path``; when that fails, save it elsewhere and say where.

    For results that took long to make (a benchmark sweep): the fallback is
    ``cnnstat-<kind>-<time>.<ext>`` in the current directory, else in the
    temporary directory. The ``ExportError`` raised names the file that holds them.
    """
    try:
        write_bytes_atomic(path, data)
        return
    except ExportError as exc:
        failure = str(exc)
    import time

    suffix = next(ext for ext, f in _EXTENSIONS.items() if f is fmt)
    name = f"cnnstat-{kind}-{time.strftime('%Y%m%d-%H%M%S')}{suffix}"
    for directory in (Path.cwd(), Path(tempfile.gettempdir())):
        rescue = directory / name
        try:
            if os.path.lexists(rescue):
                continue
            _replace(rescue, data)
        except OSError:
            continue
        raise ExportError(f"{failure}; the results were saved to {rescue} instead")
    raise ExportError(f"{failure}; saving them in . or {tempfile.gettempdir()} failed too")
def markdown_cell(value: object) -> str:
    """A value as people read it: integers with thousands separators, '—' for unknown."""
    from rich.text import Text

    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return "—"
    if isinstance(value, Text):
        value = value.plain
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return format(value, ",.15g")
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if text.strip() else ""


def markdown_table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    right: Sequence[bool] | None = None,
    drop_empty: bool = True,
) -> str:
    """A Markdown table for people: cells through ``markdown_cell``; columns with nothing
    known in any row ('', '—') left out; numbers right-aligned (``right``, or guessed
    from the values)."""
    # a year is a label, not a quantity: 2012, not 2,012
    years = {i for i, h in enumerate(header) if h.lower() == "year"}
    cells = [
        [str(v) if i in years and isinstance(v, int) else markdown_cell(v) for i, v in enumerate(row)]
        for row in rows
    ]
    idx = [
        i for i in range(len(header))
        if not drop_empty or any(row[i] not in ("", "—") for row in cells)
    ]  # fmt: skip
    if right is None:
        right = [
            all(isinstance(row[i], int | float) for row in rows if row[i] is not None)
            and any(row[i] is not None for row in rows)
            for i in range(len(header))
        ]
    lines = [
        "| " + " | ".join(markdown_cell(header[i]) for i in idx) + " |",
        "|" + "|".join("---:" if right[i] else "---" for i in idx) + "|",
    ]
    lines += ["| " + " | ".join(row[i] for i in idx) + " |" for row in cells]
    return "\n".join(lines)


def _columns_markdown(columns: Sequence[Column], rows: Sequence[Sequence[object]]) -> str:
    """A terminal table's columns and human-unit cells as Markdown, empty columns left out."""
    return markdown_table(
        [c.header for c in columns], rows, right=[c.justify == "right" for c in columns]
    )


def summary_json(report: Report) -> str:
    """The stable JSON interface."""
    return json.dumps(report.to_dict(), indent=2) + "\n"


def summary_csv(report: Report) -> str:
    """One row per layer record, raw integers."""
    buf = io.StringIO()
    report.to_frame().to_csv(buf, lineterminator="\n")
    return buf.getvalue()


def summary_markdown(report: Report, show_rf: bool = False, version: str | None = None) -> str:
    """A Markdown report: exact per-layer integers, then the totals; ``show_rf`` adds receptive fields.

    ``version`` is the cnnstat version stamped in the header, the installed one by default; tests
    pass a fixed stamp so that golden files don't change with every release.
    """
    from cnnstat import __version__

    stamp = __version__ if version is None else version

    n, *sample = report.input_shape
    lines = [
        f"# {report.model}",
        "",
        f"Input {n}×{'×'.join(map(str, sample))}, {report.dtype}, counted on "
        f"{'the meta device' if report.device_mode == 'meta' else 'real CPU tensors'} "
        f"by cnnstat {stamp}. One multiply-add = 1 MAC = 2 FLOPs.",
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


def summary_text(report: Report, fmt: Format, width: int = 160, show_rf: bool = False) -> str:
    """The report in ``fmt`` as a string; ``table`` is the terminal view without colour."""
    if fmt is Format.json:
        return summary_json(report)
    if fmt is Format.csv:
        return summary_csv(report)
    if fmt is Format.markdown:
        return summary_markdown(report, show_rf)
    from rich.console import Console

    from cnnstat.render import summary

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    summary(report, console, show_rf, wide=True)  # a file keeps every column
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
    from cnnstat.render import CONV_CONVENTION, conv_columns, conv_title

    return (
        f"{conv_title(result)}\n\n{_columns_markdown(*conv_columns(result))}\n\n"
        f"{CONV_CONVENTION}\n"
    )


def models_text(specs: Sequence[ModelSpec], fmt: Format) -> str:
    """The model list as csv, markdown or json: name, source and default input size."""
    rows = [
        {"name": s.name, "source": s.source, "default_input_size": list(s.default_input_size or ())}
        for s in specs
    ]
    if fmt is Format.json:
        return json.dumps(rows, indent=2) + "\n"
    if fmt is Format.markdown:
        lines = ["| name | source | default input |", "|---|---|---|"]
        lines += [f"| {r['name']} | {r['source']} | {_x(r['default_input_size'])} |" for r in rows]
    else:
        lines = ["name,source,default_input_size"]
        lines += [f"{r['name']},{r['source']},{_x(r['default_input_size'])}" for r in rows]
    return "".join(line + "\n" for line in lines)


def _x(size: Sequence[int]) -> str:
    return "x".join(map(str, size))


def _bench_rows(run: BenchRun) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for r in run.results:
        row: dict[str, object] = {
            k: v for k, v in r.to_dict().items() if k not in ("forward_ms", "backward_ms")
        }
        for phase, stats in (("forward", r.forward_stats), ("backward", r.backward_stats)):
            for stat in ("median", "p10", "p90", "iqr", "spread"):
                row[f"{phase}_{stat}_ms"] = getattr(stats, stat) if stats else None
            row[f"{phase}_samples"] = stats.n if stats else 0
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
        from cnnstat.render import bench_columns

        table = _columns_markdown(*bench_columns(run)) if run.results else "(no results)"
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
        return compare_markdown(comparison)
    from rich.console import Console

    from cnnstat.render import compare_table

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(compare_table(comparison))
    return console.file.getvalue()  # type: ignore[attr-defined]


def compare_markdown(comparison: Comparison) -> str:
    """The compare table for people: human units, no empty columns, '—' where a figure is
    unknown, the conventions as footnotes."""
    from cnnstat.render import CONVENTION, compare_columns

    columns, rows = compare_columns(comparison)
    failed = [r for r in comparison.rows if r.status != "ok"]
    if failed:
        columns = [*columns, Column("Error")]
        rows = [[*row, r.message if r.status != "ok" else ""]
                for row, r in zip(rows, comparison.rows, strict=True)]  # fmt: skip
    notes = [
        CONVENTION,
        "Params, MACs and FLOPs per image: K = 10³, M = 10⁶, G = 10⁹; memory in KiB/MiB/GiB "
        "(2¹⁰, 2²⁰, 2³⁰ bytes). Param mem and Act./image at float32; Act./image is every "
        "tensor the forward allocates for one image.",
        "Train peak CUDA: `cnnstat memory`'s predicted peak of a first training step on CUDA "
        "at batch 1, parameters included, and the 65 MiB of cuBLAS workspaces a CUDA "
        "process holds once it runs a matmul (most of a small model's figure).",
    ]
    if any(r.top1 is not None for r in comparison.rows):
        notes.append("Top-1/Top-5: ImageNet-1K accuracy of torchvision's DEFAULT weights "
                     "(weights metadata); — where torchvision publishes none.")  # fmt: skip
    timed = [r for r in comparison.rows if r.total_ms is not None]
    if timed:
        sizes = sorted({r.bench_batch_size for r in timed if r.bench_batch_size})
        notes.append(
            "Fwd/Bwd/Total ms: median time of a training step (forward, backward) at batch "
            f"{', '.join(map(str, sizes))}; img/s = batch / total."
        )
    footnotes = "\n".join(f"{i}. {n}" for i, n in enumerate(notes, 1))
    return _columns_markdown(columns, rows) + "\n\n" + footnotes + "\n"


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
        phases = [p for p in ("inference", "train_step", "steady_step") if p in report.breakdown]
        if phases:
            short = {"inference": "inference", "train_step": "train step", "steady_step": "steady"}
            rows: list[list[object]] = [
                [cat, *(human_bytes(report.breakdown[p][cat]) if report.breakdown[p].get(cat)
                        else "—" for p in phases)]
                for cat in CATEGORIES
                if any(report.breakdown[p].get(cat) for p in phases)
            ]  # fmt: skip
            rows.append(["**total**", *(f"**{human_bytes(report.peak(p) or 0)}**" for p in phases)])
            header = ["alive at each peak", *(short[p] for p in phases)]
            lines += ["", markdown_table(header, rows, right=[False] + [True] * len(phases),
                                         drop_empty=False).rstrip("\n")]
        if report.max_batch_size is not None and report.budget_bytes is not None:
            lines += ["", f"Largest batch that fits {human_bytes(report.budget_bytes)} "
                      f"({report.budget_mode}): **{report.max_batch_size}**"]
        lines += ["", "Assumptions:", "", *(f"- {a}" for a in report.assumptions), ""]
        return "\n".join(lines)
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None)
    memory_tables(report, console, wide=True)
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
            cells = [r.name, r.type, format_ms_fine(r.forward_stats)]
            cells += [format_ms_fine(r.backward_stats)] if train else []
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
