"""The base of cnnstat's statuses and kinds: a ``str`` enum that prints as its value.

``enum.StrEnum`` does this from Python 3.11; cnnstat supports 3.10.
"""

from __future__ import annotations

from enum import Enum


class Word(str, Enum):
    """A status that prints, formats and serialises as its bare value ("ok", not "Status.ok")."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)
