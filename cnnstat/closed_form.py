"""Closed-form expectations for one module call: output shape, own params and MACs.

This is the thin adapter between ``nn.Module`` attributes and the pure
functions in ``cnnstat.formulas``. Dispatch is on the module's type (walking
the MRO with ``isinstance``), never on its class name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod
from typing import TYPE_CHECKING, Any

from torch import nn

from cnnstat import formulas as f
from cnnstat.records import Check, CheckStatus, Shape

if TYPE_CHECKING:
    from cnnstat.trackers.costs import ConvOp


@dataclass(frozen=True)
class Expected:
    """What the closed-form formulas predict for one call of a layer."""

    output_shape: Shape
    params: int
    macs: int


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    return tuple(int(v) for v in value)


def layer_geometry(module: nn.Module) -> dict[str, Any]:
    """Kernel, stride, padding, dilation and groups of a conv or pool layer, or {}."""
    if isinstance(module, nn.modules.conv._ConvNd):
        n = len(module.kernel_size)
        return {
            "kernel": _tuple(module.kernel_size, n),
            "stride": _tuple(module.stride, n),
            "padding": module.padding
            if isinstance(module.padding, str)
            else _tuple(module.padding, n),
            "dilation": _tuple(module.dilation, n),
            "groups": int(module.groups),
        }
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
        n = _pool_dims(module)
        dilation = getattr(module, "dilation", 1)
        stride = module.stride if module.stride is not None else module.kernel_size
        return {
            "kernel": _tuple(module.kernel_size, n),
            "stride": _tuple(stride, n),
            "padding": _tuple(module.padding, n),
            "dilation": _tuple(dilation, n),
            "groups": None,
        }
    return {}


def _pool_dims(module: nn.Module) -> int:
    for dims, types in (
        (1, (nn.MaxPool1d, nn.AvgPool1d)),
        (2, (nn.MaxPool2d, nn.AvgPool2d)),
        (3, (nn.MaxPool3d, nn.AvgPool3d)),
    ):
        if isinstance(module, types):
            return dims
    return 2


def _conv_padding(module: nn.modules.conv._ConvNd, spatial: Shape) -> tuple[int, ...] | None:
    n = len(spatial)
    if module.padding == "valid":
        return (0,) * n
    if module.padding == "same":
        return None  # output equals input (stride must be 1)
    return _tuple(module.padding, n)


def _mha_expected(module: nn.MultiheadAttention, shapes: tuple[Shape, ...]) -> Expected | None:
    query = shapes[0]
    key = shapes[1] if len(shapes) > 1 else query
    if len(query) != 3 or len(key) != 3:
        return None  # unbatched attention: no formula here
    if module.batch_first:
        (n, q_len, e), s_len = query, key[1]
    else:
        (q_len, n, e), s_len = query, key[0]
    kdim = module.kdim if not module._qkv_same_embed_dim else None
    vdim = module.vdim if not module._qkv_same_embed_dim else None
    return Expected(
        query,
        f.mha_params(e, kdim, vdim, module.in_proj_bias is not None, module.bias_k is not None),
        f.mha_macs(n, q_len, s_len, e, kdim, vdim),
    )


def _extra_params(module: nn.Module) -> int:
    """Parameters a conv subclass owns besides weight and bias (ScaledStdConv2d's gain)."""
    return sum(
        p.numel() for n, p in module.named_parameters(recurse=False) if n not in ("weight", "bias")
    )


def _attributes_differ(module: nn.modules.conv._ConvNd, input_shape: Shape, op: ConvOp) -> bool:
    """Whether the module's attributes describe another convolution than the one that ran.

    Where they agree, the attributes are judged: that keeps the check independent
    of the op stream for every plain conv layer.
    """
    n = len(op.input_shape) - 2
    return (
        tuple(input_shape) != op.input_shape
        or isinstance(module.padding, str)
        or _tuple(module.padding, n) != op.padding
        or _tuple(module.stride, n) != op.stride
        or _tuple(module.dilation, n) != op.dilation
        or _extra_params(module) > 0
    )


def _conv_op_expected(module: nn.Module, op: ConvOp) -> Expected:
    """The closed form of the convolution that really ran, from the op's own arguments.

    A conv subclass may pad in its forward (timm's Conv2dSame) or standardise its
    weight with a gain (ScaledStdConv2d): its attributes then describe a different
    convolution. The op's input, weight, stride, padding and dilation do not.
    """
    n, c_in, spatial = op.input_shape[0], op.input_shape[1], op.input_shape[2:]
    k = op.weight_shape[2:]
    if op.transposed:
        c_out = op.weight_shape[1] * op.groups
        out = f.conv_transpose_output_shape(
            spatial, k, op.stride, op.padding, op.dilation, op.output_padding
        )
        macs = f.conv_transpose_macs(n, c_in, c_out, spatial, k, op.groups)
    else:
        c_out = op.weight_shape[0]
        out = f.conv_output_shape(spatial, k, op.stride, op.padding, op.dilation)
        macs = f.conv_macs(n, c_in, c_out, out, k, op.groups)
    params = f.conv_params(c_in, c_out, k, op.groups, op.has_bias) + _extra_params(module)
    return Expected((n, c_out, *out), params, macs)


def expected(
    module: nn.Module,
    input_shape: Shape,
    input_shapes: tuple[Shape, ...] = (),
    conv_op: ConvOp | None = None,
) -> Expected | None:
    """The closed-form expectation for ``module`` applied to ``input_shape``, or None if no formula.

    For a conv layer, ``conv_op`` (the one convolution its call ran) is judged
    instead of the module's attributes.
    """
    if (
        conv_op is not None
        and isinstance(module, nn.modules.conv._ConvNd)
        and len(input_shape) == len(conv_op.input_shape)
        and _attributes_differ(module, input_shape, conv_op)
    ):
        return _conv_op_expected(module, conv_op)
    unbatched = isinstance(module, nn.modules.conv._ConvNd) and (
        len(input_shape) == len(module.kernel_size) + 1
    )
    if unbatched:
        # PyTorch runs a conv on one unbatched sample (C, *spatial) as a batch of one
        found = expected(module, (1, *input_shape), input_shapes, conv_op)
        return None if found is None else replace(found, output_shape=found.output_shape[1:])
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return _conv_transpose_expected(module, input_shape)
    if isinstance(module, nn.modules.conv._ConvNd):
        return _conv_expected(module, input_shape)
    if isinstance(module, nn.Linear):
        rows = prod(input_shape[:-1])
        return Expected(
            (*input_shape[:-1], module.out_features),
            f.linear_params(module.in_features, module.out_features, module.bias is not None),
            f.linear_macs(rows, module.in_features, module.out_features),
        )
    if isinstance(module, nn.MultiheadAttention):
        return _mha_expected(module, input_shapes or (input_shape,))
    return _pool_expected(module, input_shape) or _norm_expected(module, input_shape)


def _conv_transpose_expected(
    module: nn.modules.conv._ConvTransposeNd, input_shape: Shape
) -> Expected:
    n, c_in, spatial = input_shape[0], input_shape[1], input_shape[2:]
    k = _tuple(module.kernel_size, len(spatial))
    out = f.conv_transpose_output_shape(
        spatial,
        k,
        _tuple(module.stride, len(spatial)),
        _tuple(module.padding, len(spatial)),
        _tuple(module.dilation, len(spatial)),
        _tuple(module.output_padding, len(spatial)),
    )
    c_out, groups = module.out_channels, module.groups
    return Expected(
        (n, c_out, *out),
        f.conv_params(c_in, c_out, k, groups, module.bias is not None),
        f.conv_transpose_macs(n, c_in, c_out, spatial, k, groups),
    )


def _conv_expected(module: nn.modules.conv._ConvNd, input_shape: Shape) -> Expected:
    n, c_in, spatial = input_shape[0], input_shape[1], input_shape[2:]
    k = _tuple(module.kernel_size, len(spatial))
    padding = _conv_padding(module, spatial)
    if padding is None:
        out = tuple(spatial)
    else:
        out = f.conv_output_shape(
            spatial,
            k,
            _tuple(module.stride, len(spatial)),
            padding,
            _tuple(module.dilation, len(spatial)),
        )
    c_out, groups = module.out_channels, module.groups
    return Expected(
        (n, c_out, *out),
        f.conv_params(c_in, c_out, k, groups, module.bias is not None),
        f.conv_macs(n, c_in, c_out, out, k, groups),
    )


def _pool_expected(module: nn.Module, input_shape: Shape) -> Expected | None:
    """Pooling keeps the leading dimensions and has no parameters and no MACs."""
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
        dims = _pool_dims(module)
        lead, spatial = input_shape[:-dims], input_shape[-dims:]
        g = layer_geometry(module)
        out = f.pool_output_shape(
            spatial, g["kernel"], g["stride"], g["padding"], g["dilation"], bool(module.ceil_mode)
        )
        return Expected((*lead, *out), 0, 0)
    if isinstance(
        module, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
    ):
        size = module.output_size
        dims = len(size) if isinstance(size, (tuple, list)) else _adaptive_dims(module)
        out_size = tuple(size) if isinstance(size, (tuple, list)) else (size,) * dims
        lead, spatial = input_shape[:-dims], input_shape[-dims:]
        return Expected((*lead, *f.adaptive_pool_output_shape(spatial, out_size)), 0, 0)
    return None


def _norm_expected(module: nn.Module, input_shape: Shape) -> Expected | None:
    """Normalisation keeps the shape; its parameters are the affine scale and shift."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return Expected(input_shape, f.norm_params(module.num_features, module.affine), 0)
    if isinstance(module, nn.GroupNorm):
        return Expected(input_shape, f.norm_params(module.num_channels, module.affine), 0)
    if isinstance(module, nn.LayerNorm):
        n_elem = prod(module.normalized_shape)
        has_bias = getattr(module, "bias", None) is not None
        params = f.norm_params(n_elem, module.elementwise_affine)
        if module.elementwise_affine and not has_bias:
            params -= n_elem
        return Expected(input_shape, params, 0)
    return None


def _adaptive_dims(module: nn.Module) -> int:
    for d in (1, 2, 3):
        if isinstance(
            module, (getattr(nn, f"AdaptiveAvgPool{d}d"), getattr(nn, f"AdaptiveMaxPool{d}d"))
        ):
            return d
    return 2


def check_call(
    module: nn.Module,
    input_shape: Shape | None,
    output_shape: Shape | None,
    own_params: int | None,
    macs: int,
    input_shapes: tuple[Shape, ...] = (),
    conv_op: ConvOp | None = None,
) -> Check:
    """Compare a measured call against the closed form. ``own_params`` is None on repeat calls."""
    if input_shape is None:
        return Check()
    exp = expected(module, input_shape, input_shapes, conv_op)
    if exp is None:
        return Check()
    problems = []
    if output_shape is not None and tuple(output_shape) != tuple(exp.output_shape):
        problems.append(f"output shape {output_shape} != formula {exp.output_shape}")
    if own_params is not None and own_params != exp.params:
        problems.append(f"params {own_params:,} != formula {exp.params:,}")
    if macs != exp.macs:
        problems.append(f"MACs {macs:,} != formula {exp.macs:,}")
    return Check(CheckStatus.mismatch, tuple(problems)) if problems else Check(CheckStatus.ok)
