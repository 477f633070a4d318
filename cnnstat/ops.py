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

from cnnstat.enums import Word
from cnnstat.formulas import conv_macs, conv_transpose_macs

aten = torch.ops.aten


@dataclass(frozen=True)
class OpCost:
    """What one op invocation costs: multiply-accumulates and floating-point operations."""

    macs: int = 0
    flops: int = 0


class OpKind(Word):
    """What an op is, declared by the rule that costs it; other modules ask :func:`kind_of`."""

    conv = "conv"  # convolutions: MACs
    matmul = "matmul"  # matrix and vector products: MACs
    attention = "attention"  # fused scaled dot-product attention: MACs
    norm = "norm"  # batch, layer, group and RMS normalisation
    softmax = "softmax"  # softmax and log-softmax
    pool = "pool"  # sliding-window and adaptive pooling
    reduction = "reduction"  # sums, means, extrema, norms over axes
    elementwise = "elementwise"  # activations, arithmetic, comparisons
    interpolation = "interpolation"  # weighted resampling: bilinear, bicubic, roi_align
    movement = "movement"  # views, copies, padding, creation, dropout: zero cost
    selection = "selection"  # data-dependent selection: nonzero, unique, nms
    backward = "backward"  # the backward pass's own ops


ZERO = OpCost()
Rule = Callable[[Sequence[Any], dict[str, Any], Any], OpCost]
REGISTRY: dict[Any, Rule] = {}
# op packet -> its kind, and the same keyed by the packet's name (``macs_by_op`` keys)
KINDS: dict[Any, OpKind] = {}
_KIND_BY_NAME: dict[str, OpKind] = {}
# Ops whose output size or work depends on the values of their inputs (nonzero, nms):
# everything computed from their outputs depends on the data too.
DATA_DEPENDENT: set[Any] = set()
# Every op name this module asked torch for, as (namespace, name): a test checks that
# each one resolves, so a typo or an op a torch release renamed fails there.
REQUESTED: list[tuple[str, str]] = []


def register(*ops: Any, kind: OpKind, data_dependent: bool = False) -> Callable[[Rule], Rule]:
    """Register ``rule`` for every given op packet as an op of ``kind``; a second
    registration of an op raises.

    ``data_dependent`` marks ops whose output size depends on the input's values.
    """

    def decorate(rule: Rule) -> Rule:
        for op in ops:
            if op in REGISTRY:
                raise ValueError(f"duplicate cnnstat op rule for {op}")
            REGISTRY[op] = rule
            KINDS[op] = kind
            _KIND_BY_NAME[op.__name__] = kind
            if data_dependent:
                DATA_DEPENDENT.add(op)
        return rule

    return decorate


def kind_of(op: Any) -> OpKind | None:
    """The kind of an op overload, packet or packet name (``"convolution"``); None if unknown."""
    if isinstance(op, str):
        return _KIND_BY_NAME.get(op)
    return KINDS.get(getattr(op, "overloadpacket", op))


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
    """Aten op packets by name; every name is recorded in ``REQUESTED`` for the test that
    checks it resolves, and one this torch build lacks is left out here."""
    REQUESTED.extend(("aten", n) for n in names)
    return [getattr(aten, n) for n in names if hasattr(aten, n)]


def torchvision_packets(*names: str) -> list[Any]:
    """torchvision's custom op packets (``torch.ops.torchvision.nms``); none without torchvision."""
    REQUESTED.extend(("torchvision", n) for n in names)
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


@register(aten.mm, kind=OpKind.matmul)
def mm_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    (m, k), (_, n) = _shape(args[0]), _shape(args[1])
    macs = m * k * n
    return OpCost(macs, 2 * macs)


@register(aten.addmm, kind=OpKind.matmul)
def addmm_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    (m, k), (_, n) = _shape(args[1]), _shape(args[2])
    macs = m * k * n
    return OpCost(macs, 2 * macs + m * n)  # + the bias add


@register(aten.bmm, kind=OpKind.matmul)
def bmm_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    (b, m, k), (_, _, n) = _shape(args[0]), _shape(args[1])
    macs = b * m * k * n
    return OpCost(macs, 2 * macs)


@register(aten.baddbmm, kind=OpKind.matmul)
def baddbmm_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    (b, m, k), (_, _, n) = _shape(args[1]), _shape(args[2])
    macs = b * m * k * n
    return OpCost(macs, 2 * macs + b * m * n)


@register(aten.mv, aten.addmv, kind=OpKind.matmul)
def mv_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    mat = args[0] if len(_shape(args[0])) == 2 else args[1]
    m, k = _shape(mat)
    return OpCost(m * k, 2 * m * k + (m if len(args) > 2 else 0))


@register(aten.dot, aten.vdot, kind=OpKind.matmul)
def dot_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    k = _shape(args[0])[0]
    return OpCost(k, 2 * k)


@register(aten.convolution, aten._convolution, kind=OpKind.conv)
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


ATTENTION = (
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


@register(*ATTENTION, kind=OpKind.attention)
def sdpa_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return _sdpa_cost(args[0], args[1], args[2])


# --- elementwise, normalisation, pooling: FLOPs only --------------------------

# Named groups of op packets, declared once here for the modules that need a finer
# distinction than the kind: the meta shortcut (cnnstat/trackers/kernels.py) and the
# receptive-field tracker (cnnstat/trackers/receptive_field.py).

# Unary activations: elementwise, shape- and dtype-preserving
UNARY_ACTIVATION_NAMES = (
    "relu", "relu_", "gelu", "gelu_", "silu", "silu_", "sigmoid", "sigmoid_", "tanh", "tanh_",
    "hardtanh", "hardtanh_", "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_",
    "leaky_relu", "leaky_relu_", "elu", "elu_", "mish", "mish_",
)  # fmt: skip
UNARY_ACTIVATIONS = frozenset(packets(*UNARY_ACTIVATION_NAMES))
# Binary arithmetic: elementwise; of two same-shaped operands, shape-preserving
BINARY_ARITHMETIC = frozenset(packets("add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_"))
_ELEMENTWISE = [
    "relu6", "selu", "selu_", "celu", "softplus", "prelu", "_prelu_kernel", "threshold",
    "threshold_", "rsub", "neg",
    "abs", "clamp", "clamp_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_", "maximum",
    "minimum", "where", "pow", "sqrt", "rsqrt", "exp", "exp_", "log", "log2", "sign", "erf",
    "erfinv", "reciprocal", "square", "floor", "ceil", "round", "addcmul", "addcmul_",
    "addcdiv", "lerp", "masked_fill", "masked_fill_", "eq", "ne", "lt", "le", "gt", "ge",
    "logical_not", "logical_and", "bitwise_not",
    # rotary embeddings' sin/cos; integer-style arithmetic on indices
    "sin", "sin_", "cos", "cos_", "remainder", "remainder_", "floor_divide", "floor_divide_",
    "fmod", "bitwise_and", "bitwise_or", "logical_or",
]  # fmt: skip


@register(*UNARY_ACTIVATIONS, *BINARY_ARITHMETIC, *packets(*_ELEMENTWISE), kind=OpKind.elementwise)
def elementwise_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, _numel(out))


@register(*packets("_native_batch_norm_legit_no_training"), kind=OpKind.norm)
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
    ),
    kind=OpKind.norm,
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
    kind=OpKind.softmax,
)
def softmax_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 3 * _numel(out))


# Sliding-window pools: max pools take a dilation, average pools do not
MAX_POOL = frozenset(
    packets(
        "max_pool1d", "max_pool2d", "max_pool3d",
        "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
    )
)  # fmt: skip
AVG_POOL = frozenset(packets("avg_pool1d", "avg_pool2d", "avg_pool3d"))
# Pools whose window follows from the input and output sizes
ADAPTIVE_POOL = frozenset(
    packets(
        "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d",
        "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    )
)  # fmt: skip


@register(*MAX_POOL, *AVG_POOL, kind=OpKind.pool)
def pool_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    kernel = args[1] if len(args) > 1 else kwargs["kernel_size"]
    return OpCost(0, _numel(out) * _window(kernel, args[0]))


@register(*ADAPTIVE_POOL, kind=OpKind.pool)
@register(
    *packets(
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
    ),
    kind=OpKind.reduction,
)
def reduction_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    x = args[0]
    return OpCost(0, x.numel() if isinstance(x, torch.Tensor) else 0)


@register(*packets("col2im"), kind=OpKind.reduction)
def col2im_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    # F.fold sums overlapping patches: one add per input (column) element
    return OpCost(0, args[0].numel())


# Interpolation: each output element is a weighted sum of the neighbours it reads,
# 2 FLOPs per neighbour (nearest-neighbour upsampling is a copy, in the zero list).


@register(*packets("upsample_linear1d"), kind=OpKind.interpolation)
def linear_interpolation_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 2 * 2 * _numel(out))


@register(
    *packets("upsample_bilinear2d", "_upsample_bilinear2d_aa", "grid_sampler_2d"),
    kind=OpKind.interpolation,
)
def bilinear_interpolation_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 2 * 4 * _numel(out))


@register(*packets("upsample_trilinear3d"), kind=OpKind.interpolation)
def trilinear_interpolation_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 2 * 8 * _numel(out))


@register(*packets("upsample_bicubic2d", "_upsample_bicubic2d_aa"), kind=OpKind.interpolation)
def bicubic_interpolation_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return OpCost(0, 2 * 16 * _numel(out))


# Ops whose every output element reads every spatial position of the input, as cnnstat
# meets them in CNNs and vision transformers: attention and its products and softmax,
# global pooling written as a mean or sum. The receptive-field tracker makes their output's
# field global, whatever axes they run over: a mean over the channels alone is read as global.
GLOBAL_MIXING = frozenset(
    (*ATTENTION, *packets("bmm", "baddbmm", "_softmax", "softmax", "_safe_softmax"))
) | frozenset(packets("mean", "sum", "amax", "var_mean", "var"))


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


@register(*packets(*_ZERO_COST), kind=OpKind.movement)
def zero_cost_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return ZERO


# --- data-dependent ops: their output size depends on the input's values ---------------


@register(
    *packets("nonzero", "masked_select", "_unique2", "unique_dim"),
    kind=OpKind.selection,
    data_dependent=True,
)
def data_dependent_selection_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return ZERO  # selection moves data; what it selects decides the work downstream


# One IoU per box pair: intersection (4 min/max, 2 subtractions, 1 product), union
# (2 additions/subtractions) and a division, about 10 FLOPs. An upper bound: the
# kernel skips boxes already suppressed, and how many survive depends on the scores.
NMS_FLOPS_PER_PAIR = 10


@register(*torchvision_packets("nms"), kind=OpKind.selection, data_dependent=True)
def nms_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    n = int(args[0].shape[0])
    return OpCost(0, NMS_FLOPS_PER_PAIR * n * (n - 1) // 2)


@register(*torchvision_packets("roi_align"), kind=OpKind.interpolation, data_dependent=True)
def roi_align_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    # roi_align(input, rois, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned):
    # every output bin averages sampling_ratio² bilinear samples (4 neighbours, 2 FLOPs
    # each) plus the mean. An adaptive ratio (<= 0) depends on each box's size: 2 assumed,
    # what torchvision's detection heads pass.
    ratio = int(args[5]) if len(args) > 5 and int(args[5]) > 0 else 2
    return OpCost(0, _numel(out) * (ratio * ratio * 2 * 4 + 1))


# --- backward ops: counted when cnnstat runs the backward pass ----------------------


@register(aten.convolution_backward, kind=OpKind.backward)
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
    ),
    kind=OpKind.backward,
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


@register(*packets(*_ELEMENTWISE_BACKWARD), kind=OpKind.backward)
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
    ),
    kind=OpKind.backward,
)
def normalization_backward_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    # grad_input needs the statistics' gradients: the same 5 FLOPs per element as a forward
    # that computes statistics
    return OpCost(0, 5 * args[0].numel())


@register(aten._softmax_backward_data, aten._log_softmax_backward_data, kind=OpKind.backward)
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
    ),
    kind=OpKind.backward,
)
def pool_backward_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    # one scatter-add per gradient element read
    return OpCost(0, args[0].numel())


@register(*packets("avg_pool2d_backward", "avg_pool3d_backward"), kind=OpKind.backward)
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
    ),
    kind=OpKind.backward,
)
def backward_data_movement_rule(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    return ZERO
