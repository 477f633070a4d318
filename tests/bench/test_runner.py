from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import cnnstat
from cnnstat.bench import BenchConfig, Mode, run_bench
from cnnstat.bench.runner import BenchResult
from cnnstat.cli import main
from cnnstat.errors import InvalidInputError
from tests.expected import LENET5_BACKWARD_FLOPS, LENET5_FLOPS, published_params

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_tiny_cpu_run_has_all_fields():
    run = run_bench(BenchConfig(models=("lenet5",), batch_sizes=(2,), warmup=1, iters=3))
    assert [r.mode for r in run.results] == ["forward", "train"]
    fwd, train = run.results
    assert fwd.status == train.status == "ok"
    assert fwd.forward_stats.n == 3 and fwd.backward_stats is None
    assert train.backward_stats.n == 3
    assert fwd.threads >= 1 and run.environment["threads"] == fwd.threads
    assert fwd.flops == 2 * LENET5_FLOPS  # batch 2
    assert train.flops == 2 * (LENET5_FLOPS + LENET5_BACKWARD_FLOPS)
    assert train.images_per_s == pytest.approx(2 / (train.total_ms / 1e3))
    from cnnstat.memory import memory

    predicted = memory("lenet5", batch_size=2, device="cpu")
    assert fwd.estimated_memory_bytes == predicted.inference_peak_bytes
    assert train.estimated_memory_bytes == predicted.train_step_peak_bytes


def test_oom_in_one_cell_is_recorded_and_the_run_goes_on():
    def measure(config, model, device, batch, mode, threads):
        if batch == 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return BenchResult(model, device, batch, mode.value, "fp32", False, False, threads)

    run = run_bench(
        BenchConfig(models=("lenet5",), batch_sizes=(1, 8, 16), modes=(Mode.forward,)),
        measure=measure,
    )
    assert [(r.batch_size, r.status) for r in run.results] == [(1, "ok"), (8, "oom"), (16, "ok")]
    assert "out of memory" in run.results[1].message


def test_ctrl_c_keeps_finished_cells():
    def measure(config, model, device, batch, mode, threads):
        if batch == 2:
            raise KeyboardInterrupt
        return BenchResult(model, device, batch, mode.value, "fp32", False, False, threads)

    run = run_bench(
        BenchConfig(models=("lenet5",), batch_sizes=(1, 2, 3), modes=(Mode.forward,)),
        measure=measure,
    )
    assert run.interrupted and [r.batch_size for r in run.results] == [1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="no CUDA device"):
        run_bench(BenchConfig(models=("lenet5",), devices=("cuda",)))
    run = run_bench(
        BenchConfig(models=("lenet5",), devices=("all",), modes=(Mode.forward,), iters=1, warmup=0)
    )
    assert {r.device for r in run.results} == {"cpu"}
    assert run.skipped and "cuda" in run.skipped[0]


@requires_cuda
def test_cuda_run():
    run = run_bench(
        BenchConfig(models=("resnet18",), devices=("cuda",), batch_sizes=(4,), iters=3, warmup=1)
    )
    assert all(r.status == "ok" and r.device == "cuda" for r in run.results)
    weight_bytes = published_params("resnet18") * 4
    assert all(r.peak_memory_bytes and r.peak_memory_bytes > weight_bytes for r in run.results)
    for r in run.results:
        assert r.peak_reserved_bytes >= r.peak_memory_bytes
        assert r.warmup_peak_memory_bytes is not None
        assert r.math == ("tf32" if torch.backends.cudnn.allow_tf32 else "fp32")
        assert not r.ceiling_exceeded and r.bound in ("compute", "memory")
    assert run.environment["gpu"] and run.environment["math"] in ("tf32", "fp32")


def test_bench_cli_json(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "lenet5", "--iters", "2", "--warmup", "0", "--mode", "train", "-f", "json"])
    assert exc.value.code == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d["environment"]) >= {"torch", "cuda", "cudnn", "cpu", "threads", "date"}
    (r,) = d["results"]
    assert {
        "model",
        "device",
        "batch_size",
        "dtype",
        "channels_last",
        "compiled",
        "threads",
    } <= set(r)
    assert set(r["forward_ms"]) >= {"median", "p10", "p90", "iqr", "samples"}
    assert len(r["backward_ms"]["samples"]) == 2
    assert r["status"] == "ok"
    for key in (
        "images_per_s",
        "achieved_flops_per_s",
        "peak_memory_bytes",
        "estimated_memory_bytes",
    ):
        assert r[key] is not None


def test_bench_cli_bad_input(capsys):
    for args, needle in (
        (["bench", "resnet150"], "unknown model"),
        (["bench", "lenet5", "--batch-sizes", "1,x"], "batch-sizes"),
        (["bench", "lenet5", "--batch-sizes", "0"], "positive"),
        (["bench", "lenet5", "--device", "tpu"], "unknown device"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err


def test_backward_flops_of_depthwise_and_grouped_convs():
    # a depthwise and a grouped conv, input requiring no gradient (first layer)
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = nn.Conv2d(8, 8, 1, bias=False)
            self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
            self.grouped = nn.Conv2d(8, 16, 3, padding=1, groups=4, bias=False)

        def forward(self, x):
            return self.grouped(self.depthwise(self.first(x)))

    r = cnnstat.analyze(Net(), input_size=(8, 10, 10), backward=True)
    hw = 10 * 10
    first = hw * 8 * 8  # 1x1, 8 -> 8
    depthwise = hw * 8 * 9  # one 3x3 window per output element
    grouped = hw * 16 * (8 // 4) * 9
    assert r.totals.macs == first + depthwise + grouped
    # backward: grad_input and grad_weight each cost the forward's MACs, groups counted once;
    # the first layer's input needs no gradient, so it only has grad_weight.
    # (torch 2.14's FlopCounterMode reports 129,600 backward FLOPs for this depthwise conv
    # alone, 4.5x the 2 * 2 * 7,200 it costs.)
    assert r.totals.backward_macs == first + 2 * depthwise + 2 * grouped


def test_config_accepts_strings_and_single_values():
    config = BenchConfig(models="lenet5", modes=("forward",), batch_sizes=2, devices="cpu")
    assert config.modes == (Mode.forward,) and config.models == ("lenet5",)
    assert config.batch_sizes == (2,) and config.devices == ("cpu",)
    assert BenchConfig(models=("x",), modes="train").modes == (Mode.train,)
    with pytest.raises(InvalidInputError):
        BenchConfig(models=("x",), modes=("sideways",))
    seen = []

    def measure(config, model, device, batch, mode, threads):
        seen.append(mode)
        return BenchResult(model, device, batch, mode.value, "fp32", False, False, threads)

    run = run_bench(config, measure=measure)
    assert seen == [Mode.forward] and run.results[0].mode == "forward"
    assert cnnstat.Mode is Mode


def test_a_model_specific_problem_is_that_models_error_row():
    measured = []

    def measure(config, model, device, batch, mode, threads):
        measured.append(model)
        return BenchResult(model, device, batch, mode.value, "fp32", False, False, threads)

    run = run_bench(
        BenchConfig(models=("resnet18", "lenet5", "alexnet"), freeze="layer1",
                    modes=(Mode.train,)),
        measure=measure,
    )  # fmt: skip
    # lenet5 has no layer1, nor has alexnet: both found before resnet18 is measured
    assert [(r.model, r.status) for r in run.results] == [
        ("resnet18", "ok"), ("lenet5", "error"), ("alexnet", "error"),
    ]  # fmt: skip
    assert measured == ["resnet18"]
    assert "layer1" in run.results[1].message


def test_an_invalid_input_inside_one_cell_does_not_lose_the_others():
    def measure(config, model, device, batch, mode, threads):
        if batch == 2:
            raise InvalidInputError("input too small for this model")
        return BenchResult(model, device, batch, mode.value, "fp32", False, False, threads)

    run = run_bench(
        BenchConfig(models=("lenet5",), batch_sizes=(1, 2, 3), modes=(Mode.forward,)),
        measure=measure,
    )
    assert [r.status for r in run.results] == ["ok", "error", "ok"]


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_min_time_that_is_not_a_positive_finite_number_is_rejected(value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "lenet5", "--min-time", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "min-time" in err and "Traceback" not in err


def test_options_wrong_for_every_model_fail_before_any_measurement():
    def measure(*args):
        raise AssertionError("nothing may be measured")

    for config in (
        BenchConfig(models=("lenet5",), freeze_ratio=float("nan")),
        BenchConfig(models=("lenet5",), freeze="layer1", freeze_ratio=0.5),
        BenchConfig(models=("lenet5",), iters=0),
    ):
        with pytest.raises(InvalidInputError):
            run_bench(config, measure=measure)


def test_bench_cli_prints_error_rows_for_model_specific_problems(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "lenet5,alexnet", "--freeze", "layer1", "-f", "json"])
    assert exc.value.code == 1  # some cells failed; the run itself completed
    d = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["mode"], r["status"]) for r in d["results"]] == [
        ("lenet5", "forward", "error"), ("lenet5", "train", "error"),
        ("alexnet", "forward", "error"), ("alexnet", "train", "error"),
    ]  # fmt: skip


def test_one_analysis_serves_every_cell_of_a_model_and_batch(monkeypatch):
    import cnnstat.analysis

    calls: list[tuple[str, int, bool]] = []
    real = cnnstat.analysis.analyze

    def counting(name, **kwargs):
        calls.append((name, kwargs["batch_size"], kwargs["backward"]))
        return real(name, **kwargs)

    monkeypatch.setattr(cnnstat.analysis, "analyze", counting)
    config = BenchConfig(models=("lenet5",), batch_sizes=(1, 2), warmup=0, iters=1)
    run = run_bench(config)
    # 2 batches x 2 modes = 4 cells; one analysis per batch, counting the backward for the
    # train cell, whose forward counts the forward cell reads
    assert len(run.results) == 4 and all(r.status == "ok" for r in run.results)
    assert calls == [("lenet5", 1, True), ("lenet5", 2, True)]
    fwd, train = run.results[2], run.results[3]
    report = real("lenet5", batch_size=2)
    assert fwd.flops == report.totals.flops
    assert (
        train.flops - fwd.flops == real("lenet5", batch_size=2, backward=True).totals.backward_flops
    )


def test_statuses_serialise_as_the_bare_words():
    from cnnstat.bench.runner import BenchStatus

    r = BenchResult(model="m", device="cpu", batch_size=1, mode="forward", dtype="fp32",
                    channels_last=False, compiled=False, threads=1, status="oom")  # fmt: skip
    assert r.status is BenchStatus.oom and r.status == "oom" and f"{r.status}" == "oom"
    assert json.dumps(r.to_dict()["status"]) == '"oom"'
    assert json.dumps(r.to_dict()).count('"status": "oom"') == 1


def test_csv_rows_carry_each_phase_statistics_in_ms():
    import io

    import pandas as pd

    from cnnstat.export import Format, bench_text

    run = run_bench(BenchConfig(models=("lenet5",), batch_sizes=(2,), warmup=0, iters=2))
    frame = pd.read_csv(io.StringIO(bench_text(run, Format.csv)))
    fwd, train = run.results
    assert list(frame["mode"]) == ["forward", "train"]
    assert frame["forward_median_ms"][0] == pytest.approx(fwd.forward_stats.median)
    assert frame["backward_p90_ms"][1] == pytest.approx(train.backward_stats.p90)
    assert list(frame["forward_samples"]) == [2, 2] and list(frame["backward_samples"]) == [0, 2]
    assert frame["backward_median_ms"].isna()[0]  # a forward cell has no backward


def test_memory_error_only_where_the_measurement_counts_tensor_bytes():
    def cell(device: str) -> BenchResult:
        return BenchResult(
            model="m", device=device, batch_size=1, mode="forward", dtype="fp32",
            channels_last=False, compiled=False, threads=1,
            peak_memory_bytes=1_200, estimated_memory_bytes=1_000,
        )  # fmt: skip

    assert cell("cuda").memory_error == pytest.approx((1_200 - 1_000) / 1_000)  # +20%
    assert cell("cpu").memory_error is None  # resident-set growth is not tensor bytes
