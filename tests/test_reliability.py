"""Reliability: never more permissive than the real kernel, user code kept in its place,
outputs that respect what is at the path, honest exit codes."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cnnstat
from cnnstat.errors import ForwardError, UserCodeError
from tests.cli.helpers import run
from tests.expected import LENET5_PARAMS


def one_line_error(code: int, err: str) -> str:
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


# --- the convolution shortcut checks what the kernel checks -------------------------


def real_error(module: nn.Module, size: tuple[int, ...]) -> str | None:
    """What the real CPU kernel says about one sample of ``size``, or None when it runs."""
    try:
        module(torch.zeros(1, *size))
    except RuntimeError as exc:
        return str(exc).splitlines()[0]
    return None


CASES = {
    "channels": (lambda: nn.Conv2d(3, 8, 3), (1, 32, 32)),
    "groups": (lambda: nn.Conv2d(4, 8, 3, groups=2), (3, 16, 16)),
    "conv3d-fed-2d": (lambda: nn.Conv3d(3, 8, 3), (3, 32, 32)),
    "conv2d-fed-1d": (lambda: nn.Conv2d(3, 8, 3), (3, 32)),
    # PyTorch's own meta kernel lets this one through
    "transposed-channels": (lambda: nn.ConvTranspose2d(3, 8, 3), (1, 8, 8)),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_conv_refuses_what_the_real_kernel_refuses(case):
    build, size = CASES[case]
    expected = real_error(build(), size)
    assert expected is not None  # the premise: PyTorch itself refuses this input
    with pytest.raises(ForwardError) as exc:
        cnnstat.analyze(build().to("meta"), input_size=size)  # meta only: no real fallback
    assert expected in str(exc.value)


def test_summary_channel_mismatch_fails_like_real(capsys):
    meta = one_line_error(*run(capsys, "summary", "resnet18", "--input-size", "1x224x224")[::2])
    real = one_line_error(
        *run(capsys, "summary", "resnet18", "--input-size", "1x224x224", "--real")[::2]
    )
    assert meta == real
    assert real_error(nn.Conv2d(3, 64, 7, 2, 3), (1, 224, 224)) in meta


@settings(max_examples=60, deadline=None)
@given(
    in_channels=st.integers(1, 4),
    fed_channels=st.integers(1, 4),
    groups=st.sampled_from([1, 2]),
    out_per_group=st.integers(1, 2),
    rank=st.sampled_from([1, 2, 3]),
    fed_rank=st.sampled_from([1, 2, 3]),
    transposed=st.booleans(),
)
def test_conv_accepts_exactly_what_the_kernel_accepts(
    in_channels, fed_channels, groups, out_per_group, rank, fed_rank, transposed
):
    """Random conv configurations: cnnstat on meta succeeds exactly when the CPU kernel does,
    and then with the kernel's output shape."""
    if in_channels % groups:
        in_channels *= groups
    if transposed:
        conv_type = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[rank]
    else:
        conv_type = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[rank]
    conv = conv_type(in_channels, groups * out_per_group, 3, groups=groups)
    size = (fed_channels, *([5] * fed_rank))
    try:
        real = conv(torch.zeros(1, *size)).shape
    except RuntimeError:
        real = None
    try:
        report = cnnstat.analyze(conv.to("meta"), input_size=size)
    except ForwardError:
        assert real is None
    else:
        assert real is not None
        assert report.layers[-1].output_shape == tuple(real)


# --- a new head replaces the old one, even when the model is the head ---------------


@pytest.mark.parametrize(
    "model, size, expected",
    [
        (nn.Linear(10, 5), (10,), 10 * 3 + 3),  # 33, not the old 55 plus the new 33
        (nn.Conv2d(4, 5, 1), (4, 8, 8), 4 * 3 + 3),
    ],
    ids=["bare-linear", "bare-conv"],
)
def test_num_classes_on_a_bare_head(model, size, expected):
    report = cnnstat.analyze(model, input_size=size, num_classes=3)
    assert report.totals.params == expected
    assert report.layers[-1].output_shape[1] == 3
    assert next(model.parameters()).shape[0] == 5  # the caller's module is untouched


# --- user code: prints, exits and argv stay in their place --------------------------

HOSTILE = """
import argparse
import os
import sys

import torch
from torch import nn

print("import-time chatter")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        print("forward chatter")
        return self.fc(x)


class Exits(Net):
    def forward(self, x):
        sys.exit(0)


class HardExits(Net):
    def forward(self, x):
        os._exit(0)


class Raises(Net):
    def forward(self, x):
        raise ValueError("a plain ValueError, not a RuntimeError")
"""


@pytest.fixture
def hostile(tmp_path):
    path = tmp_path / "hostile.py"
    path.write_text(HOSTILE)
    return path


def test_user_prints_do_not_corrupt_json(capsys, hostile):
    code, out, err = run(capsys, "summary", f"{hostile}:Net", "-i", "4", "--format", "json")
    assert code == 0
    report = json.loads(out)  # stdout holds the report and nothing else
    assert report["totals"]["params"] == 4 * 2 + 2
    assert "import-time chatter" in err and "forward chatter" in err


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_user_prints_stay_out_of_csv_and_markdown(capsys, hostile, fmt):
    code, out, _ = run(capsys, "summary", f"{hostile}:Net", "-i", "4", "--format", fmt)
    assert code == 0
    assert "chatter" not in out


@pytest.mark.parametrize("cls", ["Exits", "HardExits"])
def test_a_model_that_exits_is_that_models_failure(capsys, hostile, cls):
    with pytest.raises(UserCodeError):
        cnnstat.analyze(f"{hostile}:{cls}", input_size=(4,))
    code, out, err = run(capsys, "summary", f"{hostile}:{cls}", "-i", "4", "-f", "json")
    assert code == 2
    own = "\n".join(line for line in err.splitlines() if "chatter" not in line)
    one_line_error(code, own)
    assert out == ""


def test_check_never_passes_a_model_that_exits(capsys, hostile):
    code, _, err = run(capsys, "check", f"{hostile}:Exits", "-i", "4", "--against", "formulas")
    assert code not in (0, 1)  # neither a pass nor a verdict about the layers
    assert "Traceback" not in err


def test_compare_keeps_the_table_when_one_model_exits_or_raises(capsys, hostile):
    models = f"lenet5,{hostile}:Exits,{hostile}:Raises,{hostile}:HardExits"
    code, out, _ = run(capsys, "compare", "--models", models, "--format", "json")
    assert code == 1  # error rows, as before
    rows = {r["model"]: r for r in json.loads(out)["rows"]}
    assert rows["lenet5"]["status"] == "ok" and rows["lenet5"]["params"] == LENET5_PARAMS
    for cls in ("Exits", "Raises", "HardExits"):
        assert rows[f"{hostile}:{cls}"]["status"] == "error"


def test_a_file_that_parses_argv_at_import_sees_no_cnnstat_arguments(capsys, tmp_path):
    path = tmp_path / "script.py"
    path.write_text(
        HOSTILE + "\nparser = argparse.ArgumentParser()\n"
        "parser.add_argument('--lr', type=float, default=0.1)\n"
        "ARGS = parser.parse_args()\n"
    )
    code, out, err = run(capsys, "summary", f"{path}:Net", "-i", "4", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["totals"]["params"] == 10


@pytest.mark.parametrize("call", ["sys.exit(0)", "os._exit(3)", "sys.exit('bye')"])
def test_a_file_that_exits_at_import(capsys, tmp_path, call):
    path = tmp_path / "script.py"
    path.write_text(HOSTILE + f"\n{call}\n")
    code, out, err = run(capsys, "summary", f"{path}:Net", "-i", "4")
    assert code == 2
    assert out == ""
    assert "Traceback" not in err


def test_a_file_whose_argparse_refuses_gives_a_nonzero_exit(capsys, tmp_path):
    path = tmp_path / "script.py"
    path.write_text(
        HOSTILE + "\nparser = argparse.ArgumentParser()\n"
        "parser.add_argument('--data', required=True)\nparser.parse_args()\n"
    )
    code, out, err = run(capsys, "compare", "--models", f"lenet5,{path}:Net", "-f", "json")
    assert code == 1
    rows = {r["model"]: r["status"] for r in json.loads(out)["rows"]}
    assert rows == {"lenet5": "ok", f"{path}:Net": "error"}


@pytest.mark.parametrize("cls", ["Exits", "HardExits"])
def test_bench_keeps_the_sweep_when_a_model_exits(capsys, hostile, cls):
    code, out, _ = run(
        capsys, "bench", f"lenet5,{hostile}:{cls}", "-i", "1x32x32", "--mode", "forward",
        "--warmup", "1",
        "--iters", "2", "--min-time", "0.01", "--format", "json",
    )  # fmt: skip
    assert code == 1  # error rows, not a silent exit
    status = {r["model"]: r["status"] for r in json.loads(out)["results"]}
    assert status == {"lenet5": "ok", f"{hostile}:{cls}": "error"}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_memory_refuses_what_the_real_kernel_refuses(case):
    from cnnstat.memory import memory

    build, size = CASES[case]
    expected = real_error(build(), size)
    assert expected is not None
    with pytest.raises(ForwardError) as exc:
        memory(build(), input_size=size)
    assert expected.split(",")[0] in str(exc.value)
