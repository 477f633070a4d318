"""Hand-computed lifetimes of tiny networks: the arithmetic is written in each test."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnstat.memory import memory
from tests.expected import published_params

F32 = 4  # bytes per float32 element
MiB = 1 << 20


def inference_peak(model: nn.Module, size: tuple[int, ...], device: str = "cpu") -> int:
    report = memory(model, input_size=size, batch_size=1, device=device, phases=("inference",))
    assert report.inference_peak_bytes is not None
    return report.inference_peak_bytes


def chain() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 4))


def test_conv_relu_linear_chain() -> None:
    params = (2 * 1 * 3 * 3 + 2) * F32 + (4 * 32 + 4) * F32  # conv 80 B + linear 528 B
    x = 1 * 6 * 6 * F32  # 144 B
    conv_out = relu_out = 2 * 4 * 4 * F32  # 128 B each
    # the conv output is freed once ReLU has returned; the peak holds both
    assert inference_peak(chain(), (1, 6, 6)) == params + x + conv_out + relu_out  # 1,008 B


class Residual(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(x)
        return x + y


def test_residual_add_holds_input_branch_and_sum() -> None:
    x = 4 * F32
    assert inference_peak(Residual(), (4,)) == x + 4 * F32 + 4 * F32  # input, relu, sum: 48 B


class Concat(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x * 2
        b = x * 3
        return torch.cat([a, b], dim=1)


def test_concat_copies_its_inputs() -> None:
    x = 4 * F32
    assert inference_peak(Concat(), (4,)) == x + 4 * F32 + 4 * F32 + 8 * F32  # 80 B


class InPlace(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x * 2
        a.relu_()
        a.add_(1)
        return a.view(-1)


def test_inplace_ops_and_views_allocate_nothing() -> None:
    assert inference_peak(InPlace(), (4,)) == 4 * F32 + 4 * F32  # input and one product: 32 B


class ReusedBuffer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("buf", torch.zeros(1, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.buf.copy_(x)
        return self.buf * 2


def test_writing_into_a_buffer_allocates_nothing() -> None:
    # input 16 B + buffer 16 B + the product 16 B
    assert inference_peak(ReusedBuffer(), (4,)) == 3 * 4 * F32


def test_cuda_rounds_every_block_and_adds_the_workspaces() -> None:
    workspaces = 2 * 32 * MiB + 1 * MiB  # two cuBLAS workspaces and cuBLASLt's
    # five parameter/input tensors and two activations, each under 512 B: one block each
    assert inference_peak(chain(), (1, 6, 6), device="cuda") == workspaces + 7 * 512


def test_train_step_of_a_linear_layer() -> None:
    model = nn.Linear(8, 2)
    report = memory(model, input_size=(8,), batch_size=1, device="cpu", phases=("train_step",))
    static = (2 * 8 + 2) * F32 + 8 * F32  # params 72 B + input 32 B
    loss = 1 * F32  # out.sum(); the 2-element output itself dies once the loss exists
    # backward: the loss gradient (4 B) is expanded to 1x2; mm makes the weight gradient
    # (2x8 = 64 B) and sum the bias gradient (8 B); no input gradient is needed.
    assert report.train_step_peak_bytes == static + loss + 4 + 64 + 8  # 184 B
    # the gradients outlive the step: the breakdown at the peak names them
    assert report.breakdown["train_step"].get("gradients", 0) > 0


def test_adam_state_is_two_tensors_per_parameter() -> None:
    model = nn.Linear(256, 256)
    p_bytes = (256 * 256 + 256) * F32
    report = memory(model, input_size=(256,), device="cpu", optimizer="adam",
                    phases=("steady_step",))
    assert report.breakdown["steady_step"]["optimizer state"] == 2 * p_bytes
    sgd = memory(model, input_size=(256,), device="cpu", optimizer="sgd", phases=("steady_step",))
    assert "optimizer state" not in sgd.breakdown["steady_step"]
    momentum = memory(model, input_size=(256,), device="cpu", optimizer="sgd-momentum",
                      phases=("steady_step",))
    assert momentum.breakdown["steady_step"]["optimizer state"] == p_bytes


def test_frozen_parameters_get_no_gradient() -> None:
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    full = memory(model, input_size=(64,), device="cpu", phases=("train_step",))
    frozen = memory(model, input_size=(64,), device="cpu", phases=("train_step",), freeze="0")
    grads = full.breakdown["train_step"].get("gradients", 0)
    assert frozen.breakdown["train_step"].get("gradients", 0) < grads
    assert frozen.train_step_peak_bytes < full.train_step_peak_bytes  # type: ignore[operator]


def test_peak_grows_with_the_batch() -> None:
    small = memory("resnet18", batch_size=2, phases=("train_step",)).train_step_peak_bytes
    large = memory("resnet18", batch_size=4, phases=("train_step",)).train_step_peak_bytes
    assert small is not None and large is not None and large > small


@pytest.mark.parametrize("bad", [dict(optimizer="lion"), dict(device="tpu"),
                                 dict(dtype="fp8"), dict(batch_size=0), dict(budget="12XB"),
                                 dict(dtype="bf16", device="cpu")])
def test_bad_options_are_cnnstat_errors(bad: dict) -> None:
    from cnnstat.errors import CnnstatError

    with pytest.raises(CnnstatError):
        memory("lenet5", **bad)


def test_cnnstat_memory_is_callable_every_time() -> None:
    import cnnstat
    import cnnstat.memory.report  # noqa: F401  (importing submodules must not break the call)

    first = cnnstat.memory("lenet5", phases=("inference",)).inference_peak_bytes
    again = cnnstat.memory("lenet5", phases=("inference",)).inference_peak_bytes
    assert first == again


def test_static_bytes_exclude_transient_convolution_workspaces() -> None:
    report = memory("resnet18", batch_size=2, phases=("inference",))
    assert report.static_bytes["workspaces"] == 2 * 32 * MiB + 1 * MiB
    # resnet18: 11,689,512 float32 parameters, each of 62 tensors rounded up to 512-byte
    # blocks, and at most 1 MiB more where a segment's rest is too small to split off
    weight_bytes = published_params("resnet18") * 4
    assert weight_bytes <= report.static_bytes["parameters"] <= weight_bytes + 62 * 512 + MiB
    assert report.static_bytes["input"] == 2 * 3 * 224 * 224 * 4  # 1,204,224 = 2352 x 512


def test_a_model_that_needs_a_batch_of_two_to_train_is_traced_at_two() -> None:
    # Training-mode BatchNorm on a 1x1 map refuses a batch of one, as PyTorch does
    # (inception_v3's aux head); the discarded warm-up run must not ask for one.
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.BatchNorm2d(4))
    model.train()(torch.zeros(2, 3, 8, 8))  # the real module accepts batch 2
    report = memory(model, input_size=(3, 8, 8), batch_size=2, device="cpu")
    assert report.peak("train_step") is not None
