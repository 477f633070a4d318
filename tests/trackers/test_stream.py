from __future__ import annotations

import torch

from cnnstat.trackers.stream import OpStream


def test_each_op_runs_once_and_reaches_subscribers_in_order():
    heard: list[tuple[str, str]] = []

    def first(func, args, kwargs, out, call):
        heard.append(("first", func.overloadpacket.__name__))

    def second(func, args, kwargs, out, call):
        assert call is None  # no module tracker: every op is outside a module
        heard.append(("second", func.overloadpacket.__name__))

    x = torch.ones(2, 3)
    with OpStream(lambda: None, forward=(first, second)):
        y = torch.relu(x) + x
    assert heard == [("first", "relu"), ("second", "relu"), ("first", "add"), ("second", "add")]
    assert torch.equal(y, 2 * x)


def test_backward_ops_go_to_backward_subscribers_only():
    forward: list[str] = []
    backward: list[str] = []
    x = torch.ones(3, requires_grad=True)
    stream = OpStream(
        lambda: None,
        forward=(lambda f, a, k, o, c: forward.append(f.overloadpacket.__name__),),
        backward=(lambda f, a, k, o: backward.append(f.overloadpacket.__name__),),
    )
    with stream:
        loss = (x * x).sum()
        stream.in_backward = True
        loss.backward()
    assert forward == ["mul", "sum"]
    assert backward and "mul" in backward  # d(x*x)/dx = 2x: autograd multiplies
    assert torch.equal(x.grad, 2 * torch.ones(3))


def test_the_current_call_is_asked_once_per_op():
    asked = []
    seen = []
    with OpStream(lambda: asked.append(1) or "call", forward=(lambda *a: seen.append(a[-1]),)):
        torch.relu(torch.ones(2))
    ops = len(seen)
    assert ops >= 1 and len(asked) == ops and set(seen) == {"call"}
