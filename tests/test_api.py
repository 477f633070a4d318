"""Every name README's Python API section documents works on every call, in one process."""

from __future__ import annotations

import subprocess
import sys

# Run in a fresh interpreter: whether a name survives depends on which submodules were
# imported before, and pytest's process has imported them all already.
SCRIPT = r"""
import cnnstat  # and nothing else: README's cnnstat.calculator.layer_costs must work as written
from tests.expected import LENET5_PARAMS

for attempt in range(2):
    report = cnnstat.analyze("lenet5")
    assert isinstance(report, cnnstat.Report)
    assert report.totals.params == LENET5_PARAMS, report.totals.params

    comparison = cnnstat.compare(("lenet5",))
    assert comparison.rows[0].params == LENET5_PARAMS
    assert cnnstat.compare("lenet5").rows[0].model == "lenet5"  # a plain string is accepted
    rows = cnnstat.compare(["lenet5"], sort="params").to_dict()["rows"]
    assert rows[0]["params"] == LENET5_PARAMS

    check = cnnstat.cross_check("lenet5", sources=("formulas",))
    assert check.passed and check.to_dict()

    mem = cnnstat.memory("lenet5", device="cpu")
    assert isinstance(mem, cnnstat.MemoryReport)
    assert mem.train_step_peak_bytes > LENET5_PARAMS * 4
    assert cnnstat.memory.max_batch_size("lenet5", "64MiB", mode="inference", device="cpu") >= 1

    run = cnnstat.run_bench(cnnstat.BenchConfig(models=("lenet5",), iters=1, warmup=0,
                                                min_iters=1, min_time_s=0.01))
    assert run.results and all(r.status == "ok" for r in run.results), run.results
    assert run.to_dict()["results"]

    spec = cnnstat.calculator.make_spec((28, 28, 192), 32, (5,), padding=(2,))
    assert cnnstat.calculator.layer_costs(spec, bottleneck=16).rows[0].macs == 28 * 28 * 32 * 5 * 5 * 192

    assert callable(cnnstat.lectures.lecture_reports)

    try:
        cnnstat.analyze("no_such_model")
    except cnnstat.CnnstatError:
        pass
    else:
        raise AssertionError("an unknown model must raise CnnstatError")

    from cnnstat import analyze, compare, cross_check, memory, run_bench  # noqa: F401
    assert callable(compare) and callable(memory)
print("ok")
"""


def test_documented_api_works_twice_in_one_process():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_bad_api_arguments_are_typed_errors_naming_the_argument():
    import pytest

    import cnnstat
    from cnnstat.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="input_size takes shapes as tuples of ints"):
        cnnstat.analyze("resnet18", input_size="3x224")
    with pytest.raises(InvalidInputError, match="models needs at least one model name"):
        cnnstat.compare("")
    with pytest.raises(InvalidInputError, match="spec must be a ConvSpec"):
        cnnstat.calculator.layer_costs("227x227x3")
    from cnnstat.calculator import ConvSpec

    hand_built = ConvSpec((28, 28), 8, 4, (3, 3), stride=(0, 0), padding=(0, 0), dilation=(1, 1))
    with pytest.raises(InvalidInputError, match=r"stride values must be positive"):
        cnnstat.calculator.layer_costs(hand_built)
    with pytest.raises(InvalidInputError, match="input_size takes a shape as a tuple of ints"):
        cnnstat.memory("lenet5", input_size="1x32x32")
    for budget in (-1, 0, float("nan")):
        with pytest.raises(InvalidInputError, match="budget must be positive"):
            cnnstat.memory("lenet5", budget=budget)
