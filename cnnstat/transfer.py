"""Transfer-learning views: replace the classifier head, freeze the lower layers.

Nothing here touches a caller's model: the head is replaced on a copy, and
freezing is a set of parameter names that the analysis treats as
``requires_grad=False``.
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

import torch
from torch import nn

from cnnstat.errors import InvalidInputError


def classifier_head(model: nn.Module) -> tuple[str, nn.Module]:
    """The last module (in registration order) that owns parameters, if it is a Linear or Conv."""
    last: tuple[str, nn.Module] | None = None
    for name, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):
            last = (name, module)
    if last is None or not isinstance(last[1], (nn.Linear, nn.modules.conv._ConvNd)):
        kind = type(last[1]).__name__ if last else "nothing"
        raise InvalidInputError(
            f"cannot replace the classifier head: the last layer with parameters is {kind}, "
            "not a Linear or Conv layer"
        )
    return last


def replace_head(model: nn.Module, num_classes: int, copy_model: bool) -> nn.Module:
    """The model with its classifier head re-initialised for ``num_classes`` outputs."""
    if num_classes < 1:
        raise InvalidInputError(f"num_classes must be positive, got {num_classes}", fields=("num_classes",))
    if copy_model:
        model = copy.deepcopy(model)
    name, head = classifier_head(model)
    weight = next(head.parameters())
    if weight.device.type != "meta":
        from cnnstat.resources import ensure_fits

        per_class = weight[0].numel() + (1 if getattr(head, "bias", None) is not None else 0)
        ensure_fits(
            per_class * num_classes * weight.element_size(),
            f"a {num_classes:,}-class head on real tensors",
        )
    with torch.device(weight.device):
        if isinstance(head, nn.Linear):
            new: nn.Module = nn.Linear(head.in_features, num_classes, bias=head.bias is not None)
        else:
            conv: Any = head  # Conv1d/2d/3d share this constructor signature
            new = type(conv)(
                conv.in_channels,
                num_classes,
                kernel_size=conv.kernel_size,
                stride=conv.stride,
                padding=conv.padding,
                dilation=conv.dilation,
                bias=conv.bias is not None,
            )
    new.to(dtype=weight.dtype)
    if not name:
        return new  # the model is its own head: a bare Linear or Conv
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, new)
    return model


def frozen_parameters(
    model: nn.Module, upto: str | None = None, ratio: float | None = None
) -> set[str]:
    """Names of the parameters frozen by ``--freeze UPTO`` or ``--freeze-ratio R``.

    ``upto`` freezes every parameter of the modules registered before the named
    module, and of the module itself with everything inside it. ``ratio``
    freezes whole modules (a weight is never frozen without its bias) from the
    input side until at least that fraction of all parameters is frozen;
    :func:`frozen_fraction` says what fraction that was.
    """
    if upto is not None and ratio is not None:
        raise InvalidInputError(
            "use either freeze or freeze_ratio, not both", fields=("freeze", "freeze_ratio")
        )
    if upto is not None:
        modules = [n for n, _ in model.named_modules()]
        if upto not in modules[1:]:
            close = difflib.get_close_matches(upto, modules[1:], n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise InvalidInputError(
                f"freeze: the model has no module '{upto}'{hint}", fields=("freeze",)
            )
        # named_modules is pre-order: the named module's subtree ends at its last descendant
        position = {n: i for i, n in enumerate(modules)}
        end = max(i for n, i in position.items() if n == upto or n.startswith(upto + "."))
        return {
            f"{owner}.{pname}" if owner else pname
            for owner, module in model.named_modules()
            if position[owner] <= end
            for pname, _ in module.named_parameters(recurse=False)
        }
    if ratio is not None:
        if not 0.0 < ratio <= 1.0:
            raise InvalidInputError(
                f"freeze_ratio must be in (0, 1], got {ratio}", fields=("freeze_ratio",)
            )
        return _freeze_whole_modules(model, ratio)
    return set()


def _freeze_whole_modules(model: nn.Module, ratio: float) -> set[str]:
    """The fewest whole modules, from the input side, that hold ``ratio`` of the parameters.

    A module's weight and bias are never split: ratio 0.8 of vgg16 freezes
    ``features`` and all of ``classifier.0`` (84.9% of the parameters), not
    classifier.0's weight alone.
    """
    seen: set[int] = set()
    frozen: set[str] = set()
    total = sum(p.numel() for p in model.parameters())
    count = 0
    for owner, module in model.named_modules():
        if count >= ratio * total:
            break
        for pname, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue  # a tied parameter belongs to the first module holding it
            seen.add(id(p))
            frozen.add(f"{owner}.{pname}" if owner else pname)
            count += p.numel()
    return frozen


def frozen_fraction(model: nn.Module, frozen: set[str]) -> float:
    """The fraction of the model's parameters that ``frozen`` names."""
    params = dict(model.named_parameters())
    total = sum(p.numel() for p in params.values())
    return sum(p.numel() for n, p in params.items() if n in frozen) / total if total else 0.0
