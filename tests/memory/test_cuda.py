"""Predictions against a real CUDA allocator; skipped on machines without a GPU."""

from __future__ import annotations

import pytest
import torch

from cnnstat import zoo
from cnnstat.memory import memory
from cnnstat.memory.simulate import _loss

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _workspaces() -> None:
    # the steady state the CUDA profile assumes: cuBLAS workspaces of both threads exist
    a = torch.ones(64, 64, device="cuda", requires_grad=True)
    (a @ a).sum().backward()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        b = (a @ a).sum()
    b.backward()
    torch.cuda.synchronize()


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "vit_b_32"])
def test_predicted_peaks_match_max_memory_allocated(name: str) -> None:
    _workspaces()
    torch.backends.cudnn.benchmark = False
    spec = zoo.resolve(name)
    model = zoo.build(spec, meta=False).cuda()
    x = torch.randn(4, *spec.default_input_size, device="cuda")  # type: ignore[misc]
    model.eval()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        model(x)
    inference = torch.cuda.max_memory_allocated()
    model.train()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    _loss(model(x)).backward()
    train = torch.cuda.max_memory_allocated()
    predicted = memory(name, batch_size=4, device="cuda", phases=("inference", "train_step"))
    assert predicted.inference_peak_bytes == pytest.approx(inference, rel=0.05)
    assert predicted.train_step_peak_bytes == pytest.approx(train, rel=0.05)
