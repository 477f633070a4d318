"""cnnstat: what a convolutional network costs, layer by layer.

The public API is re-exported lazily so that ``import cnnstat`` stays cheap
and the CLI's help answers without importing torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_EXPORTS = {
    "analyze": ("cnnstat.analysis", "analyze"),
    "Report": ("cnnstat.records", "Report"),
    "CnnstatError": ("cnnstat.errors", "CnnstatError"),
    "run_bench": ("cnnstat.bench", "run_bench"),
    "BenchConfig": ("cnnstat.bench", "BenchConfig"),
    "Mode": ("cnnstat.bench", "Mode"),
    "cross_check": ("cnnstat.crosscheck", "cross_check"),
    "MemoryReport": ("cnnstat.memory", "MemoryReport"),
}

# submodules README documents by attribute access, without their own import
_SUBMODULES = ("calculator", "lectures", "profile", "zoo", "formulas")

__all__ = [
    "BenchConfig",
    "CnnstatError",
    "Report",
    "__version__",
    "analyze",
    "compare",
    "cross_check",
    "memory",
    "run_bench",
]

if TYPE_CHECKING:
    from cnnstat.analysis import analyze
    from cnnstat.bench import BenchConfig, run_bench
    from cnnstat.compare import compare
    from cnnstat.crosscheck import cross_check
    from cnnstat.errors import CnnstatError
    from cnnstat.records import Report


def __getattr__(name: str) -> Any:
    if name in ("memory", "compare"):  # the module itself, callable as memory(...), compare(...)
        return import_module(f"cnnstat.{name}")
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        return getattr(import_module(module), attr)
    if name in _SUBMODULES:  # documented as cnnstat.calculator.layer_costs, cnnstat.lectures....
        return import_module(f"cnnstat.{name}")
    raise AttributeError(f"module 'cnnstat' has no attribute {name!r}")
