"""torchvision's segmentation, detection, video and optical-flow models (issue 12)."""

from __future__ import annotations

import os

import pytest
import torch
import torchvision.models as tvm
from torch import nn
from torchvision.models import get_model_weights

import cnnstat
from cnnstat import zoo

TASK_MODULES = (tvm.segmentation, tvm.detection, tvm.video, tvm.optical_flow)
TASKS = sorted(n for m in TASK_MODULES for n in tvm.list_models(module=m))

# Published figures these default inputs reproduce, analysed in the default suite: the
# meta device makes them fast; ssdlite runs on real tensors (nms) and still matches.
REPRESENTATIVE = [
    "fcn_resnet50",
    "lraspp_mobilenet_v3_large",
    "r3d_18",
    "s3d",
    "raft_small",
    "ssdlite320_mobilenet_v3_large",
]
# Two-stage detectors whose heads run on however many proposals survive nms: with
# untrained weights and a blank image those are other counts than torchvision measured
# (fasterrcnn_resnet50_fpn and maskrcnn_resnet50_fpn_v2 happen to match).
DATA_DEPENDENT_TOTALS = {
    "fasterrcnn_mobilenet_v3_large_320_fpn",  # 2.873 GMACs against the published 0.719
    "fasterrcnn_mobilenet_v3_large_fpn",  # 18.853 against 4.494
    "keypointrcnn_resnet50_fpn",  # 483.470 against 137.42
    "maskrcnn_resnet50_fpn",  # 186.998 against 134.38
}
FULL = os.environ.get("CNNSTAT_FULL_ZOO") == "1"


def test_every_task_model_is_registered():
    assert zoo.task_names() == TASKS
    for name in TASKS:
        spec = zoo.resolve(name)
        assert spec.source == "torchvision" and spec.default_input_size is not None


def test_video_default_is_a_clip_of_the_published_crop():
    for name in ("r3d_18", "mvit_v2_s", "s3d", "swin3d_t"):
        crop = get_model_weights(name).DEFAULT.transforms.keywords["crop_size"]
        assert zoo.resolve(name).default_input_size == (3, 16, *crop)


def test_segmentation_default_is_the_published_resize():
    for name in tvm.list_models(module=tvm.segmentation):
        size = get_model_weights(name).DEFAULT.transforms.keywords["resize_size"]
        assert zoo.resolve(name).default_input_size == (3, size, size)


def _matches_published(name: str) -> None:
    meta = get_model_weights(name).DEFAULT.meta
    r = cnnstat.analyze(name)
    assert r.totals.params == meta["num_params"]
    # _ops is GMACs rounded to 3 decimals: allow 0.5% or the rounding, whichever is larger
    assert abs(r.totals.macs / 1e9 - meta["_ops"]) <= max(0.005 * meta["_ops"], 0.0005)
    assert r.unsupported_ops == {}


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_params_and_gmacs_match_published_metadata(name):
    _matches_published(name)


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="the whole catalogue takes minutes: CNNSTAT_FULL_ZOO=1")
@pytest.mark.parametrize(
    "name", [n for n in TASKS if n not in REPRESENTATIVE and n not in DATA_DEPENDENT_TOTALS]
)
def test_whole_catalogue_matches_published_metadata(name):
    _matches_published(name)


def test_raft_takes_two_frames():
    r = cnnstat.analyze("raft_small")
    assert r.input_shapes == ((1, 3, 512, 512), (1, 3, 512, 512))
    assert r.device_mode == "meta"
    # one size given: both frames get it
    r = cnnstat.analyze("raft_small", (3, 128, 256))
    assert r.input_shapes == ((1, 3, 128, 256), (1, 3, 128, 256))


def test_detection_reports_backbone_input_and_data_dependent_work():
    # min_size 320: a 200x200 image is resized to 320x320 before the backbone
    r = cnnstat.analyze("fasterrcnn_mobilenet_v3_large_320_fpn", (3, 200, 200))
    meta = get_model_weights("fasterrcnn_mobilenet_v3_large_320_fpn").DEFAULT.meta
    assert r.totals.params == meta["num_params"]
    assert r.input_shape == (1, 3, 200, 200)
    assert r.backbone_input_shape == (1, 3, 320, 320)
    assert {"nms", "roi_align"} <= set(r.data_dependent_ops)
    fc6 = next(row for row in r.layers if row.name == "roi_heads.box_head.fc6")
    assert fc6.data_dependent
    backbone_rows = [row for row in r.layers if row.name.startswith("backbone.")]
    assert backbone_rows and not any(row.data_dependent for row in backbone_rows)
    assert r.notes  # the totals are said to depend on the input
    # the fallback is one short line, not PyTorch's paragraph
    assert "\n" not in r.fallback_reason and len(r.fallback_reason) < 160


class Selects(nn.Module):
    """conv 3->4 1x1, then a linear 4->2 on the pixels a boolean mask selects."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.conv(x).permute(0, 2, 3, 1).reshape(-1, 4)
        keep = x.permute(0, 2, 3, 1).reshape(-1, 3)[:, 0] >= 0  # every pixel of a zero image
        return self.fc(feats[keep])


def test_work_after_a_data_dependent_op_is_marked():
    r = cnnstat.analyze(Selects(), (3, 5, 5))
    assert r.device_mode == "cpu"  # boolean indexing needs values: real tensors
    conv, fc = (next(row for row in r.layers if row.name == n) for n in ("conv", "fc"))
    assert not conv.data_dependent and fc.data_dependent
    assert fc.macs == 25 * 4 * 2  # all 25 pixels of the zero image selected
    assert r.data_dependent_ops == {"index": 1}  # x[mask]: a nonzero in disguise
    assert f"{fc.macs:,} of the {r.totals.macs:,} MACs" in r.notes[0]
