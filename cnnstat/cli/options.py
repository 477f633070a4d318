"""The options the commands share, declared once as ``Annotated`` aliases, and their enums.

User strings become enum members here, where they enter; inside, only enum values travel.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnstat.export import Format


class DType(str, Enum):
    """Parameter and input dtype by its short name."""

    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"

    def to_torch(self) -> Any:
        """The torch dtype, from the one table the benchmark runner also reads."""
        from cnnstat.dtypes import torch_dtype

        return torch_dtype(self.value)


class InputDType(str, Enum):
    """Dtype of the inputs: ``float`` follows ``--dtype``; the others are token ids."""

    float = "float"
    long = "long"
    int = "int"
    bool = "bool"

    def to_torch(self) -> Any:
        """The torch dtype, or None for the parameters' own."""
        import torch

        return {"float": None, "long": torch.long, "int": torch.int32, "bool": torch.bool}[
            self.value
        ]


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


class ModelSource(str, Enum):
    builtin = "builtin"
    torchvision = "torchvision"
    classic = "classic"
    timm = "timm"


class BenchMode(str, Enum):
    forward = "forward"
    train = "train"
    both = "both"


class ProfileMode(str, Enum):
    train = "train"
    forward = "forward"


def _dash_is_stdout(value: Path | None) -> Path | None:
    """``-o -`` means standard output, as if no --output were given."""
    return None if value is not None and str(value) == "-" else value


def _plot(help: str) -> Any:
    return typer.Option(help=help, show_default=False, dir_okay=False)


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
DepthOpt = Annotated[
    int | None,
    typer.Option(help="Module depth of the rows (0 = the whole model). Default: leaf modules."),
]
FormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        "-f",
        help="table, csv, markdown or json. Default: table, or what the --output extension says.",
        metavar="<format>",
        case_sensitive=False,
        show_default=False,
    ),
]
# for the commands without --output
PrintFormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        "-f",
        help="table, csv, markdown or json. Default: table.",
        metavar="<format>",
        case_sensitive=False,
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
AutocastDTypeOpt = Annotated[
    DType, typer.Option("--dtype", help="fp32, or fp16/bf16 under autocast.")
]
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
ChannelsLastOpt = Annotated[
    bool, typer.Option("--channels-last", help="Use channels-last memory format.")
]
WarmupOpt = Annotated[
    int | None,
    typer.Option(help="Warm-up iterations. Default: until timings settle.", show_default=False),
]
ThreadsOpt = Annotated[
    int | None, typer.Option(help="CPU threads. Default: all cores.", show_default=False)
]

LayerPlotOpt = Annotated[
    Path | None, _plot("Also write a PNG bar chart of parameters and MACs per layer.")
]
MemoryPlotOpt = Annotated[
    Path | None, _plot("Also write a PNG timeline of allocated memory, stacked by category.")
]
ComparePlotOpt = Annotated[
    Path | None,
    _plot(
        "Write a PNG: top-1 against GMACs (bubble area = params); with --bench, also "
        "FILE-time.png, time per image against batch size."
    ),
]
ProfilePlotOpt = Annotated[
    Path | None,
    _plot("Also write a PNG of time share against FLOP share, per stage and per kind of layer."),
]

# summary
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Exit 3 when some op ran that cnnstat cannot count.")
]
RealOpt = Annotated[
    bool,
    typer.Option("--real", help="Count on real CPU tensors instead of the meta device (slower)."),
]
RfOpt = Annotated[
    bool, typer.Option("--rf", help="Show each layer's receptive field and effective stride.")
]
BackwardOpt = Annotated[
    bool, typer.Option("--backward", help="Also run and count the backward pass (totals only).")
]
TrainOpt = Annotated[
    bool,
    typer.Option(
        "--train",
        help="Analyse a training-mode forward: BatchNorm batch statistics, dropout masks, "
        "training-only heads; the notes say what changed against eval mode.",
    ),
]
InputDTypeOpt = Annotated[
    InputDType,
    typer.Option(
        "--input-dtype",
        help="Dtype of the inputs: float (the --dtype), or long/int/bool for token ids.",
    ),
]
InputRangeOpt = Annotated[
    str | None,
    typer.Option(
        "--input-range",
        help="LOW,HIGH of the input values on real tensors, e.g. 0,1000 for token ids "
        "(integers: HIGH excluded). Default: zeros.",
        show_default=False,
    ),
]
