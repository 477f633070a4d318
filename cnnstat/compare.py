"""``cnnstat compare``: one row per model, the lectures' side-by-side comparison, measured."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from cnnstat import zoo
from cnnstat.bench.runner import BenchStatus
from cnnstat.errors import CnnstatError, InvalidInputError
from cnnstat.facts import family_of

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class CompareRow:
    """One model's figures; ``status`` is ok, or error / oom with ``message``."""

    model: str
    year: int | None = None
    feature: str = ""
    input_size: tuple[int, ...] | None = None
    params: int | None = None
    macs: int | None = None
    flops: int | None = None
    param_bytes: int | None = None
    activation_bytes_per_image: int | None = None
    training_memory_bytes: int | None = None
    top1: float | None = None
    top5: float | None = None
    forward_ms: float | None = None
    backward_ms: float | None = None
    total_ms: float | None = None
    images_per_s: float | None = None
    bench_batch_size: int | None = None
    noisy: bool | None = None  # with --bench: the timing's p10-p90 spread passed the threshold
    status: BenchStatus = BenchStatus.ok
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", BenchStatus(self.status))

    @property
    def gmacs(self) -> float | None:
        return None if self.macs is None else self.macs / 1e9


class SortKey(str, Enum):
    """Columns ``--sort`` accepts."""

    model = "model"
    year = "year"
    params = "params"
    macs = "macs"
    flops = "flops"
    activation = "activation"
    memory = "memory"
    top1 = "top1"
    top5 = "top5"
    total_ms = "total_ms"
    images_per_s = "images_per_s"


_SORT_FIELDS = {
    SortKey.activation: "activation_bytes_per_image",
    SortKey.memory: "training_memory_bytes",
}


@dataclass(frozen=True)
class Comparison:
    """The compare table and, with ``--bench``, every timing cell measured for it."""

    rows: tuple[CompareRow, ...]
    bench_runs: tuple[Any, ...] = ()
    interrupted: bool = False  # Ctrl-C stopped it: the rows are the models finished before

    @property
    def failed(self) -> bool:
        return any(r.status != "ok" for r in self.rows)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        records = []
        for r in self.rows:
            d = asdict(r)
            d["input_size"] = "x".join(map(str, r.input_size)) if r.input_size else None
            records.append(d)
        return pd.DataFrame(records)

    def to_dict(self) -> dict[str, Any]:
        from cnnstat import __version__

        return {
            "cnnstat_version": __version__,
            "rows": [
                {**asdict(r), "input_size": list(r.input_size) if r.input_size else None}
                for r in self.rows
            ],
        }


def published_accuracy(name: str) -> tuple[float | None, float | None]:
    """Top-1 and top-5 ImageNet accuracy from torchvision's weights metadata, offline."""
    if name not in zoo.TORCHVISION_CROP_SIZES:
        return None, None
    from torchvision.models import get_model_weights

    metrics = get_model_weights(name).DEFAULT.meta.get("_metrics", {}).get("ImageNet-1K", {})
    return metrics.get("acc@1"), metrics.get("acc@5")


def expand_models(names: tuple[str, ...]) -> tuple[str, ...]:
    """``all`` is the whole built-in zoo; other names are resolved (unknown ones raise)."""
    out: list[str] = []
    for n in names:
        if n == "all":
            out.extend(zoo.zoo_names())
        else:
            zoo.resolve(n)
            out.append(n)
    return tuple(dict.fromkeys(out))


def _train_peak(name: str, input_size: tuple[int, ...] | None) -> int | None:
    """The memory model's first-training-step peak on CUDA at batch size 1; None when the
    model cannot train at that size (BatchNorm over a single value)."""
    from cnnstat.memory import memory

    try:
        return memory(name, input_size=input_size, batch_size=1, device="cuda",
                      phases=("train_step",)).train_step_peak_bytes
    except CnnstatError:
        return None


def compare(
    models: tuple[str, ...] | str,
    input_size: tuple[int, ...] | None = None,
    bench: bool = False,
    device: str = "cpu",
    batch_sizes: tuple[int, ...] = (16,),
    sort: SortKey | str | None = None,
    on_model: Callable[[str, int, int], None] | None = None,
    bench_iters: int | None = None,
    bench_warmup: int | None = None,
    bench_min_time_s: float = 1.0,
) -> Comparison:
    """Analyse (and optionally time) each model; a failing model becomes an error row.

    ``models`` is a sequence of names or one comma-separated string ("vgg16,resnet50",
    "all"); ``sort`` a ``SortKey`` or its value ("macs"). With ``bench``, the device and
    timing options are checked once, before any model runs; Ctrl-C stops the comparison
    and keeps the rows finished so far (``interrupted``).
    """
    if isinstance(models, str):
        models = tuple(m.strip() for m in models.split(",") if m.strip())
    if not models:
        raise InvalidInputError("models needs at least one model name", fields=("models",))
    if isinstance(sort, str) and not isinstance(sort, SortKey):
        try:
            sort = SortKey(sort)
        except ValueError:
            choices = ", ".join(k.value for k in SortKey)
            raise InvalidInputError(f"cannot sort by '{sort}'; choose one of {choices}") from None
    names = expand_models(tuple(models))
    rows: list[CompareRow] = []
    runs: list[Any] = []
    interrupted = False
    if bench:
        from cnnstat.bench.runner import resolve_devices, validate_options

        devices, _ = resolve_devices((device,))
        validate_options(_bench_config("", device, batch_sizes, input_size, bench_iters,
                                       bench_warmup, bench_min_time_s), devices)
    try:
        _compare_rows(names, input_size, bench, device, batch_sizes, on_model, bench_iters,
                      bench_warmup, bench_min_time_s, rows, runs)
    except KeyboardInterrupt:
        interrupted = True
    if sort is not None:
        rows = _sorted(rows, sort)
    return Comparison(tuple(rows), tuple(runs), interrupted)


def _bench_config(name: str, device: str, batch_sizes: tuple[int, ...],
                  input_size: tuple[int, ...] | None, iters: int | None, warmup: int | None,
                  min_time_s: float) -> Any:
    from cnnstat.bench import BenchConfig, Mode

    return BenchConfig(models=(name,), devices=(device,), batch_sizes=batch_sizes,
                       modes=(Mode.train,), input_size=input_size, iters=iters, warmup=warmup,
                       min_time_s=min_time_s)


def _compare_rows(names: tuple[str, ...], input_size: tuple[int, ...] | None, bench: bool,
                  device: str, batch_sizes: tuple[int, ...],
                  on_model: Callable[[str, int, int], None] | None, bench_iters: int | None,
                  bench_warmup: int | None, bench_min_time_s: float, rows: list[CompareRow],
                  runs: list[Any]) -> None:
    """Append each model's row to ``rows`` as it is finished (so Ctrl-C loses none)."""
    from cnnstat.analysis import analyze

    for i, name in enumerate(names):
        if on_model is not None:
            on_model(name, i, len(names))
        year, feature = family_of(name)
        try:
            report = analyze(name, input_size=input_size)
            top1, top5 = published_accuracy(name)
            row = CompareRow(
                model=name,
                year=year,
                feature=feature,
                input_size=report.input_shape[1:],
                params=report.totals.params,
                macs=report.totals.macs,
                flops=report.totals.flops,
                param_bytes=report.totals.param_bytes,
                activation_bytes_per_image=report.totals.activation_bytes,
                training_memory_bytes=_train_peak(name, input_size),
                top1=top1 if input_size is None else None,
                top5=top5 if input_size is None else None,
            )
            if bench:
                config = _bench_config(name, device, batch_sizes, input_size, bench_iters,
                                       bench_warmup, bench_min_time_s)
                row, run = _bench_row(row, config)
                runs.append(run)
        except KeyboardInterrupt:
            raise
        except (Exception, SystemExit) as exc:  # one model's failure, whatever its kind, is its row
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            message = text if isinstance(exc, CnnstatError) else f"{type(exc).__name__}: {text}"
            if isinstance(exc, SystemExit):  # the analysis catches these; a benchmark may not
                message = f"the model's code called sys.exit({exc.code})"
            row = CompareRow(
                model=name, year=year, feature=feature, status="error", message=message
            )
        rows.append(row)


def _bench_row(row: CompareRow, config: Any) -> tuple[CompareRow, Any]:
    from dataclasses import replace

    from cnnstat.bench import run_bench

    run = run_bench(config)
    if run.interrupted:
        raise KeyboardInterrupt
    cell = run.results[-1]  # the largest requested batch size is listed last
    if cell.status != "ok":
        return replace(row, status=cell.status, message=cell.message), run
    return (
        replace(
            row,
            forward_ms=cell.forward_stats.median if cell.forward_stats else None,
            backward_ms=cell.backward_stats.median if cell.backward_stats else None,
            total_ms=cell.total_ms,
            images_per_s=cell.images_per_s,
            bench_batch_size=cell.batch_size,
            noisy=cell.noisy,
        ),
        run,
    )


def _sorted(rows: list[CompareRow], key: SortKey) -> list[CompareRow]:
    field = _SORT_FIELDS.get(key, key.value)
    if field not in CompareRow.__dataclass_fields__:
        raise InvalidInputError(f"cannot sort by '{key.value}'")
    descending = key not in (SortKey.model, SortKey.year, SortKey.total_ms)
    present = [r for r in rows if getattr(r, field) is not None]
    missing = [r for r in rows if getattr(r, field) is None]
    present.sort(key=lambda r: getattr(r, field), reverse=descending)
    return present + missing


class _CallableModule(types.ModuleType):
    """``cnnstat.compare`` is this module once it is imported (the import system binds it on
    the package); calling it calls ``compare()``, so ``cnnstat.compare(...)`` works on every
    call, as ``cnnstat.memory(...)`` does."""

    def __call__(self, *args: Any, **kwargs: Any) -> Comparison:
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
