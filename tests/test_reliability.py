"""Reliability: never more permissive than the real kernel, user code kept in its place,
outputs that respect what is at the path, honest exit codes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cnnstat
from cnnstat.cli import main
from cnnstat.errors import ForwardError


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


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


@settings(max_examples=40, deadline=None)
@given(
    in_channels=st.integers(1, 4),
    fed_channels=st.integers(1, 4),
    groups=st.sampled_from([1, 2]),
    out_per_group=st.integers(1, 2),
    rank=st.sampled_from([1, 2, 3]),
    fed_rank=st.sampled_from([1, 2, 3]),
)
def test_conv_accepts_exactly_what_the_kernel_accepts(
    in_channels, fed_channels, groups, out_per_group, rank, fed_rank
):
    """Random conv configurations: cnnstat on meta succeeds exactly when the CPU kernel does,
    and then with the kernel's output shape."""
    if in_channels % groups:
        in_channels *= groups
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
