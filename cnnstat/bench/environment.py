"""What a benchmark ran on: software versions, device names, CPU model, threads, date."""

from __future__ import annotations

import datetime
import platform
from typing import Any


def cpu_model() -> str:
    """The CPU's marketing name, from /proc/cpuinfo where there is one."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def capture(threads: int) -> dict[str, Any]:
    """The environment object of the bench JSON."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cpu": cpu_model(),
        "cpu_count": __import__("os").cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "threads": threads,
    }
