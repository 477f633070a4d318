from __future__ import annotations

import pytest

from cnnstat.bench.runner import BenchConfig, _Loop
from cnnstat.bench.stats import percentile, summarize
from cnnstat.bench.timers import CpuTimer


def test_percentiles_interpolate_like_numpy():
    s = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(s, 50) == 30.0
    assert percentile(s, 10) == 14.0  # 10 + 0.4 * 10
    assert percentile(s, 90) == 46.0
    assert percentile(s, 25) == 20.0 and percentile(s, 75) == 40.0


def test_summary_keeps_every_sample_and_flags_noise():
    quiet = summarize([100.0, 101.0, 99.0, 100.0, 100.0])
    assert quiet.median == 100.0 and quiet.n == 5
    assert quiet.samples == (100.0, 101.0, 99.0, 100.0, 100.0)
    assert quiet.iqr == 0.0 and not quiet.noisy
    noisy = summarize([100.0, 130.0, 70.0, 100.0, 125.0])
    # sorted 70, 100, 100, 125, 130: IQR = 125 - 100 = 25, 25% of the median
    assert noisy.iqr == 25.0 and noisy.noisy


def test_cpu_timer_with_fake_clock():
    ticks = iter([0, 2_000_000, 5_000_000])  # ns
    timer = CpuTimer(clock=lambda: next(ticks))
    timer.start()
    timer.mark()
    timer.mark()
    assert timer.elapsed_ms() == [2.0, 3.0]


def test_fixed_warmup_and_iterations():
    calls: list[int] = []

    def step() -> list[float]:
        calls.append(1)
        return [1.0]

    loop = _Loop(BenchConfig(models=("x",), warmup=3, iters=7))
    loop.warmup(step)
    samples = loop.measure(step)
    assert len(calls) == 10 and len(samples) == 7


def test_warmup_runs_until_timings_settle():
    times = iter([50.0, 30.0, 20.0, 10.0, 10.1, 10.0, 10.0, 10.0])
    seen: list[float] = []

    def step() -> list[float]:
        t = next(times)
        seen.append(t)
        return [t]

    _Loop(BenchConfig(models=("x",))).warmup(step)
    # settles once three consecutive timings are within 5%: 10.0, 10.1, 10.0
    assert seen == [50.0, 30.0, 20.0, 10.0, 10.1, 10.0]


def test_min_time_bounds_measurement():
    loop = _Loop(BenchConfig(models=("x",), min_time_s=0.05, min_iters=2))
    samples = loop.measure(lambda: [20.0])  # 20 ms each: 3 samples reach 50 ms
    assert len(samples) == 3


def test_a_slow_tail_is_noisy_even_with_a_tight_iqr():
    # 15 quiet iterations at 100 ms and a tail delayed by another process
    samples = [100.0] * 15 + [130.0, 160.0, 200.0, 220.0, 240.0]
    s = summarize(samples)
    # p75 at rank 14.25: 100 + 0.25 * 30 = 107.5, so the IQR is 7.5% of the 100 ms median
    assert s.iqr == 7.5 and s.median == 100.0
    # p90 at rank 17.1: 200 + 0.1 * 20 = 202; p10 = 100: a spread of 102% of the median
    assert s.p90 == pytest.approx(202.0) and s.spread == pytest.approx(1.02)
    assert s.noisy and s.to_dict()["noisy"] is True


def test_spread_at_the_threshold():
    # p10 at rank 0.8: 96.8; p90 at rank 7.2: 103.2; spread (103.2 - 96.8) / 100
    s = summarize([96.0, 97.0, 98.0, 99.0, 100.0, 101.0, 102.0, 103.0, 104.0])
    assert s.spread == pytest.approx(0.064) and not s.noisy
    wide = summarize([85.0, 90.0, 95.0, 100.0, 105.0, 110.0, 115.0])
    # p10 at rank 0.6: 88; p90 at rank 5.4: 112; spread 24% > 20%
    assert wide.spread == pytest.approx(0.24) and wide.noisy
