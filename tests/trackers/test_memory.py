from __future__ import annotations

import torch
from torch import nn

from cnnstat.trackers.memory import MemoryTracker
from tests.trackers.helpers import traced


def test_new_storages_are_activations_views_and_in_place_ops_are_not():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(inplace=True), nn.Flatten(0))
    memory = MemoryTracker(lambda: None)
    memory.exempt(dict(model.named_parameters()))
    x = torch.ones(2, 4)
    memory.mark_input(x)
    modules = traced(model, x, memory)
    by_name = {c.name: c.activation_bytes for c in modules.calls}
    assert by_name == {"": 0, "0": 2 * 6 * 4, "1": 0, "2": 0}  # fp32 2x6 output: 48 bytes


def test_pack_counts_each_saved_storage_once_and_skips_exempt_ones():
    w = torch.ones(3, 3, requires_grad=True)
    memory = MemoryTracker(lambda: None)
    memory.exempt({"w": w})
    x = torch.ones(2, 3)
    packed = memory.pack(x)
    memory.pack(x[0])  # a view: the same storage
    memory.pack(w)
    assert packed is not x and packed.untyped_storage().data_ptr() == x.data_ptr()
    assert memory._saved == {x.untyped_storage()._cdata}


def test_saved_bytes_go_to_the_running_call():
    from cnnstat.trackers.modules import Call

    call = Call(0, nn.Identity(), "", 0, None, True, None, ())
    memory = MemoryTracker(lambda: call)
    x = torch.ones(5, 7, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(memory.pack, memory.unpack):
        y = (x * x).sum()  # mul saves x twice: one storage
    y.backward()
    assert call.saved_bytes == 5 * 7 * 4
    assert torch.equal(x.grad, 2 * x.detach())
