"""The op stream: one TorchDispatchMode that runs each op once and tells its subscribers.

Forward subscribers get ``(func, args, kwargs, out, call)``, ``call`` being the
module call running the op (None outside every module), in the order they
were given. Once ``in_backward`` is set, only the backward subscribers hear of
ops, as ``(func, args, kwargs, out)``: the backward has no module attribution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode

from cnnstat.trackers.kernels import meta_shortcut
from cnnstat.trackers.modules import Call

Subscriber = Callable[[Any, Any, Any, Any, "Call | None"], None]
BackwardSubscriber = Callable[[Any, Any, Any, Any], None]


class OpStream(TorchDispatchMode):
    """Runs every aten op (through :func:`meta_shortcut` where it applies) and hands it on."""

    def __init__(
        self,
        current: Callable[[], Call | None],
        forward: Sequence[Subscriber],
        backward: Sequence[BackwardSubscriber] = (),
    ) -> None:
        super().__init__()
        self._current = current
        self._forward = tuple(forward)
        self._backward = tuple(backward)
        self.in_backward = False

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = meta_shortcut(func, args)
        if out is None:
            out = func(*args, **kwargs)
        if self.in_backward:
            for listen in self._backward:
                listen(func, args, kwargs, out)
            return out
        call = self._current()
        for subscriber in self._forward:
            subscriber(func, args, kwargs, out, call)
        return out
