"""``compare``: models side by side, with a benchmark of each when ``--bench`` asks.

A compare with ``--bench`` is a measured result: its table is shown first, then the file written.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cnnstat.cli.core import (
    cnnstat_command,
    emit,
    error,
    resolve_format,
    stderr,
    with_progress,
    write_file,
)
from cnnstat.cli.options import (
    ComparePlotOpt,
    FormatOpt,
    InputSizeOpt,
    OutputOpt,
    WideOpt,
)
from cnnstat.cli.parse import (
    check_request,
    optional_size,
    parse_int_list,
    parse_list,
)
from cnnstat.errors import InvalidInputError

CompareModelsOpt = Annotated[
    str,
    typer.Option(
        "--models",
        "-m",
        help="Comma-separated model names, or 'all' for the whole zoo.",
        show_default=False,
    ),
]
CompareBenchOpt = Annotated[
    bool, typer.Option("--bench", help="Also time a training step of each model.")
]
CompareDeviceOpt = Annotated[str, typer.Option(help="Device for --bench: cpu or cuda.")]
CompareBatchSizeOpt = Annotated[
    str,
    typer.Option(
        help="Batch size for --bench; a comma list (1,4,16) times each, the table shows "
        "the largest, the --plot draws all."
    ),
]
CompareItersOpt = Annotated[
    int | None,
    typer.Option(
        help="Measured iterations per model with --bench. Default: until --min-time.",
        show_default=False,
    ),
]
CompareWarmupOpt = Annotated[
    int | None,
    typer.Option(
        help="Warm-up iterations with --bench. Default: until timings settle.",
        show_default=False,
    ),
]
CompareMinTimeOpt = Annotated[
    float,
    typer.Option(
        help="With --bench, measure each model for at least this many seconds (and 5 iterations)."
    ),
]
CompareSortOpt = Annotated[
    str | None,
    typer.Option(
        help="Sort by model, year, params, macs, flops, activation, memory, top1, top5, "
        "total_ms, images_per_s.",
        show_default=False,
    ),
]


@cnnstat_command
def compare(
    models: CompareModelsOpt,
    bench: CompareBenchOpt = False,
    device: CompareDeviceOpt = "cpu",
    batch_size: CompareBatchSizeOpt = "16",
    iters: CompareItersOpt = None,
    warmup: CompareWarmupOpt = None,
    min_time: CompareMinTimeOpt = 1.0,
    sort: CompareSortOpt = None,
    input_size: InputSizeOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    plot: ComparePlotOpt = None,
    wide: WideOpt = False,
) -> None:
    """Compare models side by side, as in the lectures' tables: params, MACs, memory, accuracy, time.

    [bold]Examples[/]

      cnnstat compare --models vgg16,resnet152

      cnnstat compare --models alexnet,vgg16,googlenet,resnet152 --bench --device cpu --batch-size 16

      cnnstat compare --models all --format csv --output zoo.csv
    """
    from cnnstat.compare import SortKey, expand_models
    from cnnstat.compare import compare as run_compare

    chosen = resolve_format(fmt, output)
    names = parse_list(models, "--models")
    check_request(names, output, plot, resolve=False)
    try:
        key = SortKey(sort) if sort is not None else None
    except ValueError:
        choices = ", ".join(k.value for k in SortKey)
        raise InvalidInputError(f"cannot sort by '{sort}'; choose one of {choices}") from None
    sizes = tuple(sorted(set(parse_int_list(batch_size, "--batch-size"))))
    if any(b < 1 for b in sizes):
        raise InvalidInputError("--batch-size must be positive")
    expand_models(names)  # unknown names fail before any work
    size = optional_size(input_size)
    result = with_progress(
        "comparing",
        lambda on: run_compare(
            names, size, bench, device, sizes, key, on_model=on, bench_iters=iters,
            bench_warmup=warmup, bench_min_time_s=min_time,
        ),
    )  # fmt: skip
    from cnnstat.export import compare_text
    from cnnstat.render import print_compare

    emit(
        chosen,
        output,
        table=lambda console: print_compare(result, console, wide=wide),
        text=lambda f: compare_text(result, f),
        measured="compare" if bench else None,
    )
    if plot is not None:
        _compare_plots(result, plot, device if bench else None)
    for row in result.rows:
        if row.status != "ok":
            error(f"{row.model}: {row.message}")
    if result.interrupted:
        stderr.print("interrupted: the table holds the models finished before Ctrl-C")
        raise typer.Exit(130)
    if result.failed:
        raise typer.Exit(1)


def _compare_plots(result: Any, plot: Any, bench_device: str | None) -> None:
    """Top-1 against GMACs; with a benchmark, also time per image against batch size."""
    from cnnstat import plots
    from cnnstat.lectures import lecture_networks

    points = plots.accuracy_vs_macs_points(result)
    missing = plots.missing_accuracy(result)
    write_file(plot, plots.accuracy_vs_macs_png(points, missing=missing, always=lecture_networks()))
    if bench_device is not None:
        runs = result.bench_runs
        series, bands = plots.time_per_image_series(runs), plots.time_per_image_bands(runs)
        timed = plot.with_name(plot.stem + "-time.png")
        write_file(timed, plots.time_per_image_png(series, bench_device, bands))
