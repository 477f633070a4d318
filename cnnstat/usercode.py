"""Running code cnnstat does not own: a custom model's file, constructor and forward.

Training scripts do things at import and in ``forward`` that would end or
corrupt a cnnstat run: ``print`` to stdout (mixed into a JSON report),
``sys.exit``/``os._exit`` (the run ends silently, with exit 0), argparse on
``sys.argv`` (cnnstat's own arguments refused as if cnnstat had refused them).
:func:`guarded` keeps all of that in its place while user code runs and turns
an exit into a :class:`~cnnstat.errors.UserCodeError`, that model's failure.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

from cnnstat.errors import UserCodeError


class _HardExit(SystemExit):
    """What ``os._exit`` raises while user code runs, instead of ending the process."""


SCRIPT_HINT = 'code that runs a script belongs under `if __name__ == "__main__":`'


@contextlib.contextmanager
def guarded(what: str, argv0: str = "model", hint: str = "") -> Iterator[None]:
    """Run user code with stdout sent to stderr, ``sys.argv`` empty and exits caught.

    ``what`` names the code in the error, e.g. ``"importing net.py"``;
    ``argv0`` is what ``sys.argv[0]`` reads meanwhile, so argparse names the
    user's file, not cnnstat. ``hint`` ends the error's message.
    """
    saved_argv, saved_exit = sys.argv, os._exit
    owner = os.getpid()

    def refuse_exit(code: int) -> NoReturn:
        if os.getpid() != owner:  # a forked child really exits
            saved_exit(code)
        raise _HardExit(code)

    sink: Any = sys.stderr if sys.stderr is not None else open(os.devnull, "w")  # noqa: SIM115
    sys.argv = [argv0]
    os._exit = refuse_exit
    try:
        with contextlib.redirect_stdout(sink):
            yield
    except SystemExit as exc:
        call = "os._exit" if isinstance(exc, _HardExit) else "sys.exit"
        code = exc.code if exc.code is None or isinstance(exc.code, int) else repr(exc.code)
        tail = f"; {hint}" if hint else ""
        raise UserCodeError(f"{what} called {call}({'' if code is None else code}){tail}") from None
    finally:
        sys.argv = saved_argv
        os._exit = saved_exit
        if sink is not sys.stderr:
            sink.close()
