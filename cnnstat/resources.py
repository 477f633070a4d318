"""What the machine can hold: checked before a real-tensor run allocates, not after it fails."""

from __future__ import annotations

import os

from cnnstat.errors import InsufficientMemoryError


def available_memory_bytes() -> int | None:
    """Memory the system can give this process now (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def ensure_fits(nbytes: int, what: str) -> None:
    """Raise before allocating ``nbytes`` of real memory for ``what`` when the machine lacks it."""
    available = available_memory_bytes()
    if available is not None and nbytes > available:
        raise InsufficientMemoryError(
            f"{what} needs {nbytes:,} bytes ({_human(nbytes)}) of real memory; this machine has "
            f"{available:,} bytes ({_human(available)}) available"
        )
