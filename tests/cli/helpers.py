"""Running the command line in-process, as the tests of every command do."""

from __future__ import annotations

import pytest

from cnnstat.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    """``cnnstat ARGS``: the exit status, stdout and stderr."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """A failure told in one ``error:`` line holding every needle, never a traceback."""
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]
