"""The profile table at different terminal widths."""

from __future__ import annotations

import io

from rich.console import Console

from cnnstat.bench.stats import summarize
from cnnstat.profile import LeafTimes, ProfileReport
from cnnstat.render import print_profile


def _report() -> ProfileReport:
    leaf = LeafTimes(key="features.0.conv", type="Conv2d", kind="conv", flops=10**9,
                     bytes=10**6, params=10, forward_samples_ms=(4.0, 5.0, 6.0),
                     backward_samples_ms=(8.0, 9.0, 10.0))  # fmt: skip
    return ProfileReport(model="m", device="cpu", mode="train", dtype="fp32", batch_size=1,
                         input_shape=(1, 3, 8, 8), threads=1, math="fp32",
                         ceiling_flops_per_s=1e11, bandwidth_bytes_per_s=1e10,
                         step=summarize([15.0, 16.0, 17.0]), bench=summarize([15.0] * 3),
                         leaves=(leaf,))  # fmt: skip


def _text(width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    print_profile(_report(), console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_wide_tables_show_ranges_and_narrow_ones_keep_the_name() -> None:
    wide = _text(200)
    assert "5.00 [4.20–5.80]" in wide  # median and p10-p90 of 4, 5, 6
    assert "Bytes" in wide and "Conv2d" in wide
    narrow, _, dropped = _text(80).partition("Not shown at 80 columns: ")
    assert "Bytes" in dropped and "Type" in dropped  # named, with how to see them
    assert "features.0.conv" in narrow
    assert "[" not in narrow and "Bytes" not in narrow and "Conv2d" not in narrow
    assert "…" not in narrow  # a figure is shown whole or its column is left out
    assert all(len(line) <= 80 for line in narrow.splitlines())
    # the rows (5 + 9 ms) and unattributed (16 - 14 ms) add up to the step's median
    assert "2.00" in narrow and "16.00" in narrow
