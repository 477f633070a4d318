from __future__ import annotations

import torch
from torch import nn

from cnnstat.trackers.receptive_field import GLOBAL, ReceptiveFieldTracker, propagate

aten = torch.ops.aten


def test_propagate_through_a_strided_conv():
    x, w = torch.ones(1, 2, 9, 9), torch.ones(2, 2, 3, 3)
    args = (x, w, None, [2, 2], [0, 0], [1, 1], False, [0, 0], 1)
    out = aten.convolution.default(*args)
    # r_out = r_in + (k - 1) * j_in = 1 + 2, j_out = j_in * s = 2
    assert propagate(aten.convolution.default, args, out, [((1, 1), (1, 1))]) == ((3, 3), (2, 2))


def test_mixing_ops_make_the_field_global_and_global_stays_global():
    x = torch.ones(1, 2, 4, 4)
    assert propagate(aten.mean.dim, (x, [2, 3]), x.mean((2, 3)), [((3, 3), (1, 1))]) == GLOBAL
    assert propagate(aten.relu.default, (x,), x, [GLOBAL]) == GLOBAL


def test_tracker_wired_to_exits():
    from cnnstat.trackers.modules import ModuleCallTracker
    from cnnstat.trackers.stream import OpStream

    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1))
    rf = ReceptiveFieldTracker()
    modules = ModuleCallTracker(model)
    modules.on_exit.append(rf.on_module_exit)
    x = torch.ones(1, 1, 12, 12)
    rf.mark_input(x)
    hooks = [
        nn.modules.module.register_module_forward_pre_hook(modules.pre_hook),
        nn.modules.module.register_module_forward_hook(modules.post_hook),
    ]
    try:
        with OpStream(modules.current, forward=(rf.on_op,)):
            model(x)
    finally:
        for h in hooks:
            h.remove()
    fields = {c.name: c.receptive_field for c in modules.calls}
    # conv 3x3: 3; max-pool 2x2/2 adds (2 - 1) * 1: 4, jump 2; a 1x1 adaptive output: global
    assert fields == {"0": ((3, 3), (1, 1)), "1": ((4, 4), (2, 2)), "2": GLOBAL, "": GLOBAL}
    rf.release()
    assert not rf._rf and not rf._alive
