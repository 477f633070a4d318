"""What a CUDA device runs differently from the meta device, replayed on meta tensors.

The meta device runs the same Python, the same autograd graph and the same
tensor lifetimes as CUDA, but three kernel choices differ, and each changes
which tensors are allocated:

* ``scaled_dot_product_attention`` on CUDA runs a fused kernel (flash
  attention for fp16/bf16 without a mask, memory-efficient attention
  otherwise), which saves a per-row log-sum-exp for backward instead of the
  L×L attention matrix of the math path that meta and CPU run;
* training-mode ``dropout`` on CUDA runs the fused ``native_dropout`` kernel,
  whose mask is one byte per element, while the unfused path allocates a
  mask in the input's dtype;
* ``torch.autocast("cuda")`` casts the inputs of matrix products to the
  autocast dtype (caching the casts of parameters until the region exits)
  and runs norms, softmax, sums and losses in float32; autocast does not act
  on meta tensors, so its CUDA cast policy is applied here, function by
  function.

``CudaKernels`` is a TorchFunctionMode that makes those choices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_LOWER = "lower"  # cast floating inputs to the autocast dtype
_FP32 = "fp32"  # cast floating inputs to float32
_FP32_OPT_DTYPE = "fp32_opt_dtype"  # run in float32 through the op's dtype argument
_PROMOTE = "promote"  # cast floating inputs to the widest floating dtype among them


def _policies() -> dict[Any, str]:
    """CUDA autocast's cast policy (``aten/src/ATen/autocast_mode.cpp``) at the Python API level."""
    t = torch.Tensor
    lower = [
        F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d,
        F.linear, F.bilinear, F.prelu, torch.matmul, t.matmul, t.__matmul__, t.__rmatmul__,
        torch.mm, t.mm, torch.bmm, t.bmm, torch.baddbmm, t.baddbmm, torch.addmm, t.addmm,
        torch.addbmm, t.addbmm, torch.addmv, torch.addr, torch.mv, t.mv, torch.einsum,
        torch.chain_matmul, torch.convolution, F.scaled_dot_product_attention,
    ]
    fp32 = [
        F.layer_norm, F.group_norm, torch.layer_norm, torch.group_norm, torch.norm, t.norm,
        torch.exp, t.exp, torch.log, t.log, torch.log1p, torch.expm1, torch.pow, t.pow,
        t.__pow__, torch.rsqrt, t.rsqrt, torch.reciprocal, t.reciprocal, torch.acos, torch.asin,
        torch.cosh, torch.sinh, torch.tan, torch.erfinv, F.softplus, F.cosine_similarity,
        F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.nll_loss, F.kl_div,
        F.binary_cross_entropy_with_logits, F.interpolate, torch.cdist, torch.dist,
        torch.logsumexp, t.logsumexp,
    ]
    opt_dtype = [
        F.softmax, F.log_softmax, torch.softmax, t.softmax, torch.log_softmax, t.log_softmax,
        torch.sum, t.sum, torch.prod, t.prod, torch.cumsum, t.cumsum, torch.cumprod, t.cumprod,
    ]
    promote = [
        torch.cat, torch.concat, torch.stack, torch.addcmul, torch.addcdiv, torch.atan2,
        torch.cross, torch.dot, torch.tensordot, torch.index_put, torch.scatter_add,
    ]
    table: dict[Any, str] = {}
    for fns, policy in ((lower, _LOWER), (fp32, _FP32), (opt_dtype, _FP32_OPT_DTYPE),
                        (promote, _PROMOTE)):
        for f in fns:
            table[f] = policy
    return table


def _map(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, (list, tuple)) and any(isinstance(o, torch.Tensor) for o in obj):
        return type(obj)(_map(o, fn) for o in obj)
    return obj


def _floating(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj] if obj.is_floating_point() and obj.dtype != torch.float64 else []
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _floating(o)]
    return []


class CudaKernels(TorchFunctionMode):
    """Runs the CUDA kernel choices (fused attention and dropout, autocast) on meta tensors."""

    def __init__(self, autocast_dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.autocast_dtype = autocast_dtype
        self._policy = _policies() if autocast_dtype is not None else {}
        self._cast_cache: dict[int, torch.Tensor] = {}
        self.on_param_cast: Callable[[torch.Tensor], None] | None = None

    # -- autocast ------------------------------------------------------------

    def _cast(self, t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if not t.is_floating_point() or t.dtype in (dtype, torch.float64):
            return t
        if t.is_leaf and t.requires_grad:  # parameters: cast once per autocast region
            cached = self._cast_cache.get(id(t))
            if cached is None:
                cached = self._cast_cache[id(t)] = t.to(dtype)
                if self.on_param_cast is not None:
                    self.on_param_cast(cached)
            return cached
        return t.to(dtype)

    def exit_autocast(self) -> None:
        """Drop the cached parameter casts, as leaving ``torch.autocast`` does."""
        self._cast_cache.clear()

    def _autocast_args(self, func: Any, args: Any, kwargs: dict[str, Any]) -> tuple[Any, Any]:
        policy = self._policy.get(func)
        if policy is None or self.autocast_dtype is None:
            return args, kwargs
        if policy == _FP32_OPT_DTYPE:
            first = args[0] if args else None
            if (
                isinstance(first, torch.Tensor)
                and first.is_floating_point()
                and kwargs.get("dtype") is None
                and not (len(args) > 2 and func in (F.softmax, F.log_softmax))
            ):
                kwargs = {**kwargs, "dtype": torch.float32}
            return args, kwargs
        if policy == _PROMOTE:
            floats = _floating(args) + _floating(list(kwargs.values()))
            if not floats:
                return args, kwargs
            widest = max((t.dtype for t in floats), key=lambda d: d.itemsize)
            dtype = widest
        else:
            dtype = self.autocast_dtype if policy == _LOWER else torch.float32
        cast = lambda t: self._cast(t, dtype)  # noqa: E731
        return _map(list(args), cast), {k: _map(v, cast) for k, v in kwargs.items()}

    # -- fused kernels ---------------------------------------------------------

    def _sdpa(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: Any = None,
        dropout_p: float = 0.0, is_causal: bool = False, scale: Any = None, enable_gqa: bool = False,
    ) -> torch.Tensor:
        if q.dim() != 4 or not q.is_meta or enable_gqa or q.dtype != k.dtype:
            return F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale
            )
        grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
        flash = (
            q.dtype in (torch.float16, torch.bfloat16) and attn_mask is None and q.shape[-1] <= 256
        )
        if flash:
            out = torch.ops.aten._scaled_dot_product_flash_attention(
                q, k, v, dropout_p, is_causal, False, scale=scale
            )
        else:
            out = torch.ops.aten._scaled_dot_product_efficient_attention(
                q, k, v, attn_mask, grad, dropout_p, is_causal, scale=scale
            )
        return out[0]

    def _mha(self, func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        # F.multi_head_attention_forward calls linear and SDPA through module globals,
        # out of this mode's sight: route them through the CUDA choices for the call.
        saved = F.linear, F.scaled_dot_product_attention
        F.linear = lambda *a, **kw: self._call(saved[0], a, kw)  # type: ignore[assignment]
        F.scaled_dot_product_attention = lambda *a, **kw: self._call(self._sdpa, a, kw)  # type: ignore[assignment]
        try:
            return func(*args, **kwargs)
        finally:
            F.linear, F.scaled_dot_product_attention = saved

    def _call(self, func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        key = F.scaled_dot_product_attention if func == self._sdpa else func
        args, kwargs = self._autocast_args(key, args, kwargs)
        return func(*args, **kwargs)

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            return self._call(self._sdpa, args, kwargs)
        if func is F.multi_head_attention_forward:
            return self._mha(func, args, kwargs)
        if func is F.dropout:
            x = args[0]
            p = kwargs.get("p", args[1] if len(args) > 1 else 0.5)
            training = kwargs.get("training", args[2] if len(args) > 2 else True)
            inplace = kwargs.get("inplace", args[3] if len(args) > 3 else False)
            if training and not inplace and 0 < p < 1 and x.is_meta and x.numel() > 0:
                return torch.native_dropout(x, p, True)[0]
        return self._call(func, args, kwargs)
