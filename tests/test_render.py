"""Terminal tables fit the width there is: no line longer than it, every name shown whole."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console

import cnnstat
from cnnstat import render
from cnnstat.cli import main
from tests.expected import VGG16_MACS, published_params

WIDTHS = (80, 120, 200)


def run(capsys, monkeypatch, width: int | None, *args: str) -> tuple[int, str]:
    if width is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", str(width))
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, _ = capsys.readouterr()
    return int(exc.value.code or 0), out


def assert_fits(out: str, width: int) -> None:
    long = [line for line in out.splitlines() if cell_len(line) > width]
    assert not long, f"{len(long)} lines over {width} columns, e.g. {long[0]!r}"


def table_cells(out: str) -> set[str]:
    """Every cell of a rich table, split on the runs of spaces between columns."""
    return {c.strip() for line in out.splitlines() for c in line.split("  ") if c.strip()}


@pytest.fixture(scope="module")
def resnet50():
    return cnnstat.analyze("resnet50")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("model", ["alexnet", "resnet50", "vit_b_16"])
def test_summary_fits_and_names_every_layer(capsys, monkeypatch, model, width):
    code, out = run(capsys, monkeypatch, width, "summary", model)
    assert code == 0
    assert_fits(out, width)
    cells = table_cells(out)
    names = [r.name for r in cnnstat.analyze(model).layers]
    missing = [n for n in names if n not in cells]
    assert not missing, missing[:5]
    # the key figures are never cut: alexnet's first conv has (11·11·3 + 1)·64 params
    if model == "alexnet":
        assert "23.3 K" in cells  # 23,296
        assert "…" not in out


def test_summary_names_what_it_leaves_out_and_wide_shows_it(capsys, monkeypatch):
    _, narrow = run(capsys, monkeypatch, 80, "summary", "alexnet")
    assert "Kernel" not in table_cells(narrow)
    assert "--wide" in narrow
    code, wide = run(capsys, monkeypatch, 80, "summary", "alexnet", "--wide")
    assert code == 0
    assert {"Kernel", "Output shape", "FLOPs", "k11 s4 p2"} <= table_cells(wide)
    assert max(cell_len(line) for line in wide.splitlines()) > 80


def test_pipe_without_columns_is_wide(capsys, monkeypatch):
    code, out = run(capsys, monkeypatch, None, "summary", "alexnet")
    assert code == 0
    assert {"Kernel", "Output shape", "FLOPs", "Act. mem"} <= table_cells(out)
    assert "Not shown" not in out


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_fits(capsys, monkeypatch, width):
    code, out = run(capsys, monkeypatch, width, "compare", "--models", "lenet5,alexnet,vgg16")
    assert code == 0
    assert_fits(out, width)
    cells = table_cells(out)
    assert {"lenet5", "alexnet", "vgg16", "Params", "MACs"} <= cells
    assert "416.5 K" in cells  # lenet5's 416,520 MACs, not "0.000" GMACs
    assert "138.4 M" in cells  # vgg16's 138,357,544 params


@pytest.mark.parametrize("width", WIDTHS)
def test_models_and_memory_fit(capsys, monkeypatch, width):
    code, out = run(capsys, monkeypatch, width, "models", "--filter", "efficientnet_v2*")
    assert code == 0
    assert_fits(out, width)
    assert {"efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"} <= table_cells(out)
    code, out = run(capsys, monkeypatch, width, "memory", "resnet18", "--optimizer", "adam")
    assert code == 0
    assert_fits(out, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_conv_fits(capsys, monkeypatch, width):
    args = ("conv", "--input", "28x28x192", "--filters", "32", "--kernel", "5", "--padding", "2",
            "--bottleneck", "16", "--depthwise-separable")  # fmt: skip
    code, out = run(capsys, monkeypatch, width, *args)
    assert code == 0
    assert_fits(out, width)
    assert "120,422,400 (120.4 M)" in out  # 28·28·32 · 5·5·192 MACs


@pytest.fixture(scope="module")
def resnet18_check():
    pytest.importorskip("fvcore")
    return cnnstat.cross_check("resnet18")


def render_to(width: int, draw) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    draw(console)
    return console.file.getvalue()


@pytest.mark.parametrize("width", WIDTHS)
def test_check_fits(resnet18_check, width):
    out = render_to(width, lambda c: render.check_tables(resnet18_check, c, limit=50))
    assert_fits(out, width)
    cells = table_cells(out)
    assert {d.name for d in resnet18_check.disagreements} <= cells
    assert {"cnnstat", "fvcore", "published"} <= cells


@pytest.fixture(scope="module")
def lenet5_bench():
    return cnnstat.run_bench(
        cnnstat.BenchConfig(models=("lenet5",), iters=2, warmup=1, min_iters=1, min_time_s=0.01)
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_bench_fits(lenet5_bench, width):
    out = render_to(width, lambda c: render.print_fitted(c, *render.bench_columns(lenet5_bench)))
    assert_fits(out, width)
    assert {"lenet5", "Total ms"} <= table_cells(out)


def test_fit_columns_keeps_the_undroppable_and_readmits_narrow_columns():
    cols = [render.Column("Name"), render.Column("Wide", drop=2), render.Column("N", drop=1)]
    rows = [["a" * 10, "w" * 30, "1"]]
    # all three: 10 + 30 + 1 and 2 edge + 2 × 3 gap cells = 49
    assert render.fit_columns(cols, rows, 49) == [0, 1, 2]
    # "Wide" goes first; then "N" fits again: 10 + 1 + 2 + 3 = 16
    assert render.fit_columns(cols, rows, 48) == [0, 2]
    assert render.fit_columns(cols, rows, 5) == [0]


@pytest.mark.parametrize(
    "command", ["summary", "memory", "models", "check", "conv", "bench", "compare", "report lectures"]
)
def test_help_shows_real_flag_syntax(capsys, monkeypatch, command):
    code, out = run(capsys, monkeypatch, 200, *command.split(), "--help")
    assert code == 0
    assert "<bool>" not in out  # a flag takes no value: `--strict`, not `--strict <bool>`
    if command in ("models", "check", "conv"):
        assert "--output" not in out  # they have no such option


# --- Markdown for people, CSV and JSON for machines ---------------------------------


@pytest.fixture(scope="module")
def lenet_vgg():
    return cnnstat.compare(("lenet5", "vgg16"))


def markdown_rows(text: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]


def test_compare_markdown_is_for_people(lenet_vgg):
    from cnnstat.export import Format, compare_text

    text = compare_text(lenet_vgg, Format.markdown)
    header, rule, lenet, vgg = markdown_rows(text)
    assert all(len(row) == len(header) for row in (rule, lenet, vgg))
    assert "nan" not in text.lower().replace("nanos", "")
    # no bench was run: no empty timing columns
    assert not {"Fwd ms", "Bwd ms", "Total ms", "img/s"} & set(header)
    row = dict(zip(header, lenet, strict=True))
    # 28*28*6*25 + 10*10*16*150 + 48,000 + 10,080 + 840 = 416,520 multiply-adds, not "0.000" GMACs
    assert row["MACs"] == "416.5 K"
    assert row["Top-1 %"] == "—"  # torchvision publishes no lenet5 accuracy
    row = dict(zip(header, vgg, strict=True))
    assert row["Params"] == "138.4 M"  # 138,357,544 (torchvision's num_params)
    assert row["MACs"] == "15.5 G"  # 15,470,264,320
    assert "DEFAULT weights" in text and "2 FLOPs" in text  # conventions as footnotes


def test_compare_csv_and_json_stay_raw(lenet_vgg):
    import json

    from cnnstat.export import Format, compare_text

    csv = compare_text(lenet_vgg, Format.csv)
    header = csv.splitlines()[0].split(",")
    assert {"macs", "params", "top1", "total_ms", "images_per_s"} <= set(header)
    assert str(VGG16_MACS) in csv and str(published_params("vgg16")) in csv
    d = json.loads(compare_text(lenet_vgg, Format.json))
    assert d["rows"][1]["macs"] == VGG16_MACS


def test_markdown_table_cells():
    from cnnstat.export import markdown_table

    text = markdown_table(
        ["name", "year", "count", "ratio", "empty"],
        [["a|b", 2012, 62_378_344, float("nan"), None], ["c", 1998, None, 0.5, ""]],
    )
    rows = markdown_rows(text)
    assert rows[0] == ["name", "year", "count", "ratio"]  # the empty column is left out
    assert rows[1] == ["---", "---:", "---:", "---:"]
    lines = text.splitlines()
    assert lines[2] == "| a\\|b | 2012 | 62,378,344 | — |"  # the pipe escaped, NaN unknown
    assert lines[3] == "| c | 1998 | — | 0.5 |"


def test_classic_comparison_markdown_has_separators():
    from cnnstat.lectures import classic_comparison

    text, csv, _ = classic_comparison()
    assert "62,378,344" in text  # alexnet_original's params, the lectures' "62M"
    assert "62378344" in csv  # the CSV stays raw


# --- README's examples --------------------------------------------------------------

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    return [
        line.split("#")[0].strip().split("&&")[-1].strip()
        for line in lines
        if "cnnstat " in line and line.lstrip().startswith(("cnnstat ", "mkdir "))
    ]


def test_readme_examples_write_to_scratch_paths_not_reports():
    commands = readme_commands()
    assert len(commands) > 20
    writing = [c for c in commands if "--output" in c]
    assert writing and not [c for c in writing if "reports/" in c], writing


@pytest.mark.parametrize(
    "command", [c for c in readme_commands() if "examples/my_models.py" in c] or ["missing"]
)
def test_readme_custom_model_examples_run(capsys, monkeypatch, command):
    import json
    import shlex

    assert command != "missing", "README has no example with examples/my_models.py"
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)[1:]
    if "--format" not in args:
        args += ["--format", "json"]
    code, out = run(capsys, monkeypatch, 200, *args)
    assert code == 0
    d = json.loads(out)
    assert d["model"].endswith("my_models.py:TinyNet")
    totals = d["totals"] if isinstance(d["totals"], dict) else d["totals"][0]  # check: per source
    # conv 3x3 1->8 with bias, fc 8->10 with bias
    assert totals["params"] == (3 * 3 * 1 + 1) * 8 + (8 + 1) * 10 == 170
    # conv 30·30·8 · 3·3 + fc 8·10
    assert totals["macs"] == 30 * 30 * 8 * 9 + 8 * 10 == 64_880


def test_a_text_file_keeps_every_column():
    from cnnstat.export import Format, summary_text

    text = summary_text(cnnstat.analyze("alexnet"), Format.table, width=80)
    assert {"Kernel", "Output shape", "FLOPs", "Act. mem", "k11 s4 p2"} <= table_cells(text)
    assert "Not shown" not in text


def test_bench_estimate_header_promises_an_error_only_where_one_is_given(lenet5_bench):
    from dataclasses import replace

    headers = [c.header for c in render.bench_columns(lenet5_bench)[0]]
    assert "Estimate" in headers and "Estimate (err)" not in headers  # CPU cells only
    on_cuda = replace(lenet5_bench, results=[replace(lenet5_bench.results[0], device="cuda")])
    assert "Estimate (err)" in [c.header for c in render.bench_columns(on_cuda)[0]]
