from __future__ import annotations

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
