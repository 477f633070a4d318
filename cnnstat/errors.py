"""Typed errors. The library raises these and never prints; the CLI turns them into one line."""

from __future__ import annotations


class CnnstatError(Exception):
    """Base class of every error cnnstat reports to a user.

    Messages name the API's arguments (``freeze_ratio``), never a command-line flag;
    ``fields`` lists the arguments a message names, so the CLI can show each as its flag.
    """

    exit_code = 2

    def __init__(self, message: str = "", *, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.fields = fields


class UnknownModelError(CnnstatError):
    """A model name that is neither in the zoo nor a loadable custom model."""


class InvalidInputError(CnnstatError):
    """A malformed input size, batch size, depth, format or option value."""


class ModelLoadError(CnnstatError):
    """A custom model file or module that cannot be loaded or does not define the name."""


class ModelBuildError(CnnstatError):
    """A model constructor that raised."""


class InsufficientMemoryError(CnnstatError):
    """A real-tensor run would need more memory than the machine has; said before trying."""


class ForwardError(CnnstatError):
    """The model's forward pass raised; the message names the layer."""


class InputTooSmallError(ForwardError):
    """The input's spatial size collapses to zero or below inside the network."""


class UnsupportedOpsError(CnnstatError):
    """``--strict`` was given and some ops ran that cnnstat cannot count."""

    exit_code = 3


class ExportError(CnnstatError):
    """A report could not be written."""


class UserCodeError(CnnstatError):
    """A custom model's own code tried to end the run (sys.exit, os._exit) while cnnstat ran it."""
