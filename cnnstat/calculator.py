"""The lectures' layer calculator: one convolution's shape, params and cost from its hyper-parameters.

Everything here is the same formula functions the analysis engine checks
against; nothing builds a module or a tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from cnnstat import formulas as f
from cnnstat.errors import InvalidInputError

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ConvSpec:
    """One convolution: input as (spatial..., C) like the lectures' 28x28x192, plus hyper-parameters."""

    spatial: Shape
    in_channels: int
    filters: int
    kernel: Shape
    stride: Shape
    padding: Shape
    dilation: Shape
    groups: int = 1


@dataclass(frozen=True)
class ConvCost:
    """What one convolution (or a small stack of them) costs."""

    label: str
    output_spatial: Shape
    out_channels: int
    params: int
    params_without_bias: int
    macs: int
    bias_adds: int = 0  # one add per output element of each conv with a bias

    @property
    def flops(self) -> int:
        """2 FLOPs per multiply-add plus 1 per bias add, as ``cnnstat summary`` counts a conv."""
        return 2 * self.macs + self.bias_adds


@dataclass(frozen=True)
class ConvComparison:
    """The calculator's answer: the conv itself, and an alternative when one was asked for."""

    spec: ConvSpec
    rows: tuple[ConvCost, ...]


def _expand(value: tuple[int, ...], n: int, name: str) -> Shape:
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise InvalidInputError(
            f"{name} has {len(value)} values but the input has {n} spatial axes", fields=(name,)
        )
    return value


def make_spec(
    input_shape: Shape,
    filters: int,
    kernel: tuple[int, ...],
    stride: tuple[int, ...] = (1,),
    padding: tuple[int, ...] = (0,),
    dilation: tuple[int, ...] = (1,),
    groups: int = 1,
) -> ConvSpec:
    """Validate the hyper-parameters of a conv on ``input_shape`` = (spatial..., C)."""
    if not 2 <= len(input_shape) <= 4:
        raise InvalidInputError(
            "input_shape must be L×C, H×W×C or D×H×W×C, like 28x28x192", fields=("input_shape",)
        )
    spatial, channels = input_shape[:-1], input_shape[-1]
    n = len(spatial)
    k = _expand(kernel, n, "kernel")
    s = _expand(stride, n, "stride")
    p = _expand(padding, n, "padding")
    d = _expand(dilation, n, "dilation")
    for name, values, minimum in (
        ("input_shape", input_shape, 1),
        ("kernel", k, 1),
        ("stride", s, 1),
        ("dilation", d, 1),
        ("padding", p, 0),
    ):
        if any(v < minimum for v in values):
            what = "non-negative" if minimum == 0 else "positive"
            raise InvalidInputError(f"{name} values must be {what}, got {values}", fields=(name,))
    if filters < 1:
        raise InvalidInputError(f"filters must be positive, got {filters}", fields=("filters",))
    if groups < 1:
        raise InvalidInputError(f"groups must be positive, got {groups}", fields=("groups",))
    if channels % groups:
        raise InvalidInputError(
            f"input channels {channels} are not divisible by groups {groups}", fields=("groups",)
        )
    if filters % groups:
        raise InvalidInputError(
            f"filters {filters} is not divisible by groups {groups}", fields=("groups",)
        )
    for axis, (length, kk, pp, dd) in enumerate(zip(spatial, k, p, d, strict=True)):
        span = dd * (kk - 1) + 1
        if span > length + 2 * pp:
            raise InvalidInputError(
                f"kernel spans {span} along spatial axis {axis + 1} but the padded input is only "
                f"{length + 2 * pp} long",
                fields=("kernel",),
            )
    return ConvSpec(spatial, channels, filters, k, s, p, d, groups)


def conv_cost(spec: ConvSpec) -> ConvCost:
    """Output shape, params and MACs of the conv itself."""
    out = f.conv_output_shape(spec.spatial, spec.kernel, spec.stride, spec.padding, spec.dilation)
    return ConvCost(
        label=f"conv {'×'.join(map(str, spec.kernel))}, {spec.filters} filters"
        + (f", {spec.groups} groups" if spec.groups > 1 else ""),
        output_spatial=out,
        out_channels=spec.filters,
        params=f.conv_params(spec.in_channels, spec.filters, spec.kernel, spec.groups, True),
        params_without_bias=f.conv_params(
            spec.in_channels, spec.filters, spec.kernel, spec.groups, False
        ),
        macs=f.conv_macs(1, spec.in_channels, spec.filters, out, spec.kernel, spec.groups),
        bias_adds=prod(out) * spec.filters,
    )


def bottleneck_cost(spec: ConvSpec, reduce_to: int) -> ConvCost:
    """A 1×1 reduction to ``reduce_to`` channels, then the same conv: the Inception bottleneck."""
    if reduce_to < 1:
        raise InvalidInputError(f"bottleneck must be positive, got {reduce_to}", fields=("bottleneck",))
    n = len(spec.spatial)
    one = (1,) * n
    reduce_macs = f.conv_macs(1, spec.in_channels, reduce_to, spec.spatial, one)
    out = f.conv_output_shape(spec.spatial, spec.kernel, spec.stride, spec.padding, spec.dilation)
    conv_macs = f.conv_macs(1, reduce_to, spec.filters, out, spec.kernel)
    return ConvCost(
        label=f"1×1 to {reduce_to} channels, then conv {'×'.join(map(str, spec.kernel))}",
        output_spatial=out,
        out_channels=spec.filters,
        params=f.conv_params(spec.in_channels, reduce_to, one)
        + f.conv_params(reduce_to, spec.filters, spec.kernel),
        params_without_bias=f.conv_params(spec.in_channels, reduce_to, one, bias=False)
        + f.conv_params(reduce_to, spec.filters, spec.kernel, bias=False),
        macs=reduce_macs + conv_macs,
        bias_adds=prod(spec.spatial) * reduce_to + prod(out) * spec.filters,
    )


def separable_cost(spec: ConvSpec) -> ConvCost:
    """Depthwise k×k (with the conv's stride) then pointwise 1×1, each with a bias like every
    other row; the lecture's (h·w + 1)·C + C·C' keeps only the depthwise bias."""
    out = f.conv_output_shape(spec.spatial, spec.kernel, spec.stride, spec.padding, spec.dilation)
    return ConvCost(
        label="depthwise-separable",
        output_spatial=out,
        out_channels=spec.filters,
        params=f.depthwise_separable_params(
            spec.in_channels, spec.filters, spec.kernel, depthwise_bias=True, pointwise_bias=True
        ),
        params_without_bias=f.depthwise_separable_params(
            spec.in_channels, spec.filters, spec.kernel, depthwise_bias=False
        ),
        macs=f.depthwise_separable_macs(1, spec.in_channels, spec.filters, out, spec.kernel),
        bias_adds=prod(out) * (spec.in_channels + spec.filters),
    )


def layer_costs(
    spec: ConvSpec, bottleneck: int | None = None, depthwise_separable: bool = False
) -> ConvComparison:
    """The conv, followed by the alternatives asked for."""
    if not isinstance(spec, ConvSpec):
        raise InvalidInputError(
            f"spec must be a ConvSpec from make_spec(...), not {type(spec).__name__}",
            fields=("spec",),
        )
    checked = make_spec(
        (*spec.spatial, spec.in_channels), spec.filters, spec.kernel, spec.stride, spec.padding,
        spec.dilation, spec.groups,
    )  # fmt: skip
    if checked != spec:
        raise InvalidInputError("spec is not what make_spec(...) makes of its own values")
    rows = [conv_cost(spec)]
    if bottleneck is not None:
        rows.append(bottleneck_cost(spec, bottleneck))
    if depthwise_separable:
        rows.append(separable_cost(spec))
    return ConvComparison(spec, tuple(rows))
