"""cnnstat: what a convolutional network costs, layer by layer.

The public API is re-exported lazily so that ``import cnnstat`` stays cheap
and the CLI's help answers without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["CnnstatError", "Report", "analyze", "__version__"]

if TYPE_CHECKING:
    from cnnstat.analysis import analyze
    from cnnstat.errors import CnnstatError
    from cnnstat.records import Report


def __getattr__(name: str) -> Any:
    if name == "analyze":
        from cnnstat.analysis import analyze

        return analyze
    if name == "Report":
        from cnnstat.records import Report

        return Report
    if name == "CnnstatError":
        from cnnstat.errors import CnnstatError

        return CnnstatError
    raise AttributeError(f"module 'cnnstat' has no attribute {name!r}")
