"""The time-share against FLOP-share data, on a hand-built report."""

from __future__ import annotations

import pytest

from cnnstat.plots import stage_depth, time_vs_flops_shares
from cnnstat.profile import LeafTimes, ProfileReport


def _leaf(key: str, kind: str, flops: int, fwd: float, bwd: float) -> LeafTimes:
    return LeafTimes(key=key, type="X", kind=kind, flops=flops, bytes=4 * flops, params=0,
                     forward_samples_ms=(fwd, fwd), backward_samples_ms=(bwd, bwd))  # fmt: skip


def _report() -> ProfileReport:
    leaves = (
        _leaf("features.0.conv", "conv", 900, 4.0, 6.0),  # 90% of FLOPs, 10 ms
        _leaf("features.0.dw", "depthwise conv", 50, 3.0, 5.0),  # 5%, 8 ms
        _leaf("features.1.bn", "norm", 50, 1.0, 1.0),  # 5%, 2 ms
        _leaf("classifier", "linear", 0, 0.0, 0.0),
    )
    return ProfileReport(model="m", device="cpu", mode="train", dtype="fp32", batch_size=1,
                         input_shape=(1, 3, 8, 8), threads=1, math="fp32",
                         ceiling_flops_per_s=1e9, bandwidth_bytes_per_s=1e9, step=None,
                         bench=None, leaves=leaves)  # fmt: skip


def test_shares_per_kind_and_per_stage() -> None:
    stages, kinds = time_vs_flops_shares(_report(), depth=2)
    by_kind = {k: (t, f) for k, t, f in kinds}
    assert by_kind["conv"] == pytest.approx((10 / 20, 900 / 1000))
    assert by_kind["depthwise conv"] == pytest.approx((8 / 20, 50 / 1000))
    assert by_kind["norm"] == pytest.approx((2 / 20, 50 / 1000))
    assert [k for k, _, _ in kinds][0] == "conv"  # sorted by time share
    by_stage = {k: (t, f) for k, t, f in stages}
    assert by_stage["features.0"] == pytest.approx((18 / 20, 950 / 1000))
    assert sum(t for _, t, _ in stages) == pytest.approx(1.0)
    assert sum(f for _, _, f in stages) == pytest.approx(1.0)


def test_stage_depth_is_the_first_with_enough_rows() -> None:
    report = _report()
    assert len(report.rows(1)) == 2  # features, classifier
    assert stage_depth(report, min_rows=3) == 2  # features.0, features.1, classifier
    assert stage_depth(report, min_rows=2) == 1
