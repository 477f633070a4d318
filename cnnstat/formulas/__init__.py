"""Closed-form CNN arithmetic: ints and tuples in, ints out.

Nothing here imports torch. The same functions serve the analysis engine's
cross-check (``cnnstat.analysis``) and the layer calculator.
"""

from __future__ import annotations

from cnnstat.formulas.attention import mha_macs, mha_params
from cnnstat.formulas.conv import (
    conv_macs,
    conv_output_length,
    conv_output_shape,
    conv_params,
    conv_transpose_macs,
    conv_transpose_output_length,
    conv_transpose_output_shape,
)
from cnnstat.formulas.linear import linear_macs, linear_params
from cnnstat.formulas.norm import norm_params
from cnnstat.formulas.pool import adaptive_pool_output_shape, pool_output_length, pool_output_shape
from cnnstat.formulas.receptive import receptive_field_after, receptive_field_of_map
from cnnstat.formulas.separable import depthwise_separable_macs, depthwise_separable_params

__all__ = [
    "adaptive_pool_output_shape",
    "conv_macs",
    "conv_output_length",
    "conv_output_shape",
    "conv_params",
    "conv_transpose_macs",
    "conv_transpose_output_length",
    "conv_transpose_output_shape",
    "depthwise_separable_macs",
    "depthwise_separable_params",
    "linear_macs",
    "mha_macs",
    "mha_params",
    "linear_params",
    "norm_params",
    "pool_output_length",
    "pool_output_shape",
    "receptive_field_after",
    "receptive_field_of_map",
]
