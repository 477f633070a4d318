"""Running a model through the op stream with only the trackers a test needs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnnstat.trackers.modules import ModuleCallTracker
from cnnstat.trackers.stream import OpStream


def traced(model: nn.Module, x: torch.Tensor, *trackers: Any) -> ModuleCallTracker:
    """Run ``model(x)`` under module hooks and an op stream feeding ``trackers``' ``on_op``."""
    modules = ModuleCallTracker(model)
    pre = nn.modules.module.register_module_forward_pre_hook(modules.pre_hook)
    post = nn.modules.module.register_module_forward_hook(modules.post_hook)
    try:
        with OpStream(modules.current, forward=[t.on_op for t in trackers]):
            model(x)
    finally:
        pre.remove()
        post.remove()
    return modules
