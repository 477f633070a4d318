"""Profiles of tiny models: attribution, backward rows, rows that add up, roll-up, Ctrl-C."""

from __future__ import annotations

import math

import pytest
import torch

from cnnstat.errors import InvalidInputError
from cnnstat.profile import profile
from tests.profile.tiny_models import Dominant, InterruptAfter, TinyConv

# Fixed ceilings keep the tests from spending seconds on microbenchmarks.
CEILINGS = (1e11, 1e10)
FAST = dict(warmup=1, iters=5, ceilings=CEILINGS, threads=1)


@pytest.fixture(scope="module")
def dominant():
    return profile(Dominant(), input_size=(16,), batch_size=64, **FAST)


@pytest.fixture(scope="module")
def tinyconv():
    return profile(TinyConv(), input_size=(3, 32, 32), batch_size=8, **FAST)


def test_the_dominant_layer_gets_the_largest_share(dominant) -> None:
    rows = {r.name: r for r in dominant.rows()}
    big = rows["big"]
    assert big.flops == 2 * 64 * 1024 * 1024 + 64 * 1024  # matmul + bias add: 134,283,264
    others = [r for r in rows.values() if r.name != "big"]
    assert big.share > max(r.share for r in others)
    assert big.forward_stats.median > max(r.forward_stats.median for r in others)
    assert big.backward_stats.median > max(r.backward_stats.median for r in others)


def test_backward_rows_exist_for_every_layer_with_parameters(tinyconv, dominant) -> None:
    for report in (tinyconv, dominant):
        with_params = [r for r in report.rows() if r.params]
        assert len(with_params) >= 4
        for r in with_params:
            assert r.backward_stats is not None and r.backward_stats.median > 0, r.name
            assert r.forward_stats is not None and r.forward_stats.median > 0, r.name


def test_every_leaf_with_flops_appears(tinyconv) -> None:
    import cnnstat

    analysis = cnnstat.analyze(TinyConv(), input_size=(3, 32, 32), batch_size=8)
    counted = {r.name for r in analysis.layers if r.flops and r.depth > 0}
    rows = {r.name: r for r in tinyconv.rows()}
    assert counted <= set(rows)
    for name in counted:
        assert rows[name].forward_stats.median > 0, name
    # the residual add is the container's own op, and has its own row
    assert rows["block"].flops == 8 * 8 * 32 * 32  # one add per element: 65,536
    assert rows["block.dw"].kind == "depthwise conv"
    assert rows["stem.0"].kind == "conv"


def test_rows_sum_to_the_step_within_the_unattributed_row(dominant, tinyconv) -> None:
    for report in (dominant, tinyconv):
        d = report.to_dict()
        rows = sum(lay["forward_ms"] + lay["backward_ms"] for lay in d["layers"])
        assert math.isclose(rows + d["unattributed_ms"], d["total_ms"], rel_tol=1e-9)
        # the profiler can attribute no more than the wall time of the step...
        for step in range(report.iterations):
            attributed = sum(
                lf.forward_samples_ms[step] + lf.backward_samples_ms[step] for lf in report.leaves
            )
            assert attributed <= report.step.samples[step] * 1.02
    # ...and on a model dominated by one matmul, most of it in the quietest step (a busy
    # machine stretches some steps with gaps no module owns)
    best = max(
        sum(lf.forward_samples_ms[i] + lf.backward_samples_ms[i] for lf in dominant.leaves)
        / dominant.step.samples[i]
        for i in range(dominant.iterations)
    )
    assert best >= 0.5


def test_the_plain_bench_is_measured_in_the_same_run(dominant) -> None:
    d = dominant.to_dict()
    assert dominant.bench is not None and dominant.bench.n == 5
    assert d["bench_ms"] > 0
    assert d["profiled_over_bench"] == pytest.approx(d["total_ms"] / d["bench_ms"])
    assert d["attributed_over_bench"] == pytest.approx(d["attributed_ms"] / d["bench_ms"])


def test_depth_rollup_sums_equal_the_leaves_step_by_step(tinyconv) -> None:
    leaves = tinyconv.rows(None)
    for depth in (0, 1, 2):
        rows = tinyconv.rows(depth)
        assert sum(r.flops for r in rows) == sum(r.flops for r in leaves)
        assert sum(r.bytes for r in rows) == sum(r.bytes for r in leaves)
        assert sum(r.params for r in rows) == sum(r.params for r in leaves)
        for step in range(tinyconv.iterations):
            for phase in ("forward_stats", "backward_stats"):
                rolled = sum(getattr(r, phase).samples[step] for r in rows)
                fine = sum(getattr(r, phase).samples[step] for r in leaves)
                assert rolled == pytest.approx(fine)
    assert {r.name for r in tinyconv.rows(1)} == {"stem", "block", "pool", "fc",
                                                  "TinyConv (model)"}
    assert len(tinyconv.rows(0)) == 1


def test_json_has_the_documented_keys(tinyconv) -> None:
    d = tinyconv.to_dict()
    for key in ("total_ms", "unattributed_ms", "layers", "bench_ms", "iterations"):
        assert key in d
    for layer in d["layers"]:
        for key in ("name", "forward_ms", "backward_ms", "flops", "bytes",
                    "achieved_flops_per_s", "bound"):  # fmt: skip
            assert key in layer
        if layer["flops"]:
            assert layer["bound"] in ("compute", "memory")


def test_bound_follows_the_ridge_point(dominant) -> None:
    rows = {r.name: r for r in dominant.rows()}
    big = rows["big"]
    # 1024x1024 weights, 64x1024 in and out, fp32: (65,536 + 65,536 + 1,049,600) * 4 bytes
    assert big.bytes == (64 * 1024 + 64 * 1024 + 1024 * 1024 + 1024) * 4
    # intensity 134e6 / 4.7e6 = 28 FLOP/byte, above the ridge of 1e11 / 1e10 = 10
    assert big.bound == "compute"
    assert rows["act"].bound == "memory"  # a ReLU does one FLOP per 8 bytes
    assert big.achieved_flops_per_s == pytest.approx(big.flops / (big.forward_stats.median / 1e3))


def test_forward_mode_has_no_backward() -> None:
    report = profile(Dominant(), input_size=(16,), batch_size=8, mode="forward", **FAST)
    assert all(r.backward_stats is None for r in report.rows())
    assert report.to_dict()["layers"][0]["backward_ms"] is None
    assert {r.name for r in report.rows() if r.forward_stats.median > 0} >= {"big", "small_in"}


def test_ctrl_c_keeps_the_steps_already_measured() -> None:
    # forwards: the analysis, plain 0, the discarded profiled step, profiled 0, profiled 1,
    # plain 1, then Ctrl-C in plain 2
    model = InterruptAfter(n=7)
    report = profile(model, input_size=(64,), batch_size=4, warmup=0, iters=3,
                     ceilings=CEILINGS, threads=1)  # fmt: skip
    assert report.interrupted
    assert report.bench is not None and report.bench.n == 2
    assert report.iterations == 2
    fc = {r.name: r for r in report.rows()}["fc"]
    assert fc.forward_stats.n == 2 and fc.forward_stats.median > 0
    assert model.training  # the model's mode is restored


def test_bad_input_raises_typed_errors() -> None:
    with pytest.raises(InvalidInputError):
        profile(Dominant(), input_size=(16,), mode="sideways")
    with pytest.raises(InvalidInputError):
        profile(Dominant(), input_size=(16,), batch_size=0)
    with pytest.raises(InvalidInputError):
        profile(Dominant(), input_size=(16,), depth=-1)
    with pytest.raises(InvalidInputError):
        profile(Dominant(), input_size=(16,), device="tpu")
    with pytest.raises(InvalidInputError):
        profile(Dominant(), input_size=(16,), iters=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_without_a_gpu_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="no CUDA device"):
        profile(Dominant(), input_size=(16,), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_profile_attributes_kernel_time() -> None:
    report = profile(Dominant(), input_size=(16,), batch_size=256, device="cuda", warmup=2,
                     iters=5, ceilings=CEILINGS)  # fmt: skip
    rows = {r.name: r for r in report.rows()}
    assert rows["big"].share == max(r.share for r in rows.values())
    assert rows["big"].backward_stats.median > 0
    d = report.to_dict()
    assert d["attributed_ms"] <= d["total_ms"] * 1.02


def test_the_unattributed_row_names_its_causes(dominant) -> None:
    from cnnstat.profile.attribute import AUTOGRAD, OUTSIDE

    d = dominant.to_dict()
    breakdown = d["unattributed_breakdown_ms"]
    assert sum(breakdown.values()) == pytest.approx(d["unattributed_ms"])
    assert breakdown[OUTSIDE] > 0  # the loss's mean runs outside the model
    assert breakdown[AUTOGRAD] > 0  # AccumulateGrad and the mean's backward belong to no module


class _FakeProfiler:
    """Stands in for torch.profiler.profile: records what it was asked for, collects nothing."""

    seen: list = []

    def __init__(self, activities) -> None:
        _FakeProfiler.seen.append(list(activities))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def events(self) -> list:
        return []


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_profiled_step_asks_for_the_devices_activity_and_removes_its_hooks(
    monkeypatch, device
) -> None:
    from torch.profiler import ProfilerActivity

    from cnnstat.profile.engine import _profiled_step

    monkeypatch.setattr(torch.profiler, "profile", _FakeProfiler)
    _FakeProfiler.seen = []
    model = Dominant()
    calls = []

    def step() -> list[float]:
        model(torch.zeros(2, 16))
        calls.append(1)
        return [1.0, 2.0]

    hooks = dict(torch.nn.modules.module._global_forward_hooks)
    phases, events = _profiled_step(step, model, device, 0)
    assert phases == [1.0, 2.0] and events == [] and calls == [1]
    assert (ProfilerActivity.CUDA in _FakeProfiler.seen[0]) == (device == "cuda")
    assert ProfilerActivity.CPU in _FakeProfiler.seen[0]
    assert dict(torch.nn.modules.module._global_forward_hooks) == hooks


def test_out_of_memory_is_a_typed_error_and_the_model_is_restored() -> None:
    from tests.profile.tiny_models import OutOfMemoryAfter

    model = OutOfMemoryAfter(n=3)  # the analysis's forward, one plain step, then the profiled
    with pytest.raises(InvalidInputError, match="out of cpu memory at batch 4"):
        profile(model, input_size=(64,), batch_size=4, warmup=0, iters=2, ceilings=CEILINGS,
                threads=1)  # fmt: skip
    assert model.training
    assert not torch.nn.modules.module._global_forward_pre_hooks
