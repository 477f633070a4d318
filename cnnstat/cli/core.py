"""The Typer app, the two consoles, and the three things every command shares: the error
decorator, ``emit`` for a result, and the progress bar."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from cnnstat.errors import CnnstatError
from cnnstat.export import Format

app = typer.Typer(
    name="cnnstat",
    help="Explain what a convolutional network costs, layer by layer: shapes, params, "
    "activation memory, MACs and FLOPs, each cross-checked against closed-form formulas.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    epilog="Exit status: 0 success; 1 a check disagrees or a model in a sweep failed; "
    "2 bad input, a failing model or an output that cannot be written; 3 --strict with "
    "uncounted ops; 70 an internal error; 130 interrupted; 141 stdout's reader went away.",
)


def _no_bool_metavar() -> None:
    """Show flags as ``--strict``, not ``--strict <bool>``: typer gives every option a type
    label in the help, flags included, although a flag takes no value."""
    from typer.core import TyperOption

    show = getattr(TyperOption, "display_type_rich", None)
    if show is None or getattr(show, "_cnnstat_flags", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if self.is_flag else show(self, ctx)

    display_type_rich._cnnstat_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_no_bool_metavar()


def stdout_width() -> int | None:
    """The table width: ``COLUMNS`` when set, the terminal's, or 200 for a pipe or file
    (rich's 80-column default would cut a table nobody asked to fit)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout is not None and sys.stdout.isatty() else 200


stdout = Console(width=stdout_width())
stderr = Console(stderr=True)


def error(message: str) -> None:
    """The one-line ``error: ...`` on stderr; the message is shown as written (a model's
    ``[3, 224, 224]`` is text, not rich markup)."""
    from rich.text import Text

    stderr.print(
        Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True
    )


# The library's argument names, as this command line spells them.
FLAGS = {
    "batch_size": "--batch-size", "batch_sizes": "--batch-sizes", "bottleneck": "--bottleneck",
    "budget": "--budget", "budget_mode": "--mode",
    "compile": "--compile", "device": "--device", "dilation": "--dilation", "dtype": "--dtype",
    "filters": "--filters", "freeze": "--freeze", "freeze_ratio": "--freeze-ratio",
    "groups": "--groups", "input_dtype": "--input-dtype", "input_shape": "--input",
    "input_size": "--input-size",
    "iters": "--iters", "kernel": "--kernel", "min_time_s": "--min-time", "models": "--models",
    "num_classes": "--num-classes", "optimizer": "--optimizer", "padding": "--padding",
    "stride": "--stride", "threads": "--threads", "warmup": "--warmup",
}  # fmt: skip


def as_flags(exc: CnnstatError) -> str:
    """The error's message with each argument it names written as its flag: a library
    ``freeze_ratio must be in (0, 1]`` reads ``--freeze-ratio must be in (0, 1]`` here.

    The last mention is the library's own: a message may quote a model's error first."""
    import re

    text = str(exc)
    for name in getattr(exc, "fields", ()):
        mentions = list(re.finditer(rf"(?<![\w-]){re.escape(name)}(?!\w)", text))
        if name in FLAGS and mentions:
            last = mentions[-1]
            text = text[: last.start()] + FLAGS[name] + text[last.end() :]
    return text


def wrote(path: Path) -> None:
    stderr.print(f"wrote {path}", highlight=False, markup=False)


F = TypeVar("F", bound=Callable[..., Any])


def cnnstat_command(command: F) -> F:
    """A command whose ``CnnstatError`` becomes one line on stderr and the error's exit code."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CnnstatError as exc:
            error(as_flags(exc))
            raise typer.Exit(exc.exit_code) from None

    return run  # type: ignore[return-value]


def resolve_format(fmt: Format | None, output: Path | None) -> Format:
    """``--format``, else what the ``--output`` extension says, else a table."""
    from cnnstat.export import format_for_path

    if fmt is not None:
        return fmt
    if output is not None:
        return format_for_path(output)
    return Format.table


def emit(
    fmt: Format,
    output: Path | None,
    *,
    table: Callable[[Console], object],
    text: Callable[[Format], str],
    measured: str | None = None,
) -> None:
    """Show one result: ``table`` on the terminal, ``text(fmt)`` on stdout, or written to
    ``output`` atomically with "wrote PATH" on stderr.

    ``measured`` names a result that took long to make ("bench", "profile", "compare"):
    its table is shown even when it is also written, the file is written even when stdout
    fails, and a failed write saves it elsewhere and says where.
    """
    from cnnstat.export import write_atomic, write_with_fallback

    if measured is None:
        if output is not None:
            write_atomic(output, text(fmt))
            wrote(output)
        elif fmt is Format.table:
            table(stdout)
        else:
            sys.stdout.write(text(fmt))
        return
    try:
        if fmt is Format.table or output is not None:
            table(stdout)
        else:
            sys.stdout.write(text(fmt))
    finally:
        if output is not None:
            write_with_fallback(output, text(fmt).encode("utf-8"), measured, fmt)
            wrote(output)


def write_file(path: Path, content: str | bytes) -> None:
    """Write one file atomically (a ``--plot`` PNG, a report) and say so on stderr."""
    from cnnstat.export import write_atomic, write_bytes_atomic

    if isinstance(content, bytes):
        write_bytes_atomic(path, content)
    else:
        write_atomic(path, content)
    wrote(path)


def with_progress(label: str, work: Callable[[Callable[[str, int, int], None]], Any]) -> Any:
    """Run ``work(on_step)`` under a transient rich progress bar on stderr."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if not stderr.is_terminal:  # a bar nobody sees would only leave a blank line in a log
        return work(lambda description, done, total: None)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)

        def on_step(description: str, done: int, total: int) -> None:
            progress.update(task, description=description, completed=done, total=total)

        return work(on_step)
