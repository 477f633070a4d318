"""Builds per-layer records and totals from a counted forward pass, with the closed-form check."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Any

import torch
from torch import nn

from cnnstat import transfer, zoo
from cnnstat.checks import check_call, layer_geometry
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


def _validate(input_size: tuple[int, ...], batch_size: int) -> None:
    if batch_size < 1:
        raise InvalidInputError(f"batch size must be a positive integer, got {batch_size}")
    if not input_size or any((not isinstance(d, int)) or d < 1 for d in input_size):
        raise InvalidInputError(f"input size must be positive integers, got {input_size}")


def _resolve(
    model_or_name: nn.Module | str, input_size: tuple[int, ...] | None
) -> tuple[str, zoo.ModelSpec | None, nn.Module | None, tuple[int, ...]]:
    if isinstance(model_or_name, nn.Module):
        if input_size is None:
            raise InvalidInputError("an nn.Module needs input_size, e.g. (3, 224, 224)")
        return type(model_or_name).__name__, None, model_or_name, tuple(input_size)
    if not isinstance(model_or_name, str):
        raise UnknownModelError(f"expected a model name or an nn.Module, got {type(model_or_name)}")
    spec = zoo.resolve(model_or_name)
    size = input_size if input_size is not None else spec.default_input_size
    if size is None:
        raise InvalidInputError(
            f"custom model '{spec.name}' needs an input size, e.g. --input-size 3x224x224"
        )
    if spec.default_input_size is not None and len(size) != len(spec.default_input_size):
        want = {1: "C", 2: "CxL", 3: "CxHxW", 4: "CxDxHxW"}[len(spec.default_input_size)]
        raise InvalidInputError(
            f"{spec.name} takes a {len(spec.default_input_size)}-dimensional input ({want}, "
            f"default {'x'.join(map(str, spec.default_input_size))}), got "
            f"{'x'.join(map(str, size))}"
        )
    return spec.name, spec, None, tuple(size)


def analyze(
    model_or_name: nn.Module | str,
    input_size: tuple[int, ...] | None = None,
    batch_size: int = 1,
    dtype: torch.dtype = torch.float32,
    depth: int | None = None,
    device: str = "meta",
    num_classes: int | None = None,
    freeze: str | None = None,
    freeze_ratio: float | None = None,
    backward: bool = False,
) -> Report:
    """Analyse a model layer by layer.

    Args:
        model_or_name: a zoo name (``"resnet50"``), a custom ``"file.py:Name"``, or an nn.Module.
        input_size: one sample's shape without the batch, e.g. ``(3, 224, 224)``; defaults to
            the zoo model's preprocessing crop size.
        batch_size: N of the analysed input; MACs, FLOPs and activations are for the whole batch.
        dtype: parameter and input dtype; memory figures follow it.
        depth: module depth of the rows; None shows leaf modules.
        device: ``"meta"`` (default) counts without allocating or computing, falling back to
            real CPU tensors when the model cannot run on meta; ``"cpu"`` uses real tensors.
        num_classes: replace the classifier head with a fresh one for this many classes.
        freeze: freeze every parameter up to and including this module (by name).
        freeze_ratio: freeze this fraction of the parameters, from the input side.
        backward: also run and count the backward pass (``totals.backward_macs``/``_flops``).

    Returns:
        A :class:`cnnstat.records.Report` with ``layers``, ``totals``, ``unsupported_ops``,
        ``to_frame()`` and ``to_dict()``.

    Raises:
        CnnstatError: for unknown models, bad sizes, and models whose forward fails.
    """
    name, spec, given, size = _resolve(model_or_name, input_size)
    _validate(size, batch_size)
    if depth is not None and depth < 0:
        raise InvalidInputError(f"depth must be >= 0, got {depth}")
    if device not in ("meta", "cpu"):
        raise InvalidInputError(f"device must be 'meta' or 'cpu', got {device!r}")
    shape = (batch_size, *size)
    fallback: str | None = None

    def prepare(model: nn.Module) -> tuple[nn.Module, set[str]]:
        if num_classes is not None:
            model = transfer.replace_head(model, num_classes, copy_model=model is given)
        return model, transfer.frozen_parameters(model, freeze, freeze_ratio)

    if device == "meta":
        try:
            model, frozen = prepare(given if given is not None else zoo.build(spec, meta=True))  # type: ignore[arg-type]
            counter = _count(model, shape, dtype, torch.device("meta"), name, frozen, backward)
        except InputTooSmallError:
            raise
        except ForwardError as exc:
            if isinstance(exc.__cause__, KernelRejectedError):
                raise  # real tensors would be refused the same way
            if given is not None and not _is_real(given):
                raise
            cause = exc.__cause__ or exc
            fallback = (
                f"the model cannot run on the meta device ({type(cause).__name__}: "
                f"{_first_line(cause)}); counted on real CPU tensors instead"
            )
        except ModelBuildError as exc:  # the constructor cannot run on meta
            cause = exc.__cause__ or exc
            fallback = (
                f"the model cannot be built on the meta device ({type(cause).__name__}: "
                f"{_first_line(cause)}); counted on real CPU tensors instead"
            )
        else:
            return _report(
                name, model, counter, shape, dtype, "meta", None, depth, frozen, backward
            )
    model, frozen = prepare(given if given is not None else zoo.build(spec, meta=False))  # type: ignore[arg-type]
    counter = _count(model, shape, dtype, torch.device("cpu"), name, frozen, backward)
    return _report(name, model, counter, shape, dtype, "cpu", fallback, depth, frozen, backward)


def _is_real(model: nn.Module) -> bool:
    return not any(t.is_meta for t in (*model.parameters(), *model.buffers()))


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
    shape: tuple[int, ...],
    dtype: torch.dtype,
    device: torch.device,
    name: str,
    frozen: set[str],
    backward: bool = False,
) -> OpCounter:
    was_training = model.training
    model.eval()
    try:
        tensors = _substitutes(model, dtype, device, frozen)
        x = torch.zeros(shape, dtype=dtype, device=device)
        try:
            with guarded(f"{name} forward"):
                return run_counted(model, (x,), tensors, root_name=name, backward=backward)
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
    # a shortcut's refusal carries the real kernel's text, so it reads as the kernel's error
    kind = "RuntimeError" if isinstance(exc, KernelRejectedError) else type(exc).__name__
    return ForwardError(f"{name} forward failed{where} on input {size}: {kind}: {text}")


# --- records -------------------------------------------------------------------


def _own_params(module: nn.Module, frozen_ids: set[int]) -> tuple[int, int]:
    total = trainable = 0
    for p in module.parameters(recurse=False):
        total += p.numel()
        if id(p) not in frozen_ids:
            trainable += p.numel()
    return total, trainable


def _report(
    name: str,
    model: nn.Module,
    counter: OpCounter,
    shape: tuple[int, ...],
    dtype: torch.dtype,
    device_mode: str,
    fallback: str | None,
    depth: int | None,
    frozen: set[str],
    backward: bool = False,
) -> Report:
    calls = counter.calls
    frozen_ids = {id(p) for n, p in model.named_parameters() if n in frozen or not p.requires_grad}
    max_depth = depth if depth is not None else 10**9

    # Which call does each call's work roll up into?
    owner: list[int] = []
    for c in calls:
        if c.depth <= max_depth or c.parent is None:
            owner.append(c.index)
        else:
            owner.append(owner[c.parent])

    agg: dict[int, dict[str, Any]] = {}
    seen_modules: set[int] = set()
    for c in calls:
        o = owner[c.index]
        a = agg.setdefault(
            o,
            {
                "macs": 0,
                "flops": 0,
                "act": 0,
                "saved": 0,
                "params": 0,
                "trainable": 0,
                "unsupported": Counter(),
                "op_macs": Counter(),
            },
        )
        a["macs"] += c.macs
        a["flops"] += c.flops
        a["act"] += c.activation_bytes
        a["saved"] += c.saved_bytes
        a["unsupported"].update(c.unsupported)
        a["op_macs"].update(c.op_macs)
        if id(c.module) not in seen_modules:
            seen_modules.add(id(c.module))
            p, t = _own_params(c.module, frozen_ids)
            a["params"] += p
            a["trainable"] += t

    def shown(c: Call) -> bool:
        if owner[c.index] != c.index:
            return False
        is_row_level = (not c.has_children) or c.depth == max_depth
        if is_row_level:
            return True
        a = agg[c.index]
        return bool(
            a["macs"] or a["flops"] or a["act"] or a["saved"] or a["params"] or a["unsupported"]
        )

    # Modules that never ran: their parameters go to the call whose ops used
    # them (MultiheadAttention reads out_proj.weight directly); parameters no
    # op touched (inception_v3's AuxLogits in eval) get a "not called" row.
    called = counter.called_module_ids()
    uncalled: list[str] = []
    extra_rows: list[LayerRecord] = []
    for mname, m in model.named_modules():
        if id(m) in called:
            continue
        unused = total = trainable = 0
        for p in m.parameters(recurse=False):
            use = counter.first_use.get(id(p))
            if use is not None:
                a = agg[owner[use]]
                a["params"] += p.numel()
                a["trainable"] += p.numel() if id(p) not in frozen_ids else 0
                continue
            unused += 1
            total += p.numel()
            trainable += p.numel() if id(p) not in frozen_ids else 0
        # a module whose parameters an op read did its work (MultiheadAttention's
        # out_proj); a container never called itself (ModuleList) ran if a child ran
        owns_params = any(True for _ in m.parameters(recurse=False))
        if unused or (not owns_params and not any(id(sub) in called for sub in m.modules())):
            uncalled.append(mname)
        if total:
            extra_rows.append(
                LayerRecord(
                    index=0,
                    name=mname,
                    type=type(m).__name__,
                    depth=mname.count(".") + 1,
                    input_shape=None,
                    output_shape=None,
                    kernel=None,
                    stride=None,
                    padding=None,
                    dilation=None,
                    groups=None,
                    params=total,
                    trainable_params=trainable,
                    macs=0,
                    flops=0,
                    activation_bytes=0,
                    saved_bytes=0,
                    check=Check(),
                    called=False,
                )
            )
    records: list[LayerRecord] = []
    for c in sorted(calls, key=lambda c: c.end_seq):
        if not shown(c):
            continue
        a = agg[c.index]
        rf, effective_stride = _rf_of(c)
        is_leaf_row = not c.has_children or c.depth == max_depth
        geom = layer_geometry(c.module) if not c.has_children else {}
        own = a["params"] if c.first_call else None
        check = (
            check_call(c.module, c.input_shape, c.output_shape, own, a["macs"], c.input_shapes)
            if not c.has_children
            else Check()
        )
        records.append(
            LayerRecord(
                index=0,
                name=c.name if c.depth > 0 else f"{name} (model)",
                type=type(c.module).__name__,
                depth=c.depth,
                input_shape=c.input_shape,
                output_shape=c.output_shape,
                kernel=geom.get("kernel"),
                stride=geom.get("stride"),
                padding=geom.get("padding"),
                dilation=geom.get("dilation"),
                groups=geom.get("groups"),
                params=a["params"],
                trainable_params=a["trainable"],
                macs=a["macs"],
                flops=a["flops"],
                activation_bytes=a["act"],
                saved_bytes=a["saved"],
                check=check,
                own_ops_only=not is_leaf_row,
                unsupported_ops=tuple(sorted(a["unsupported"])),
                macs_by_op=tuple(sorted(a["op_macs"].items())),
                receptive_field=rf,
                effective_stride=effective_stride,
            )
        )

    records = [dataclasses.replace(r, index=i) for i, r in enumerate([*records, *extra_rows])]
    uncalled = _collapse(uncalled)

    params = {id(p): p for p in model.parameters()}
    total_params = sum(p.numel() for p in params.values())
    trainable = sum(p.numel() for p in params.values() if id(p) not in frozen_ids)
    param_bytes = sum(_nbytes(p, dtype) for p in params.values())
    gradient_bytes = sum(_nbytes(p, dtype) for p in params.values() if id(p) not in frozen_ids)
    totals = Totals(
        params=total_params,
        trainable_params=trainable,
        frozen_params=total_params - trainable,
        param_bytes=param_bytes,
        buffer_bytes=sum(_nbytes(b, dtype) for b in model.buffers()),
        macs=sum(c.macs for c in calls),
        flops=sum(c.flops for c in calls),
        activation_bytes=sum(c.activation_bytes for c in calls),
        saved_for_backward_bytes=sum(c.saved_bytes for c in calls),
        gradient_bytes=gradient_bytes,
        backward_macs=counter.backward_macs if backward else None,
        backward_flops=counter.backward_flops if backward else None,
    )
    return Report(
        model=name,
        input_shape=shape,
        dtype=str(dtype).removeprefix("torch."),
        device_mode=device_mode,
        layers=tuple(records),
        totals=totals,
        unsupported_ops=dict(counter.unsupported.most_common()),
        uncalled_modules=tuple(uncalled),
        fallback_reason=fallback,
        depth=depth,
        backward_unsupported_ops=dict(counter.backward_unsupported.most_common()),
    )


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
