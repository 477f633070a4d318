"""``cnnstat check``: cnnstat's counts against the closed forms, fvcore and torchvision's published figures.

fvcore counts one multiply-add as one "flop", so its totals compare with
cnnstat's MACs. Disagreements are explained by op category: fvcore counts
normalisation and pooling as multiply-adds where cnnstat counts FLOPs only, and
fvcore skips ops it has no handle for (residual adds, attention products).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import torch
from torch import nn

from cnnstat import ops, zoo
from cnnstat.analysis import analyze
from cnnstat.errors import InvalidInputError
from cnnstat.records import Report
from cnnstat.usercode import guarded


class Source(str, Enum):
    """Independent sources ``cnnstat check`` compares against."""

    formulas = "formulas"
    fvcore = "fvcore"
    published = "published"


# Relative tolerance for published GMACs, which torchvision rounds to 3 decimals.
PUBLISHED_TOLERANCE = 0.005

_FVCORE_CATEGORY = {
    "conv": "conv",
    "linear": "matmul",
    "matmul": "matmul",
    "addmm": "matmul",
    "bmm": "matmul",
    "einsum": "matmul",
    "mm": "matmul",
    "baddbmm": "matmul",
    "batch_norm": "normalisation",
    "group_norm": "normalisation",
    "layer_norm": "normalisation",
    "instance_norm": "normalisation",
    "adaptive_avg_pool2d": "pooling",
    "upsample_nearest2d": "upsampling",
    "upsample_bilinear2d": "upsampling",
}
_WHY_FVCORE_MORE = {
    "normalisation": "fvcore counts normalisation as multiply-adds; cnnstat counts it as FLOPs, not MACs",
    "pooling": "fvcore counts adaptive pooling as multiply-adds; cnnstat counts it as FLOPs, not MACs",
    "upsampling": "fvcore counts upsampling as multiply-adds; cnnstat counts it as FLOPs, not MACs",
}

_WHY_ATTENTION = (
    "the attention products QKᵀ and AV, which fvcore skips as aten::scaled_dot_product_attention"
)


def _category(op: str, table: dict[str, str]) -> str:
    if "scaled_dot_product" in op:
        return "attention"
    return table.get(op, op)


# The op kinds the comparison groups by name; any other op is compared under its own name.
_CATEGORY_KINDS = (ops.OpKind.conv, ops.OpKind.matmul, ops.OpKind.attention)


def _cnnstat_category(op: str) -> str:
    """An aten op's category (conv, matmul, attention), from the op registry; else its name."""
    kind = ops.kind_of(op)
    return kind.value if kind in _CATEGORY_KINDS else op


@dataclass(frozen=True)
class SourceTotals:
    """One source's totals; None where the source has no figure."""

    source: str
    params: int | None
    macs: int | None
    note: str = ""


@dataclass(frozen=True)
class LayerDisagreement:
    """A layer where some source disagrees with cnnstat."""

    name: str
    type: str
    cnnstat_macs: int
    fvcore_macs: int | None
    formula: str  # "ok", "mismatch", "n/a"
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class CrossCheck:
    """The result of :func:`cross_check`."""

    model: str
    report: Report
    sources: tuple[str, ...]
    totals: tuple[SourceTotals, ...]
    disagreements: tuple[LayerDisagreement, ...]
    notes: tuple[str, ...]
    failures: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_shape": list(self.report.input_shape),
            "sources": list(self.sources),
            "passed": self.passed,
            "failures": list(self.failures),
            "totals": [t.__dict__ for t in self.totals],
            "notes": list(self.notes),
            "disagreements": [
                {**d.__dict__, "reasons": list(d.reasons)} for d in self.disagreements
            ],
        }


@dataclass(frozen=True)
class _Fvcore:
    params: int
    macs: int
    by_module: dict[str, dict[str, int]]
    unsupported: dict[str, int]


def _run_fvcore(model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype) -> _Fvcore:
    import warnings

    try:
        with warnings.catch_warnings():
            # fvcore scripts its focal loss on import: torch's deprecation of jit.script
            warnings.simplefilter("ignore", FutureWarning)
            from fvcore.nn import FlopCountAnalysis, parameter_count
    except ImportError as exc:  # pragma: no cover - fvcore is a dependency
        raise RuntimeError("fvcore is not installed (pip install fvcore)") from exc

    x = torch.zeros(shape, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter; skipped ops are reported
        fca = FlopCountAnalysis(model, x)
        fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        total = int(fca.total())
    by_module = {
        k: {op: int(n) for op, n in v.items()} for k, v in fca.by_module_and_operator().items()
    }
    return _Fvcore(int(parameter_count(model)[""]), total, by_module, dict(fca.unsupported_ops()))


def _published(name: str) -> tuple[int, float] | None:
    if name not in zoo.TORCHVISION_CROP_SIZES and name not in zoo.TORCHVISION_TASK_INPUTS:
        return None
    from torchvision.models import get_model_weights

    meta = get_model_weights(name).DEFAULT.meta
    return int(meta["num_params"]), float(meta["_ops"])


def cross_check(
    model: str,
    input_size: tuple[int, ...] | None = None,
    sources: tuple[Source | str, ...] | str = (Source.formulas, Source.fvcore, Source.published),
    batch_size: int = 1,
) -> CrossCheck:
    """Compare cnnstat's counts for ``model`` with the selected independent sources.

    ``sources`` holds ``Source`` members or their values ("formulas", "fvcore",
    "published"), or is one comma-separated string.
    """
    sources = _sources(sources)
    report = analyze(model, input_size=input_size, batch_size=batch_size)
    totals = [SourceTotals("cnnstat", report.totals.params, report.totals.macs, "dispatch counter")]
    notes: list[str] = []
    failures: list[str] = []

    # per-module cnnstat MACs by category, leaf rows only
    ours: dict[str, Counter[str]] = defaultdict(Counter)
    rows: dict[str, Any] = {}
    for r in report.layers:
        if r.own_ops_only or not r.called:
            continue
        rows.setdefault(r.name, r)
        ours.setdefault(r.name, Counter())
        for op, macs in r.macs_by_op:
            ours[r.name][_cnnstat_category(op)] += macs
    layer_reasons: dict[str, list[str]] = defaultdict(list)
    fvcore_macs: dict[str, int] = {}

    if Source.formulas in sources:
        _check_formulas(report, totals, failures, layer_reasons)
    if Source.fvcore in sources:
        _check_fvcore(model, report, ours, totals, notes, layer_reasons, fvcore_macs)
    if Source.published in sources:
        _check_published(report, totals, notes, failures)
    disagreements = tuple(
        LayerDisagreement(
            name=name,
            type=rows[name].type,
            cnnstat_macs=sum(
                r.macs for r in report.layers if r.name == name and not r.own_ops_only
            ),
            fvcore_macs=fvcore_macs.get(name),
            formula=rows[name].check.status,
            reasons=tuple(reasons),
        )
        for name, reasons in layer_reasons.items()
        if name in rows
    )
    return CrossCheck(
        model=report.model,
        report=report,
        sources=tuple(s.value for s in sources),
        totals=tuple(totals),
        disagreements=disagreements,
        notes=tuple(notes),
        failures=tuple(failures),
    )


def _sources(sources: tuple[Source | str, ...] | str) -> tuple[Source, ...]:
    """``Source`` members from members, their values, or one comma-separated string."""
    if isinstance(sources, str):
        sources = tuple(s.strip() for s in sources.split(",") if s.strip())
    try:
        return tuple(Source(s) for s in sources)
    except ValueError:
        choices = ", ".join(s.value for s in Source)
        raise InvalidInputError(f"unknown source in {sources!r}; choose from {choices}") from None


def _check_formulas(
    report: Report,
    totals: list[SourceTotals],
    failures: list[str],
    layer_reasons: dict[str, list[str]],
) -> None:
    """The closed-form verdict of every leaf layer, and why each mismatched layer differs."""
    mismatched = [r for r in report.layers if r.check.status == "mismatch"]
    formula_macs = sum(r.macs for r in report.layers if r.check.status == "ok")
    totals.append(
        SourceTotals(
            "formulas",
            None,
            None,
            f"{report.agreeing_layers} of {report.checked_layers} layers agree "
            f"({formula_macs:,} MACs in checked layers)",
        )
    )
    for r in mismatched:
        layer_reasons[r.name].extend(r.check.mismatches)
    if mismatched:
        failures.append(f"{len(mismatched)} layers disagree with the closed-form formulas")


def _check_fvcore(
    model: str,
    report: Report,
    ours: dict[str, Counter[str]],
    totals: list[SourceTotals],
    notes: list[str],
    layer_reasons: dict[str, list[str]],
    fvcore_macs: dict[str, int],
) -> None:
    """fvcore's count of a real build of ``model``, compared module by module and by category."""
    try:
        spec = zoo.resolve(model)
        real = zoo.build(spec, meta=False).eval()
        with guarded(f"{model} forward"):
            fv = _run_fvcore(real, report.input_shape, torch.float32)
    except Exception as exc:  # any tracing failure is reported, the other checks go on
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        notes.append(f"fvcore could not trace this model: {type(exc).__name__}: {text}")
        totals.append(SourceTotals("fvcore", None, None, "could not trace"))
        return
    ratio = fv.macs / report.totals.macs if report.totals.macs else float("nan")
    totals.append(
        SourceTotals("fvcore", fv.params, fv.macs, f"fvcore 'flops' are MACs; {ratio:.4f}× cnnstat")
    )
    if fv.unsupported:
        skipped = ", ".join(f"{k} ×{v}" for k, v in sorted(fv.unsupported.items()))
        notes.append(f"fvcore skips ops it has no handle for: {skipped}")
    skips_attention = any("attention" in op for op in fv.unsupported)
    diff: Counter[str] = Counter()
    for name, mine in ours.items():
        # several fvcore handles can share a category (linear and matmul): sum them
        theirs: Counter[str] = Counter()
        for op, n in fv.by_module.get(name, {}).items():
            theirs[_category(op, _FVCORE_CATEGORY)] += n
        for cat in set(mine) | set(theirs):
            diff[cat] += theirs.get(cat, 0) - mine.get(cat, 0)
        fvcore_macs[name] = sum(theirs.values())
        if fvcore_macs[name] != sum(mine.values()):
            layer_reasons[name] += _fvcore_reasons(mine, theirs, skips_attention)
    notes += _fvcore_notes(diff, skips_attention)


def _fvcore_reasons(ops: Counter[str], theirs: Counter[str], skips_attention: bool) -> list[str]:
    """Why one module's MACs differ from fvcore's, category by category."""
    reasons = []
    for cat in sorted(set(ops) | set(theirs)):
        a, b = ops.get(cat, 0), theirs.get(cat, 0)
        if a == b:
            continue
        if b > a and cat in _WHY_FVCORE_MORE:
            why = _WHY_FVCORE_MORE[cat]
        elif a > b and cat in ("matmul", "attention") and skips_attention:
            why = _WHY_ATTENTION
        elif a > b and b == 0:
            why = "fvcore does not count these ops (see its skipped ops)"
        else:
            why = "counted differently"
        reasons.append(f"{cat}: cnnstat {a:,} vs fvcore {b:,} — {why}")
    return reasons


def _fvcore_notes(diff: Counter[str], skips_attention: bool) -> list[str]:
    """One note per category where fvcore's whole-model MACs differ from cnnstat's."""
    notes = []
    for cat, d in sorted(diff.items()):
        if d:
            notes.append(
                f"{cat}: fvcore counts {abs(d):,} MACs {'more' if d > 0 else 'fewer'} than cnnstat"
                + (f" ({_WHY_FVCORE_MORE[cat]})" if d > 0 and cat in _WHY_FVCORE_MORE else "")
                + (
                    f" ({_WHY_ATTENTION})"
                    if d < 0 and cat in ("matmul", "attention") and skips_attention
                    else ""
                )
            )
    return notes


def _check_published(
    report: Report, totals: list[SourceTotals], notes: list[str], failures: list[str]
) -> None:
    """torchvision's published params and GMACs, compared at the default input size only."""
    published = _published(report.model)
    if published is None:
        notes.append("no published figures: not a torchvision model")
        return
    p_params, p_gmacs = published
    ours_g = report.totals.macs / 1e9
    tolerance = max(PUBLISHED_TOLERANCE * p_gmacs, 0.0005)
    totals.append(
        SourceTotals(
            "published",
            p_params,
            round(p_gmacs * 1e9),
            f"torchvision weights.meta: {p_gmacs} GMACs (3 decimals)",
        )
    )
    if report.input_shape[1:] != zoo.resolve(report.model).default_input_size:
        notes.append("published figures are for the default input size; not compared")
        return
    if p_params != report.totals.params:
        failures.append(f"params {report.totals.params:,} != published {p_params:,}")
    if abs(ours_g - p_gmacs) > tolerance:
        failures.append(f"GMACs {ours_g:.3f} differ from published {p_gmacs} by more than 0.5%")
