"""Per-aten-op counting rules, registered by decorator.

Each rule takes the op's positional args, keyword args and output, and returns
an :class:`OpCost`. Conventions (stated once in README.md too):

* one multiply-add is 1 MAC and 2 FLOPs; only matrix products and convolutions
  produce MACs;
* elementwise work (activations, residual adds, bias adds, scaling) costs FLOPs
  and no MACs: 1 FLOP per output element;
* normalisation with known statistics (eval BatchNorm) costs 2 FLOPs per
  element (a folded scale and shift); normalisation that computes statistics
  (LayerNorm, GroupNorm, training BatchNorm) costs 5;
* softmax costs 3 FLOPs per element (exp, sum, divide);
* ``sin``, ``cos``, ``remainder``, ``floor_divide`` are elementwise (1 FLOP per output
  element); ``all``/``any`` are reductions (1 FLOP per input element); ``col2im``
  (``F.fold``) adds each input element once; ``max_unpool``, ``_pack_padded_sequence``
  and ``_assert_async`` move or check data and cost nothing;
* data-dependent ops (``nonzero``, ``masked_select``, ``unique``, torchvision's ``nms``
  and ``roi_align``) decide how much work follows them from the input's values: ``nms``
  costs 10 FLOPs per box pair (an upper bound), ``roi_align`` 8 FLOPs per bilinear
  sample plus 1 per output bin; the counter marks everything computed from them;
* pooling costs one FLOP per input element read by each window;
* views, copies, concatenation, padding and tensor creation cost nothing.

An op with no rule here is *unsupported*: the counter reports it by name with
how often it ran; it is never silently counted as zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

import torch

from cnnstat.formulas import conv_macs, conv_transpose_macs

aten = torch.ops.aten


@dataclass(frozen=True)
class OpCost:
    """What one op invocation costs: multiply-accumulates and floating-point operations."""

    macs: int = 0
    flops: int = 0


ZERO = OpCost()
Rule = Callable[[Sequence[Any], dict[str, Any], Any], OpCost]
REGISTRY: dict[Any, Rule] = {}
# Ops whose output size or work depends on the values of their inputs (nonzero, nms):
# everything computed from their outputs depends on the data too.
DATA_DEPENDENT: set[Any] = set()


def register(*ops: Any, data_dependent: bool = False) -> Callable[[Rule], Rule]:
    """Register ``rule`` for every given op packet; a second registration of an op raises.

    ``data_dependent`` marks ops whose output size depends on the input's values.
    """

    def decorate(rule: Rule) -> Rule:
        for op in ops:
            if op in REGISTRY:
                raise ValueError(f"duplicate cnnstat op rule for {op}")
            REGISTRY[op] = rule
            if data_dependent:
                DATA_DEPENDENT.add(op)
        return rule

    return decorate


def is_data_dependent(func: Any, args: Sequence[Any] = ()) -> bool:
    """Whether an op's output size depends on the values of its inputs.

    Indexing with a boolean mask (``x[mask]``) is a hidden ``nonzero``.
    """
    packet = func.overloadpacket
    if packet in DATA_DEPENDENT:
        return True
    if packet in (aten.index, aten._unsafe_index) and len(args) > 1:
        return any(
            isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8)
            for i in (args[1] or ())
        )
    return False


def lookup(func: Any) -> Rule | None:
    """The rule for an aten op overload, or None when cnnstat cannot count it."""
    return REGISTRY.get(func.overloadpacket)


def packets(*names: str) -> list[Any]:
    """Aten op packets that exist in this torch build; older releases lack some."""
    return [getattr(aten, n) for n in names if hasattr(aten, n)]


def torchvision_packets(*names: str) -> list[Any]:
    """torchvision's custom op packets (``torch.ops.torchvision.nms``); none without torchvision."""
    try:
        import torchvision  # noqa: F401  (loading it registers torch.ops.torchvision)
    except ImportError:  # pragma: no cover - torchvision is a dependency
        return []
    return [getattr(torch.ops.torchvision, n) for n in names if hasattr(torch.ops.torchvision, n)]


def _shape(t: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in t.shape)


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for o in out:
            if isinstance(o, torch.Tensor):
                return o
    return None


def _window(kernel: Any, x: Any) -> int:
    """Elements in one pooling window; a single kernel value applies to every spatial axis."""
    if isinstance(kernel, int):
        kernel = [kernel]
    spatial = max(x.dim() - 2, 1)
    return prod(kernel) if len(kernel) > 1 else int(kernel[0]) ** spatial


def _numel(out: Any) -> int:
    t = _first_tensor(out)
    return 0 if t is None else t.numel()


# --- matrix products and convolutions: the MACs -----------------------------


@register(aten.mm)
def mm_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    (m, k), (_, n) = _shape(args[0]), _shape(args[1])
    macs = m * k * n
    return OpCost(macs, 2 * macs)


@register(aten.addmm)
def addmm_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    (m, k), (_, n) = _shape(args[1]), _shape(args[2])
    macs = m * k * n
    return OpCost(macs, 2 * macs + m * n)  # + the bias add


@register(aten.bmm)
def bmm_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    (b, m, k), (_, _, n) = _shape(args[0]), _shape(args[1])
    macs = b * m * k * n
    return OpCost(macs, 2 * macs)


@register(aten.baddbmm)
def baddbmm_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    (b, m, k), (_, _, n) = _shape(args[1]), _shape(args[2])
    macs = b * m * k * n
    return OpCost(macs, 2 * macs + b * m * n)


@register(aten.mv, aten.addmv)
def mv_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    mat = args[0] if len(_shape(args[0])) == 2 else args[1]
    m, k = _shape(mat)
    return OpCost(m * k, 2 * m * k + (m if len(args) > 2 else 0))


@register(aten.dot, aten.vdot)
def dot_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    k = _shape(args[0])[0]
    return OpCost(k, 2 * k)


@register(aten.convolution, aten._convolution)
def convolution_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    x, w, bias = args[0], args[1], args[2]
    transposed = bool(args[6])
    groups = int(args[8])
    x_shape, w_shape, out_shape = _shape(x), _shape(w), _shape(out)
    kernel = w_shape[2:]
    if transposed:
        # weight is (C_in, C_out/groups, *k)
        c_in, c_out = w_shape[0], w_shape[1] * groups
        macs = conv_transpose_macs(x_shape[0], c_in, c_out, x_shape[2:], kernel, groups)
    else:
        # weight is (C_out, C_in/groups, *k)
        c_out, c_in = w_shape[0], w_shape[1] * groups
        macs = conv_macs(x_shape[0], c_in, c_out, out_shape[2:], kernel, groups)
    bias_flops = prod(out_shape) if bias is not None else 0
    return OpCost(macs, 2 * macs + bias_flops)


def _sdpa_cost(q: Any, k: Any, v: Any) -> OpCost:
    # Q (..., L, E) @ K^T (..., E, S) then softmax(.) (..., L, S) @ V (..., S, Ev)
    q_shape, k_shape, v_shape = _shape(q), _shape(k), _shape(v)
    *batch, L, E = q_shape
    S, Ev = k_shape[-2], v_shape[-1]
    b = prod(batch)
    macs = b * L * S * E + b * L * S * Ev
    scores = b * L * S
    return OpCost(macs, 2 * macs + scores + 3 * scores)  # + scaling + softmax


@register(
    aten.scaled_dot_product_attention,
    *packets(
        "_scaled_dot_product_attention_math",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_fused_attention_overrideable",
    ),
)
def sdpa_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return _sdpa_cost(args[0], args[1], args[2])


# --- elementwise, normalisation, pooling: FLOPs only --------------------------

# Unary activations: shape-preserving, 1 FLOP per element (also the counter's meta shortcut)
UNARY_ACTIVATIONS = (
    "relu", "relu_", "gelu", "gelu_", "silu", "silu_", "sigmoid", "sigmoid_", "tanh", "tanh_",
    "hardtanh", "hardtanh_", "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_",
    "leaky_relu", "leaky_relu_", "elu", "elu_", "mish", "mish_",
)  # fmt: skip
_ELEMENTWISE = [
    *UNARY_ACTIVATIONS,
    "relu6", "selu", "selu_", "celu", "softplus", "prelu", "_prelu_kernel", "threshold",
    "threshold_", "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "neg",
    "abs", "clamp", "clamp_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_", "maximum",
    "minimum", "where", "pow", "sqrt", "rsqrt", "exp", "exp_", "log", "log2", "sign", "erf",
    "erfinv", "reciprocal", "square", "floor", "ceil", "round", "addcmul", "addcmul_",
    "addcdiv", "lerp", "masked_fill", "masked_fill_", "eq", "ne", "lt", "le", "gt", "ge",
    "logical_not", "logical_and", "bitwise_not",
    # rotary embeddings' sin/cos; integer-style arithmetic on indices
    "sin", "sin_", "cos", "cos_", "remainder", "remainder_", "floor_divide", "floor_divide_",
    "fmod", "bitwise_and", "bitwise_or", "logical_or",
]  # fmt: skip


@register(*packets(*_ELEMENTWISE))
def elementwise_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, _numel(out))


@register(*packets("_native_batch_norm_legit_no_training"))
def batch_norm_eval_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 2 * _numel(out))


@register(
    *packets(
        "native_batch_norm",
        "_native_batch_norm_legit",
        "native_layer_norm",
        "native_group_norm",
        "_fused_rms_norm",
        "cudnn_batch_norm",
        "miopen_batch_norm",
    )
)
def normalization_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    # native_batch_norm(input, weight, bias, running_mean, running_var, training, ...)
    # with training=False normalises with the running statistics: a folded scale and shift.
    uses_running_stats = len(args) > 5 and args[5] is False
    return OpCost(0, (2 if uses_running_stats else 5) * _numel(out))


@register(
    aten._softmax,
    aten._log_softmax,
    aten.softmax,
    aten.log_softmax,
    *packets("_safe_softmax"),
)
def softmax_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 3 * _numel(out))


# Sliding-window pools, named once: the pool rule below and the receptive-field
# tracker (cnnstat/receptive.py) both use these lists.
MAX_POOL_OPS = (
    "max_pool1d", "max_pool2d", "max_pool3d",
    "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
)  # fmt: skip
AVG_POOL_OPS = ("avg_pool1d", "avg_pool2d", "avg_pool3d")
ADAPTIVE_POOL_OPS = (
    "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
)  # fmt: skip


@register(*packets(*MAX_POOL_OPS, *AVG_POOL_OPS))
def pool_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    kernel = args[1] if len(args) > 1 else kwargs["kernel_size"]
    return OpCost(0, _numel(out) * _window(kernel, args[0]))


@register(
    *packets(
        *ADAPTIVE_POOL_OPS,
        "mean",
        "sum",
        "amax",
        "amin",
        "max",
        "min",
        "var",
        "std",
        "var_mean",
        "std_mean",
        "norm",
        "linalg_vector_norm",
        "logsumexp",
        "cumsum",
        "prod",
        "argmax",
        "all",
        "any",
    )
)
def reduction_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    x = args[0]
    return OpCost(0, x.numel() if isinstance(x, torch.Tensor) else 0)


@register(*packets("col2im"))
def col2im_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    # F.fold sums overlapping patches: one add per input (column) element
    return OpCost(0, args[0].numel())


# Interpolation: each output element is a weighted sum of the neighbours it reads,
# 2 FLOPs per neighbour (nearest-neighbour upsampling is a copy, in the zero list).


@register(*packets("upsample_linear1d"))
def linear_interpolation_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 2 * 2 * _numel(out))


@register(*packets("upsample_bilinear2d", "_upsample_bilinear2d_aa", "grid_sampler_2d"))
def bilinear_interpolation_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 2 * 4 * _numel(out))


@register(*packets("upsample_trilinear3d"))
def trilinear_interpolation_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 2 * 8 * _numel(out))


@register(*packets("upsample_bicubic2d", "_upsample_bicubic2d_aa"))
def bicubic_interpolation_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 2 * 16 * _numel(out))


# --- data movement and bookkeeping: zero by definition -------------------------

_ZERO_COST = [
    # views and shape changes
    "view",
    "_unsafe_view",
    "reshape",
    "permute",
    "transpose",
    "transpose_",
    "t",
    "expand",
    "expand_as",
    "flatten",
    "unflatten",
    "unsqueeze",
    "unsqueeze_",
    "squeeze",
    "squeeze_",
    "select",
    "slice",
    "split",
    "split_with_sizes",
    "chunk",
    "unbind",
    "narrow",
    "as_strided",
    "alias",
    "detach",
    "detach_",
    "lift_fresh",
    "view_as",
    "unfold",
    "diagonal",
    "movedim",
    "_reshape_alias",
    "numpy_T",
    "as_strided_",
    "unsafe_split",
    "unsafe_chunk",
    # copies, concatenation, padding, layout
    "clone",
    "contiguous",
    "copy_",
    "_to_copy",
    "to",
    "cat",
    "stack",
    "constant_pad_nd",
    "pad",
    "reflection_pad1d",
    "reflection_pad2d",
    "reflection_pad3d",
    "replication_pad1d",
    "replication_pad2d",
    "replication_pad3d",
    "roll",
    "flip",
    "repeat",
    "tile",
    "index",
    "index_select",
    "gather",
    "index_put",
    "index_put_",
    "slice_scatter",
    "select_scatter",
    "_unsafe_index",
    "channel_shuffle",
    "embedding",
    "upsample_nearest1d",
    "upsample_nearest2d",
    "upsample_nearest3d",
    "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d",
    "_upsample_nearest_exact3d",
    "pixel_shuffle",
    "pixel_unshuffle",
    "native_channel_shuffle",
    "_to_dense",
    "im2col",
    # creation
    "empty",
    "empty_like",
    "empty_strided",
    "zeros",
    "zeros_like",
    "ones",
    "ones_like",
    "full",
    "full_like",
    "fill_",
    "zero_",
    "new_zeros",
    "new_ones",
    "new_empty",
    "new_empty_strided",
    "new_full",
    "arange",
    "linspace",
    "scalar_tensor",
    "lift",
    "_local_scalar_dense",
    "meshgrid",
    "randn",
    "rand",
    "bernoulli",
    "bernoulli_",
    "uniform_",
    "normal_",
    "native_dropout",
    "dropout",
    "feature_dropout",
    "alpha_dropout",
    "is_same_size",
    "sym_size",
    "sym_stride",
    "sym_numel",
    "sym_storage_offset",
    "dim",
    "_has_compatible_shallow_copy_type",
    "set_",
    "resize_",
    "_resize_output_",
    "sort",
    "topk",
    "argsort",
    "triu",
    "tril",
    "bucketize",
    "searchsorted",
    # scatters, packing and checks: data movement or no data at all
    "max_unpool2d",
    "max_unpool3d",
    "_pack_padded_sequence",
    "_assert_async",
]


@register(*packets(*_ZERO_COST))
def zero_cost_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return ZERO


# --- data-dependent ops: their output size depends on the input's values ---------------


@register(*packets("nonzero", "masked_select", "_unique2", "unique_dim"), data_dependent=True)
def data_dependent_selection_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return ZERO  # selection moves data; what it selects decides the work downstream


# One IoU per box pair: intersection (4 min/max, 2 subtractions, 1 product), union
# (2 additions/subtractions) and a division, about 10 FLOPs. An upper bound: the
# kernel skips boxes already suppressed, and how many survive depends on the scores.
NMS_FLOPS_PER_PAIR = 10


@register(*torchvision_packets("nms"), data_dependent=True)
def nms_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    n = int(args[0].shape[0])
    return OpCost(0, NMS_FLOPS_PER_PAIR * n * (n - 1) // 2)


@register(*torchvision_packets("roi_align"), data_dependent=True)
def roi_align_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    # roi_align(input, rois, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned):
    # every output bin averages sampling_ratio² bilinear samples (4 neighbours, 2 FLOPs
    # each) plus the mean. An adaptive ratio (<= 0) depends on each box's size: 2 assumed,
    # what torchvision's detection heads pass.
    ratio = int(args[5]) if len(args) > 5 and int(args[5]) > 0 else 2
    return OpCost(0, _numel(out) * (ratio * ratio * 2 * 4 + 1))


# --- backward ops: counted when cnnstat runs the backward pass ----------------------


@register(aten.convolution_backward)
def convolution_backward_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    # convolution_backward(grad_out, input, weight, bias_sizes, stride, padding, dilation,
    #                      transposed, output_padding, groups, output_mask)
    grad_out, x, w = args[0], args[1], args[2]
    transposed, groups, mask = bool(args[7]), int(args[9]), args[10]
    g_shape, x_shape, w_shape = _shape(grad_out), _shape(x), _shape(w)
    kernel = w_shape[2:]
    if transposed:
        c_in, c_out = w_shape[0], w_shape[1] * groups
        forward = conv_transpose_macs(x_shape[0], c_in, c_out, x_shape[2:], kernel, groups)
    else:
        c_out, c_in = w_shape[0], w_shape[1] * groups
        forward = conv_macs(x_shape[0], c_in, c_out, g_shape[2:], kernel, groups)
    # grad_input is a transposed convolution and grad_weight a correlation of input with
    # grad_output: each costs exactly the forward's multiply-adds, groups included once.
    macs = forward * (int(bool(mask[0])) + int(bool(mask[1])))
    bias_flops = prod(g_shape) if mask[2] else 0
    return OpCost(macs, 2 * macs + bias_flops)


def _sdpa_backward_cost(args: Sequence[Any]) -> OpCost:
    # dV = Pᵀ dO, dP = dO Vᵀ, dQ = dS K, dK = dSᵀ Q: twice the forward's matrix products
    fwd = _sdpa_cost(args[1], args[2], args[3])
    return OpCost(2 * fwd.macs, 2 * fwd.flops)


@register(
    *packets(
        "_scaled_dot_product_flash_attention_backward",
        "_scaled_dot_product_flash_attention_for_cpu_backward",
        "_scaled_dot_product_efficient_attention_backward",
        "_scaled_dot_product_cudnn_attention_backward",
    )
)
def sdpa_backward_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    # args: grad_out, query, key, value, ...
    return _sdpa_backward_cost(args)


_ELEMENTWISE_BACKWARD = [
    "threshold_backward", "hardtanh_backward", "gelu_backward", "silu_backward",
    "sigmoid_backward", "tanh_backward", "hardswish_backward", "hardsigmoid_backward",
    "leaky_relu_backward", "elu_backward", "mish_backward", "softplus_backward",
    "native_dropout_backward", "_prelu_kernel_backward",
]  # fmt: skip


@register(*packets(*_ELEMENTWISE_BACKWARD))
def elementwise_backward_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, _numel(out))


@register(
    *packets(
        "native_batch_norm_backward",
        "native_layer_norm_backward",
        "native_group_norm_backward",
        "cudnn_batch_norm_backward",
        "miopen_batch_norm_backward",
        "_fused_rms_norm_backward",
    )
)
def normalization_backward_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    # grad_input needs the statistics' gradients: the same 5 FLOPs per element as a forward
    # that computes statistics
    return OpCost(0, 5 * args[0].numel())


@register(aten._softmax_backward_data, aten._log_softmax_backward_data)
def softmax_backward_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 3 * _numel(out))


@register(
    *packets(
        "max_pool2d_with_indices_backward",
        "max_pool3d_with_indices_backward",
        "_adaptive_avg_pool2d_backward",
        "_adaptive_avg_pool3d_backward",
        "adaptive_max_pool2d_backward",
        "adaptive_max_pool3d_backward",
    )
)
def pool_backward_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    # one scatter-add per gradient element read
    return OpCost(0, args[0].numel())


@register(*packets("avg_pool2d_backward", "avg_pool3d_backward"))
def avg_pool_backward_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, args[0].numel() * _window(args[2], args[0]))


@register(
    *packets(
        "select_backward",
        "slice_backward",
        "as_strided_scatter",
        "diagonal_backward",
        "unfold_backward",
        "index_select_backward",
        "expand_copy",
    )
)
def backward_data_movement_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return ZERO
