"""Builds per-layer records and totals from a counted forward pass, with the closed-form check."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections import Counter
from typing import Any

import torch
from torch import nn

from cnnstat import transfer, zoo
from cnnstat.closed_form import check_call, layer_geometry
from cnnstat.counter import Call, KernelRejectedError, OpCounter, run_counted
from cnnstat.errors import (
    CnnstatError,
    ForwardError,
    InputTooSmallError,
    InvalidInputError,
    ModelBuildError,
    UnknownModelError,
)
from cnnstat.records import Check, LayerRecord, Report, Totals
from cnnstat.usercode import guarded

_TOO_SMALL = re.compile(
    r"output size is too small|Output size is too small|smaller than kernel|"
    r"Kernel size can't be greater than actual input size|negative output|"
    r"non-positive|Calculated padded input size|pad should be at most half",
    re.IGNORECASE,
)


# PyTorch sizes storage in signed 64-bit bytes; a larger tensor cannot exist, even on meta
_MAX_TENSOR_BYTES = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What the counted forward is called with: positional and keyword input shapes, batch included."""

    shapes: tuple[tuple[int, ...], ...]
    keyword_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    dtype: torch.dtype | None = None  # None: the analysed dtype
    value_range: tuple[float, float] | None = None

    @property
    def all_shapes(self) -> tuple[tuple[int, ...], ...]:
        return (*self.shapes, *(s for _, s in self.keyword_shapes))

    def nbytes(self, dtype: torch.dtype) -> int:
        itemsize = (self.dtype or dtype).itemsize
        return sum(_prod(s) * itemsize for s in self.all_shapes)

    def make(
        self, dtype: torch.dtype, device: torch.device
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Input tensors: zeros, or uniform values in ``value_range`` on real tensors."""
        want = self.dtype or dtype

        def one(shape: tuple[int, ...]) -> torch.Tensor:
            if self.value_range is None or device.type == "meta":
                return torch.zeros(shape, dtype=want, device=device)
            low, high = self.value_range
            if want.is_floating_point:
                return torch.empty(shape, dtype=want, device=device).uniform_(low, high)
            if want == torch.bool:
                return torch.randint(0, 2, shape, device=device).bool()
            return torch.randint(int(low), int(high), shape, dtype=want, device=device)

        return tuple(one(s) for s in self.shapes), {k: one(s) for k, s in self.keyword_shapes}


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def _validate(input_size: tuple[int, ...], batch_size: int, itemsize: int = 4) -> None:
    if batch_size < 1:
        raise InvalidInputError(
            f"batch_size must be a positive integer, got {batch_size}", fields=("batch_size",)
        )
    if batch_size > _MAX_TENSOR_BYTES:
        raise InvalidInputError(
            f"batch size {batch_size} overflows: PyTorch sizes tensors in 64-bit integers "
            f"(at most {_MAX_TENSOR_BYTES:,})"
        )
    if not input_size or any((not isinstance(d, int)) or d < 1 for d in input_size):
        raise InvalidInputError(
            f"input_size must be positive integers, got {input_size}", fields=("input_size",)
        )
    nbytes = _prod((batch_size, *input_size)) * itemsize
    if nbytes > _MAX_TENSOR_BYTES:
        text = "x".join(map(str, input_size))
        raise InvalidInputError(
            f"input {text} at batch size {batch_size} overflows: "
            f"{_prod((batch_size, *input_size)):,} elements are {nbytes:,} bytes, more than a "
            f"tensor can address ({_MAX_TENSOR_BYTES:,} bytes)"
        )


def validate_input(input_size: tuple[int, ...], batch_size: int, itemsize: int = 4) -> None:
    """Raise InvalidInputError for a non-positive size or one whose tensor would overflow."""
    _validate(input_size, batch_size, itemsize)


def _several(input_size: Any) -> bool:
    """Whether ``input_size`` lists several inputs' shapes rather than one shape."""
    return (
        isinstance(input_size, (tuple, list))
        and len(input_size) > 0
        and all(isinstance(s, (tuple, list)) for s in input_size)
    )


def _resolve(
    model_or_name: nn.Module | str, input_size: Any
) -> tuple[str, zoo.ModelSpec | None, nn.Module | None, tuple[tuple[int, ...], ...]]:
    if isinstance(model_or_name, torch.jit.ScriptModule):
        raise InvalidInputError(_SCRIPTED)
    if isinstance(input_size, str) or (
        isinstance(input_size, (tuple, list)) and any(isinstance(s, str) for s in input_size)
    ):
        raise InvalidInputError(
            f"input_size takes shapes as tuples of ints, like (3, 224, 224), not {input_size!r}",
            fields=("input_size",),
        )
    if isinstance(model_or_name, nn.Module):
        if input_size is None:
            raise InvalidInputError("an nn.Module needs input_size, e.g. (3, 224, 224)")
        if isinstance(input_size, list) and not input_size:
            sizes: Any = ()  # keyword inputs only
        else:
            sizes = input_size if _several(input_size) else (input_size,)
        return type(model_or_name).__name__, None, model_or_name, tuple(tuple(s) for s in sizes)
    if not isinstance(model_or_name, str):
        raise UnknownModelError(f"expected a model name or an nn.Module, got {type(model_or_name)}")
    spec = zoo.resolve(model_or_name)
    if input_size is None:
        if spec.default_input_size is None:
            raise InvalidInputError(
                f"custom model '{spec.name}' needs an input size: give input_size, e.g. 3x224x224",
                fields=("input_size",),
            )
        return spec.name, spec, None, (spec.default_input_size,) * spec.input_count
    if isinstance(input_size, list) and not input_size:
        sizes = ()  # keyword inputs only
    elif _several(input_size):
        sizes = tuple(tuple(s) for s in input_size)
    else:
        sizes = (tuple(input_size),)
    if spec.default_input_size is not None:
        default = spec.default_input_size
        want = {1: "C", 2: "CxL", 3: "CxHxW", 4: "CxDxHxW"}[len(default)]
        for size in sizes:
            if len(size) != len(default):
                raise InvalidInputError(
                    f"{spec.name} takes a {len(default)}-dimensional input ({want}, "
                    f"default {'x'.join(map(str, default))}), got {'x'.join(map(str, size))}"
                )
        if len(sizes) == 1 and spec.input_count > 1:
            sizes = sizes * spec.input_count  # RAFT: one size for both frames
        if len(sizes) != spec.input_count:
            raise InvalidInputError(
                f"{spec.name} takes {spec.input_count} input(s), got {len(sizes)} sizes"
            )
    return spec.name, spec, None, sizes


_SCRIPTED = (
    "scripted modules (torch.jit.script/trace) cannot be analysed: pass the nn.Module "
    "before scripting (the model object you gave torch.jit.script)"
)


def analyze(
    model_or_name: nn.Module | str,
    input_size: Any = None,
    batch_size: int = 1,
    dtype: torch.dtype = torch.float32,
    depth: int | None = None,
    device: str = "meta",
    num_classes: int | None = None,
    freeze: str | None = None,
    freeze_ratio: float | None = None,
    backward: bool = False,
    input_kwargs: dict[str, tuple[int, ...]] | None = None,
    input_dtype: torch.dtype | None = None,
    input_range: tuple[float, float] | None = None,
    train: bool = False,
) -> Report:
    """Analyse a model layer by layer.

    Args:
        model_or_name: a zoo name (``"resnet50"``), a custom ``"file.py:Name"``, or an nn.Module.
        input_size: one sample's shape without the batch, e.g. ``(3, 224, 224)``, or a list of
            shapes for a model with several positional inputs (``[(3, 128, 128), (3, 128, 128)]``);
            defaults to the zoo model's preprocessing crop size.
        batch_size: N of the analysed input; MACs, FLOPs and activations are for the whole batch.
        dtype: parameter and input dtype; memory figures follow it.
        depth: module depth of the rows; None shows leaf modules.
        device: ``"meta"`` (default) counts without allocating or computing, falling back to
            real CPU tensors when the model cannot run on meta; ``"cpu"`` uses real tensors.
        num_classes: replace the classifier head with a fresh one for this many classes.
        freeze: freeze every parameter up to and including this module (by name).
        freeze_ratio: freeze whole modules, from the input side, until this fraction of the
            parameters is frozen.
        backward: also run and count the backward pass (``totals.backward_macs``/``_flops``).
        input_kwargs: keyword inputs of the forward, name -> shape without the batch.
        input_dtype: dtype of the inputs when it is not ``dtype``, e.g. ``torch.long`` token ids.
        input_range: ``(low, high)`` of the input values on real tensors (integers: ``high``
            excluded); inputs are zeros otherwise.
        train: analyse a training-mode forward (BatchNorm batch statistics, dropout masks,
            training-only heads); ``notes`` say what changed against eval mode.

    Returns:
        A :class:`cnnstat.records.Report` with ``layers``, ``totals``, ``unsupported_ops``,
        ``to_frame()`` and ``to_dict()``.

    Raises:
        CnnstatError: for unknown models, bad sizes, and models whose forward fails.
    """
    name, spec, given, sizes = _resolve(model_or_name, input_size)
    inputs = _inputs(sizes, input_kwargs, batch_size, dtype, input_dtype, input_range)
    if depth is not None and depth < 0:
        raise InvalidInputError(f"depth must be >= 0, got {depth}")
    if device not in ("meta", "cpu"):
        raise InvalidInputError(f"device must be 'meta' or 'cpu', got {device!r}")
    job = _Job(
        name=name,
        spec=spec,
        given=given,
        inputs=inputs,
        dtype=dtype,
        depth=depth,
        num_classes=num_classes,
        freeze=freeze,
        freeze_ratio=freeze_ratio,
        backward=backward,
        train=train,
    )
    fallback: str | None = None
    if device == "meta":
        outcome = _analyze_on_meta(job)
        if isinstance(outcome, Report):
            return outcome
        fallback = outcome
    model, frozen = job.prepare(job.build(meta=False))
    counter = job.count(model, frozen, torch.device("cpu"))
    return job.finish(model, frozen, counter, "cpu", fallback)


def _inputs(
    sizes: tuple[tuple[int, ...], ...],
    input_kwargs: dict[str, tuple[int, ...]] | None,
    batch_size: int,
    dtype: torch.dtype,
    input_dtype: torch.dtype | None,
    input_range: tuple[float, float] | None,
) -> Inputs:
    """The validated inputs of the counted forward, batch included."""
    keyword = tuple((k, tuple(v)) for k, v in (input_kwargs or {}).items())
    if not sizes and not keyword:
        raise InvalidInputError("the model needs at least one input size")
    itemsize = (input_dtype or dtype).itemsize
    for size in (*sizes, *(v for _, v in keyword)):
        _validate(size, batch_size, itemsize)
    if input_range is not None and not input_range[0] < input_range[1]:
        raise InvalidInputError(f"input range must be low < high, got {input_range}")
    return Inputs(
        tuple((batch_size, *s) for s in sizes),
        tuple((k, (batch_size, *v)) for k, v in keyword),
        input_dtype,
        input_range,
    )


@dataclasses.dataclass(frozen=True)
class _Job:
    """One call of :func:`analyze`, resolved: what to build, count and report, and how."""

    name: str
    spec: zoo.ModelSpec | None
    given: nn.Module | None  # the caller's module, when one was given instead of a name
    inputs: Inputs
    dtype: torch.dtype
    depth: int | None
    num_classes: int | None
    freeze: str | None
    freeze_ratio: float | None
    backward: bool
    train: bool

    def build(self, meta: bool) -> nn.Module:
        if self.given is not None:
            return self.given
        return zoo.build(self.spec, meta=meta)  # type: ignore[arg-type]

    def prepare(self, model: nn.Module) -> tuple[nn.Module, set[str]]:
        """Lazy modules materialised, the head replaced, and the names of frozen parameters."""
        if isinstance(model, torch.jit.ScriptModule):
            raise InvalidInputError(_SCRIPTED)
        given = model is self.given
        model = _materialise_lazy(model, self.inputs, self.name, copy_model=given)
        if self.num_classes is not None:
            model = transfer.replace_head(model, self.num_classes, copy_model=model is self.given)
        return model, transfer.frozen_parameters(model, self.freeze, self.freeze_ratio)

    def count(self, model: nn.Module, frozen: set[str], device: torch.device) -> OpCounter:
        return _count(
            model, self.inputs, self.dtype, device, self.name, frozen, self.backward, self.train
        )

    def finish(
        self,
        model: nn.Module,
        frozen: set[str],
        counter: OpCounter,
        device_mode: str,
        fallback: str | None,
    ) -> Report:
        report = _report(
            _ReportContext(
                name=self.name,
                model=model,
                counter=counter,
                inputs=self.inputs,
                dtype=self.dtype,
                device_mode=device_mode,
                fallback=fallback,
                depth=self.depth,
                frozen=frozenset(frozen),
                backward=self.backward,
            )
        )
        changes = _train_changes(counter, self.inputs, self.dtype, frozen) if self.train else None
        return _with_notes(report, model, frozen, self.freeze_ratio, changes)


def _analyze_on_meta(job: _Job) -> Report | str:
    """The report counted on the meta device, or why real CPU tensors must be used instead."""
    try:
        model, frozen = job.prepare(job.build(meta=True))
        counter = job.count(model, frozen, torch.device("meta"))
    except InputTooSmallError:
        raise
    except ForwardError as exc:
        if isinstance(exc.__cause__, KernelRejectedError):
            raise  # real tensors would be refused the same way
        if job.given is not None and not _is_real(job.given):
            raise
        cause = exc.__cause__ or exc
        return (
            f"the model cannot run on the meta device ({_short_reason(cause)}); "
            "counted on real CPU tensors instead"
        )
    except ModelBuildError as exc:  # the constructor cannot run on meta
        cause = exc.__cause__ or exc
        return (
            f"the model cannot be built on the meta device ({_short_reason(cause)}); "
            "counted on real CPU tensors instead"
        )
    return job.finish(model, frozen, counter, "meta", None)


def _train_changes(
    train: OpCounter, inputs: Inputs, dtype: torch.dtype, frozen: set[str]
) -> list[str]:
    """What a training-mode forward changes against eval mode, from a second, eval-mode count."""
    model, name = train.model, train.root_name
    device = torch.device("meta") if train.device_type == "meta" else torch.device("cpu")
    try:
        evaluated = _count(model, inputs, dtype, device, name, frozen, False, False)
    except CnnstatError:
        return ["training mode: the eval-mode forward failed, so no comparison is shown"]
    only_train = [
        train.names[i]
        for i in train.called_module_ids() - evaluated.called_module_ids()
        if train.names.get(i)
    ]
    norms = [
        c
        for c in train.calls
        if c.first_call and isinstance(c.module, nn.modules.batchnorm._BatchNorm)
    ]
    dropouts = [c for c in train.calls if isinstance(c.module, nn.modules.dropout._DropoutNd)]

    def total(counter: OpCounter, what: str) -> int:
        return sum(getattr(c, what) for c in counter.calls)

    notes = [
        "training mode (--train): MACs {:,} (eval {:,}), FLOPs {:,} (eval {:,}), "
        "saved for backward {:,} bytes (eval {:,})".format(
            total(train, "macs"),
            total(evaluated, "macs"),
            total(train, "flops"),
            total(evaluated, "flops"),
            total(train, "saved_bytes"),
            total(evaluated, "saved_bytes"),
        )
    ]
    if only_train:
        notes.append("run only in training: " + ", ".join(_collapse(only_train)))
    if norms:
        n = len(norms)
        notes.append(f"{n} BatchNorm {'layer computes' if n == 1 else 'layers compute'} batch statistics")
    if dropouts:
        n = len(dropouts)
        saves = "layer saves its mask" if n == 1 else "layers save their masks"
        notes.append(f"{n} dropout {saves}: {sum(c.saved_bytes for c in dropouts):,} bytes")
    return notes


def materialise_lazy(
    model: nn.Module, input_size: tuple[int, ...], name: str, copy_model: bool
) -> nn.Module:
    """``model`` with its lazy modules' shapes set by one dry run on a ``(1, *input_size)`` input."""
    return _materialise_lazy(model, Inputs(((1, *input_size),)), name, copy_model)


def _materialise_lazy(model: nn.Module, inputs: Inputs, name: str, copy_model: bool) -> nn.Module:
    """Give lazy modules (``nn.LazyLinear``) their shapes with one dry run at batch size 1.

    The run happens on the device the uninitialised parameters live on (meta for
    a zoo or file model, so nothing is computed); a caller's model is copied first.
    """
    from torch.nn.modules.lazy import LazyModuleMixin
    from torch.nn.parameter import UninitializedParameter

    if not any(
        isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in model.modules()
    ):
        return model
    if copy_model:
        model = copy.deepcopy(model)
    device = next(
        (p.device for p in model.parameters() if isinstance(p, UninitializedParameter)),
        torch.device("cpu"),
    )
    dry = dataclasses.replace(
        inputs,
        shapes=tuple((1, *s[1:]) for s in inputs.shapes),
        keyword_shapes=tuple((k, (1, *s[1:])) for k, s in inputs.keyword_shapes),
    )
    args, kwargs = dry.make(torch.float32, device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    except Exception as exc:
        raise ForwardError(
            f"{name} has lazy modules, and the dry run that gives them their shapes failed: "
            f"{type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    finally:
        model.train(was_training)
    return model


def _with_notes(
    report: Report,
    model: nn.Module,
    frozen: set[str],
    freeze_ratio: float | None,
    train_changes: list[str] | None = None,
) -> Report:
    notes = list(report.notes)
    if train_changes is not None:
        notes += train_changes
        report = dataclasses.replace(report, training=True)
    if freeze_ratio is not None:
        fraction = transfer.frozen_fraction(model, frozen)
        notes.append(
            f"--freeze-ratio {freeze_ratio:g} froze whole modules: {fraction:.1%} of the "
            f"parameters ({report.totals.frozen_params:,} of {report.totals.params:,})"
        )
    return dataclasses.replace(report, notes=tuple(notes))


def _is_real(model: nn.Module) -> bool:
    return not any(t.is_meta for t in (*model.parameters(), *model.buffers()))


_VALUE_OP = re.compile(r"(?:torch|aten)(?:\.|::)(\w+)")


def _short_reason(exc: BaseException) -> str:
    """Why the meta device failed, in a few words rather than PyTorch's paragraph."""
    text = _first_line(exc)
    if "meta" in text.lower() and ("data-dependent" in text or "nonzero" in text):
        op = _VALUE_OP.search(text)
        return f"the forward reads tensor values{f' in {op.group(1)}' if op else ''}"
    if "item()" in text or "_local_scalar_dense" in text:
        return "the forward reads tensor values (.item())"
    sentence = re.split(r"(?<=[.;:])\s", text, maxsplit=1)[0].rstrip(".;:")
    if len(sentence) > 100:
        sentence = sentence[:99].rstrip() + "…"
    return f"{type(exc).__name__}: {sentence}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _substitutes(
    model: nn.Module, dtype: torch.dtype, device: torch.device, frozen: set[str]
) -> dict[str, torch.Tensor]:
    """Stand-ins for the model's parameters and buffers on ``device`` in ``dtype``; frozen ones need no grad."""

    def convert(t: torch.Tensor, trainable: bool = False) -> torch.Tensor:
        want = dtype if t.is_floating_point() else t.dtype
        if device.type == "meta":
            new = torch.empty_like(t, device="meta", dtype=want)
        elif t.is_meta:
            raise ForwardError("a meta-device model cannot be counted on real tensors")
        else:
            new = t.detach().to(device=device, dtype=want)
        return new.requires_grad_(trainable) if new.is_floating_point() else new

    out = {n: convert(p, p.requires_grad and n not in frozen) for n, p in model.named_parameters()}
    out.update({n: convert(b) for n, b in model.named_buffers()})
    return out


def _count(
    model: nn.Module,
    inputs: Inputs,
    dtype: torch.dtype,
    device: torch.device,
    name: str,
    frozen: set[str],
    backward: bool = False,
    train: bool = False,
) -> OpCounter:
    was_training = model.training
    model.train(train)
    shape = inputs.shapes[0] if inputs.shapes else inputs.all_shapes[0]
    if device.type != "meta":
        from cnnstat.resources import ensure_fits

        sizes = ", ".join("x".join(map(str, s)) for s in inputs.all_shapes)
        ensure_fits(inputs.nbytes(dtype), f"the real-tensor run's input ({sizes})")
    try:
        tensors = _substitutes(model, dtype, device, frozen)
        args, kwargs = inputs.make(dtype, device)
        try:
            with guarded(f"{name} forward"):
                return run_counted(
                    model, args, tensors, root_name=name, backward=backward, kwargs=kwargs
                )
        except CnnstatError:
            raise
        except Exception as exc:
            counter: OpCounter | None = getattr(exc, "cnnstat_counter", None)
            raise _forward_error(name, shape, counter, exc) from exc
    finally:
        model.train(was_training)


def _forward_error(
    name: str, shape: tuple[int, ...], counter: OpCounter | None, exc: Exception
) -> ForwardError:
    where = ""
    if counter is not None and counter.stack:
        call = counter.calls[counter.stack[-1]]
        label = call.name if call.depth > 0 else "(model forward)"
        shape_in = "x".join(map(str, call.input_shape[1:])) if call.input_shape else "?"
        where = f" at layer {label} ({type(call.module).__name__}, input {shape_in})"
    text = _first_line(exc) or type(exc).__name__
    size = "x".join(map(str, shape[1:]))
    if _TOO_SMALL.search(str(exc)):
        return InputTooSmallError(
            f"input {size} is too small for {name}: the spatial size collapses{where}: {text}"
        )
    hint, fields = "", ()
    if "indices" in text and "Long" in text:
        hint, fields = " (token ids need an integer input: input_dtype long)", ("input_dtype",)
    elif "more than 1 value per channel when training" in text:
        hint, fields = " (training-mode BatchNorm needs a batch: raise batch_size)", ("batch_size",)
    elif "missing" in text and "required positional argument" in text:
        hint, fields = " (give input_size one shape per input)", ("input_size",)
    # a shortcut's refusal carries the real kernel's text, so it reads as the kernel's error
    kind = "RuntimeError" if isinstance(exc, KernelRejectedError) else type(exc).__name__
    return ForwardError(
        f"{name} forward failed{where} on input {size}: {kind}: {text}{hint}", fields=fields
    )


# --- records -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _ReportContext:
    """Everything one report is built from: the counted forward and how it was asked for."""

    name: str
    model: nn.Module
    counter: OpCounter
    inputs: Inputs
    dtype: torch.dtype
    device_mode: str  # "meta" or "cpu": where the count ran
    fallback: str | None  # why the meta device was given up, when it was
    depth: int | None  # the rows' module depth; None: leaf modules
    frozen: frozenset[str]
    backward: bool = False


@dataclasses.dataclass
class _RowSums:
    """What one row adds up from its calls: costs, bytes and the parameters it holds."""

    macs: int = 0
    flops: int = 0
    activation_bytes: int = 0
    saved_bytes: int = 0
    params: int = 0
    trainable_params: int = 0
    shared_params: int = 0  # held here, but counted in an earlier row that holds them too
    shared_with: list[str] = dataclasses.field(default_factory=list)
    unsupported_ops: Counter[str] = dataclasses.field(default_factory=Counter)
    macs_by_op: Counter[str] = dataclasses.field(default_factory=Counter)
    data_dependent_ops: Counter[str] = dataclasses.field(default_factory=Counter)

    def add_call(self, c: Call) -> None:
        self.macs += c.macs
        self.flops += c.flops
        self.activation_bytes += c.activation_bytes
        self.saved_bytes += c.saved_bytes
        self.unsupported_ops.update(c.unsupported)
        self.macs_by_op.update(c.op_macs)
        self.data_dependent_ops.update(c.data_dependent)

    def has_any(self) -> bool:
        """Whether the row holds anything worth a line of its own."""
        return bool(
            self.macs
            or self.flops
            or self.activation_bytes
            or self.saved_bytes
            or self.params
            or self.shared_params
            or self.unsupported_ops
        )


class _Rollup:
    """Which row each call's work rolls up into, what every row sums to, and which row
    counts each parameter (a tied parameter counts once, in the first row holding it)."""

    def __init__(self, ctx: _ReportContext) -> None:
        self.ctx = ctx
        self.calls = ctx.counter.calls
        self.max_depth = ctx.depth if ctx.depth is not None else 10**9
        self.frozen_ids = {
            id(p)
            for n, p in ctx.model.named_parameters()
            if n in ctx.frozen or not p.requires_grad
        }
        self.owner: list[int] = []
        for c in self.calls:
            shallow = c.depth <= self.max_depth or c.parent is None
            self.owner.append(c.index if shallow else self.owner[c.parent])  # type: ignore[index]
        self.sums: dict[int, _RowSums] = {}
        self.counted: dict[int, str] = {}  # id(parameter) -> the row that counts it

    def row_name(self, index: int) -> str:
        c = self.calls[index]
        return c.name if c.depth > 0 else f"{self.ctx.name} (model)"

    def charge(self, sums: _RowSums, p: torch.Tensor, where: str) -> None:
        """Count parameter ``p`` in row ``sums`` unless a tied copy was counted in an earlier row."""
        if id(p) in self.counted:
            if self.counted[id(p)] == where:
                return  # tied within one row: counted there already
            sums.shared_params += p.numel()
            if self.counted[id(p)] not in sums.shared_with:
                sums.shared_with.append(self.counted[id(p)])
            return
        self.counted[id(p)] = where
        sums.params += p.numel()
        sums.trainable_params += p.numel() if id(p) not in self.frozen_ids else 0

    def charge_to_call(self, p: torch.Tensor, call_index: int) -> None:
        """Count ``p`` in the row that call ``call_index`` rolls up into."""
        row = self.owner[call_index]
        self.charge(self.sums[row], p, self.row_name(row))

    def sum_calls(self) -> None:
        """Add every call's costs to its row, and each module's own parameters once."""
        seen_modules: set[int] = set()
        for c in self.calls:
            row = self.owner[c.index]
            self.sums.setdefault(row, _RowSums()).add_call(c)
            if id(c.module) not in seen_modules:
                seen_modules.add(id(c.module))
                for p in c.module.parameters(recurse=False):
                    self.charge_to_call(p, c.index)

    def shown(self, c: Call) -> bool:
        """A row of its own: a leaf or row-depth call, or a container whose own ops count."""
        if self.owner[c.index] != c.index:
            return False
        if (not c.has_children) or c.depth == self.max_depth:
            return True
        return self.sums[c.index].has_any()


def _parts(name: str) -> int:
    """How many levels a qualified module name has ("" is the model itself: 0)."""
    return 0 if not name else name.count(".") + 1


@dataclasses.dataclass
class _UncalledRow:
    """A row for modules that never ran but hold parameters no op touched."""

    module: nn.Module
    depth: int
    sums: _RowSums


def _charge_uncalled(rollup: _Rollup) -> tuple[list[str], dict[str, _UncalledRow]]:
    """Charge the parameters of modules that never ran; return their names and their rows.

    Their parameters go to the call whose ops used them (MultiheadAttention reads
    out_proj.weight directly); parameters no op touched (inception_v3's AuxLogits in eval)
    get a "not called" row. An uncalled module's depth is a call depth too: one below the
    nearest ancestor that ran, one more per level of names, so --depth rolls it up into that
    ancestor's row (or into an uncalled ancestor at the row depth).
    """
    counter, max_depth = rollup.ctx.counter, rollup.max_depth
    called = counter.called_module_ids()
    first_call = {id(c.module): c for c in rollup.calls if c.first_call}
    modules = dict(rollup.ctx.model.named_modules())
    uncalled: list[str] = []
    extra: dict[str, _UncalledRow] = {}
    for mname, m in modules.items():
        if id(m) in called:
            continue
        anchor = mname
        while anchor and id(modules.get(anchor)) not in called:
            anchor = anchor.rpartition(".")[0]
        base = first_call.get(id(modules[anchor]))
        base_depth = base.depth if base is not None else 0
        call_depth = base_depth + _parts(mname) - _parts(anchor)
        if call_depth <= max_depth:
            target_name = mname
        else:
            keep = _parts(anchor) + max_depth - base_depth
            target_name = ".".join(mname.split(".")[:keep]) if keep > _parts(anchor) else ""
        if target_name:
            if target_name not in extra:
                row_depth = call_depth - (_parts(mname) - _parts(target_name))
                extra[target_name] = _UncalledRow(modules[target_name], row_depth, _RowSums())
            target, where = extra[target_name].sums, target_name
        else:
            row = rollup.owner[base.index] if base is not None else rollup.owner[0]
            target, where = rollup.sums[row], rollup.row_name(row)
        unused = 0
        for p in m.parameters(recurse=False):
            use = counter.first_use.get(id(p))
            if use is not None:
                rollup.charge_to_call(p, use)
                continue
            unused += 1
            rollup.charge(target, p, where)
        # a module whose parameters an op read did its work (MultiheadAttention's
        # out_proj); a container never called itself (ModuleList) ran if a child ran
        owns_params = any(True for _ in m.parameters(recurse=False))
        if unused or (not owns_params and not any(id(sub) in called for sub in m.modules())):
            uncalled.append(mname)
    return uncalled, extra


def _uncalled_records(extra: dict[str, _UncalledRow]) -> list[LayerRecord]:
    """The "not called" rows: parameters only, no costs."""
    return [
        LayerRecord(
            index=0,
            name=mname,
            type=type(row.module).__name__,
            depth=row.depth,
            input_shape=None,
            output_shape=None,
            kernel=None,
            stride=None,
            padding=None,
            dilation=None,
            groups=None,
            params=row.sums.params,
            trainable_params=row.sums.trainable_params,
            macs=0,
            flops=0,
            activation_bytes=0,
            saved_bytes=0,
            check=Check(),
            called=False,
            shared_params=row.sums.shared_params,
            shared_with=tuple(row.sums.shared_with),
        )
        for mname, row in extra.items()
        if row.sums.params or row.sums.shared_params
    ]


def _call_record(rollup: _Rollup, c: Call) -> LayerRecord:
    """The row of call ``c``, with its closed-form check when it is a leaf."""
    sums = rollup.sums[c.index]
    rf, effective_stride = _rf_of(c)
    is_leaf_row = not c.has_children or c.depth == rollup.max_depth
    geom = layer_geometry(c.module) if not c.has_children else {}
    own = sums.params + sums.shared_params if c.first_call else None
    check = (
        check_call(
            c.module,
            c.input_shape,
            c.output_shape,
            own,
            sums.macs,
            c.input_shapes,
            c.conv_ops[0] if len(c.conv_ops) == 1 else None,
        )
        if not c.has_children
        else Check()
    )
    return LayerRecord(
        index=0,
        name=rollup.row_name(c.index),
        type=type(c.module).__name__,
        depth=c.depth,
        input_shape=c.input_shape,
        output_shape=c.output_shape,
        kernel=geom.get("kernel"),
        stride=geom.get("stride"),
        padding=geom.get("padding"),
        dilation=geom.get("dilation"),
        groups=geom.get("groups"),
        params=sums.params,
        trainable_params=sums.trainable_params,
        macs=sums.macs,
        flops=sums.flops,
        activation_bytes=sums.activation_bytes,
        saved_bytes=sums.saved_bytes,
        check=check,
        own_ops_only=not is_leaf_row,
        unsupported_ops=tuple(sorted(sums.unsupported_ops)),
        macs_by_op=tuple(sorted(sums.macs_by_op.items())),
        receptive_field=rf,
        effective_stride=effective_stride,
        shared_params=sums.shared_params,
        shared_with=tuple(sums.shared_with),
        data_dependent=bool(sums.data_dependent_ops),
    )


def _totals(ctx: _ReportContext, frozen_ids: set[int]) -> Totals:
    """Whole-model totals: every parameter once, every call's costs."""
    calls, dtype = ctx.counter.calls, ctx.dtype
    params = {id(p): p for p in ctx.model.parameters()}
    total_params = sum(p.numel() for p in params.values())
    trainable = sum(p.numel() for p in params.values() if id(p) not in frozen_ids)
    param_bytes = sum(_nbytes(p, dtype) for p in params.values())
    gradient_bytes = sum(_nbytes(p, dtype) for p in params.values() if id(p) not in frozen_ids)
    return Totals(
        params=total_params,
        trainable_params=trainable,
        frozen_params=total_params - trainable,
        param_bytes=param_bytes,
        buffer_bytes=sum(_nbytes(b, dtype) for b in ctx.model.buffers()),
        macs=sum(c.macs for c in calls),
        flops=sum(c.flops for c in calls),
        activation_bytes=sum(c.activation_bytes for c in calls),
        saved_for_backward_bytes=sum(c.saved_bytes for c in calls),
        gradient_bytes=gradient_bytes,
        backward_macs=ctx.counter.backward_macs if ctx.backward else None,
        backward_flops=ctx.counter.backward_flops if ctx.backward else None,
    )


def _data_dependent_notes(ctx: _ReportContext) -> list[str]:
    """A note when data-dependent ops ran, so the totals depend on the input's values."""
    counter, calls = ctx.counter, ctx.counter.calls
    if not counter.data_dependent:
        return []
    ran = ", ".join(f"{k} ×{v}" for k, v in sorted(counter.data_dependent.items()))
    dd_macs = sum(c.macs for c in calls if c.data_dependent)
    total_macs = sum(c.macs for c in calls)
    return [
        f"the totals depend on the input's values: data-dependent ops ran ({ran}), and "
        f"{dd_macs:,} of the {total_macs:,} MACs were computed from their outputs "
        "(proposal and box counts); rows marked ‡. Here the input is "
        + ("zeros" if ctx.inputs.value_range is None else "random")
        + " and the weights are not trained: real images give other counts"
    ]


def _report(ctx: _ReportContext) -> Report:
    """Roll the counted calls up into rows, charge parameters, and total everything."""
    rollup = _Rollup(ctx)
    rollup.sum_calls()
    uncalled, extra = _charge_uncalled(rollup)
    calls = sorted(rollup.calls, key=lambda c: c.end_seq)
    records = [_call_record(rollup, c) for c in calls if rollup.shown(c)]
    records += _uncalled_records(extra)
    records = [dataclasses.replace(r, index=i) for i, r in enumerate(records)]
    backbone = _backbone_input(ctx.counter.calls)
    inputs, counter = ctx.inputs, ctx.counter
    # rows rolled up by --depth carry no check of their own; the verdict still covers every
    # leaf layer, from the same count laid out one row per leaf
    leaf_checks = None
    if ctx.depth is not None:
        leaves = _report(dataclasses.replace(ctx, depth=None))
        leaf_checks = (leaves.checked_layers, leaves.agreeing_layers)
    return Report(
        leaf_checks=leaf_checks,
        model=ctx.name,
        notes=tuple(_data_dependent_notes(ctx)),
        backbone_input_shape=backbone if backbone != inputs.all_shapes[0] else None,
        data_dependent_ops=dict(sorted(counter.data_dependent.items())),
        input_shape=inputs.all_shapes[0],
        input_shapes=inputs.all_shapes,
        input_names=tuple(k for k, _ in inputs.keyword_shapes),
        dtype=str(ctx.dtype).removeprefix("torch."),
        device_mode=ctx.device_mode,
        layers=tuple(records),
        totals=_totals(ctx, rollup.frozen_ids),
        unsupported_ops=dict(counter.unsupported.most_common()),
        uncalled_modules=tuple(_collapse(uncalled)),
        fallback_reason=ctx.fallback,
        depth=ctx.depth,
        backward_unsupported_ops=dict(counter.backward_unsupported.most_common()),
    )


def _backbone_input(calls: list[Call]) -> tuple[int, ...] | None:
    """The input shape of the outermost module named ``backbone`` (detection models resize first)."""
    for c in sorted(calls, key=lambda c: c.depth):
        if c.name == "backbone" or c.name.endswith(".backbone"):
            return c.input_shape
    return None


def _rf_of(call: Call) -> tuple[tuple[int, ...] | str | None, tuple[int, ...] | None]:
    info = call.receptive_field
    if info is None or isinstance(info, str):
        return info, None
    rf, jump = info
    return tuple(int(r) for r in rf), tuple(int(j) for j in jump)


def _nbytes(t: torch.Tensor, dtype: torch.dtype) -> int:
    """Bytes of ``t`` once floating tensors are in the analysed dtype."""
    itemsize = dtype.itemsize if t.is_floating_point() else t.element_size()
    return t.numel() * itemsize


def _collapse(names: list[str]) -> list[str]:
    """Keep only the outermost of nested uncalled module names."""
    out: list[str] = []
    for n in sorted(names):
        if not any(n.startswith(p + ".") for p in out):
            out.append(n)
    return out
