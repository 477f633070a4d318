"""``cnnstat profile`` on the command line: formats, the plot, one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.cli.helpers import run

MODELS = Path(__file__).parent / "tiny_models.py"
TINY = f"{MODELS}:TinyConv"
ARGS = ("--input-size", "3x16x16", "--batch-size", "2", "--iters", "3", "--warmup", "1",
        "--threads", "1")  # fmt: skip


@pytest.fixture(autouse=True)
def fixed_ceilings(monkeypatch):
    """Skip the ceiling microbenchmarks: 100 GFLOP/s and 10 GB/s."""
    from cnnstat.bench import ceiling

    monkeypatch.setattr(ceiling, "matmul_ceiling", lambda *a, **k: 1e11)
    monkeypatch.setattr(ceiling, "copy_bandwidth", lambda *a, **k: 1e10)


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip() and "USDT" not in line
             and "gpuGetDeviceCount" not in line]  # the profiler's own C++ log lines
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


def test_json_output(capsys) -> None:
    code, out, _ = run(capsys, "profile", TINY, *ARGS, "--format", "json", "--depth", "1")
    assert code == 0
    d = json.loads(out)
    assert d["depth"] == 1
    names = {lay["name"] for lay in d["layers"]}
    root = [n for n in names if n.endswith(":TinyConv (model)")]  # the model's own ops
    assert names - set(root) == {"stem", "block", "pool", "fc"} and len(root) == 1
    rows = sum(lay["forward_ms"] + lay["backward_ms"] for lay in d["layers"])
    assert rows + d["unattributed_ms"] == pytest.approx(d["total_ms"])
    assert d["ceiling_flops_per_s"] == 1e11


def test_csv_has_an_unattributed_row_and_markdown_a_total(capsys, tmp_path) -> None:
    target = tmp_path / "p.csv"
    code, _, err = run(capsys, "profile", TINY, *ARGS, "--output", str(target))
    assert code == 0 and target.exists()
    frame = pd.read_csv(io.StringIO(target.read_text()))
    assert frame["name"].iloc[-1] == "unattributed"
    layers = frame.iloc[:-1]
    total = layers["total_ms"].sum() + frame["total_ms"].iloc[-1]
    assert total == pytest.approx(
        (layers["forward_ms"] + layers["backward_ms"]).sum() + frame["total_ms"].iloc[-1]
    )
    code, out, _ = run(capsys, "profile", TINY, *ARGS, "--format", "markdown")
    assert code == 0
    assert "unattributed" in out and "total step" in out
    assert "| block.dw |" in out


def test_table_output(capsys) -> None:
    code, out, _ = run(capsys, "profile", TINY, *ARGS, "--mode", "forward")
    assert code == 0
    assert "block.dw" in out and "unattributed" in out
    assert "Backward ms" not in out  # forward mode has no backward column


def test_plot_is_a_png(capsys, tmp_path) -> None:
    from cnnstat.plots import png_size

    target = tmp_path / "shares.png"
    code, _, err = run(capsys, "profile", TINY, *ARGS, "--format", "json", "--plot", str(target))
    assert code == 0, err
    width, height = png_size(target.read_bytes())
    assert width >= 800 and height >= 300


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("no_such_model",), "no_such_model"),
        ((TINY, "--input-size", "3x16x16", "--depth", "-1"), "--depth"),
        ((TINY, "--input-size", "3x16x16", "--batch-size", "0"), "--batch-size"),
        ((TINY, "--input-size", "3x16x16", "--plot", "out.svg"), ".png"),
        ((TINY, "--input-size", "3x16x16", "--iters", "0"), "--iters"),
        ((TINY, "--input-size", "3x16x16", "--device", "tpu"), "tpu"),
        ((TINY, "--input-size", "16"), "input"),
        ((TINY, "--input-size", "3xAx16"), "3xAx16"),
    ],
    ids=["unknown-model", "depth", "batch", "plot-suffix", "iters", "device", "rank", "size"],
)
def test_bad_input_is_one_line(capsys, args, needle) -> None:
    code, _, err = run(capsys, "profile", *args)
    assert_one_line_error(code, err, needle)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_without_a_gpu_is_one_line(capsys) -> None:
    code, _, err = run(capsys, "profile", TINY, "--input-size", "3x16x16", "--device", "cuda")
    assert_one_line_error(code, err, "CUDA")


def test_a_failed_run_leaves_an_existing_output_untouched(capsys, tmp_path) -> None:
    target = tmp_path / "keep.json"
    target.write_text("precious")
    code, _, err = run(capsys, "profile", TINY, "--input-size", "3x16x16", "--depth", "-1",
                       "--output", str(target))  # fmt: skip
    assert code != 0
    assert target.read_text() == "precious"


def test_profiling_leaves_stderr_to_cnnstat():
    # Kineto logs each profiler start and stop (and a failed GPU count without a GPU) to
    # stderr from C++; only cnnstat's own lines may reach the user
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "cnnstat", "profile", "lenet5", "--iters", "5", "--warmup", "1",
         "--format", "json"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "profiler_start" not in done.stderr and "USDT" not in done.stderr
