"""Frozen records of raw numbers: what an analysis found, with no formatting.

``Report.to_dict()`` is the stable JSON interface documented in README.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cnnstat.enums import Word

if TYPE_CHECKING:
    import pandas as pd

Shape = tuple[int, ...]


class CheckStatus(Word):
    """A layer's closed-form verdict: agrees, disagrees, or has no formula to judge it by."""

    ok = "ok"
    mismatch = "mismatch"
    not_applicable = "n/a"


@dataclass(frozen=True)
class Check:
    """Closed-form cross-check of one layer: status is 'ok', 'mismatch' or 'n/a'."""

    status: CheckStatus = CheckStatus.not_applicable
    mismatches: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", CheckStatus(self.status))

    @property
    def symbol(self) -> str:
        return {CheckStatus.ok: "✓", CheckStatus.mismatch: "✗"}.get(self.status, "")


@dataclass(frozen=True)
class LayerRecord:
    """One row of the per-layer table: one module call (or an uncalled module holding params)."""

    index: int
    name: str
    type: str
    depth: int
    input_shape: Shape | None
    output_shape: Shape | None
    kernel: Shape | None
    stride: Shape | None
    padding: Shape | str | None
    dilation: Shape | None
    groups: int | None
    params: int
    trainable_params: int
    macs: int
    flops: int
    activation_bytes: int
    saved_bytes: int
    check: Check
    called: bool = True
    own_ops_only: bool = False
    unsupported_ops: tuple[str, ...] = ()
    macs_by_op: tuple[tuple[str, int], ...] = ()
    receptive_field: Shape | str | None = None  # per spatial axis, "global", or None
    effective_stride: Shape | None = None
    # parameters this row's modules hold but that a tied module's row already counts
    shared_params: int = 0
    shared_with: tuple[str, ...] = ()
    data_dependent: bool = False  # some of its ops ran on tensors computed by nonzero, nms ...

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["check"] = self.check.status.value
        d["check_mismatches"] = list(self.check.mismatches)
        for key in ("input_shape", "output_shape", "kernel", "stride", "dilation"):
            if d[key] is not None:
                d[key] = list(d[key])
        for key in ("receptive_field", "effective_stride"):
            if isinstance(d[key], tuple):
                d[key] = list(d[key])
        if isinstance(d["padding"], tuple):
            d["padding"] = list(d["padding"])
        d["unsupported_ops"] = list(self.unsupported_ops)
        d["shared_with"] = list(self.shared_with)
        d["macs_by_op"] = dict(self.macs_by_op)
        return d


@dataclass(frozen=True)
class Totals:
    """Whole-model totals for the analysed batch."""

    params: int
    trainable_params: int
    frozen_params: int
    param_bytes: int
    buffer_bytes: int
    macs: int
    flops: int
    activation_bytes: int
    saved_for_backward_bytes: int
    gradient_bytes: int  # one gradient per trainable parameter
    backward_macs: int | None = None  # counted from the real backward ops, when asked for
    backward_flops: int | None = None


@dataclass(frozen=True)
class Report:
    """The result of :func:`cnnstat.analyze`: per-layer records, totals and what could not be counted."""

    model: str
    input_shape: Shape
    dtype: str
    device_mode: str
    layers: tuple[LayerRecord, ...]
    totals: Totals
    unsupported_ops: dict[str, int] = field(default_factory=dict)
    uncalled_modules: tuple[str, ...] = ()
    fallback_reason: str | None = None
    depth: int | None = None
    backward_unsupported_ops: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what the reader should know about how this was counted
    # several inputs: every input's shape, positional then keyword (input_names are the keywords)
    input_shapes: tuple[Shape, ...] = ()
    input_names: tuple[str, ...] = ()
    training: bool = False  # a training-mode forward (--train) rather than eval mode
    # what reached the model's backbone, when the model resizes its input first (detection)
    backbone_input_shape: Shape | None = None
    # data-dependent ops that ran (nonzero, nms ...): op name -> times
    data_dependent_ops: dict[str, int] = field(default_factory=dict)

    # (checked, agreeing) leaf layers when rows are rolled up by depth, which hides leaf checks
    leaf_checks: tuple[int, int] | None = None

    @property
    def checked_layers(self) -> int:
        """Leaf layers judged against a closed form, also those rolled up into a --depth row."""
        if self.leaf_checks is not None:
            return self.leaf_checks[0]
        return sum(1 for r in self.layers if r.check.status is not CheckStatus.not_applicable)

    @property
    def agreeing_layers(self) -> int:
        """Leaf layers whose shape, params and MACs agree with their closed form."""
        if self.leaf_checks is not None:
            return self.leaf_checks[1]
        return sum(1 for r in self.layers if r.check.status is CheckStatus.ok)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict documented in README.md."""
        from cnnstat import __version__

        return {
            "cnnstat_version": __version__,
            "model": self.model,
            "input_shape": list(self.input_shape),
            "input_shapes": [list(s) for s in self.input_shapes or (self.input_shape,)],
            "input_names": list(self.input_names),
            "dtype": self.dtype,
            "device_mode": self.device_mode,
            "training": self.training,
            "fallback_reason": self.fallback_reason,
            "backbone_input_shape": list(self.backbone_input_shape)
            if self.backbone_input_shape
            else None,
            "data_dependent_ops": dict(self.data_dependent_ops),
            "depth": self.depth,
            "totals": asdict(self.totals),
            "check": {"agree": self.agreeing_layers, "checked": self.checked_layers},
            "unsupported_ops": dict(self.unsupported_ops),
            "backward_unsupported_ops": dict(self.backward_unsupported_ops),
            "uncalled_modules": list(self.uncalled_modules),
            "notes": list(self.notes),
            "layers": [r.to_dict() for r in self.layers],
        }

    def to_frame(self) -> pd.DataFrame:
        """The per-layer table as a pandas DataFrame, one row per layer record."""
        import pandas as pd

        rows = []
        for r in self.layers:
            d = r.to_dict()
            d["check_mismatches"] = "; ".join(d["check_mismatches"])
            d["unsupported_ops"] = ", ".join(d["unsupported_ops"])
            d["macs_by_op"] = ", ".join(f"{k}={v}" for k, v in d["macs_by_op"].items())
            rows.append(d)
        return pd.DataFrame(rows).set_index("index")
