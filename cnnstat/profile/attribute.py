"""Charging profiler events to modules: pure bookkeeping over a tree of timed events.

The forward is attributed by the module-call stack: each module call is a
``cnnstat::module::<name>`` range opened in a forward pre-hook and closed in the
forward hook, so an op belongs to the innermost module range around it.

The backward is attributed by autograd's sequence numbers: each autograd node
records the sequence number of the forward op that created it, and autograd's
``evaluate_function: <Node>`` event carries it, so a backward node (with every op
inside it) is charged to the module whose forward ran that op.

Module ranges' own time (Python and hook overhead between ops), ops outside the
model (the loss), nodes without a forward op (``AccumulateGrad``) and the gaps
between events are what a profile cannot attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

MODULE_PREFIX = "cnnstat::module::"
STEP_PREFIX = "cnnstat::step::"
BACKWARD_PREFIX = "autograd::engine::evaluate_function: "


@dataclass(frozen=True)
class Event:
    """One profiler event, reduced to what attribution needs.

    ``parent`` is the index of the enclosing event in the same list (None at the top),
    ``sequence_nr`` autograd's (-1 when none) and ``self_us`` the event's own cost in
    microseconds: CPU time on CPU, the time of its own kernels on CUDA.
    """

    name: str
    parent: int | None
    sequence_nr: int
    self_us: float


# Causes of unattributed time that the events can name; the rest of the step is gaps.
IN_MODULES = "between ops inside modules"  # Python and hook time in a module's forward
OUTSIDE = "ops outside the model"  # the loss, the backward's seed gradient
AUTOGRAD = "autograd nodes of no module"  # AccumulateGrad, the loss's backward
STEP = "between ops outside modules"  # the step's own Python, the autograd engine
OVERHEADS = (IN_MODULES, OUTSIDE, AUTOGRAD, STEP)


@dataclass
class StepTimes:
    """One step's attributed microseconds, per module name, forward and backward."""

    forward_us: dict[str, float] = field(default_factory=dict)
    backward_us: dict[str, float] = field(default_factory=dict)
    # what no module is charged with, by cause (see OVERHEADS)
    overhead_us: dict[str, float] = field(default_factory=dict)

    @property
    def attributed_us(self) -> float:
        return sum(self.forward_us.values()) + sum(self.backward_us.values())


def attribute(events: Sequence[Event]) -> dict[int, StepTimes]:
    """Attributed times of each step, keyed by the step number of its ``cnnstat::step::<i>`` range.

    Events outside every step range are ignored; inside one, an event's own time goes
    to the innermost module range or autograd node around it, or nowhere.
    """
    # Resolve each event's step, innermost module range and innermost backward node,
    # parents first (they come before their children in the list).
    step: list[int | None] = []
    module: list[str | None] = []
    node: list[int | None] = []  # index of the enclosing evaluate_function event
    order = _parents_first(events)
    step = [None] * len(events)
    module = [None] * len(events)
    node = [None] * len(events)
    for i in order:
        e = events[i]
        p = e.parent
        s, m, n = (step[p], module[p], node[p]) if p is not None else (None, None, None)
        if e.name.startswith(STEP_PREFIX):
            s = int(e.name[len(STEP_PREFIX):])
        elif e.name.startswith(MODULE_PREFIX):
            m = e.name[len(MODULE_PREFIX):]
        elif e.name.startswith(BACKWARD_PREFIX) and n is None:
            n = i
        step[i], module[i], node[i] = s, m, n

    # The forward op that created each autograd node, per step: sequence number -> module.
    creator: dict[tuple[int, int], str] = {}
    for i, e in enumerate(events):
        s, m = step[i], module[i]
        if s is not None and m is not None and node[i] is None and e.sequence_nr >= 0:
            creator.setdefault((s, e.sequence_nr), m)

    out: dict[int, StepTimes] = {}
    for i, e in enumerate(events):
        s = step[i]
        if s is None:
            continue
        times = out.setdefault(s, StepTimes())
        n = node[i]
        cause: str | None = None
        if e.name.startswith(STEP_PREFIX):
            cause = STEP
        elif e.name.startswith(MODULE_PREFIX):
            cause = IN_MODULES  # a range's own time is overhead between ops, not a layer's work
        elif n is not None:
            owner = creator.get((s, events[n].sequence_nr))
            if owner is None:
                cause = AUTOGRAD
            else:
                times.backward_us[owner] = times.backward_us.get(owner, 0.0) + e.self_us
        elif module[i] is not None:
            owner = module[i]
            times.forward_us[owner] = times.forward_us.get(owner, 0.0) + e.self_us
        else:
            cause = OUTSIDE
        if cause is not None:
            times.overhead_us[cause] = times.overhead_us.get(cause, 0.0) + e.self_us
    return out


def _parents_first(events: Sequence[Event]) -> list[int]:
    """Indices ordered so that every event comes after its parent."""
    depth: list[int] = [-1] * len(events)

    def depth_of(i: int) -> int:
        chain = []
        j: int | None = i
        while j is not None and depth[j] < 0:
            chain.append(j)
            j = events[j].parent
        d = depth[j] if j is not None else -1
        for k in reversed(chain):
            d += 1
            depth[k] = d
        return depth[i]

    for i in range(len(events)):
        depth_of(i)
    return sorted(range(len(events)), key=depth.__getitem__)


def rollup_name(name: str, depth: int | None) -> str:
    """The module a name's time rolls up into at ``depth`` (None: the name itself; 0: the root)."""
    if depth is None or not name:
        return name
    parts = name.split(".")
    return ".".join(parts[:depth])
