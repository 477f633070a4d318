"""The console-script entry point: every way a run can end becomes an exit status and at most
one line on stderr, never a traceback; stdout that is closed or whose reader left included."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

from cnnstat.cli.core import app, as_flags, error, stderr, stdout, stdout_width
from cnnstat.errors import CnnstatError

# The click that parses: recent typer vendors its own copy, older typer uses click itself;
# BadParameter lives in its exceptions module either way.
_click_exceptions: Any = sys.modules[typer.BadParameter.__module__]
#: usage errors (missing argument, bad option value), printed on one line
UsageFailure: tuple[type[Exception], ...] = (
    _click_exceptions.ClickException,
    getattr(typer, "TyperException", _click_exceptions.ClickException),
)
#: a bare command with ``no_args_is_help`` (click >= 8.2; older click shows the help itself)
NoArgsIsHelpError: type[Exception] = getattr(
    _click_exceptions, "NoArgsIsHelpError", type("NoArgsIsHelpError", (Exception,), {})
)


# Exit statuses. 1 is a verdict (a check disagrees, a model in a sweep failed), never a crash.
EXIT_INTERNAL = 70  # a bug in cnnstat (sysexits' EX_SOFTWARE)
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (128 + SIGPIPE), as a shell reports it


class _ClosedStdout:
    """Stands in for ``sys.stdout`` when the shell closed it (``>&-``): writing says so."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        if not text:
            return 0
        import errno

        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _closed_stdout() -> None:
    """The shell closed stdout (``>&-``): take fd 1 with /dev/null, so that no file opened
    later gets it (and C code's prints), and make Python-level writes report it."""
    try:
        os.fstat(1)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 1:
            os.dup2(fd, 1)
            os.close(fd)
    sys.stdout = _ClosedStdout()  # type: ignore[assignment]


def _stdout_failure(exc: BaseException) -> tuple[int, str | None] | None:
    """The exit status and message for a failure to write the terminal's streams, if it is one.

    The library converts its own file errors into ``ExportError``, so an ``OSError``
    without a file name that reaches ``main`` is a write to stdout; an encoding
    error is the terminal's encoding refusing a character of the report.
    """
    if isinstance(exc, BrokenPipeError):
        return EXIT_BROKEN_PIPE, None  # `cnnstat models | head`: the reader has what it wanted
    if isinstance(exc, UnicodeEncodeError):
        bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else "?"
        return 2, (
            f"standard output's encoding ({exc.encoding}) cannot show {bad!r}; "
            "set PYTHONIOENCODING=utf-8, or write the report with --output FILE"
        )
    if isinstance(exc, OSError) and exc.filename is None:
        import errno

        if exc.errno == errno.EBADF:
            return 2, "cannot write to standard output: it is closed; use --output FILE"
        return 2, f"cannot write to standard output: {exc.strerror or exc}"
    return None


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one-line errors, never a traceback.

    Exit statuses: 0 success; 1 a check disagrees or a model in a sweep failed;
    2 bad input, a failing model or an output that cannot be written; 3 ``--strict``
    with uncounted ops; 70 an internal error; 130 interrupted; 141 stdout's reader left.
    """
    if sys.stdout is None:
        _closed_stdout()
    stdout.width = stdout_width()  # type: ignore[assignment]  # COLUMNS as it is now
    try:
        code = app(args=argv, prog_name="cnnstat", standalone_mode=False)
        sys.stdout.flush()  # a full disk behind stdout shows here, not at interpreter exit
    except typer.Exit as exc:
        _flush_or_exit()
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        stderr.print("interrupted")
        sys.exit(130)
    except CnnstatError as exc:  # raised outside a command's own handler, e.g. a late write
        error(as_flags(exc))
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        if _raised_in(exc, "on_broken_pipe"):  # rich's answer to a closed pipe on stdout
            _exit_for_stdout(EXIT_BROKEN_PIPE, None)
        # otherwise only code cnnstat runs but does not own exits this way
        error(f"the model's code ended the run with sys.exit({exc.code})")
        sys.exit(2)
    except NoArgsIsHelpError as exc:  # a bare command shows its help
        sys.stdout.write(exc.ctx.get_help() + "\n")  # type: ignore[attr-defined]
        _flush_or_exit()
        sys.exit(0)
    except UsageFailure as exc:  # missing argument, bad option value: one line
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        # pydantic-style "Value error, " that some click versions put before the reason
        message = exc.format_message().replace("Value error, ", "")  # type: ignore[attr-defined]
        error(f"{message}{hint}")
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except Exception as exc:
        _internal_error(exc)
    sys.exit(code if isinstance(code, int) else 0)


def _internal_error(exc: Exception) -> None:
    """A failed write to stdout, or a bug in cnnstat: one line, and the traceback on request."""
    stream = _stdout_failure(exc)
    if stream is not None:
        _exit_for_stdout(*stream)
    if os.environ.get("CNNSTAT_DEBUG"):
        raise exc
    error(
        f"internal error, {type(exc).__name__}: {_first_line(exc)} "
        "(a bug in cnnstat; set CNNSTAT_DEBUG=1 for the traceback)"
    )
    sys.exit(EXIT_INTERNAL)


def _raised_in(exc: BaseException, function: str) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is a function of that name."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == function


def _flush_or_exit() -> None:
    """Flush stdout before exiting; a failure there is reported like any failed write."""
    try:
        sys.stdout.flush()
    except Exception as exc:
        stream = _stdout_failure(exc)
        if stream is None:
            raise
        _exit_for_stdout(*stream)


def _exit_for_stdout(code: int, message: str | None) -> None:
    _silence_stdout()
    if message is not None:
        error(message)
    sys.exit(code)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
