"""Attribution of profiler events to modules, on hand-built event trees."""

from __future__ import annotations

from types import SimpleNamespace

from cnnstat.profile.attribute import (
    AUTOGRAD,
    BACKWARD_PREFIX,
    IN_MODULES,
    MODULE_PREFIX,
    OUTSIDE,
    STEP,
    STEP_PREFIX,
    Event,
    attribute,
    rollup_name,
)
from cnnstat.profile.engine import to_events


def _tree() -> list[Event]:
    """Step 0: module a (op seq 7, 10 us, with a 5 us child), module a.b (op seq 8, 20 us),
    an op outside the model (the loss, 3 us); backward nodes for seq 8 (40 us, 4 of them its
    own), seq 7 (30 us) and AccumulateGrad (seq -1, 6 us)."""
    return [
        Event(STEP_PREFIX + "0", None, -1, 100.0),  # 0
        Event(MODULE_PREFIX + "a", 0, -1, 50.0),  # 1: a range's own time is overhead
        Event("aten::addmm", 1, 7, 10.0),  # 2
        Event("aten::copy_", 2, -1, 5.0),  # 3
        Event(MODULE_PREFIX + "a.b", 1, -1, 1.0),  # 4
        Event("aten::relu", 4, 8, 20.0),  # 5
        Event("aten::mean", 0, 9, 3.0),  # 6
        Event(BACKWARD_PREFIX + "ReluBackward0", 0, 8, 4.0),  # 7
        Event("aten::threshold_backward", 7, -1, 36.0),  # 8
        Event(BACKWARD_PREFIX + "AddmmBackward0", 0, 7, 30.0),  # 9
        Event(BACKWARD_PREFIX + "torch::autograd::AccumulateGrad", 0, -1, 6.0),  # 10
        Event("aten::add", None, 3, 1000.0),  # 11: outside every step
    ]


def test_forward_goes_to_the_innermost_module_and_its_child_ops() -> None:
    times = attribute(_tree())[0]
    assert times.forward_us == {"a": 10.0 + 5.0, "a.b": 20.0}


def test_backward_goes_to_the_module_whose_forward_op_made_the_node() -> None:
    times = attribute(_tree())[0]
    assert times.backward_us == {"a.b": 4.0 + 36.0, "a": 30.0}


def test_overhead_loss_and_accumulate_grad_stay_unattributed() -> None:
    times = attribute(_tree())[0]
    # 15 + 20 forward, 40 + 30 backward; the ranges, the loss and AccumulateGrad are not rows
    assert times.attributed_us == 15.0 + 20.0 + 40.0 + 30.0
    assert times.overhead_us == {
        IN_MODULES: 50.0 + 1.0,
        OUTSIDE: 3.0,
        AUTOGRAD: 6.0,
        STEP: 100.0,
    }


def test_steps_are_kept_apart_and_sequence_numbers_do_not_leak_between_them() -> None:
    events = _tree()
    second = [
        Event(STEP_PREFIX + "1", None, -1, 0.0),  # 0
        Event(MODULE_PREFIX + "c", 0, -1, 0.0),  # 1
        Event("aten::mm", 1, 7, 2.0),  # 2: reuses step 0's sequence number 7
        Event(BACKWARD_PREFIX + "MmBackward0", 0, 7, 9.0),  # 3
    ]
    offset = len(events)
    events += [
        Event(e.name, None if e.parent is None else e.parent + offset, e.sequence_nr, e.self_us)
        for e in second
    ]
    out = attribute(events)
    assert set(out) == {0, 1}
    assert out[1].forward_us == {"c": 2.0}
    assert out[1].backward_us == {"c": 9.0}
    assert out[0].backward_us["a"] == 30.0


def test_children_listed_before_their_parents_are_still_attributed() -> None:
    events = [
        Event("aten::mm", 2, 1, 7.0),  # 0: its parent comes later in the list
        Event(STEP_PREFIX + "0", None, -1, 0.0),  # 1
        Event(MODULE_PREFIX + "m", 1, -1, 0.0),  # 2
    ]
    assert attribute(events)[0].forward_us == {"m": 7.0}


def test_cuda_events_are_costed_by_their_own_kernels() -> None:
    """On CUDA an op's cost is its kernels' time (self_device_time_total), not its CPU time."""

    def fe(name, parent, seq, cpu_us, device_us):
        return SimpleNamespace(name=name, cpu_parent=parent, sequence_nr=seq,
                               self_cpu_time_total=cpu_us, self_device_time_total=device_us)

    step = fe(STEP_PREFIX + "0", None, -1, 50.0, 0.0)
    mod = fe(MODULE_PREFIX + "conv", step, -1, 30.0, 0.0)
    op = fe("aten::cudnn_convolution", mod, 4, 12.0, 900.0)
    node = fe(BACKWARD_PREFIX + "ConvolutionBackward0", step, 4, 8.0, 1500.0)
    raw = [step, mod, op, node]
    cuda = attribute(to_events(raw, "cuda"))[0]
    assert cuda.forward_us == {"conv": 900.0}
    assert cuda.backward_us == {"conv": 1500.0}
    cpu = attribute(to_events(raw, "cpu"))[0]
    assert cpu.forward_us == {"conv": 12.0}
    assert cpu.backward_us == {"conv": 8.0}


def test_rollup_name() -> None:
    assert rollup_name("layer1.0.conv1", None) == "layer1.0.conv1"
    assert rollup_name("layer1.0.conv1", 2) == "layer1.0"
    assert rollup_name("layer1.0.conv1", 1) == "layer1"
    assert rollup_name("layer1.0.conv1", 0) == ""
    assert rollup_name("fc", 3) == "fc"
    assert rollup_name("", 1) == ""
