"""Models at the edge of what cnnstat accepts (issue 12): tied weights, uncalled heads,
custom convolutions, freezing by ratio, cheap ops, several and integer inputs, training mode."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch import nn

import cnnstat
from cnnstat.errors import ForwardError, InvalidInputError
from cnnstat.facts import VGG16_LECTURE
from tests.cli.helpers import run
from tests.expected import published_params


def by_name(report, name):
    return next(r for r in report.layers if r.name == name)


class TiedConvs(nn.Module):
    """Two 100->100 3x3 convs sharing one weight tensor, each with its own bias."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(100, 100, 3, padding=1)
        self.b = nn.Conv2d(100, 100, 3, padding=1)
        self.b.weight = self.a.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


def test_tied_weights_count_once_and_rows_add_up():
    r = cnnstat.analyze(TiedConvs(), (100, 8, 8))
    weight, bias = 100 * 100 * 3 * 3, 100  # 90,000 and 100
    assert r.totals.params == weight + 2 * bias == 90_200
    assert sum(row.params for row in r.layers) == r.totals.params
    a, b = by_name(r, "a"), by_name(r, "b")
    assert (a.params, a.shared_params) == (weight + bias, 0)
    assert (b.params, b.shared_params, b.shared_with) == (bias, weight, ("a",))
    # the closed-form check sees the conv's full parameter set, shared or not
    assert a.check.status == b.check.status == "ok"


def test_tied_weights_at_depth_zero():
    r = cnnstat.analyze(TiedConvs(), (100, 8, 8), depth=0)
    assert [row.params for row in r.layers] == [90_200]
    assert r.layers[0].shared_params == 0  # tied within one row is no footnote


class WithAuxHead(nn.Module):
    """A body that runs and an auxiliary head (conv 8->4 1x1, linear 4->3) that never does."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.aux = nn.Sequential(nn.Conv2d(8, 4, 1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


AUX = (8 * 4 + 4) + (4 * 3 + 3)  # 36 + 15
BODY = 3 * 8 * 9 + 8  # 224


@pytest.mark.parametrize(
    ("depth", "rows"),
    [
        (0, [("WithAuxHead (model)", 0, BODY + AUX)]),
        (1, [("body", 1, BODY), ("aux", 1, AUX)]),
        (None, [("body.0", 2, BODY), ("body.1", 2, 0), ("aux.0", 2, 36), ("aux.2", 2, 15)]),
    ],
    ids=["depth0", "depth1", "leaves"],
)
def test_uncalled_modules_follow_depth(depth, rows):
    r = cnnstat.analyze(WithAuxHead(), (3, 8, 8), depth=depth)
    assert [(row.name, row.depth, row.params) for row in r.layers] == rows
    assert r.totals.params == BODY + AUX
    assert r.uncalled_modules == ("aux",)


class PadInForwardConv(nn.Conv2d):
    """Like timm's Conv2dSame: static padding 0, 'same' padding applied in the forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # stride 2, kernel 3 on an even size: pad 0 before, 1 after on each spatial axis
        return super().forward(nn.functional.pad(x, (0, 1, 0, 1)))


class GainConv(nn.Conv2d):
    """Like timm's ScaledStdConv2d: a per-output-channel gain parameter scales the weight."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gain = nn.Parameter(torch.ones(self.out_channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.gain, self.bias)


def test_check_judges_the_convolution_that_ran_padding_in_forward():
    r = cnnstat.analyze(nn.Sequential(PadInForwardConv(3, 32, 3, stride=2)), (3, 224, 224))
    row = r.layers[0]
    # padded to 225: (225 - 3) // 2 + 1 = 112; the attributes alone say (224 - 3) // 2 + 1 = 111
    assert row.output_shape == (1, 32, 112, 112)
    assert row.macs == 112 * 112 * 32 * 3 * 3 * 3 == 10_838_016
    assert row.check.status == "ok", row.check.mismatches


def test_check_counts_a_conv_subclass_extra_parameters():
    r = cnnstat.analyze(nn.Sequential(GainConv(3, 40, 3, padding=1)), (3, 16, 16))
    row = r.layers[0]
    assert row.params == 40 * 3 * 9 + 40 + 40 == 1_160  # weight, bias, gain
    assert row.check.status == "ok", row.check.mismatches


def test_check_still_catches_a_conv_whose_count_is_wrong():
    class Wrong(nn.Conv2d):  # runs the conv twice: twice the formula's MACs
        def forward(self, x):
            return super().forward(x) + super().forward(x)

    r = cnnstat.analyze(nn.Sequential(Wrong(3, 8, 3)), (3, 10, 10))
    assert r.layers[0].check.status == "mismatch"


@pytest.mark.parametrize("model", ["timm:tf_efficientnet_b0", "timm:nf_regnet_b0"])
def test_timm_custom_convs_agree_with_the_closed_forms(model):
    pytest.importorskip("timm")
    r = cnnstat.analyze(model)
    assert r.checked_layers > 80
    assert [row.name for row in r.layers if row.check.status == "mismatch"] == []


def test_freeze_ratio_freezes_whole_modules_and_says_how_much():
    r = cnnstat.analyze("vgg16", freeze_ratio=0.8)
    published = published_params("vgg16")
    fc6 = 25_088 * 4_096 + 4_096  # 102,764,544: weight and bias frozen together
    # the 13 convs from the lecture's table: weights without biases, plus a bias per filter
    convs = [(w, shape) for layer, shape, _, w, _ in VGG16_LECTURE if layer.startswith("CONV")]
    features = sum(w + int(shape.split("x")[2]) for w, shape in convs)  # 14,714,688
    assert features == published - fc6 - (4096 * 4096 + 4096) - (4096 * 1000 + 1000)
    assert r.totals.params == published
    assert r.totals.frozen_params == features + fc6 == 117_479_232
    fc6_row = by_name(r, "classifier.0")
    assert fc6_row.trainable_params == 0
    assert any("84.9%" in note for note in r.notes)  # 117,479,232 / 138,357,544


class CheapOps(nn.Module):
    """sin, cos, remainder, floor_divide, all, _assert_async, max_unpool2d and col2im (F.fold)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.sin(x) + torch.cos(x)
        y = torch.remainder(y, 3) + torch.floor_divide(y, 3)
        torch._assert_async(torch.all(x > -1))
        pooled, indices = nn.functional.max_pool2d(y, 2, return_indices=True)
        y = nn.functional.max_unpool2d(pooled, indices, 2)
        return nn.functional.fold(y.reshape(1, 16, 16), (8, 8), kernel_size=2, stride=2)


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_cheap_ops_have_rules_with_their_documented_cost(device):
    r = cnnstat.analyze(CheapOps(), (4, 8, 8), device=device)
    assert r.unsupported_ops == {}
    n = 4 * 8 * 8  # 256 elements
    elementwise = 7 * n  # sin, cos, add, remainder, floor_divide, add, gt: 1 FLOP each
    all_ = n  # a reduction reads every element once
    pool = (n // 4) * 4  # 64 outputs, 2x2 windows
    fold = 16 * 16  # one add per column element
    assert r.totals.flops == elementwise + all_ + pool + fold == 2_560
    assert r.totals.macs == 0


def test_packed_sequence_is_counted():
    class Packed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.GRU(4, 3, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor([5]), batch_first=True)
            return self.rnn(packed)[1]

    r = cnnstat.analyze(Packed(), (5, 4))
    assert "_pack_padded_sequence" not in r.unsupported_ops
    assert r.unsupported_ops == {}


# --- inputs ------------------------------------------------------------------------

EDGE = Path(__file__).parent / "fixtures" / "edge_models.py"


def edge_model(name: str) -> nn.Module:
    spec = importlib.util.spec_from_file_location("cnnstat_test_edge_models", EDGE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


def one_line_error(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def conv_macs(h: int, w: int) -> int:
    return (h - 2) * (w - 2) * 8 * 3 * 3 * 3  # 3->8 channels, 3x3 kernel, no padding


def test_several_positional_and_keyword_inputs_in_the_api():
    r = cnnstat.analyze(
        edge_model("TwoTower"), [(3, 16, 16), (3, 16, 16)], input_kwargs={"mask": (8, 14, 14)}
    )
    assert r.input_shapes == ((1, 3, 16, 16), (1, 3, 16, 16), (1, 8, 14, 14))
    assert r.input_names == ("mask",)
    assert r.totals.macs == 2 * conv_macs(16, 16) == 84_672
    # two bias adds, the sum and the mask product: 14*14*8 = 1,568 elements each
    assert r.totals.flops == 2 * 84_672 + 4 * 1_568


@pytest.mark.parametrize(
    ("sizes", "macs"),
    [
        ("3x16x16,3x16x16", 2 * conv_macs(16, 16)),
        ("3x16x16,3x16x16,mask=8x14x14", 2 * conv_macs(16, 16)),
        ("3x12x20,3x12x20", 2 * conv_macs(12, 20)),
    ],
)
def test_several_input_sizes_on_the_command_line(capsys, sizes, macs):
    code, out, _ = run(capsys, "summary", f"{EDGE}:TwoTower", "-i", sizes, "-f", "json")
    assert code == 0
    data = json.loads(out)
    assert len(data["input_shapes"]) == sizes.count(",") + 1
    assert data["totals"]["macs"] == macs


def test_one_size_for_a_two_input_model_says_what_to_pass(capsys):
    code, _, err = run(capsys, "summary", f"{EDGE}:TwoTower", "-i", "3x16x16")
    assert "--input-size" in one_line_error(code, err)


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_integer_inputs_with_a_value_range(device):
    r = cnnstat.analyze(
        edge_model("TokenModel"),
        (10,),
        input_dtype=torch.long,
        input_range=(0, 1000),
        device=device,
    )
    assert r.device_mode == device
    assert r.totals.params == 1000 * 16 + 16 * 4 + 4
    assert r.totals.macs == 10 * 16 * 4  # the embedding is a lookup, no MACs
    assert by_name(r, "embed").activation_bytes == 10 * 16 * 4  # fp32 rows looked up


def test_integer_inputs_on_the_command_line(capsys):
    code, out, _ = run(
        capsys, "summary", f"{EDGE}:TokenModel", "-i", "10", "--input-dtype", "long",
        "--input-range", "0,1000", "--real", "-f", "json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["totals"]["macs"] == 640


@pytest.mark.parametrize(
    ("args", "overflowing"),
    [
        (("-i", "1x9999999999x9999999999"), "1x9999999999x9999999999"),
        (("-b", "99999999999999999999"), "99999999999999999999"),
        (("-i", "3x224x224", "-b", str(2**62)), "4611686018427387904"),
    ],
    ids=["input-size", "batch-size", "batch-times-size"],
)
@pytest.mark.parametrize("command", ["summary", "memory"])
def test_sizes_that_overflow_say_which(capsys, command, args, overflowing):
    code, _, err = run(capsys, command, "alexnet", *args)
    line = one_line_error(code, err)
    assert overflowing in line
    assert "unexpected" not in line


def test_bad_input_range_is_one_line(capsys):
    code, _, err = run(capsys, "summary", f"{EDGE}:TokenModel", "-i", "10", "--input-range", "5,1")
    one_line_error(code, err)


# --- lazy and scripted modules -------------------------------------------------------

LAZY_PARAMS = (3 * 8 * 9 + 8) + (8 * 6 * 6 * 5 + 5)  # conv 224, fc 288*5+5 = 1,445


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_lazy_modules_are_materialised_by_a_dry_run(device):
    model = edge_model("LazyNet")
    r = cnnstat.analyze(model, (3, 8, 8), device=device)
    assert r.totals.params == LAZY_PARAMS == 1_669
    assert r.totals.macs == 6 * 6 * 8 * 27 + 288 * 5  # 7,776 + 1,440
    assert model.fc.in_features == 0  # the caller's model is left lazy


def test_lazy_modules_in_summary_and_compare(capsys):
    code, out, _ = run(capsys, "summary", f"{EDGE}:LazyNet", "-i", "3x8x8", "-f", "json")
    assert code == 0 and json.loads(out)["totals"]["params"] == LAZY_PARAMS
    code, out, _ = run(
        capsys, "compare", "--models", f"{EDGE}:LazyNet", "-i", "3x8x8", "-f", "json"
    )
    assert code == 0
    (row,) = json.loads(out)["rows"]
    assert row["params"] == LAZY_PARAMS and row["status"] == "ok"


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.script is deprecated
def test_scripted_module_is_a_one_line_error_saying_what_to_pass(capsys):
    with pytest.raises(InvalidInputError, match="before scripting"):
        cnnstat.analyze(torch.jit.script(nn.Sequential(nn.Linear(4, 2))), (4,))
    code, _, err = run(capsys, "summary", f"{EDGE}:scripted", "-i", "4")
    assert "nn.Module" in one_line_error(code, err)


# --- training mode -----------------------------------------------------------------


class TrainOnlyHead(nn.Module):
    """fc1 8->16, BatchNorm, dropout, fc2 16->4; an aux head 16->3 that runs only in training."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.bn = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(16, 4)
        self.aux = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor):
        h = self.bn(self.fc1(x))
        out = self.fc2(self.drop(h))
        return (out, self.aux(h)) if self.training else out


def test_train_mode_runs_training_only_heads_and_says_what_changed():
    n = 4
    evaluated = cnnstat.analyze(TrainOnlyHead(), (8,), batch_size=n)
    trained = cnnstat.analyze(TrainOnlyHead(), (8,), batch_size=n, train=True)
    assert not evaluated.training and trained.training
    assert evaluated.totals.macs == n * (8 * 16 + 16 * 4) == 768
    assert trained.totals.macs == n * (8 * 16 + 16 * 4 + 16 * 3) == 960
    assert evaluated.uncalled_modules == ("aux",) and trained.uncalled_modules == ()
    # BatchNorm: 2 FLOPs per element with running statistics, 5 computing them
    assert by_name(evaluated, "bn").flops == 2 * n * 16
    assert by_name(trained, "bn").flops >= 5 * n * 16
    # dropout saves its mask for backward only in training (the CPU kernel's float32 noise)
    assert by_name(evaluated, "drop").saved_bytes == 0
    assert by_name(trained, "drop").saved_bytes == n * 16 * 4
    notes = " ".join(trained.notes)
    assert "aux" in notes and "768" in notes and "960" in notes
    assert not evaluated.notes


def test_train_on_the_command_line(capsys):
    code, out, _ = run(capsys, "summary", "resnet18", "--train", "-b", "2", "-f", "json")
    assert code == 0
    data = json.loads(out)
    assert data["training"] is True
    assert data["notes"]


def test_train_mode_batch_norm_with_one_value_per_channel_asks_for_a_batch():
    with pytest.raises(ForwardError, match="raise batch_size"):
        cnnstat.analyze(TrainOnlyHead(), (8,), batch_size=1, train=True)


# --- real tensors that would not fit ------------------------------------------------


def test_real_run_larger_than_memory_is_refused_before_trying(capsys, monkeypatch):
    monkeypatch.setattr("cnnstat.resources.available_memory_bytes", lambda: 1_000_000)
    code, _, err = run(capsys, "summary", "lenet5", "--real", "-b", "1000")
    line = one_line_error(code, err)
    assert f"{1000 * 1 * 32 * 32 * 4:,}" in line  # 4,096,000 bytes of fp32 input
    assert "1,000,000" in line


def test_real_head_larger_than_memory_is_refused_before_trying(capsys, monkeypatch):
    monkeypatch.setattr("cnnstat.resources.available_memory_bytes", lambda: 10**9)
    code, _, err = run(capsys, "summary", "lenet5", "--real", "--num-classes", "10000000")
    line = one_line_error(code, err)
    assert f"{(84 + 1) * 10_000_000 * 4:,}" in line  # 84 weights + 1 bias per class, fp32


def test_meta_run_ignores_the_machine_memory(monkeypatch):
    monkeypatch.setattr("cnnstat.resources.available_memory_bytes", lambda: 1)
    r = cnnstat.analyze("lenet5", batch_size=1000, num_classes=10_000_000)
    assert r.device_mode == "meta"


def test_googlenet_aux_heads_roll_up_at_depth_zero():
    import torchvision

    model = torchvision.models.googlenet(aux_logits=True, init_weights=False)
    total = sum(p.numel() for p in model.parameters())
    r = cnnstat.analyze(model, (3, 224, 224), depth=0)
    assert [row.name for row in r.layers] == ["GoogLeNet (model)"]
    assert r.layers[0].params == r.totals.params == total
    r = cnnstat.analyze(model, (3, 224, 224), depth=1)
    aux = [row for row in r.layers if not row.called]
    assert [(row.name, row.depth) for row in aux] == [("aux1", 1), ("aux2", 1)]
    assert r.totals.params - 6_624_904 == sum(row.params for row in aux)  # published: no aux


def test_a_real_tensor_pass_frees_its_tensors():
    import gc
    import weakref

    from cnnstat.counter import run_counted

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    tensors = {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
    x = torch.zeros(1, 3, 16, 16)
    counter = run_counted(model, (x,), tensors)
    gone = weakref.ref(counter)
    del counter
    gc.collect()
    assert gone() is None  # nothing (no autograd graph holding its pack hook) keeps it alive


def test_table_marks_shared_parameters():
    import io

    from rich.console import Console

    from cnnstat.render import summary

    console = Console(file=io.StringIO(), width=160, color_system=None)
    summary(cnnstat.analyze(TiedConvs(), (100, 8, 8)), console)
    lines = console.file.getvalue().splitlines()
    rows = {line.split()[1]: line for line in lines if line.split()[:1] in (["0"], ["1"])}
    assert "†" in rows["b"] and "†" not in rows["a"]
