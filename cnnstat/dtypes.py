"""Dtype names as users write them (fp32, bf16, fp16, and torch's own spellings) -> torch dtypes.

The one table of these names: the CLI's ``--dtype``, bench's and profile's autocast, the memory
model and the matmul ceiling all read it.
"""

from __future__ import annotations

from typing import Any

NAMES = ("fp32", "fp16", "bf16")
_ALIASES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


def canonical(name: str) -> str | None:
    """``"bfloat16"`` -> ``"bf16"``; None for a name that is not a float dtype cnnstat runs."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    return key if key in NAMES else None


def torch_dtype(name: str) -> Any:
    """The torch dtype of a name in ``NAMES`` (or an alias); KeyError for anything else."""
    import torch

    key = canonical(name)
    if key is None:
        raise KeyError(name)
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[key]
