from __future__ import annotations

import pytest
import torch

from cnnstat.dtypes import canonical, torch_dtype


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fp32", torch.float32),
        ("float32", torch.float32),
        ("FP16", torch.float16),
        ("float16", torch.float16),
        ("bf16", torch.bfloat16),
        ("bfloat16", torch.bfloat16),
    ],
)
def test_names_users_write_map_to_torch_dtypes(name, expected):
    assert torch_dtype(name) is expected


@pytest.mark.parametrize("name", ["tf32", "int8", "fp64", ""])
def test_other_names_are_not_dtypes_cnnstat_runs(name):
    assert canonical(name) is None
    with pytest.raises(KeyError):
        torch_dtype(name)
