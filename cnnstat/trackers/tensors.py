"""Small helpers shared by the trackers: finding tensors in op arguments, shapes, storages."""

from __future__ import annotations

from typing import Any

import torch


def first_tensor(obj: Any) -> torch.Tensor | None:
    """The first tensor in ``obj``, searching tuples, lists and dict values depth-first."""
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for o in obj:
            t = first_tensor(o)
            if t is not None:
                return t
    if isinstance(obj, dict):
        for o in obj.values():
            t = first_tensor(o)
            if t is not None:
                return t
    return None


def tensors_in(items: Any) -> list[torch.Tensor]:
    """The tensors among ``items`` and one level of tuples or lists inside them."""
    found: list[torch.Tensor] = []
    for a in items:
        if isinstance(a, torch.Tensor):
            found.append(a)
        elif isinstance(a, (tuple, list)):
            found.extend(x for x in a if isinstance(x, torch.Tensor))
    return found


def outputs(out: Any) -> list[torch.Tensor]:
    """The tensors an op returned: one tensor, or those of a tuple or list."""
    return tensors_in(out if isinstance(out, (tuple, list)) else (out,))


def shape_of(obj: Any) -> tuple[int, ...] | None:
    """The shape of the first tensor in ``obj``, or None."""
    t = first_tensor(obj)
    return None if t is None else tuple(int(s) for s in t.shape)


def storage_of(t: torch.Tensor) -> Any | None:
    """``t``'s untyped storage, or None for storage-less tensors."""
    try:
        return t.untyped_storage()
    except (RuntimeError, NotImplementedError):
        return None  # sparse, nested or other storage-less tensors
