"""``models``, ``conv`` and ``report lectures``: the zoo, the layer calculator and the lectures."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnstat.cli.core import cnnstat_command, emit, with_progress, write_file
from cnnstat.cli.options import ModelSource, PrintFormatOpt, WideOpt
from cnnstat.cli.parse import parse_ints
from cnnstat.errors import InvalidInputError
from cnnstat.export import Format


@cnnstat_command
def models(
    filter: Annotated[
        str | None,
        typer.Option("--filter", help="Shell-style pattern, e.g. 'resnet*'.", show_default=False),
    ] = None,
    source: Annotated[
        ModelSource,
        typer.Option(
            help="builtin (torchvision + classic), torchvision, classic, or timm (lists "
            "timm's models; needs timm).",
            metavar="<source>",
        ),
    ] = ModelSource.builtin,
    fmt: PrintFormatOpt = None,
    wide: WideOpt = False,
) -> None:
    """List every model cnnstat can build, with its default input size.

    [bold]Examples[/]

      cnnstat models

      cnnstat models --filter 'efficientnet*'

      cnnstat models --source timm --filter 'resnet*'
    """
    from cnnstat import zoo
    from cnnstat.export import models_text

    if source is ModelSource.timm:
        specs = zoo.list_timm_models(filter)
    else:
        specs = [s for s in zoo.list_models() if source.value in ("builtin", s.source)]
    if filter:
        specs = [s for s in specs if fnmatch.fnmatch(s.name.removeprefix("timm:"), filter)]
    if not specs:
        raise InvalidInputError(f"no model matches '{filter}'")

    def table(console: Any) -> None:
        from cnnstat.render import models_columns, print_fitted

        print_fitted(console, *models_columns(specs), wide=wide)
        console.print(f"{len(specs)} models", style="dim")

    emit(fmt or Format.table, None, table=table, text=lambda f: models_text(specs, f))


@cnnstat_command
def conv(
    input: Annotated[
        str,
        typer.Option(
            "--input",
            help="Input in the lectures' order, channels last: H×W×C like 28x28x192 "
            "(L×C for 1D, D×H×W×C for 3D).",
            show_default=False,
        ),
    ],
    filters: Annotated[
        int,
        typer.Option("--filters", help="Number of filters (output channels).", show_default=False),
    ],
    kernel: Annotated[
        str, typer.Option("--kernel", help="Kernel size, 5 or 5x3.", show_default=False)
    ],
    stride: Annotated[str, typer.Option(help="Stride, 1 or 2x1.")] = "1",
    padding: Annotated[str, typer.Option(help="Zero padding on each side.")] = "0",
    dilation: Annotated[str, typer.Option(help="Dilation.")] = "1",
    groups: Annotated[
        int, typer.Option(help="Groups; equal to the channels for a depthwise conv.")
    ] = 1,
    bottleneck: Annotated[
        int | None,
        typer.Option(
            help="Also cost a 1×1 reduction to this many channels before the conv (Inception)."
        ),
    ] = None,
    depthwise_separable: Annotated[
        bool,
        typer.Option(
            "--depthwise-separable",
            help="Also cost a depthwise k×k + pointwise 1×1 pair (MobileNet).",
        ),
    ] = False,
    fmt: PrintFormatOpt = None,
    wide: WideOpt = False,
) -> None:
    """The lectures' layer calculator: output shape, params, MACs and FLOPs of one convolution.

    [bold]Examples[/]

      cnnstat conv --input 227x227x3 --filters 96 --kernel 11 --stride 4

      cnnstat conv --input 28x28x192 --filters 32 --kernel 5 --padding 2 --bottleneck 16

      cnnstat conv --input 224x224x3 --filters 64 --kernel 3 --padding 1 --depthwise-separable
    """
    from cnnstat import calculator
    from cnnstat.export import conv_text
    from cnnstat.render import print_conv

    spec = calculator.make_spec(
        parse_ints(input, "--input"),
        filters,
        parse_ints(kernel, "--kernel"),
        parse_ints(stride, "--stride"),
        parse_ints(padding, "--padding"),
        parse_ints(dilation, "--dilation"),
        groups,
    )
    result = calculator.layer_costs(spec, bottleneck, depthwise_separable)
    emit(
        fmt or Format.table,
        None,
        table=lambda console: print_conv(result, console, wide=wide),
        text=lambda f: conv_text(result, f),
    )


report_app = typer.Typer(help="Regenerate reports.", no_args_is_help=True)


@report_app.command("lectures")
@cnnstat_command
def report_lectures(
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir", help="Directory for the Markdown, CSV and PNG files.", file_okay=False
        ),
    ] = Path("reports"),
) -> None:
    """The lectures' tables from measurement: classic comparison, VGG16 per layer, AlexNet shapes,
    the Inception cost example and the whole zoo, each as Markdown with a CSV beside it, plus plots.

    [bold]Example[/]

      cnnstat report lectures --output-dir lectures/
    """
    from cnnstat.export import check_writable, prepare_output_dir
    from cnnstat.lectures import lecture_report_names, lecture_reports

    prepare_output_dir(output_dir)  # created if missing; refused at once if read-only
    for name in lecture_report_names():
        check_writable(output_dir / name)
    files = with_progress("reports", lambda on: lecture_reports(on_step=on))
    for name, content in files.items():
        write_file(output_dir / name, content)
