"""Statistics over per-iteration samples: median, percentiles, IQR, and the noisy flag.

The noisy flag tests the robust spread (p90 - p10) / median, not the IQR alone: on a
busy machine the slow tail (one iteration in five delayed by another process) moves
p90 a long way while the middle half stays tight, and that tail is what makes two
models' medians disagree from one run to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# A run whose p10-p90 spread exceeds this fraction of its median is marked noisy. For
# Gaussian noise p90 - p10 is 2.56 sigma and the IQR 1.35 sigma, so 20% here is about
# the 10%-IQR rule it replaces, but a heavy slow tail is caught too.
NOISY_SPREAD_RATIO = 0.20


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        raise ValueError("no samples")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class TimingStats:
    """Every per-iteration sample in milliseconds, and the statistics reported from them."""

    median: float
    p10: float
    p90: float
    iqr: float
    samples: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def spread(self) -> float | None:
        """(p90 - p10) / median: the robust relative spread the noisy flag tests."""
        return (self.p90 - self.p10) / self.median if self.median > 0 else None

    @property
    def noisy(self) -> bool:
        spread = self.spread
        return spread is not None and spread > NOISY_SPREAD_RATIO

    def to_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "p10": self.p10,
            "p90": self.p90,
            "iqr": self.iqr,
            "n": self.n,
            "spread": self.spread,
            "noisy": self.noisy,
            "samples": list(self.samples),
        }


def summarize(samples_ms: Sequence[float]) -> TimingStats:
    """Statistics of a list of per-iteration milliseconds; all samples are kept."""
    s = sorted(samples_ms)
    return TimingStats(
        median=percentile(s, 50),
        p10=percentile(s, 10),
        p90=percentile(s, 90),
        iqr=percentile(s, 75) - percentile(s, 25),
        samples=tuple(samples_ms),
    )
