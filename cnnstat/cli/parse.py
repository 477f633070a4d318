"""Human input to values: the one N×M parser, comma lists, ranges, and the checks every command
makes of its batch size, depth, model names and output files.

Each error names the flag the user typed, in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnnstat.errors import InvalidInputError

Sizes = tuple[list[tuple[int, ...]], dict[str, tuple[int, ...]]]


def _dims(text: str) -> list[str]:
    """'3x224x224', '3×224×224' and '3,224,224' all split into ['3', '224', '224']."""
    return text.lower().replace("×", "x").replace(",", "x").split("x")


def parse_ints(text: str, option: str) -> tuple[int, ...]:
    """'3' -> (3,), '3x5' -> (3, 5), with a one-line error otherwise."""
    try:
        return tuple(int(p) for p in _dims(text))
    except ValueError:
        raise InvalidInputError(
            f"malformed {option} '{text}': expected an integer or NxM"
        ) from None


def parse_input_size(text: str, option: str = "--input-size") -> tuple[int, ...]:
    """'3x224x224' -> (3, 224, 224): one to four positive dimensions."""
    if not 1 <= len(_dims(text)) <= 4:
        raise InvalidInputError(
            f"malformed {option} '{text}': expected C×H×W like 3x224x224 (or C×L, C×D×H×W)"
        )
    try:
        dims = parse_ints(text, option)
    except InvalidInputError:
        raise InvalidInputError(
            f"malformed {option} '{text}': every dimension must be an integer, like 3x224x224"
        ) from None
    if any(d <= 0 for d in dims):
        raise InvalidInputError(f"malformed {option} '{text}': every dimension must be positive")
    return dims


def parse_input_sizes(text: str) -> Sizes:
    """'3x128x128,3x128x128' -> two positional sizes; 'mask=1x128' -> a keyword input.

    A comma separates inputs when a part names a keyword or the parts hold an 'x';
    otherwise '3,224,224' stays one size, as before.
    """
    parts = [p.strip() for p in text.split(",")]
    if "=" not in text and (
        len(parts) == 1 or not any("x" in p.lower() or "×" in p for p in parts)
    ):
        return [parse_input_size(text)], {}
    if not all(parts):
        raise InvalidInputError(f"malformed --input-size '{text}': an empty size between commas")
    positional: list[tuple[int, ...]] = []
    keyword: dict[str, tuple[int, ...]] = {}
    for part in parts:
        key, eq, size = part.rpartition("=")
        if eq:
            if not key.isidentifier():
                raise InvalidInputError(f"malformed --input-size '{text}': '{key}' is not a name")
            keyword[key] = parse_input_size(size)
        elif keyword:
            raise InvalidInputError(
                f"malformed --input-size '{text}': positional sizes come before name=size ones"
            )
        else:
            positional.append(parse_input_size(part))
    return positional, keyword


def input_size_argument(sizes: Sizes) -> Any:
    """What ``analyze(input_size=...)`` takes: one shape, a list of them, or [] for keywords only."""
    positional, keyword = sizes
    if len(positional) == 1:
        return positional[0]
    if positional:
        return positional
    return [] if keyword else None


def optional_size(text: str | None) -> tuple[int, ...] | None:
    """``--input-size`` when given, else None: the model's default."""
    return parse_input_size(text) if text is not None else None


def parse_list(text: str, option: str) -> tuple[str, ...]:
    """'vgg16, resnet50' -> ('vgg16', 'resnet50'); empty items are dropped, none at all is an error."""
    items = tuple(p.strip() for p in text.split(",") if p.strip())
    if not items:
        raise InvalidInputError(f"{option} needs at least one value")
    return items


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """'1,8,16' -> (1, 8, 16)."""
    try:
        return tuple(int(b) for b in parse_list(text, option))
    except ValueError:
        raise InvalidInputError(f"malformed {option} '{text}': expected e.g. 1,8,16") from None


def parse_range(text: str) -> tuple[float, float]:
    """'0,1000' -> (0.0, 1000.0), low < high."""
    try:
        low, high = (float(p) for p in text.split(","))
    except ValueError:
        raise InvalidInputError(
            f"malformed --input-range '{text}': expected LOW,HIGH like 0,1000"
        ) from None
    if not low < high:
        raise InvalidInputError(f"--input-range '{text}': LOW must be below HIGH")
    return low, high


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise InvalidInputError(f"--batch-size must be a positive integer, got {batch_size}")


def check_depth(depth: int | None) -> None:
    if depth is not None and depth < 0:
        raise InvalidInputError(f"--depth must be >= 0, got {depth}")


def check_request(
    models: Sequence[str],
    output: Path | None = None,
    plot: Path | None = None,
    *,
    resolve: bool = True,
) -> None:
    """Fail before any work: unknown model names (before torch is imported), a --plot that is
    not a PNG, and output files that cannot be written or that are the models' own source."""
    from cnnstat import zoo
    from cnnstat.export import check_writable

    if resolve:
        for name in models:
            zoo.resolve(name)
    for path in (output, plot):
        if path is not None:
            check_writable(path, protect=zoo.source_files(models))
    if plot is not None and plot.suffix.lower() != ".png":
        raise InvalidInputError(f"--plot writes PNG files; use a .png name, not '{plot.name}'")
