"""Golden Markdown reports. Regenerate with `pytest tests/test_golden.py --update-golden` and review the diff."""

from __future__ import annotations

from pathlib import Path

import pytest

import cnnstat
from cnnstat.export import summary_markdown

GOLDEN = Path(__file__).parent / "golden"
# The golden files carry this stamp instead of the installed version, so a release doesn't change them.
VERSION_STAMP = "VERSION"


def table_column_sum(markdown: str, column: str) -> int:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    idx = header.index(column)
    return sum(int(row.strip("|").split("|")[idx].strip().replace(",", "")) for row in lines[2:])


@pytest.mark.parametrize("model", ["lenet5", "resnet18"])
def test_markdown_golden(model, update_golden):
    report = cnnstat.analyze(model)
    text = summary_markdown(report, version=VERSION_STAMP)
    path = GOLDEN / f"test_markdown_golden_{model}.md"
    if update_golden:
        path.write_text(text)
    assert text == path.read_text()
    # invariant: the per-layer rows add up to the printed totals
    assert table_column_sum(text, "Params") == report.totals.params
    assert table_column_sum(text, "MACs") == report.totals.macs
    assert table_column_sum(text, "FLOPs") == report.totals.flops
    assert f"MACs: {report.totals.macs:,}" in text


def test_markdown_stamps_the_installed_version():
    report = cnnstat.analyze("lenet5")
    assert f"cnnstat {cnnstat.__version__}." in summary_markdown(report)
    assert f"cnnstat {cnnstat.__version__}." not in summary_markdown(report, version="9.9.9")
