"""The ``cnnstat`` command line: parse arguments, call the library, render or export. No math here.

Heavy imports (torch, the analysis engine) happen inside commands, so that
``cnnstat --help`` and ``cnnstat models`` answer at once.

- ``core``: the Typer app, the consoles, the error decorator, ``emit`` and the progress bar
- ``options``: the shared ``Annotated`` options and their enums
- ``parse``: human input (``3x224x224``, ``1,8,16``, ``0,1000``) and the common checks
- ``analysis``, ``timing``, ``reference``: the commands
- ``entry``: ``main``, which turns every way a run ends into an exit status
"""

from __future__ import annotations

from cnnstat.cli.analysis import check, summary
from cnnstat.cli.comparison import compare
from cnnstat.cli.core import app
from cnnstat.cli.entry import main
from cnnstat.cli.predict import memory
from cnnstat.cli.reference import conv, models, report_app
from cnnstat.cli.timing import bench, profile

# registered in the order `cnnstat --help` lists them
for _command in (summary, memory, models, bench, compare, check, conv, profile):
    app.command()(_command)
app.add_typer(report_app, name="report")

__all__ = ["app", "main"]
