"""The ``cnnstat`` command line: parse arguments, call the library, render or export. No math here.

Heavy imports (torch, the analysis engine) happen inside commands, so that
``cnnstat --help`` and ``cnnstat models`` answer at once.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cnnstat.errors import CnnstatError, InvalidInputError
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


def _stdout_width() -> int | None:
    """The table width: ``COLUMNS`` when set, the terminal's, or 200 for a pipe or file
    (rich's 80-column default would cut a table nobody asked to fit)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout is not None and sys.stdout.isatty() else 200


_stdout = Console(width=_stdout_width())
_stderr = Console(stderr=True)


class DType(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


# --- shared options, declared once ------------------------------------------------

ModelArg = Annotated[
    str,
    typer.Argument(
        help="A zoo name (see `cnnstat models`), path/to/file.py:Name or package.module:Name.",
        show_default=False,
        metavar="MODEL",
    ),
]
InputSizeOpt = Annotated[
    str | None,
    typer.Option(
        "--input-size",
        "-i",
        help="One sample's shape without the batch, C×H×W like 3x224x224 "
        "(C×L or C×D×H×W for 1D/3D models). Default: the model's preprocessing crop size.",
        show_default=False,
    ),
]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", "-b", help="Batch size N.")]
FormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format. Default: table, or what the --output extension says.",
        case_sensitive=False,
        show_default=False,
    ),
]


def _dash_is_stdout(value: Path | None) -> Path | None:
    """``-o -`` means standard output, as if no --output were given."""
    return None if value is not None and str(value) == "-" else value


# for the commands without --output
PrintFormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format", "-f", help="Output format. Default: table.", case_sensitive=False,
        show_default=False,
    ),
]
WideOpt = Annotated[
    bool,
    typer.Option(
        "--wide",
        help="Show every column and let the terminal wrap; by default columns that do not "
        "fit the terminal width are left out, and the table says which.",
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write the report to this file (atomically); the extension picks the format "
        "(.csv .md .json .txt). A symlink's target is written; a FIFO or device is written "
        "through; - is standard output.",
        show_default=False,
        dir_okay=False,
        callback=_dash_is_stdout,
    ),
]
DTypeOpt = Annotated[DType, typer.Option("--dtype", help="Parameter and input dtype.")]
NumClassesOpt = Annotated[
    int | None,
    typer.Option(
        help="Replace the classifier head with a fresh one for this many classes.",
        show_default=False,
    ),
]
FreezeOpt = Annotated[
    str | None,
    typer.Option(
        "--freeze",
        help="Freeze every parameter up to and including this module, e.g. features or layer3.",
        show_default=False,
    ),
]
FreezeRatioOpt = Annotated[
    float | None,
    typer.Option(
        help="Freeze this fraction of the parameters, from the input side, e.g. 0.8.",
        show_default=False,
    ),
]


def parse_input_size(text: str) -> tuple[int, ...]:
    """'3x224x224' -> (3, 224, 224), with a one-line error for anything else."""
    parts = text.lower().replace("×", "x").replace(",", "x").split("x")
    if not 1 <= len(parts) <= 4:
        raise InvalidInputError(
            f"malformed --input-size '{text}': expected C×H×W like 3x224x224 (or C×L, C×D×H×W)"
        )
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise InvalidInputError(
            f"malformed --input-size '{text}': every dimension must be an integer, like 3x224x224"
        ) from None
    if any(d <= 0 for d in dims):
        raise InvalidInputError(
            f"malformed --input-size '{text}': every dimension must be positive"
        )
    return dims


def parse_input_sizes(text: str) -> tuple[list[tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """'3x128x128,3x128x128' -> two positional sizes; 'mask=1x128' -> a keyword input.

    A comma separates inputs when a part names a keyword or the parts hold an 'x';
    otherwise '3,224,224' stays one size, as before.
    """
    parts = [p.strip() for p in text.split(",")]
    if "=" not in text and (len(parts) == 1 or not any("x" in p.lower() or "×" in p for p in parts)):
        return [parse_input_size(text)], {}
    positional: list[tuple[int, ...]] = []
    keyword: dict[str, tuple[int, ...]] = {}
    for part in parts:
        key, eq, size = part.rpartition("=")
        if eq:
            if not key.isidentifier():
                raise InvalidInputError(f"malformed --input-size '{text}': '{key}' is not a name")
            keyword[key] = parse_input_size(size)
        elif keyword:
            raise InvalidInputError(
                f"malformed --input-size '{text}': positional sizes come before name=size ones"
            )
        else:
            positional.append(parse_input_size(part))
    return positional, keyword


def parse_range(text: str) -> tuple[float, float]:
    """'0,1000' -> (0.0, 1000.0), low < high."""
    try:
        low, high = (float(p) for p in text.split(","))
    except ValueError:
        raise InvalidInputError(
            f"malformed --input-range '{text}': expected LOW,HIGH like 0,1000"
        ) from None
    if not low < high:
        raise InvalidInputError(f"--input-range '{text}': LOW must be below HIGH")
    return low, high


class InputDType(str, Enum):
    float = "float"
    long = "long"
    int = "int"
    bool = "bool"


def _resolve_format(fmt: Format | None, output: Path | None) -> Format:
    from cnnstat.export import format_for_path

    if fmt is not None:
        return fmt
    if output is not None:
        return format_for_path(output)
    return Format.table


def _fail(exc: CnnstatError) -> typer.Exit:
    _stderr.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


# --- commands ----------------------------------------------------------------------


@app.command()
def summary(
    model: ModelArg,
    input_size: InputSizeOpt = None,
    batch_size: BatchSizeOpt = 1,
    depth: Annotated[
        int | None,
        typer.Option(help="Module depth of the rows (0 = the whole model). Default: leaf modules."),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    dtype: DTypeOpt = DType.fp32,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 3 when some op ran that cnnstat cannot count.")
    ] = False,
    real: Annotated[
        bool,
        typer.Option(
            "--real", help="Count on real CPU tensors instead of the meta device (slower)."
        ),
    ] = False,
    rf: Annotated[
        bool,
        typer.Option("--rf", help="Show each layer's receptive field and effective stride."),
    ] = False,
    num_classes: NumClassesOpt = None,
    freeze: FreezeOpt = None,
    freeze_ratio: FreezeRatioOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also write a PNG bar chart of parameters and MACs per layer.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    backward: Annotated[
        bool,
        typer.Option("--backward", help="Also run and count the backward pass (totals only)."),
    ] = False,
    train: Annotated[
        bool,
        typer.Option(
            "--train",
            help="Analyse a training-mode forward: BatchNorm batch statistics, dropout masks, "
            "training-only heads; the notes say what changed against eval mode.",
        ),
    ] = False,
    input_dtype: Annotated[
        InputDType,
        typer.Option(
            "--input-dtype",
            help="Dtype of the inputs: float (the --dtype), or long/int/bool for token ids.",
        ),
    ] = InputDType.float,
    input_range: Annotated[
        str | None,
        typer.Option(
            "--input-range",
            help="LOW,HIGH of the input values on real tensors, e.g. 0,1000 for token ids "
            "(integers: HIGH excluded). Default: zeros.",
            show_default=False,
        ),
    ] = None,
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
    try:
        chosen = _resolve_format(fmt, output)
        positional, keyword = (
            parse_input_sizes(input_size) if input_size is not None else ([], {})
        )
        size: Any = None
        if len(positional) == 1:
            size = positional[0]
        elif positional:
            size = positional
        elif keyword:
            size = []
        value_range = parse_range(input_range) if input_range is not None else None
        if batch_size < 1:
            raise InvalidInputError(f"--batch-size must be a positive integer, got {batch_size}")
        if depth is not None and depth < 0:
            raise InvalidInputError(f"--depth must be >= 0, got {depth}")
        from cnnstat import zoo

        zoo.resolve(model)  # unknown names fail before torch is imported
        for path in (output, plot):
            if path is not None:
                from cnnstat.export import check_writable

                check_writable(path, protect=zoo.source_files([model]))
        if plot is not None and plot.suffix.lower() != ".png":
            raise InvalidInputError(f"--plot writes PNG files; use a .png name, not '{plot.name}'")

        import torch

        from cnnstat.analysis import analyze
        from cnnstat.export import report_text, write_atomic
        from cnnstat.render import summary as render_summary

        torch_dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
        torch_input_dtype = {
            "float": None,
            "long": torch.long,
            "int": torch.int32,
            "bool": torch.bool,
        }[input_dtype.value]

        def run_analysis(rows_depth: int | None) -> Any:
            return analyze(
                model,
                input_size=size,
                batch_size=batch_size,
                dtype=torch_dtype[dtype.value],
                depth=rows_depth,
                device="cpu" if real else "meta",
                num_classes=num_classes,
                freeze=freeze,
                freeze_ratio=freeze_ratio,
                backward=backward,
                input_kwargs=keyword or None,
                input_dtype=torch_input_dtype,
                input_range=value_range,
                train=train,
            )

        report = run_analysis(depth)
        if output is not None:
            write_atomic(output, report_text(report, chosen, show_rf=rf))
            _stderr.print(f"wrote {output}", highlight=False)
        elif chosen is Format.table:
            render_summary(report, _stdout, show_rf=rf, wide=wide)
        else:
            sys.stdout.write(report_text(report, chosen, show_rf=rf))
        if plot is not None:
            from cnnstat import plots
            from cnnstat.export import write_bytes_atomic

            # a deep model's leaf rows are unreadable bars: draw its stages unless --depth says
            shown = plots.plot_depth(report, depth)
            drawn = report if shown == depth else run_analysis(shown)
            write_bytes_atomic(plot, plots.layer_bars_png(
                plots.layer_bars(drawn), drawn.model, plots.layer_bars_title(drawn)))
            _stderr.print(f"wrote {plot}", highlight=False)
        if strict and report.unsupported_ops:
            from cnnstat.errors import UnsupportedOpsError

            ops = ", ".join(f"{k} ×{v}" for k, v in report.unsupported_ops.items())
            raise UnsupportedOpsError(f"--strict: these ops ran without a formula: {ops}")
    except CnnstatError as exc:
        raise _fail(exc) from None


class MemoryDevice(str, Enum):
    cuda = "cuda"
    cpu = "cpu"


class OptimizerName(str, Enum):
    sgd = "sgd"
    sgd_momentum = "sgd-momentum"
    adam = "adam"
    adamw = "adamw"


class BudgetMode(str, Enum):
    inference = "inference"
    train = "train"
    steady = "steady"


@app.command()
def memory(
    model: ModelArg,
    input_size: InputSizeOpt = None,
    batch_size: BatchSizeOpt = 1,
    device: Annotated[
        MemoryDevice,
        typer.Option(help="Device to predict for: cuda (PyTorch's caching allocator, cuBLAS "
                     "workspaces, fused kernels) or cpu."),
    ] = MemoryDevice.cuda,
    optimizer: Annotated[
        OptimizerName | None,
        typer.Option(help="Also predict a steady training step with this optimizer's state.",
                     show_default=False),
    ] = None,
    dtype: Annotated[
        DType, typer.Option("--dtype", help="fp32, or bf16/fp16 autocast (fp32 weights, cuda).")
    ] = DType.fp32,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="Input and 4-D weights in channels-last layout.")
    ] = False,
    budget: Annotated[
        str | None,
        typer.Option(help="Find the largest batch whose peak fits this memory, e.g. 24GiB, 80GB.",
                     show_default=False),
    ] = None,
    mode: Annotated[
        BudgetMode,
        typer.Option(help="Which peak --budget must fit: inference, train (first step) or "
                     "steady (needs --optimizer)."),
    ] = BudgetMode.train,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="With --budget, run the real model on the device at that "
                     "batch and one above, and report what happened."),
    ] = False,
    num_classes: NumClassesOpt = None,
    freeze: FreezeOpt = None,
    freeze_ratio: FreezeRatioOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also write a PNG timeline of allocated memory, stacked by category.",
                     show_default=False, dir_okay=False),
    ] = None,
    wide: WideOpt = False,
) -> None:
    """Predicted device memory: inference, training-step and optimizer-step peaks, without a GPU.

    Figures are device totals, as torch.cuda.max_memory_allocated reports them.

    They are simulated on the meta device: no GPU and no real memory are used.

    [bold]Examples[/]

      cnnstat memory resnet50 --batch-size 32 --optimizer adam --dtype bf16

      cnnstat memory vit_b_16 --budget 80GiB --mode train

      cnnstat memory resnet50 --plot timeline.png

      cnnstat memory efficientnet_b0 --device cpu --format json
    """
    try:
        chosen = _resolve_format(fmt, output)
        size = parse_input_size(input_size) if input_size is not None else None
        if batch_size < 1:
            raise InvalidInputError(f"--batch-size must be a positive integer, got {batch_size}")
        from cnnstat import zoo

        zoo.resolve(model)
        for path in (output, plot):
            if path is not None:
                from cnnstat.export import check_writable

                check_writable(path, protect=zoo.source_files([model]))
        if plot is not None and plot.suffix.lower() != ".png":
            raise InvalidInputError(f"--plot writes PNG files; use a .png name, not '{plot.name}'")
        if mode is BudgetMode.steady and optimizer is None:
            raise InvalidInputError("--mode steady needs --optimizer (sgd, sgd-momentum, adam, adamw)")
        if verify and budget is None:
            raise InvalidInputError("--verify checks a --budget search; give --budget too")
        from cnnstat.memory import parse_bytes

        budget_bytes = parse_bytes(budget) if budget is not None else None
        if verify:
            from cnnstat.memory.verify import check_device

            check_device(device.value)

        from cnnstat.export import memory_text, write_atomic
        from cnnstat.memory import memory as predict

        def work(on_step: Any) -> Any:
            on_step("simulating on the meta device", 0, 1)
            return predict(
                model, input_size=size, batch_size=batch_size, device=device.value,
                dtype=dtype.value, optimizer=optimizer.value if optimizer else None,
                channels_last=channels_last, num_classes=num_classes, freeze=freeze,
                freeze_ratio=freeze_ratio, budget=budget_bytes, budget_mode=mode.value,
            )

        report = _with_progress(f"{model}: memory", work)
        if output is not None:
            write_atomic(output, memory_text(report, chosen))
            _stderr.print(f"wrote {output}", highlight=False)
        elif chosen is Format.table:
            from cnnstat.render import memory_tables

            memory_tables(report, _stdout, wide=wide)
        else:
            sys.stdout.write(memory_text(report, chosen))
        if plot is not None:
            from cnnstat import plots
            from cnnstat.export import write_bytes_atomic

            write_bytes_atomic(plot, plots.memory_timeline_png(report))
            _stderr.print(f"wrote {plot}", highlight=False)
        if verify:
            from cnnstat.memory.verify import verify_batch

            for line in verify_batch(report, size, mode.value):
                _stderr.print(line, highlight=False)
    except CnnstatError as exc:
        raise _fail(exc) from None


class ModelSource(str, Enum):
    builtin = "builtin"
    torchvision = "torchvision"
    classic = "classic"
    timm = "timm"


@app.command()
def models(
    filter: Annotated[
        str | None,
        typer.Option("--filter", help="Shell-style pattern, e.g. 'resnet*'.", show_default=False),
    ] = None,
    source: Annotated[
        ModelSource,
        typer.Option(
            help="builtin = torchvision + classics; timm lists timm's models (needs timm)."
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

    try:
        if source is ModelSource.timm:
            specs = zoo.list_timm_models(filter)
        else:
            specs = [s for s in zoo.list_models() if source.value in ("builtin", s.source)]
    except CnnstatError as exc:
        raise _fail(exc) from None
    if filter:
        specs = [s for s in specs if fnmatch.fnmatch(s.name.removeprefix("timm:"), filter)]
    if not specs:
        raise _fail(InvalidInputError(f"no model matches '{filter}'"))
    chosen = fmt or Format.table
    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "source": s.source,
            "default_input_size": list(s.default_input_size or ()),
        }
        for s in specs
    ]
    if chosen is Format.table:
        from cnnstat.render import models_columns, print_fitted

        print_fitted(_stdout, *models_columns(specs), wide=wide)
        _stdout.print(f"{len(specs)} models", style="dim")
    elif chosen is Format.json:
        import json

        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        sep = "," if chosen is Format.csv else " | "
        if chosen is Format.markdown:
            sys.stdout.write("| name | source | default input |\n|---|---|---|\n")
        else:
            sys.stdout.write("name,source,default_input_size\n")
        for r in rows:
            size = "x".join(map(str, r["default_input_size"]))
            line = sep.join([r["name"], r["source"], size])
            sys.stdout.write(f"| {line} |\n" if chosen is Format.markdown else line + "\n")


def _parse_list(text: str, option: str) -> tuple[str, ...]:
    items = tuple(p.strip() for p in text.split(",") if p.strip())
    if not items:
        raise InvalidInputError(f"{option} needs at least one value")
    return items


class BenchMode(str, Enum):
    forward = "forward"
    train = "train"
    both = "both"


@app.command()
def bench(
    models: Annotated[
        str,
        typer.Argument(
            help="Comma-separated model names, e.g. vgg16,resnet50.", show_default=False,
            metavar="MODELS",
        ),
    ],
    device: Annotated[str, typer.Option(help="cpu, cuda, or all (whatever is present).")] = "cpu",
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "1",
    mode: Annotated[
        BenchMode, typer.Option(help="forward (inference), train (forward + backward), or both.")
    ] = BenchMode.both,
    dtype: DTypeOpt = DType.fp32,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="Use channels-last memory format.")
    ] = False,
    compile: Annotated[
        bool, typer.Option("--compile", help="Run the model through torch.compile.")
    ] = False,
    warmup: Annotated[
        int | None,
        typer.Option(help="Warm-up iterations. Default: until timings settle.", show_default=False),
    ] = None,
    iters: Annotated[
        int | None,
        typer.Option(help="Measured iterations. Default: until --min-time.", show_default=False),
    ] = None,
    min_time: Annotated[
        float, typer.Option(help="Measure for at least this many seconds (and 5 iterations).")
    ] = 1.0,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads. Default: all cores.", show_default=False)
    ] = None,
    cudnn_benchmark: Annotated[
        bool, typer.Option(help="Let cuDNN pick the fastest algorithms.")
    ] = True,
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
    from cnnstat.bench import BenchConfig, Mode

    try:
        chosen = _resolve_format(fmt, output)
        names = _parse_list(models, "MODELS")
        if output is not None:
            from cnnstat import zoo
            from cnnstat.export import check_writable

            check_writable(output, protect=zoo.source_files(names))
        try:
            sizes = tuple(int(b) for b in _parse_list(batch_sizes, "--batch-sizes"))
        except ValueError:
            raise InvalidInputError(
                f"malformed --batch-sizes '{batch_sizes}': expected e.g. 1,8,16"
            ) from None
        from cnnstat import zoo

        for name in names:
            zoo.resolve(name)
        modes = (Mode.forward, Mode.train) if mode is BenchMode.both else (Mode(mode.value),)
        config = BenchConfig(
            models=names,
            devices=_parse_list(device, "--device"),
            batch_sizes=sizes,
            modes=modes,
            dtype=dtype.value,
            channels_last=channels_last,
            compile=compile,
            warmup=warmup,
            iters=iters,
            min_time_s=min_time,
            threads=threads,
            cudnn_benchmark=cudnn_benchmark,
            input_size=parse_input_size(input_size) if input_size else None,
            freeze=freeze,
            freeze_ratio=freeze_ratio,
        )
        from cnnstat.usercode import guarded

        with guarded("a benchmarked model's code"):  # os._exit in a forward is an error, not exit 0
            run = _run_bench_with_progress(config)
    except CnnstatError as exc:
        raise _fail(exc) from None
    from cnnstat.export import bench_text, write_with_fallback

    # The measurements may have taken hours: show them first, then write the file, and
    # write it even when stdout fails; a failed write saves them elsewhere and says where.
    try:
        if chosen is Format.table or output is not None:
            from cnnstat.render import bench_columns, bench_footer, print_fitted

            print_fitted(_stdout, *bench_columns(run), wide=wide)
            for line in bench_footer(run):
                _stdout.print(line, style="dim", highlight=False, markup=False)
        else:
            sys.stdout.write(bench_text(run, chosen))
    finally:
        if output is not None:
            try:
                write_with_fallback(output, bench_text(run, chosen).encode("utf-8"), "bench", chosen)
            except CnnstatError as exc:
                raise _fail(exc) from None
            _stderr.print(f"wrote {output}", highlight=False)
    if run.interrupted:
        raise typer.Exit(130)
    if any(r.status != "ok" for r in run.results):
        raise typer.Exit(1)


def _run_bench_with_progress(config: Any) -> Any:
    from cnnstat.bench import run_bench

    return _with_progress("starting", lambda on: run_bench(config, on_cell=on))


@app.command()
def compare(
    models: Annotated[
        str,
        typer.Option(
            "--models",
            "-m",
            help="Comma-separated model names, or 'all' for the whole zoo.",
            show_default=False,
        ),
    ],
    bench: Annotated[
        bool, typer.Option("--bench", help="Also time a training step of each model.")
    ] = False,
    device: Annotated[str, typer.Option(help="Device for --bench: cpu or cuda.")] = "cpu",
    batch_size: Annotated[
        str,
        typer.Option(
            help="Batch size for --bench; a comma list (1,4,16) times each, the table shows the largest, "
            "the --plot draws all."
        ),
    ] = "16",
    iters: Annotated[
        int | None,
        typer.Option(help="Measured iterations per model with --bench. Default: until --min-time.", show_default=False),
    ] = None,
    warmup: Annotated[
        int | None,
        typer.Option(help="Warm-up iterations with --bench. Default: until timings settle.", show_default=False),
    ] = None,
    min_time: Annotated[
        float, typer.Option(help="With --bench, measure each model for at least this many seconds (and 5 iterations).")
    ] = 1.0,
    sort: Annotated[
        str | None,
        typer.Option(
            help="Sort by model, year, params, macs, flops, activation, memory, top1, top5, total_ms, images_per_s.",
            show_default=False,
        ),
    ] = None,
    input_size: InputSizeOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Write a PNG: top-1 against GMACs (bubble area = params); with --bench, also "
            "FILE-time.png, time per image against batch size.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    wide: WideOpt = False,
) -> None:
    """Compare models side by side, as in the lectures' tables: params, MACs, memory, accuracy, time.

    [bold]Examples[/]

      cnnstat compare --models vgg16,resnet152

      cnnstat compare --models alexnet,vgg16,googlenet,resnet152 --bench --device cpu --batch-size 16

      cnnstat compare --models all --format csv --output zoo.csv
    """
    from cnnstat.compare import SortKey
    from cnnstat.compare import compare as run_compare

    try:
        chosen = _resolve_format(fmt, output)
        for path in (output, plot):
            if path is not None:
                from cnnstat import zoo
                from cnnstat.export import check_writable

                check_writable(path, protect=zoo.source_files(_parse_list(models, "--models")))
        if plot is not None and plot.suffix.lower() != ".png":
            raise InvalidInputError(f"--plot writes PNG files; use a .png name, not '{plot.name}'")
        try:
            key = SortKey(sort) if sort is not None else None
        except ValueError:
            choices = ", ".join(k.value for k in SortKey)
            raise InvalidInputError(f"cannot sort by '{sort}'; choose one of {choices}") from None
        try:
            sizes = tuple(sorted({int(b) for b in _parse_list(batch_size, "--batch-size")}))
        except ValueError:
            raise InvalidInputError(f"malformed --batch-size '{batch_size}'") from None
        if any(b < 1 for b in sizes):
            raise InvalidInputError("--batch-size must be positive")
        names = _parse_list(models, "--models")
        from cnnstat.compare import expand_models

        expand_models(names)  # unknown names fail before any work
        size = parse_input_size(input_size) if input_size else None
        result = _with_progress(
            "comparing",
            lambda on: run_compare(
                names, size, bench, device, sizes, key, on_model=on, bench_iters=iters,
                bench_warmup=warmup, bench_min_time_s=min_time,
            ),
        )
    except CnnstatError as exc:
        raise _fail(exc) from None
    from cnnstat.export import compare_text, write_bytes_atomic, write_with_fallback

    if output is not None:
        try:
            write_with_fallback(
                output, compare_text(result, chosen).encode("utf-8"), "compare", chosen
            )
        except CnnstatError as exc:
            raise _fail(exc) from None
        _stderr.print(f"wrote {output}", highlight=False)
    elif chosen is Format.table:
        from cnnstat.render import print_compare

        print_compare(result, _stdout, wide=wide)
    else:
        sys.stdout.write(compare_text(result, chosen))
    if plot is not None:
        from cnnstat import plots
        from cnnstat.report import lecture_networks

        write_bytes_atomic(plot, plots.accuracy_vs_macs_png(
            plots.accuracy_vs_macs_points(result), missing=plots.missing_accuracy(result),
            always=lecture_networks()))
        _stderr.print(f"wrote {plot}", highlight=False)
        if bench:
            timed = plot.with_name(plot.stem + "-time.png")
            write_bytes_atomic(
                timed,
                plots.time_per_image_png(
                    plots.time_per_image_series(result.bench_runs), device,
                    plots.time_per_image_bands(result.bench_runs),
                ),
            )
            _stderr.print(f"wrote {timed}", highlight=False)
    for row in result.rows:
        if row.status != "ok":
            _stderr.print(
                f"[bold red]error:[/] {row.model}: {row.message}", highlight=False, soft_wrap=True
            )
    if result.interrupted:
        _stderr.print("interrupted: the table holds the models finished before Ctrl-C")
        raise typer.Exit(130)
    if result.failed:
        raise typer.Exit(1)


report_app = typer.Typer(help="Regenerate reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("lectures")
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
    try:
        from cnnstat.export import check_writable, prepare_output_dir
        from cnnstat.report import lecture_report_names, lecture_reports

        prepare_output_dir(output_dir)  # created if missing; refused at once if read-only
        for name in lecture_report_names():
            check_writable(output_dir / name)
        files = _with_progress("reports", lambda on: lecture_reports(on_step=on))
        from cnnstat.export import write_atomic, write_bytes_atomic

        for name, content in files.items():
            path = output_dir / name
            if isinstance(content, bytes):
                write_bytes_atomic(path, content)
            else:
                write_atomic(path, content)
            _stderr.print(f"wrote {path}", highlight=False)
    except CnnstatError as exc:
        raise _fail(exc) from None


def _with_progress(label: str, work: Any) -> Any:
    """Run ``work(on_step)`` under a transient rich progress bar on stderr."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if not _stderr.is_terminal:  # a bar nobody sees would only leave a blank line in a log
        return work(lambda description, done, total: None)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=_stderr,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)

        def on_step(description: str, done: int, total: int) -> None:
            progress.update(task, description=description, completed=done, total=total)

        return work(on_step)


@app.command()
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
    fmt: PrintFormatOpt = None,
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
    from cnnstat.crosscheck import Source

    try:
        names = [s.strip() for s in against.split(",") if s.strip()]
        try:
            sources = tuple(Source(n) for n in names)
        except ValueError:
            raise InvalidInputError(
                f"unknown source in --against '{against}'; choose from formulas, fvcore, published"
            ) from None
        if not sources:
            raise InvalidInputError("--against needs at least one source")
        size = parse_input_size(input_size) if input_size is not None else None
        from cnnstat import zoo

        zoo.resolve(model)
        from cnnstat.crosscheck import cross_check

        result = cross_check(model, size, sources)
    except CnnstatError as exc:
        raise _fail(exc) from None
    chosen = fmt or Format.table
    if chosen is Format.json:
        import json

        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        from cnnstat.render import check_tables

        check_tables(result, _stdout, limit=limit, wide=wide)
    if not result.passed:
        raise typer.Exit(1)


def parse_ints(text: str, option: str) -> tuple[int, ...]:
    """'3' -> (3,), '3x5' -> (3, 5), with a one-line error otherwise."""
    try:
        return tuple(int(p) for p in text.lower().replace("×", "x").replace(",", "x").split("x"))
    except ValueError:
        raise InvalidInputError(
            f"malformed {option} '{text}': expected an integer or NxM"
        ) from None


@app.command()
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

    try:
        spec = calculator.make_spec(
            parse_ints(input, "--input"),
            filters,
            parse_ints(kernel, "--kernel"),
            parse_ints(stride, "--stride"),
            parse_ints(padding, "--padding"),
            parse_ints(dilation, "--dilation"),
            groups,
        )
        result = calculator.compare(spec, bottleneck, depthwise_separable)
    except CnnstatError as exc:
        raise _fail(exc) from None
    chosen = fmt or Format.table
    if chosen is Format.table:
        from cnnstat.render import print_conv

        print_conv(result, _stdout, wide=wide)
        return
    from cnnstat.export import conv_text

    sys.stdout.write(conv_text(result, chosen))


class ProfileMode(str, Enum):
    train = "train"
    forward = "forward"


@app.command()
def profile(
    model: ModelArg,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    batch_size: BatchSizeOpt = 1,
    mode: Annotated[
        ProfileMode, typer.Option(help="train (forward + backward of a scalar loss) or forward.")
    ] = ProfileMode.train,
    depth: Annotated[
        int | None,
        typer.Option(help="Module depth of the rows (0 = the whole model). Default: leaf modules."),
    ] = None,
    dtype: Annotated[
        DType, typer.Option("--dtype", help="fp32, or fp16/bf16 under autocast.")
    ] = DType.fp32,
    warmup: Annotated[
        int | None,
        typer.Option(help="Warm-up steps. Default: until timings settle.", show_default=False),
    ] = None,
    iters: Annotated[
        int | None,
        typer.Option(
            help="Measured steps, plain and profiled each, alternating. Default: as many "
            "as fill --min-time (at least 5, at most 20).",
            show_default=False,
        ),
    ] = None,
    min_time: Annotated[
        float, typer.Option(help="Plain steps take at least this many seconds in all.")
    ] = 1.0,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads. Default: all cores.", show_default=False)
    ] = None,
    input_size: InputSizeOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also write a PNG of time share against FLOP share, per stage and per kind "
            "of layer.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
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
    try:
        chosen = _resolve_format(fmt, output)
        size = parse_input_size(input_size) if input_size is not None else None
        if batch_size < 1:
            raise InvalidInputError(f"--batch-size must be a positive integer, got {batch_size}")
        if depth is not None and depth < 0:
            raise InvalidInputError(f"--depth must be >= 0, got {depth}")
        if plot is not None and plot.suffix.lower() != ".png":
            raise InvalidInputError(f"--plot writes PNG files; use a .png name, not '{plot.name}'")
        from cnnstat import zoo

        zoo.resolve(model)  # unknown names fail before torch is imported
        for path in (output, plot):
            if path is not None:
                from cnnstat.export import check_writable

                check_writable(path, protect=zoo.source_files([model]))
        from contextlib import nullcontext

        from cnnstat.profile import profile as run_profile

        spinner = _stderr.status("profiling", spinner="dots") if _stderr.is_terminal else None
        with spinner or nullcontext() as status:
            report = run_profile(
                model, input_size=size, batch_size=batch_size, device=device,
                mode=mode.value, dtype=dtype.value, depth=depth, warmup=warmup, iters=iters,
                min_time_s=min_time, threads=threads,
                on_progress=(lambda text: status.update(text)) if status else None,
            )  # fmt: skip
        from cnnstat.export import profile_text, write_bytes_atomic, write_with_fallback

        # measured results: shown first, then written; a failed write saves them elsewhere
        try:
            if chosen is Format.table or output is not None:
                from cnnstat.render import print_profile, profile_footer

                print_profile(report, _stdout, wide=wide)
                for line in profile_footer(report):
                    _stdout.print(line, style="dim", highlight=False, markup=False)
            else:
                sys.stdout.write(profile_text(report, chosen))
        finally:
            if output is not None:
                data = profile_text(report, chosen).encode("utf-8")
                write_with_fallback(output, data, "profile", chosen)
                _stderr.print(f"wrote {output}", highlight=False)
        if plot is not None and report.total_ms is not None:
            from cnnstat import plots

            at = plots.stage_depth(report) if depth is None else depth
            stages, kinds = plots.time_vs_flops_shares(report, depth=at)
            title = f"{report.model}: time share against FLOP share ({report.device}, " \
                    f"batch {report.batch_size}, {report.mode})"
            write_bytes_atomic(plot, plots.time_vs_flops_png(stages, kinds, title))
            _stderr.print(f"wrote {plot}", highlight=False)
    except CnnstatError as exc:
        raise _fail(exc) from None
    if report.interrupted:
        raise typer.Exit(130)


# Exit statuses. 1 is a verdict (a check disagrees, a model in a sweep failed), never a crash.
EXIT_INTERNAL = 70  # a bug in cnnstat (sysexits' EX_SOFTWARE)
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (128 + SIGPIPE), as a shell reports it


class _ClosedStdout:
    """Stands in for ``sys.stdout`` when the shell closed it (``>&-``): writing says so."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        if not text:
            return 0
        import errno

        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _closed_stdout() -> None:
    """The shell closed stdout (``>&-``): take fd 1 with /dev/null, so that no file opened
    later gets it (and C code's prints), and make Python-level writes report it."""
    try:
        os.fstat(1)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 1:
            os.dup2(fd, 1)
            os.close(fd)
    sys.stdout = _ClosedStdout()  # type: ignore[assignment]


def _stdout_failure(exc: BaseException) -> tuple[int, str | None] | None:
    """The exit status and message for a failure to write the terminal's streams, if it is one.

    The library converts its own file errors into ``ExportError``, so an ``OSError``
    without a file name that reaches ``main`` is a write to stdout; an encoding
    error is the terminal's encoding refusing a character of the report.
    """
    if isinstance(exc, BrokenPipeError):
        return EXIT_BROKEN_PIPE, None  # `cnnstat models | head`: the reader has what it wanted
    if isinstance(exc, UnicodeEncodeError):
        bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else "?"
        return 2, (
            f"standard output's encoding ({exc.encoding}) cannot show {bad!r}; "
            "set PYTHONIOENCODING=utf-8, or write the report with --output FILE"
        )
    if isinstance(exc, OSError) and exc.filename is None:
        import errno

        if exc.errno == errno.EBADF:
            return 2, "cannot write to standard output: it is closed; use --output FILE"
        return 2, f"cannot write to standard output: {exc.strerror or exc}"
    return None


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one-line errors, never a traceback.

    Exit statuses: 0 success; 1 a check disagrees or a model in a sweep failed;
    2 bad input, a failing model or an output that cannot be written; 3 ``--strict``
    with uncounted ops; 70 an internal error; 130 interrupted; 141 stdout's reader left.
    """
    if sys.stdout is None:
        _closed_stdout()
    _stdout.width = _stdout_width()  # type: ignore[assignment]  # COLUMNS as it is now
    try:
        code = app(args=argv, prog_name="cnnstat", standalone_mode=False)
        sys.stdout.flush()  # a full disk behind stdout shows here, not at interpreter exit
    except typer.Exit as exc:
        _flush_or_exit()
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _stderr.print("interrupted")
        sys.exit(130)
    except CnnstatError as exc:  # raised outside a command's own handler, e.g. a late write
        _stderr.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        if _raised_in(exc, "on_broken_pipe"):  # rich's answer to a closed pipe on stdout
            _exit_for_stdout(EXIT_BROKEN_PIPE, None)
        # otherwise only code cnnstat runs but does not own exits this way
        _stderr.print(
            f"[bold red]error:[/] the model's code ended the run with sys.exit({exc.code})",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)
    except Exception as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            sys.stdout.write(ctx.get_help() + "\n")  # a bare command shows its help
            _flush_or_exit()
            sys.exit(0)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            # Click's usage errors (missing argument, bad option value) on one line
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            _stderr.print(
                f"[bold red]error:[/] {exc.format_message()}{hint}", highlight=False, soft_wrap=True
            )
            sys.exit(exc.exit_code)
        stream = _stdout_failure(exc)
        if stream is not None:
            _exit_for_stdout(*stream)
        if os.environ.get("CNNSTAT_DEBUG"):
            raise
        _stderr.print(
            f"[bold red]error:[/] internal error, {type(exc).__name__}: {_first_line(exc)} "
            "(a bug in cnnstat; set CNNSTAT_DEBUG=1 for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


def _raised_in(exc: BaseException, function: str) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is a function of that name."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == function


def _flush_or_exit() -> None:
    """Flush stdout before exiting; a failure there is reported like any failed write."""
    try:
        sys.stdout.flush()
    except Exception as exc:
        stream = _stdout_failure(exc)
        if stream is None:
            raise
        _exit_for_stdout(*stream)


def _exit_for_stdout(code: int, message: str | None) -> None:
    _silence_stdout()
    if message is not None:
        _stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
