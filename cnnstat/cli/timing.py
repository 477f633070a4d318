"""``bench`` and ``profile``: results measured on this machine.

Measurements may have taken hours, so these emit with ``measured=``: the table is shown
first, then the file is written, even when stdout fails.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cnnstat.cli.core import (
    cnnstat_command,
    emit,
    resolve_format,
    stderr,
    with_progress,
    write_file,
)
from cnnstat.cli.options import (
    AutocastDTypeOpt,
    BatchSizeOpt,
    BenchMode,
    ChannelsLastOpt,
    DepthOpt,
    DType,
    DTypeOpt,
    FormatOpt,
    FreezeOpt,
    FreezeRatioOpt,
    InputSizeOpt,
    ModelArg,
    OutputOpt,
    ProfileMode,
    ProfilePlotOpt,
    ThreadsOpt,
    WarmupOpt,
    WideOpt,
)
from cnnstat.cli.parse import (
    check_batch_size,
    check_depth,
    check_request,
    optional_size,
    parse_int_list,
    parse_list,
)

MinTimeOpt = Annotated[
    float, typer.Option(help="Measure for at least this many seconds (and 5 iterations).")
]


BenchModelsOpt = Annotated[
    str,
    typer.Argument(
        help="Comma-separated model names, e.g. vgg16,resnet50.",
        show_default=False,
        metavar="MODELS",
    ),
]
BenchDeviceOpt = Annotated[str, typer.Option(help="cpu, cuda, or all (whatever is present).")]
BenchBatchSizesOpt = Annotated[str, typer.Option(help="Comma-separated batch sizes.")]
BenchModeOpt = Annotated[
    BenchMode,
    typer.Option(
        metavar="<mode>", help="forward (inference), train (forward + backward), or both."
    ),
]
BenchCompileOpt = Annotated[
    bool, typer.Option("--compile", help="Run the model through torch.compile.")
]
BenchItersOpt = Annotated[
    int | None,
    typer.Option(help="Measured iterations. Default: until --min-time.", show_default=False),
]
BenchNoCudnnBenchmarkOpt = Annotated[
    bool,
    typer.Option(
        "--no-cudnn-benchmark",
        help="Keep cuDNN's default algorithms; by default cuDNN times them and picks the fastest.",
    ),
]
# the default, still accepted from scripts written when the help showed it
BenchCudnnBenchmarkOpt = Annotated[bool, typer.Option("--cudnn-benchmark", hidden=True)]


@cnnstat_command
def bench(
    models: BenchModelsOpt,
    device: BenchDeviceOpt = "cpu",
    batch_sizes: BenchBatchSizesOpt = "1",
    mode: BenchModeOpt = BenchMode.both,
    dtype: DTypeOpt = DType.fp32,
    channels_last: ChannelsLastOpt = False,
    compile: BenchCompileOpt = False,
    warmup: WarmupOpt = None,
    iters: BenchItersOpt = None,
    min_time: MinTimeOpt = 1.0,
    threads: ThreadsOpt = None,
    no_cudnn_benchmark: BenchNoCudnnBenchmarkOpt = False,
    cudnn_benchmark: BenchCudnnBenchmarkOpt = False,
    input_size: InputSizeOpt = None,
    freeze: FreezeOpt = None,
    freeze_ratio: FreezeRatioOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    wide: WideOpt = False,
) -> None:
    """Time forward and backward passes, with statistics, memory and achieved FLOP/s.

    [bold]Examples[/]

      cnnstat bench resnet18

      cnnstat bench vgg16,resnet50 --device cpu --batch-sizes 1,8,16

      cnnstat bench resnet50 --device cuda --dtype bf16 --channels-last --compile

      cnnstat bench alexnet --device all --format csv --output alexnet_bench.csv
    """
    from cnnstat.bench import BenchConfig, Mode, run_bench

    chosen = resolve_format(fmt, output)
    names = parse_list(models, "MODELS")
    check_request(names, output)
    config = BenchConfig(
        models=names,
        devices=parse_list(device, "--device"),
        batch_sizes=parse_int_list(batch_sizes, "--batch-sizes"),
        modes=(Mode.forward, Mode.train) if mode is BenchMode.both else (Mode(mode.value),),
        dtype=dtype.value,
        channels_last=channels_last,
        compile=compile,
        warmup=warmup,
        iters=iters,
        min_time_s=min_time,
        threads=threads,
        cudnn_benchmark=not no_cudnn_benchmark,
        input_size=optional_size(input_size),
        freeze=freeze,
        freeze_ratio=freeze_ratio,
    )
    from cnnstat.usercode import guarded

    with guarded("a benchmarked model's code"):  # os._exit in a forward is an error, not exit 0
        run = with_progress("starting", lambda on: run_bench(config, on_cell=on))
    from cnnstat.export import bench_text
    from cnnstat.render import bench_columns, bench_footer, print_fitted

    def table(console: Any) -> None:
        print_fitted(console, *bench_columns(run), wide=wide)
        for line in bench_footer(run):
            console.print(line, style="dim", highlight=False, markup=False)

    emit(chosen, output, table=table, text=lambda f: bench_text(run, f), measured="bench")
    if run.interrupted:
        raise typer.Exit(130)
    if any(r.status != "ok" for r in run.results):
        raise typer.Exit(1)


ProfileDeviceOpt = Annotated[str, typer.Option(help="cpu or cuda.")]
ProfileModeOpt = Annotated[
    ProfileMode, typer.Option(help="train (forward + backward of a scalar loss) or forward.")
]
ProfileWarmupOpt = Annotated[
    int | None,
    typer.Option(help="Warm-up steps. Default: until timings settle.", show_default=False),
]
ProfileItersOpt = Annotated[
    int | None,
    typer.Option(
        help="Measured steps, plain and profiled each, alternating. Default: as many "
        "as fill --min-time (at least 5, at most 20).",
        show_default=False,
    ),
]
ProfileMinTimeOpt = Annotated[
    float, typer.Option(help="Plain steps take at least this many seconds in all.")
]


@cnnstat_command
def profile(
    model: ModelArg,
    device: ProfileDeviceOpt = "cpu",
    batch_size: BatchSizeOpt = 1,
    mode: ProfileModeOpt = ProfileMode.train,
    depth: DepthOpt = None,
    dtype: AutocastDTypeOpt = DType.fp32,
    warmup: ProfileWarmupOpt = None,
    iters: ProfileItersOpt = None,
    min_time: ProfileMinTimeOpt = 1.0,
    threads: ThreadsOpt = None,
    input_size: InputSizeOpt = None,
    plot: ProfilePlotOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    wide: WideOpt = False,
) -> None:
    """Where a step's time goes, layer by layer, forward and backward, beside the FLOPs.

    Per-layer times come from torch.profiler, charged to the module that ran each op (and,
    in the backward, to the module whose forward created each autograd node). The rows sum
    to the whole step with an [italic]unattributed[/] row, and are checked against a plain
    bench step of the same model in the same run.

    [bold]Examples[/]

      cnnstat profile resnet50 --device cpu --batch-size 8

      cnnstat profile vit_b_16 --device cuda --batch-size 64 --depth 2 --format json

      cnnstat profile mobilenet_v2 --depth 2 --plot time_vs_flops.png
    """
    chosen = resolve_format(fmt, output)
    size = optional_size(input_size)
    check_batch_size(batch_size)
    check_depth(depth)
    check_request([model], output, plot)
    from contextlib import nullcontext

    from cnnstat.profile import profile as run_profile

    spinner = stderr.status("profiling", spinner="dots") if stderr.is_terminal else None
    with spinner or nullcontext() as status:
        report = run_profile(
            model, input_size=size, batch_size=batch_size, device=device,
            mode=mode.value, dtype=dtype.value, depth=depth, warmup=warmup, iters=iters,
            min_time_s=min_time, threads=threads,
            on_progress=(lambda text: status.update(text)) if status else None,
        )  # fmt: skip
    from cnnstat.export import profile_text
    from cnnstat.render import print_profile, profile_footer

    def table(console: Any) -> None:
        print_profile(report, console, wide=wide)
        for line in profile_footer(report):
            console.print(line, style="dim", highlight=False, markup=False)

    emit(chosen, output, table=table, text=lambda f: profile_text(report, f), measured="profile")
    if plot is not None and report.total_ms is not None:
        from cnnstat import plots

        at = plots.stage_depth(report) if depth is None else depth
        stages, kinds = plots.time_vs_flops_shares(report, depth=at)
        title = (
            f"{report.model}: time share against FLOP share ({report.device}, "
            f"batch {report.batch_size}, {report.mode})"
        )
        write_file(plot, plots.time_vs_flops_png(stages, kinds, title))
    if report.interrupted:
        raise typer.Exit(130)
