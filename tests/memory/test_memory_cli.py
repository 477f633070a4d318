"""`cnnstat memory` from the command line: JSON keys, the budget search, plots, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstat.plots import png_size
from tests.cli.helpers import assert_one_line_error, run
from tests.expected import LENET5_PARAMS

MiB = 1 << 20


def test_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "memory", "lenet5", "-b", "8", "--optimizer", "adam",
                       "--format", "json")
    assert code == 0
    doc = json.loads(out)
    for key in ("inference_peak_bytes", "train_step_peak_bytes", "steady_step_peak_bytes",
                "breakdown", "timeline", "max_batch_size", "assumptions"):
        assert key in doc
    # lenet5's float32 parameters: 61,706 x 4 = 246,824 bytes, block-rounded on CUDA
    assert doc["static_bytes"]["parameters"] >= LENET5_PARAMS * 4
    assert doc["static_bytes"]["workspaces"] == 65 * MiB
    assert doc["inference_peak_bytes"] <= doc["train_step_peak_bytes"]
    assert doc["train_step_peak_bytes"] <= doc["steady_step_peak_bytes"]
    # the peak's breakdown adds up to the peak
    for phase in ("inference", "train_step", "steady_step"):
        assert sum(doc["breakdown"][phase]["bytes"].values()) == doc[f"{phase}_peak_bytes"]


def test_budget_search_finds_the_largest_batch_that_fits(capsys: pytest.CaptureFixture[str]) -> None:
    budget = 70 * MiB  # lenet5 needs 65 MiB of workspaces plus a little per image
    code, out, _ = run(capsys, "memory", "lenet5", "--budget", "70MiB", "--mode", "inference",
                       "--format", "json")
    assert code == 0
    best = json.loads(out)["max_batch_size"]
    from cnnstat.memory import memory

    at = memory("lenet5", batch_size=best, phases=("inference",)).inference_peak_bytes
    above = memory("lenet5", batch_size=best + 1, phases=("inference",)).inference_peak_bytes
    assert at is not None and above is not None
    assert at <= budget < above


def test_table_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plot = tmp_path / "timeline.png"
    code, out, _ = run(capsys, "memory", "lenet5", "--optimizer", "sgd", "--plot", str(plot))
    assert code == 0
    assert "steady step with sgd" in out
    assert "Assumptions" in out
    assert png_size(plot.read_bytes()) == (1000, 650)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--budget", "12XB"), "cannot read memory size"),
        (("--budget", "1KiB"), "does not fit"),
        (("--optimizer", "lion"), "lion"),
        (("--mode", "steady", "--budget", "1GiB"), "needs --optimizer"),
        (("--verify",), "--budget"),
        (("--dtype", "bf16", "--device", "cpu"), "cuda only"),
    ],
)
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                               needle: str) -> None:
    code, _, err = run(capsys, "memory", "lenet5", *args)
    assert_one_line_error(code, err, needle)


def test_verify_without_the_device(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run(capsys, "memory", "lenet5", "--budget", "1GiB", "--verify")
    assert_one_line_error(code, err, "needs a CUDA device")


def test_budget_search_never_passes_off_its_limit_as_the_answer() -> None:
    from cnnstat.errors import InvalidInputError
    from cnnstat.memory.report import _search

    # peak = 1,000 + 100 bytes per sample: a budget of 1,000 + 100 * 1,000 fits exactly 1,000
    assert _search(lambda b: 1_000 + 100 * b, 1_000 + 100 * 1_000, "m", "train", limit=4096) == 1000
    # a budget beyond the limit's peak has no answer the search can vouch for
    with pytest.raises(InvalidInputError):
        _search(lambda b: 1_000 + 100 * b, 10**12, "m", "train", limit=4096)
    # the limit fits and nothing says the next batch would not: still no answer
    with pytest.raises(InvalidInputError):
        _search(lambda b: 1_000 + 100 * b, 1_000 + 100 * 4096 + 50, "m", "train", limit=4096)
    # a budget between two batches below the limit: the smaller one
    assert _search(lambda b: 1_000 + 100 * b, 1_000 + 100 * 4000 + 50, "m", "train",
                   limit=4096) == 4000


def test_the_table_names_the_same_peak_layer_as_the_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "memory", "resnet18", "--format", "json")
    assert code == 0
    where = json.loads(out)["breakdown"]["train_step"]["where"]
    code, table, _ = run(capsys, "memory", "resnet18")
    assert code == 0
    assert where in table  # "[backward]" included: a table cell is not rich markup
