from __future__ import annotations

import io
import json

import pandas as pd
import pytest

import cnnstat
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
    assert io is not None


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


@pytest.mark.parametrize("name", ["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"])
def test_vit_feature_names_its_real_patch_size(name):
    from cnnstat.families import family_of

    kernel = next(r.kernel for r in cnnstat.analyze(name).layers if r.name == "conv_proj")
    _, feature = family_of(name)
    assert f"{kernel[0]}x{kernel[1]} patches" in feature
