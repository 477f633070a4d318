from __future__ import annotations

import json

import pandas as pd
import pytest

from cnnstat import plots
from cnnstat.cli import main
from cnnstat.compare import CompareRow, Comparison, SortKey, compare


def test_vgg16_and_resnet152_figures():
    result = compare(("vgg16", "resnet152"))
    vgg, resnet = result.rows
    assert vgg.params == 138_357_544 and resnet.params == 60_192_808  # torchvision's num_params
    assert round(vgg.macs / 1e9, 3) == 15.470 and round(resnet.macs / 1e9, 3) == 11.514  # _ops
    assert vgg.param_bytes == 138_357_544 * 4
    assert vgg.top1 == 71.592 and resnet.top1 == 82.284  # weights.meta ImageNet-1K acc@1
    assert vgg.year == 2014 and "3x3" in vgg.feature
    assert not result.failed


def test_sort_and_error_rows():
    result = compare(("alexnet", "lenet5"), sort=SortKey.params)
    assert [r.model for r in result.rows] == ["alexnet", "lenet5"]
    result = compare(("resnet18", "alexnet"), input_size=(3, 16, 16))
    statuses = {r.model: r.status for r in result.rows}
    assert statuses == {"resnet18": "ok", "alexnet": "error"}  # too small for alexnet only
    assert result.failed


def test_csv_and_json_round_trip(capsys, tmp_path):
    target = tmp_path / "cmp.csv"
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--models", "vgg16,resnet152", "--output", str(target)])
    assert exc.value.code == 0
    frame = pd.read_csv(target)
    assert list(frame["model"]) == ["vgg16", "resnet152"]
    assert list(frame["params"]) == [138_357_544, 60_192_808]
    with pytest.raises(SystemExit):
        main(["compare", "--models", "vgg16,resnet152", "-f", "json"])
    d = json.loads(capsys.readouterr().out)
    back = pd.DataFrame(d["rows"])
    assert list(back["macs"]) == list(frame["macs"])


def test_failed_model_exits_non_zero(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--models", "resnet18,alexnet", "--input-size", "3x16x16"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "alexnet" in err and "Traceback" not in err


def test_accuracy_points_are_the_plotted_data():
    rows = (
        CompareRow("a", params=10, macs=2_000_000_000, top1=70.0),
        CompareRow("b", params=20, macs=None, top1=71.0),
        CompareRow("c", params=30, macs=1_000_000_000, top1=None),
        CompareRow("d", status="error"),
    )
    points = plots.accuracy_vs_macs_points(Comparison(rows))
    assert points == [plots.Point("a", 2.0, 70.0, 10.0)]


def test_png_has_the_right_size(tmp_path):
    png = plots.accuracy_vs_macs_png(
        [plots.Point("a", 1.0, 70.0, 5.0), plots.Point("b", 3.0, 75.0, 9.0)]
    )
    assert len(png) > 1000
    assert plots.png_size(png) == (
        int(plots.SIZE_IN[0] * plots.DPI),
        int(plots.SIZE_IN[1] * plots.DPI),
    )


def test_summary_plot_and_layer_bars(tmp_path):
    import cnnstat

    bars = plots.layer_bars(cnnstat.analyze("lenet5"))
    assert [b[0] for b in bars] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert bars[2] == ("fc1", 48_120, 48_000)
    target = tmp_path / "bars.png"
    with pytest.raises(SystemExit) as exc:
        main(["summary", "lenet5", "--plot", str(target), "-f", "json"])
    assert exc.value.code == 0
    width, height = plots.png_size(target.read_bytes())
    assert width == 1100 and height >= 400


def test_time_per_image_series():
    from cnnstat.bench import BenchRun
    from cnnstat.bench.runner import BenchResult
    from cnnstat.bench.stats import summarize

    cell = lambda b, ms: BenchResult(  # noqa: E731
        "m",
        "cpu",
        b,
        "train",
        "fp32",
        False,
        False,
        2,
        forward_ms=summarize([ms]),
        backward_ms=summarize([ms]),
    )
    run = BenchRun(environment={}, results=[cell(4, 20.0), cell(1, 10.0)])
    assert plots.time_per_image_series([run]) == {"m": [(1, 20.0), (4, 10.0)]}
    assert plots.png_size(plots.time_per_image_png(plots.time_per_image_series([run])))[0] == 1000


def test_compare_with_bench_fills_timing_columns(tmp_path, capsys):
    plot = tmp_path / "cmp.png"
    with pytest.raises(SystemExit) as exc:
        main([
            "compare", "--models", "lenet5", "--bench", "--batch-size", "1,2", "--iters", "2",
            "-f", "json", "--plot", str(plot),
        ])  # fmt: skip
    assert exc.value.code == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["bench_batch_size"] == 2  # the table shows the largest batch
    assert row["total_ms"] == pytest.approx(row["forward_ms"] + row["backward_ms"])
    assert row["images_per_s"] > 0
    timed = tmp_path / "cmp-time.png"
    assert plots.png_size(timed.read_bytes()) == (1000, 650)
    assert plot.exists()


def test_compare_bench_options_are_checked_once_up_front(capsys, monkeypatch):
    import cnnstat.compare as cmp

    analysed = []
    real = cmp.published_accuracy
    monkeypatch.setattr(cmp, "published_accuracy", lambda n: analysed.append(n) or real(n))
    for args in (["--device", "tpu"], ["--iters", "0"], ["--min-time", "nan"]):
        with pytest.raises(SystemExit) as exc:
            main(["compare", "--models", "lenet5,alexnet", "--bench", *args])
        assert exc.value.code == 2
        captured = capsys.readouterr()
        assert captured.err.count("error") == 1 and "Traceback" not in captured.err
        assert captured.out == ""
    assert analysed == []  # no model was analysed before the options were checked


def _timed_run(model, noisy):
    from cnnstat.bench import BenchRun
    from cnnstat.bench.runner import BenchResult
    from cnnstat.bench.stats import summarize

    samples = [100.0, 100.0, 100.0, 100.0, 200.0] if noisy else [100.0] * 5
    cell = BenchResult(model, "cpu", 1, "train", "fp32", False, False, 1,
                       forward_ms=summarize(samples), backward_ms=summarize([50.0] * 5),
                       images_per_s=1.0)  # fmt: skip
    return BenchRun(environment={}, results=[cell])


def test_compare_bench_shows_the_noise_flag_and_passes_the_timing_options(monkeypatch):
    import cnnstat.bench
    from cnnstat.render import compare_table

    configs = []

    def fake_run_bench(config, on_cell=None):
        configs.append(config)
        return _timed_run(config.models[0], noisy=config.models[0] == "alexnet")

    monkeypatch.setattr(cnnstat.bench, "run_bench", fake_run_bench)
    result = compare(("lenet5", "alexnet"), bench=True, batch_sizes=(1,), bench_iters=7,
                     bench_warmup=2, bench_min_time_s=0.5)  # fmt: skip
    assert [c.iters for c in configs] == [7, 7] and configs[0].warmup == 2
    assert configs[0].min_time_s == 0.5
    lenet, alexnet = result.rows
    # alexnet: p10 100, p90 160 (rank 3.6 between 100 and 200): a 60% spread
    assert alexnet.noisy is True and lenet.noisy is False
    assert result.to_dict()["rows"][1]["noisy"] is True
    from rich.console import Console

    console = Console(width=250, color_system=None)
    with console.capture() as cap:
        console.print(compare_table(result))
    lines = {line.split()[0]: line for line in cap.get().splitlines() if line.strip()}
    assert "noisy" in lines["alexnet"] and "noisy" not in lines["lenet5"]


def test_ctrl_c_in_compare_bench_keeps_finished_rows(monkeypatch, capsys):
    import cnnstat.bench

    def fake_run_bench(config, on_cell=None):
        if config.models[0] == "alexnet":
            raise KeyboardInterrupt
        return _timed_run(config.models[0], noisy=False)

    monkeypatch.setattr(cnnstat.bench, "run_bench", fake_run_bench)
    result = compare(("lenet5", "alexnet", "vgg11"), bench=True, batch_sizes=(1,))
    assert result.interrupted and [r.model for r in result.rows] == ["lenet5"]
    assert result.rows[0].total_ms == 150.0
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--models", "lenet5,alexnet", "--bench", "-f", "json"])
    assert exc.value.code == 130
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["model"] for r in rows] == ["lenet5"]
