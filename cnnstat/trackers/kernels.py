"""Running an op as the kernel would: faster on meta tensors, refusing what the kernel refuses.

Meta kernels for elementwise ops and eval BatchNorm are Python reference
implementations and dominate analysis time; :func:`meta_shortcut` computes
their results directly. A shortcut must never accept what the real kernel
rejects: :func:`conv_rejection` repeats ATen's convolution checks with its
messages.
"""

from __future__ import annotations

from typing import Any

import torch

from cnnstat import ops
from cnnstat.formulas import conv_output_shape

_BN_EVAL = getattr(torch.ops.aten, "_native_batch_norm_legit_no_training", None)
_BN = torch.ops.aten.native_batch_norm
_CONV = torch.ops.aten.convolution


class KernelRejectedError(RuntimeError):
    """An op's arguments that the real kernel refuses, found by a shortcut that skipped it.

    The text is the real CPU kernel's. Real tensors would fail the same way, so
    there is nothing to gain from retrying there.
    """


def meta_shortcut(func: Any, args: Any) -> Any:
    """The result of a common op on meta tensors, without running its Python meta kernel.

    The results of elementwise ops and eval BatchNorm are fully determined by
    the input (same shape, dtype and strides). In-place ops return their input.
    Returns None when the shortcut does not apply.
    """
    packet = func.overloadpacket
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor) or not x.is_meta:
        return None
    inplace = packet.__name__.endswith("_")
    if packet in ops.UNARY_ACTIVATIONS:
        return x if inplace else torch.empty_like(x)
    if packet in ops.BINARY_ARITHMETIC and len(args) >= 2:
        y = args[1]
        if (
            isinstance(y, torch.Tensor)
            and y.is_meta
            and y.dtype == x.dtype
            and y.shape == x.shape
            and y.stride() == x.stride()
        ):
            return x if inplace else torch.empty_like(x)
        return None
    if packet is _BN_EVAL or (packet is _BN and len(args) > 5 and args[5] is False):
        # Like the CPU kernel, eval BatchNorm returns empty statistics.
        return torch.empty_like(x), x.new_empty((0,)), x.new_empty((0,))
    if packet is _CONV and len(args) >= 9:
        rejection = conv_rejection(x, *args[1:])
        if rejection is not None:
            raise KernelRejectedError(rejection)
    if packet is _CONV and len(args) >= 9 and not args[6] and x.is_contiguous() and x.dim() >= 3:
        w = args[1]
        if any(len(a) != x.dim() - 2 for a in args[3:6]):
            return None  # one value for every axis: the real kernel expands it
        spatial = conv_output_shape(
            tuple(x.shape[2:]), tuple(w.shape[2:]), tuple(args[3]), tuple(args[4]), tuple(args[5])
        )
        if min(spatial) <= 0:
            return None  # let the real kernel raise its "input too small" error
        return x.new_empty((x.shape[0], w.shape[0], *spatial))
    return None


def _sizes(t: torch.Tensor) -> str:
    return "[" + ", ".join(map(str, t.shape)) + "]"


def conv_rejection(
    x: torch.Tensor,
    w: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    transposed: bool,
    output_padding: Any,
    groups: int,
) -> str | None:
    """Why ATen's convolution would refuse these ``aten.convolution`` arguments, or None.

    The checks of ``check_shape_forward`` in ATen's Convolution.cpp, in its
    order, with its messages: a shortcut that computes the output shape must
    never accept what the kernel rejects, and PyTorch's own meta kernel does
    not check a transposed convolution's channels.
    """
    if not isinstance(w, torch.Tensor):
        return "expected a weight tensor"
    if w.dim() < 3:
        return "weight should have at least three dimensions"
    params = {"stride": stride, "padding": padding, "dilation": dilation}
    if transposed:
        params["output_padding"] = output_padding
    rejection = _argument_rejection(w.dim() - 2, params, transposed, groups)
    if rejection is None and w.dim() != x.dim():
        rejection = (
            f"Expected {w.dim()}-dimensional input for {w.dim()}-dimensional weight "
            f"{_sizes(w)}, but got {x.dim()}-dimensional input of size {_sizes(x)} instead"
        )
    if rejection is None and w.shape[0] < groups:
        rejection = (
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, "
            f"but got weight of size {_sizes(w)} instead"
        )
    if rejection is None and w.shape[0] % groups:
        rejection = (
            # ATen prints this one size in double brackets
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{_sizes(w)}] instead"
        )
    return rejection or _channel_rejection(x, w, bias, transposed, groups)


def _argument_rejection(
    spatial: int, params: dict[str, Any], transposed: bool, groups: int
) -> str | None:
    """The checks on stride, padding, dilation, output padding and groups, in ATen's order."""
    for name, value in params.items():
        if len(value) not in (1, spatial):
            return (
                f"expected {name} to be a single integer value or a list of {spatial} values "
                f"to match the convolution dimensions, but got {name}={list(value)}"
            )
    if any(p < 0 for p in params["padding"]):
        return "negative padding is not supported"
    if transposed and any(p < 0 for p in params["output_padding"]):
        return "negative output_padding is not supported"
    if any(s <= 0 for s in params["stride"]):
        return "non-positive stride is not supported"
    if any(d <= 0 for d in params["dilation"]):
        return "dilation should be greater than zero"
    if groups <= 0:
        return "non-positive groups is not supported"
    return None


def _channel_rejection(
    x: torch.Tensor, w: torch.Tensor, bias: Any, transposed: bool, groups: int
) -> str | None:
    """The checks on input channels, the bias and the dtypes, in ATen's order."""
    if transposed:
        if x.shape[1] != w.shape[0]:
            return (
                f"Given transposed=1, weight of size {_sizes(w)}, expected input{_sizes(x)} to "
                f"have {w.shape[0]} channels, but got {x.shape[1]} channels instead"
            )
        if bias is not None and (bias.dim() != 1 or bias.shape[0] != w.shape[1] * groups):
            return (
                f"Given transposed=1, weight of size {_sizes(w)}, expected bias to be "
                f"1-dimensional with {w.shape[1] * groups} elements, but got bias of size "
                f"{_sizes(bias)} instead"
            )
    elif x.shape[1] != w.shape[1] * groups:
        return (
            f"Given groups={groups}, weight of size {_sizes(w)}, expected input{_sizes(x)} to have "
            f"{w.shape[1] * groups} channels, but got {x.shape[1]} channels instead"
        )
    elif bias is not None and (bias.dim() != 1 or bias.shape[0] != w.shape[0]):
        return (
            f"Given weight of size {_sizes(w)}, expected bias to be 1-dimensional with "
            f"{w.shape[0]} elements, but got bias of size {_sizes(bias)} instead"
        )
    if x.dtype != w.dtype or (bias is not None and bias.dtype != w.dtype):
        return (
            f"Input type ({x.dtype}) and weight type ({w.dtype}) should be the same"
            if x.dtype != w.dtype
            else f"Input type ({x.dtype}) and bias type ({bias.dtype}) should be the same"
        )
    return None
