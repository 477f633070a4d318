"""Device profiles: what a device adds to the tensors a model allocates.

Each profile states its assumptions; they are printed with every prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20


@dataclass(frozen=True)
class DeviceProfile:
    """How one kind of device allocates: its allocator, resident workspaces and kernel choices."""

    name: str
    caching_allocator: bool  # PyTorch's CUDA caching allocator (block rounding, segments)
    cuda_kernels: bool  # fused attention and dropout, CUDA autocast policy
    foreach_optimizers: bool  # optimizers default to their foreach implementation
    workspaces: tuple[tuple[str, int], ...]  # resident library workspaces: (what, bytes)
    assumptions: tuple[str, ...]

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
        "cuDNN benchmark mode off; cuDNN's per-call convolution workspaces are not modelled",
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
        "optimizers use their single-tensor implementation (PyTorch's CPU default)",
        "the training loss is the sum of every output, as in loss = out.float().sum()",
    ),
)

PROFILES = {p.name: p for p in (CUDA, CPU)}
