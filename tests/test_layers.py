"""Dependencies point one way: each module imports only from its own layer or the layers below.

formulas -> ops -> trackers -> analysis -> records' readers, with display and files on top.
A new module must be placed in a layer here, which is the point: where it sits is a decision.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cnnstat

LAYERS = [
    {"errors", "enums", "formulas", "dtypes", "facts", "resources", "usercode", "__version__"},
    {"classics"},
    {"ops", "zoo", "transfer", "calculator"},
    {"trackers", "counter"},
    {"records", "closed_form"},
    {"analysis"},
    {"crosscheck", "memory"},
    {"bench"},
    {"profile", "compare"},
    {"render", "plots"},
    {"export"},
    {"lectures"},
    {"cli", "__main__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
PACKAGE = Path(cnnstat.__file__).parent


def _top(dotted: str) -> str:
    """'cnnstat.trackers.costs' -> 'trackers'."""
    return dotted.split(".")[1]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "cnnstat":  # from cnnstat import zoo, __version__
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("cnnstat."):
                found.add(_top(node.module))
        elif isinstance(node, ast.Import):
            found |= {_top(a.name) for a in node.names if a.name.startswith("cnnstat.")}
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts != ("__init__",):  # the facade re-exports from every layer
            out.append((parts[0], path))
    return out


def test_every_module_has_a_layer():
    assert {top for top, _ in _modules()} <= set(LAYER)


def test_no_import_points_up():
    upward = []
    for top, path in _modules():
        for target in _imports(path):
            if target in LAYER and LAYER[target] > LAYER[top]:
                upward.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path):
    # the walker itself: a records module importing the CLI is caught
    bad = tmp_path / "records.py"
    bad.write_text("from cnnstat.cli.core import app\nimport cnnstat.render\n")
    assert _imports(bad) == {"cli", "render"}
