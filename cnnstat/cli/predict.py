"""``memory``: predicted device memory, simulated on the meta device."""

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
    BatchSizeOpt,
    BudgetMode,
    DType,
    FormatOpt,
    FreezeOpt,
    FreezeRatioOpt,
    InputSizeOpt,
    MemoryDevice,
    MemoryPlotOpt,
    ModelArg,
    NumClassesOpt,
    OptimizerName,
    OutputOpt,
    WideOpt,
)
from cnnstat.cli.parse import check_batch_size, check_request, optional_size
from cnnstat.errors import InvalidInputError

DeviceOpt = Annotated[
    MemoryDevice,
    typer.Option(
        help="Device to predict for: cuda (PyTorch's caching allocator, cuBLAS "
        "workspaces, fused kernels) or cpu."
    ),
]
OptimizerOpt = Annotated[
    OptimizerName | None,
    typer.Option(
        help="Also predict a steady training step with this optimizer's state: sgd, "
        "sgd-momentum, adam or adamw.",
        metavar="<optimizer>",
        show_default=False,
    ),
]
AutocastOpt = Annotated[
    DType, typer.Option("--dtype", help="fp32, or bf16/fp16 autocast (fp32 weights, cuda).")
]
LayoutOpt = Annotated[
    bool, typer.Option("--channels-last", help="Input and 4-D weights in channels-last layout.")
]
BudgetOpt = Annotated[
    str | None,
    typer.Option(
        help="Find the largest batch whose peak fits this memory, e.g. 24GiB, 80GB.",
        show_default=False,
    ),
]
ModeOpt = Annotated[
    BudgetMode,
    typer.Option(
        help="Which peak --budget must fit: inference, train (first step) or "
        "steady (needs --optimizer)."
    ),
]
VerifyOpt = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="With --budget, run the real model on the device at that "
        "batch and one above, and report what happened.",
    ),
]


@cnnstat_command
def memory(
    model: ModelArg,
    input_size: InputSizeOpt = None,
    batch_size: BatchSizeOpt = 1,
    device: DeviceOpt = MemoryDevice.cuda,
    optimizer: OptimizerOpt = None,
    dtype: AutocastOpt = DType.fp32,
    channels_last: LayoutOpt = False,
    budget: BudgetOpt = None,
    mode: ModeOpt = BudgetMode.train,
    verify: VerifyOpt = False,
    num_classes: NumClassesOpt = None,
    freeze: FreezeOpt = None,
    freeze_ratio: FreezeRatioOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    plot: MemoryPlotOpt = None,
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
    chosen = resolve_format(fmt, output)
    size = optional_size(input_size)
    check_batch_size(batch_size)
    check_request([model], output, plot)
    budget_bytes = _budget(budget, mode, optimizer, verify, device)
    from cnnstat.memory import memory as predict

    def work(on_step: Any) -> Any:
        on_step("simulating on the meta device", 0, 1)
        return predict(
            model, input_size=size, batch_size=batch_size, device=device.value,
            dtype=dtype.value, optimizer=optimizer.value if optimizer else None,
            channels_last=channels_last, num_classes=num_classes, freeze=freeze,
            freeze_ratio=freeze_ratio, budget=budget_bytes, budget_mode=mode.value,
        )  # fmt: skip

    report = with_progress(f"{model}: memory", work)
    from cnnstat.export import memory_text
    from cnnstat.render import memory_tables

    emit(
        chosen,
        output,
        table=lambda console: memory_tables(report, console, wide=wide),
        text=lambda f: memory_text(report, f),
    )
    if plot is not None:
        from cnnstat import plots

        write_file(plot, plots.memory_timeline_png(report))
    if verify:
        from cnnstat.memory.verify import verify_batch
        from cnnstat.render import verify_line

        for run in verify_batch(report, size, mode.value):
            stderr.print(verify_line(run), highlight=False, markup=False)


def _budget(
    budget: str | None,
    mode: BudgetMode,
    optimizer: OptimizerName | None,
    verify: bool,
    device: MemoryDevice,
) -> int | None:
    """``--budget`` in bytes, once ``--mode``, ``--optimizer`` and ``--verify`` agree with it."""
    if mode is BudgetMode.steady and optimizer is None:
        raise InvalidInputError("--mode steady needs --optimizer (sgd, sgd-momentum, adam, adamw)")
    if verify and budget is None:
        raise InvalidInputError("--verify checks a --budget search; give --budget too")
    from cnnstat.memory import parse_bytes

    try:
        budget_bytes = parse_bytes(budget) if budget is not None else None
    except InvalidInputError as exc:
        raise InvalidInputError(f"--budget: {exc}") from None
    if verify:
        from cnnstat.memory.verify import check_device

        check_device(device.value)
    return budget_bytes
