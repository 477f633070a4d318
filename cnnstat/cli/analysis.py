"""``summary``, ``memory`` and ``check``: what one model costs, without timing it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cnnstat.cli.core import (
    cnnstat_command,
    emit,
    resolve_format,
    write_file,
)
from cnnstat.cli.options import (
    BackwardOpt,
    BatchSizeOpt,
    DepthOpt,
    DType,
    DTypeOpt,
    FormatOpt,
    FreezeOpt,
    FreezeRatioOpt,
    InputDType,
    InputDTypeOpt,
    InputRangeOpt,
    InputSizeOpt,
    LayerPlotOpt,
    ModelArg,
    NumClassesOpt,
    OutputOpt,
    RealOpt,
    RfOpt,
    StrictOpt,
    TrainOpt,
    WideOpt,
)
from cnnstat.cli.parse import (
    check_batch_size,
    check_depth,
    check_request,
    input_size_argument,
    optional_size,
    parse_input_sizes,
    parse_list,
    parse_range,
)
from cnnstat.errors import InvalidInputError, UnsupportedOpsError
from cnnstat.export import Format


@cnnstat_command
def summary(
    model: ModelArg,
    input_size: InputSizeOpt = None,
    batch_size: BatchSizeOpt = 1,
    depth: DepthOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    dtype: DTypeOpt = DType.fp32,
    strict: StrictOpt = False,
    real: RealOpt = False,
    rf: RfOpt = False,
    num_classes: NumClassesOpt = None,
    freeze: FreezeOpt = None,
    freeze_ratio: FreezeRatioOpt = None,
    plot: LayerPlotOpt = None,
    backward: BackwardOpt = False,
    train: TrainOpt = False,
    input_dtype: InputDTypeOpt = InputDType.float,
    input_range: InputRangeOpt = None,
    wide: WideOpt = False,
) -> None:
    """Per-layer shapes, params, MACs/FLOPs and activation memory of one model.

    [bold]Examples[/]

      cnnstat summary alexnet

      cnnstat summary resnet50 --input-size 3x160x160 --batch-size 8

      cnnstat summary vgg16 --format markdown --output vgg16.md

      cnnstat summary examples/my_models.py:TinyNet --input-size 1x32x32 --format json

      cnnstat summary resnet50 --rf --depth 2

      cnnstat summary vgg16 --num-classes 20 --freeze classifier.5

      cnnstat summary two_tower.py:Net --input-size 3x128x128,3x128x128

      cnnstat summary tokens.py:Net --input-size 64 --input-dtype long --input-range 0,1000
    """
    chosen = resolve_format(fmt, output)
    sizes = parse_input_sizes(input_size) if input_size is not None else ([], {})
    value_range = parse_range(input_range) if input_range is not None else None
    check_batch_size(batch_size)
    check_depth(depth)
    check_request([model], output, plot)

    from cnnstat.analysis import analyze
    from cnnstat.export import summary_text
    from cnnstat.render import summary as render_summary

    def run_analysis(rows_depth: int | None) -> Any:
        return analyze(
            model, input_size=input_size_argument(sizes), batch_size=batch_size,
            dtype=dtype.to_torch(), depth=rows_depth, device="cpu" if real else "meta",
            num_classes=num_classes, freeze=freeze, freeze_ratio=freeze_ratio,
            backward=backward, input_kwargs=sizes[1] or None,
            input_dtype=input_dtype.to_torch(), input_range=value_range, train=train,
        )  # fmt: skip

    report = run_analysis(depth)
    emit(
        chosen,
        output,
        table=lambda console: render_summary(report, console, show_rf=rf, wide=wide),
        text=lambda f: summary_text(report, f, show_rf=rf),
    )
    if plot is not None:
        from cnnstat import plots

        # a deep model's leaf rows are unreadable bars: draw its stages unless --depth says
        shown = plots.plot_depth(report, depth)
        drawn = report if shown == depth else run_analysis(shown)
        bars = plots.layer_bars(drawn)
        write_file(plot, plots.layer_bars_png(bars, drawn.model, plots.layer_bars_title(drawn)))
    if strict and report.unsupported_ops:
        ops = ", ".join(f"{k} ×{v}" for k, v in report.unsupported_ops.items())
        raise UnsupportedOpsError(f"--strict: these ops ran without a formula: {ops}")


@cnnstat_command
def check(
    model: Annotated[
        str,
        typer.Argument(
            help="A zoo name or path/to/file.py:Name.", show_default=False, metavar="MODEL"
        ),
    ],
    against: Annotated[
        str,
        typer.Option(help="Comma-separated sources: formulas, fvcore, published."),
    ] = "formulas,fvcore,published",
    input_size: InputSizeOpt = None,
    limit: Annotated[int, typer.Option(help="Show at most this many disagreeing layers.")] = 20,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="table or json. Default: table.", metavar="<format>",
                     case_sensitive=False, show_default=False),
    ] = None,
    wide: WideOpt = False,
) -> None:
    """Cross-check cnnstat's counts against the closed forms, fvcore and torchvision's published figures.

    Exits 0 when every layer agrees with the closed-form formulas and the totals
    match the published figures within 0.5%; 1 otherwise. fvcore differences are
    explained, not failed: fvcore counts one multiply-add as one "flop", counts
    BatchNorm, and skips residual adds and attention.

    [bold]Examples[/]

      cnnstat check resnet50

      cnnstat check vit_b_16 --against fvcore

      cnnstat check examples/my_models.py:TinyNet --input-size 1x32x32 --against formulas
    """
    if fmt in (Format.csv, Format.markdown):
        raise InvalidInputError(f"check writes a table or json, not {fmt.value}")

    from cnnstat.crosscheck import Source, cross_check

    try:
        sources = tuple(Source(n) for n in parse_list(against, "--against"))
    except ValueError:
        raise InvalidInputError(
            f"unknown source in --against '{against}'; choose from formulas, fvcore, published"
        ) from None
    size = optional_size(input_size)
    if limit < 0:
        raise InvalidInputError(f"--limit must be >= 0, got {limit}")
    check_request([model])
    result = cross_check(model, size, sources)

    import json

    from cnnstat.render import check_tables

    emit(
        fmt or Format.table,
        None,
        table=lambda console: check_tables(result, console, limit=limit, wide=wide),
        text=lambda f: json.dumps(result.to_dict(), indent=2) + "\n",
    )
    if not result.passed:
        raise typer.Exit(1)
