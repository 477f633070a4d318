from __future__ import annotations

import json

import pandas as pd
import pytest

import cnnstat
from cnnstat import plots
from cnnstat.cli import main
from cnnstat.compare import CompareRow, Comparison, SortKey, compare
from tests.expected import VGG16_MACS, published_gmacs, published_params, published_top1


def test_vgg16_and_resnet152_figures():
    result = compare(("vgg16", "resnet152"))
    vgg, resnet = result.rows
    assert vgg.params == published_params("vgg16")
    assert resnet.params == published_params("resnet152")
    assert vgg.macs == VGG16_MACS  # the lecture's table, worked through
    assert round(vgg.macs / 1e9, 3) == published_gmacs("vgg16")
    assert round(resnet.macs / 1e9, 3) == published_gmacs("resnet152")
    assert vgg.param_bytes == published_params("vgg16") * 4
    assert vgg.top1 == published_top1("vgg16") and resnet.top1 == published_top1("resnet152")
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
    assert list(frame["params"]) == [published_params("vgg16"), published_params("resnet152")]
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
    assert bars[2] == ("fc1", 400 * 120 + 120, 400 * 120)  # params, MACs
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
        forward_stats=summarize([ms]),
        backward_stats=summarize([ms]),
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
                       forward_stats=summarize(samples), backward_stats=summarize([50.0] * 5),
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
@pytest.mark.parametrize("name", ["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"])
def test_vit_feature_names_its_real_patch_size(name):
    from cnnstat.facts import family_of

    kernel = next(r.kernel for r in cnnstat.analyze(name).layers if r.name == "conv_proj")
    _, feature = family_of(name)
    assert f"{kernel[0]}x{kernel[1]} patches" in feature


def _timed_cell(model, batch, fwd, bwd):
    from cnnstat.bench.runner import BenchResult
    from cnnstat.bench.stats import summarize

    return BenchResult(model, "cpu", batch, "train", "fp32", False, False, 2,
                       forward_stats=summarize(fwd), backward_stats=summarize(bwd))  # fmt: skip


def test_time_per_image_bands_are_p10_p90_of_whole_steps():
    from cnnstat.bench import BenchRun

    run = BenchRun(environment={}, results=[_timed_cell("m", 2, [10.0, 12.0, 14.0], [10.0] * 3)])
    # steps 20, 22, 24 ms; p10 at rank 0.2: 20.4, p90 at rank 1.8: 23.6; per image: / 2
    ((batch, lo, hi),) = plots.time_per_image_bands([run])["m"]
    assert batch == 2
    assert lo == pytest.approx(10.2) and hi == pytest.approx(11.8)
    png = plots.time_per_image_png(
        plots.time_per_image_series([run]), "cpu", plots.time_per_image_bands([run])
    )
    assert plots.png_size(png)[0] == 1000


def test_bubble_chart_labels_every_model_and_keeps_those_without_accuracy():
    rows = (
        CompareRow("resnet50", params=25_557_032, macs=4_089_184_256, top1=80.858),
        CompareRow("resnet152", params=60_192_808, macs=11_513_626_624, top1=82.284),
        CompareRow("vgg16", params=138_357_544, macs=15_470_264_320, top1=71.592),
        CompareRow("vgg19", params=143_667_240, macs=19_632_062_464, top1=72.376),
        CompareRow("lenet5", params=61_706, macs=416_520, top1=None),
    )
    comparison = Comparison(rows)
    points = plots.accuracy_vs_macs_points(comparison)
    missing = plots.missing_accuracy(comparison)
    assert [p.label for p in missing] == ["lenet5"]
    assert missing[0].x == pytest.approx(416_520 / 1e9)
    fig = plots.accuracy_vs_macs_figure(points, missing)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]
    assert {"resnet50", "resnet152", "vgg16", "vgg19", "lenet5"} <= set(texts)
    assert any("torchvision DEFAULT weights" in t for t in texts)
    legend = fig.axes[0].get_legend()
    assert legend is not None and legend.get_title().get_text() == "Bubble area"
    assert [t.get_text() for t in legend.get_texts()] == ["1 M params", "10 M params", "100 M params"]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_plot_data_helpers():
    assert plots.exact_count(1.25e9) == "1.25 G"  # never rounded to "1.2 G"
    assert plots.exact_count(1e3) == "1 K" and plots.exact_count(0) == "0"
    assert plots.spans_decades([1, 50, 0]) is False and plots.spans_decades([1, 101]) is True
    resnet50 = cnnstat.analyze("resnet50")
    assert len(plots.layer_bars(resnet50)) > plots.MAX_BARS
    assert plots.plot_depth(resnet50, None) == 1  # stages by default for a deep model
    assert plots.plot_depth(resnet50, 2) == 2  # --depth wins
    vgg16 = cnnstat.analyze("vgg16")
    assert plots.plot_depth(vgg16, None) is None  # 16 bars: every layer
    title = plots.layer_bars_title(vgg16)
    assert "vgg16" in title and "3×224×224" in title
    assert "138.4 M params" in title and "15.5 G MACs" in title  # 138,357,544; 15,470,264,320


def test_bubble_chart_of_a_crowded_zoo_still_labels_the_lecture_networks():
    # 60 bubbles crowded on a small patch: not every label fits, the lecture ones must
    points = [plots.Point(f"m{i}", 1 + (i % 10) * 0.05, 75 + (i // 10) * 0.2, 1e6 * (1 + i))
              for i in range(59)] + [plots.Point("m59", 1000.0, 75.0, 1e6)]  # fmt: skip
    assert len(points) > plots.LABEL_ALL
    always = {"m0", "m17", "m33", "m59"}
    fig = plots.accuracy_vs_macs_figure(points, always=always)
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert always <= labels
    notes = [t.get_text() for t in fig.texts]
    left_out = 60 - len(labels)
    assert left_out > 0 and any(n.startswith(f"{left_out} of 60 bubbles") for n in notes)
    import matplotlib.pyplot as plt

    plt.close(fig)
