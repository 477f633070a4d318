from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.cli.helpers import assert_one_line_error, run
from tests.expected import LENET5_PARAMS

FIXTURES = Path(__file__).parents[1] / "fixtures" / "custom_models.py"


def test_summary_table(capsys):
    code, out, _ = run(capsys, "summary", "lenet5")
    assert code == 0
    assert f"{LENET5_PARAMS:,}" in out
    assert "7 of 7 layers agree with the closed-form formulas" in out


def test_summary_json_schema(capsys):
    code, out, _ = run(capsys, "summary", "lenet5", "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert d["model"] == "lenet5"
    assert d["input_shape"] == [1, 1, 32, 32]
    assert d["totals"]["params"] == LENET5_PARAMS
    assert d["totals"]["trainable_params"] == LENET5_PARAMS
    assert {"macs", "flops", "activation_bytes", "saved_for_backward_bytes", "param_bytes"} <= set(
        d["totals"]
    )
    assert d["layers"][0]["name"] == "conv1"
    assert d["layers"][0]["output_shape"] == [1, 6, 28, 28]
    assert d["layers"][0]["check"] == "ok"
    assert d["unsupported_ops"] == {}


def test_custom_model_with_input_size(capsys):
    code, out, _ = run(
        capsys, "summary", f"{FIXTURES}:TinyNet", "--input-size", "1x32x32", "-f", "json"
    )
    assert code == 0
    d = json.loads(out)
    assert d["totals"]["params"] == (9 + 1) * 8 + 8 * 10 + 10  # conv 3x3 1->8, fc 8->10
    assert d["layers"][0]["output_shape"] == [1, 8, 30, 30]


def test_batch_and_input_size(capsys):
    code, out, _ = run(
        capsys,
        "summary",
        "resnet50",
        "--input-size",
        "3x160x160",
        "--batch-size",
        "8",
        "-f",
        "json",
    )
    assert code == 0
    d = json.loads(out)
    assert d["input_shape"] == [8, 3, 160, 160]
    assert d["layers"][0]["output_shape"] == [8, 64, 80, 80]


@pytest.mark.parametrize(
    ("ext", "reader"),
    [(".csv", "csv"), (".json", "json"), (".md", "markdown"), (".txt", "table")],
)
def test_output_extension_picks_format(capsys, tmp_path, ext, reader):
    target = tmp_path / f"lenet{ext}"
    code, out, err = run(capsys, "summary", "lenet5", "--output", str(target))
    assert code == 0 and out == ""
    text = target.read_text()
    if reader == "csv":
        frame = pd.read_csv(target)
        assert int(frame["params"].sum()) == LENET5_PARAMS
        assert list(frame["name"])[:2] == ["conv1", "pool1"]
    elif reader == "json":
        assert json.loads(text)["totals"]["params"] == LENET5_PARAMS
    elif reader == "markdown":
        assert text.startswith("# lenet5")
        assert "| 1 | pool1 | MaxPool2d | 1×6×14×14 |" in text
    else:
        assert f"{LENET5_PARAMS:,}" in text and "\x1b[" not in text
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_failed_run_keeps_existing_report(capsys, tmp_path):
    target = tmp_path / "report.json"
    target.write_text("precious")
    code, _, err = run(capsys, "summary", "alexnet", "-i", "3x16x16", "-o", str(target))
    assert_one_line_error(code, err, "too small")
    assert target.read_text() == "precious"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        pytest.param(
            ["summary", "resnet150"], ["unknown model", "resnet152", "resnet50"], id="unknown-model"
        ),
        pytest.param(["summary", "alexnet", "-i", "3x224"], ["3-dimensional"], id="size-3x224"),
        pytest.param(
            ["summary", "alexnet", "-i", "abc"], ["malformed --input-size"], id="size-abc"
        ),
        pytest.param(["summary", "alexnet", "-i", "0x224x224"], ["positive"], id="size-zero"),
        pytest.param(["summary", "alexnet", "-i", "-3x224x224"], ["positive"], id="size-negative"),
        pytest.param(["summary", "alexnet", "-i", "3x224x224x2x2"], ["malformed"], id="size-5d"),
        pytest.param(["summary", "alexnet", "-b", "0"], ["batch-size"], id="batch-zero"),
        pytest.param(["summary", "alexnet", "-b", "-4"], ["batch-size"], id="batch-negative"),
        pytest.param(
            ["summary", "alexnet", "-i", "3x16x16"],
            ["too small", "features.5", "MaxPool2d"],
            id="input-too-small",
        ),
        pytest.param(["summary", "missing.py:Net", "-i", "3x8x8"], ["not found"], id="no-file"),
        pytest.param(
            ["summary", f"{FIXTURES}:Nope", "-i", "3x8x8"], ["does not define 'Nope'"], id="no-name"
        ),
        pytest.param(
            ["summary", f"{FIXTURES}:Broken", "-i", "4"],
            ["broken on purpose", "ValueError"],
            id="forward-raises",
        ),
        pytest.param(
            ["summary", f"{FIXTURES}:TinyNet"], ["needs an input size"], id="custom-no-size"
        ),
        pytest.param(
            ["summary", "alexnet", "-o", "/dev/null/x.md"], ["not a directory"], id="bad-dir"
        ),
        pytest.param(["summary", "alexnet", "-f", "xml"], ["xml"], id="unknown-format"),
        pytest.param(["summary", "alexnet", "-o", "report.xyz"], ["extension"], id="unknown-ext"),
        pytest.param(["summary", "alexnet", "--depth", "-1"], ["depth"], id="bad-depth"),
        pytest.param(["summary"], ["Missing argument"], id="missing-model"),
        pytest.param(["models", "--filter", "zzz*"], ["no model matches"], id="filter-nothing"),
    ],
)
def test_bad_input_is_one_line_error(capsys, args, needles):
    code, out, err = run(capsys, *args)
    assert_one_line_error(code, err, *needles)


def test_strict_fails_on_unsupported_ops(capsys, tmp_path):
    model = tmp_path / "m.py"
    model.write_text(
        "import torch\nfrom torch import nn\n"
        "class M(nn.Module):\n"
        "    def forward(self, x):\n        return torch.cumprod(x, -1)\n"
    )
    code, out, err = run(capsys, "summary", f"{model}:M", "-i", "4", "--real")
    assert code == 0 and "cumprod ×1" in out
    code, out, err = run(capsys, "summary", f"{model}:M", "-i", "4", "--real", "--strict")
    assert code == 3 and "cumprod" in err


def test_models_lists_zoo(capsys):
    code, out, _ = run(capsys, "models", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    names = {r["name"] for r in rows}
    # 80 torchvision classification models + 10 classics + 29 segmentation, detection,
    # video and optical-flow models
    assert len(rows) == 80 + 10 + 29
    assert {"alexnet", "vit_h_14", "lenet5"} <= names
    sizes = {r["name"]: r["default_input_size"] for r in rows}
    assert sizes["inception_v3"] == [3, 299, 299]
    assert sizes["vit_h_14"] == [3, 518, 518]
    assert sizes["efficientnet_b7"] == [3, 600, 600]
    assert sizes["lenet5"] == [1, 32, 32]


def test_help_and_models_do_not_import_torch():
    code = (
        "import sys\n"
        "from cnnstat.cli import main\n"
        "try:\n    main(['models', '--format', 'csv'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "alexnet,torchvision,3x224x224" in done.stdout


def test_python_dash_m_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "cnnstat", "summary", "lenet5", "-f", "csv"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("index,name,type")


def test_summary_backward_totals(capsys):
    code, out, _ = run(capsys, "summary", "lenet5", "--backward", "-f", "json")
    assert code == 0
    totals = json.loads(out)["totals"]
    # every layer but conv1 needs grad-input and grad-weight; conv1's input needs no gradient
    conv1 = 28 * 28 * 6 * 25
    assert totals["backward_macs"] == 2 * totals["macs"] - conv1


def test_public_api_names_resolve_without_importing_torch_eagerly():
    code = (
        "import sys, cnnstat\n"
        "assert 'torch' not in sys.modules\n"
        "names = [n for n in cnnstat.__all__ if n != '__version__']\n"
        "assert all(callable(getattr(cnnstat, n)) for n in names), names\n"
        "print(len(names))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "8"  # ... and memory


def test_an_error_is_one_line_with_no_blank_line_before_it() -> None:
    # a progress bar on a stderr that is not a terminal must leave nothing behind
    done = subprocess.run(
        [sys.executable, "-m", "cnnstat", "memory", "lenet5", "--budget", "1KiB"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error:")


@pytest.mark.parametrize("text", ["[b]", "[/b]"])
def test_error_text_in_brackets_is_shown_as_written(capsys, text):
    # rich markup would swallow "[b]" and fail on an unmatched "[/b]"
    code, _, err = run(capsys, "summary", "lenet5", "--input-size", text)
    assert code == 2
    assert_one_line_error(code, err, f"'{text}'")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bench", "lenet5", "--iters", "0"], "--iters must be positive"),
        (["bench", "lenet5", "--warmup", "-1"], "--warmup must be >= 0"),
        (["bench", "lenet5", "--min-time", "-1"], "--min-time must be a positive number"),
        (["bench", "lenet5", "--threads", "0"], "--threads must be positive"),
        (["summary", "lenet5", "--freeze-ratio", "2"], "--freeze-ratio must be in (0, 1]"),
        (["summary", "lenet5", "--freeze", "f1", "--freeze-ratio", "0.5"],
         "use either --freeze or --freeze-ratio, not both"),
        (["summary", "lenet5", "--num-classes", "0"], "--num-classes must be positive"),
        (["conv", "--input", "8x8x3", "--filters", "0", "--kernel", "3"],
         "--filters must be positive"),
        (["memory", "lenet5", "--dtype", "bf16", "--device", "cpu"],
         "autocast (--dtype bf16/fp16) is modelled for --device cuda only"),
        (["memory", "lenet5", "--budget", "0GiB"], "--budget: memory size must be positive"),
        (["bench", "lenet5", "--batch-sizes", "0"], "--batch-sizes must be positive integers"),
        (["conv", "--input", "28x28x8", "--filters", "4", "--kernel", "3", "--groups", "3"],
         "input channels 8 are not divisible by --groups 3"),
        (["conv", "--input", "28x28x8", "--filters", "4", "--kernel", "30"],
         "--kernel spans 30 along spatial axis 1 but the padded input is only 28 long"),
        (["models", "--format", "xml"], "'xml' is not one of 'table', 'csv', 'markdown', 'json'"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v[:2]),
)
def test_library_errors_name_the_flag_on_the_command_line(capsys, args, needle):
    code, _, err = run(capsys, *args)
    assert_one_line_error(code, err, needle)


def test_library_errors_name_the_argument_in_the_api():
    from cnnstat.bench import BenchConfig, run_bench
    from cnnstat.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"^iters must be positive$") as exc:
        run_bench(BenchConfig(models=("lenet5",), iters=0))
    assert exc.value.fields == ("iters",)
    with pytest.raises(InvalidInputError, match=r"^use either freeze or freeze_ratio, not both$"):
        run_bench(BenchConfig(models=("lenet5",), freeze="f1", freeze_ratio=0.5))


@pytest.mark.parametrize(
    ("flags", "autotune"),
    [([], True), (["--no-cudnn-benchmark"], False), (["--cudnn-benchmark"], True)],
)
def test_cudnn_autotuning_flag_reaches_the_bench_config(capsys, monkeypatch, flags, autotune):
    import cnnstat.bench
    from cnnstat.errors import InvalidInputError

    seen = []

    def capture(config, on_cell=None):
        seen.append(config.cudnn_benchmark)
        raise InvalidInputError("stop here")

    monkeypatch.setattr(cnnstat.bench, "run_bench", capture)
    code, _, err = run(capsys, "bench", "lenet5", *flags)
    assert code == 2 and "stop here" in err
    assert seen == [autotune]


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_check_refuses_a_format_it_cannot_write(capsys, fmt):
    code, out, err = run(capsys, "check", "lenet5", "--against", "formulas", "--format", fmt)
    assert_one_line_error(code, err, f"check writes a table or json, not {fmt}")
    assert out == ""


def test_a_bad_choice_reads_without_a_validator_prefix(capsys):
    code, _, err = run(capsys, "models", "--format", "xml")
    assert_one_line_error(code, err)
    assert "Value error" not in err


def test_check_against_fvcore_prints_no_deprecation_chatter():
    # fvcore scripts a loss on import; torch warns that jit.script is deprecated
    done = subprocess.run(
        [sys.executable, "-m", "cnnstat", "check", "lenet5", "--against", "fvcore"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr
