"""The op stream and the trackers subscribed to it.

One TorchDispatchMode (:class:`~cnnstat.trackers.stream.OpStream`) runs every
aten op of a counted pass once and hands ``(func, args, kwargs, out)`` and the
module call running it to each tracker, in a fixed order. Each tracker keeps
one kind of state, in its own module:

* :mod:`~cnnstat.trackers.modules`: the module call stack (global forward hooks);
* :mod:`~cnnstat.trackers.params`: which call first read each parameter;
* :mod:`~cnnstat.trackers.costs`: MACs and FLOPs per call, unsupported ops, the backward;
* :mod:`~cnnstat.trackers.receptive_field`: each tensor's receptive field;
* :mod:`~cnnstat.trackers.data_dependence`: what was computed from data-dependent ops;
* :mod:`~cnnstat.trackers.memory`: activation and saved-for-backward bytes.

:mod:`~cnnstat.trackers.kernels` runs an op the way the kernel would, faster on
meta tensors, and refuses what the kernel refuses. ``cnnstat.counter`` wires
the trackers together for one analysis.
"""
