"""Device profiles: what a device adds to the tensors a model allocates.

Each profile states its assumptions; they are printed with every prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MiB = 1 << 20


def cudnn_layout_workspace_bytes(input_shape: tuple[int, ...], output_shape: tuple[int, ...],
                                 weight_shape: tuple[int, ...], groups: int, itemsize: int) -> int:
    """Transient workspace of a cuDNN forward convolution on NCHW tensors: NHWC copies of
    its input and output.

    cuDNN's tensor-core kernels (TF32 for float32, which PyTorch allows for cuDNN by
    default, and fp16/bf16) work in NHWC; given NCHW tensors, cuDNN transposes the input
    into a workspace and writes the output there before transposing it back. Tensor cores
    need the channels of each group to be multiples of 4, so a first layer on 3-channel
    images runs without. A 1x1 convolution is a plain matrix product on NCHW and a
    depthwise one runs its own kernel: neither needs the copies.
    """
    c_in, c_out = input_shape[1], weight_shape[0]
    if groups > 1 and groups == c_in:
        return 0  # depthwise
    if (c_in // groups) % 4 or (c_out // groups) % 4:
        return 0
    if all(k == 1 for k in weight_shape[2:]):
        return 0
    n_in = n_out = itemsize
    for d in input_shape:
        n_in *= d
    for d in output_shape:
        n_out *= d
    return n_in + n_out


@dataclass(frozen=True)
class DeviceProfile:
    """How one kind of device allocates: its allocator, resident workspaces and kernel choices."""

    name: str
    caching_allocator: bool  # PyTorch's CUDA caching allocator (block rounding, segments)
    cuda_kernels: bool  # fused attention and dropout, CUDA autocast policy
    foreach_optimizers: bool  # optimizers default to their foreach implementation
    workspaces: tuple[tuple[str, int], ...]  # resident library workspaces: (what, bytes)
    assumptions: tuple[str, ...]
    # transient workspace of one forward convolution: (input, output, weight shapes, groups,
    # itemsize) -> bytes
    conv_workspace: Callable[..., int] | None = None

    @property
    def workspace_bytes(self) -> int:
        return sum(n for _, n in self.workspaces)


CUDA = DeviceProfile(
    name="cuda",
    caching_allocator=True,
    cuda_kernels=True,
    foreach_optimizers=True,
    workspaces=(
        # PyTorch keeps one cuBLAS workspace per (handle, stream); a training process has two
        # handles, the Python thread's and the autograd engine's device thread's. The default
        # size on Hopper (sm90) is CUBLAS_WORKSPACE_CONFIG=:4096:8, 8 x 4096 KiB.
        ("cuBLAS workspace, Python thread", 32 * MiB),
        ("cuBLAS workspace, autograd thread", 32 * MiB),
        # cuBLASLt (addmm with bias, bf16 GEMMs): CUBLASLT_WORKSPACE_SIZE default, 1024 KiB.
        ("cuBLASLt workspace", 1 * MiB),
    ),
    assumptions=(
        "figures are torch.cuda.memory_allocated totals: parameters, buffers, input, "
        "workspaces and every live tensor, each rounded as PyTorch's caching allocator "
        "rounds it (512-byte blocks, 2 MiB / 20 MiB segments, unsplit remainders counted)",
        "a steady process: cuBLAS/cuBLASLt workspaces (2 x 32 MiB + 1 MiB, the Hopper "
        "defaults) are already allocated, as they are once any matmul and backward have run",
        "cuDNN benchmark mode off; a forward convolution with a kernel larger than 1x1, not "
        "depthwise, with channels per group divisible by 4, briefly holds NHWC copies of its "
        "input and output (cuDNN's layout transform for tensor-core kernels); other cuDNN "
        "workspaces, backward ones included, are not modelled",
        "scaled_dot_product_attention runs flash attention (fp16/bf16, no mask, head dim "
        "<= 256) or memory-efficient attention otherwise, saving a log-sum-exp, not the "
        "L x L matrix",
        "training-mode dropout runs the fused kernel (1-byte mask)",
        "autocast follows CUDA's cast policy: matmuls and convolutions in the autocast "
        "dtype (parameter casts cached for the forward), norms, softmax and sums in float32",
        "optimizers use their default foreach implementation",
        "one stream; parameters allocated first in module order, then the input batch",
        "the training loss is the sum of every output, as in loss = out.float().sum()",
    ),
    conv_workspace=cudnn_layout_workspace_bytes,
)

CPU = DeviceProfile(
    name="cpu",
    caching_allocator=False,
    cuda_kernels=False,
    foreach_optimizers=False,
    workspaces=(),
    assumptions=(
        "figures are bytes of live tensors (parameters, buffers, input and activations), "
        "each counted at its own size: the CPU allocator does not cache",
        "kernels as the meta device runs them: unfused dropout, math attention",
        "oneDNN's own buffers inside CPU convolutions are not modelled (an output-sized "
        "buffer was seen during small convolutions)",
        "optimizers use their single-tensor implementation (PyTorch's CPU default)",
        "the training loss is the sum of every output, as in loss = out.float().sum()",
    ),
)

PROFILES = {p.name: p for p in (CUDA, CPU)}
