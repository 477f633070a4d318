"""What a profile measured: per-module samples beside the analysis's FLOPs and bytes, raw numbers only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cnnstat.bench.stats import TimingStats, summarize
from cnnstat.profile.attribute import rollup_name

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class LeafTimes:
    """One module (by name) at the analysis's finest level: its samples, one per profiled step."""

    key: str  # the module's qualified name, "" for the model itself
    type: str
    kind: str
    flops: int
    bytes: int
    params: int
    forward_samples_ms: tuple[float, ...]
    backward_samples_ms: tuple[float, ...]


@dataclass(frozen=True)
class ProfileRow:
    """One row of the profile at some depth; times are medians with p10-p90 over steps."""

    name: str
    key: str
    type: str
    kind: str
    depth: int
    forward_stats: TimingStats | None  # milliseconds over the profiled steps
    backward_stats: TimingStats | None
    flops: int
    bytes: int
    params: int
    share: float | None  # of the whole step's median
    achieved_flops_per_s: float | None  # forward FLOPs over the forward median
    achieved_bytes_per_s: float | None
    bound: str | None  # compute | memory, against the device's ceilings

    @property
    def total_ms(self) -> float:
        return sum(t.median for t in (self.forward_stats, self.backward_stats) if t is not None)

    def to_dict(self) -> dict[str, Any]:
        def stat(t: TimingStats | None, q: str) -> float | None:
            return None if t is None else getattr(t, q)

        return {
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "depth": self.depth,
            "forward_ms": stat(self.forward_stats, "median"),
            "forward_ms_p10": stat(self.forward_stats, "p10"),
            "forward_ms_p90": stat(self.forward_stats, "p90"),
            "backward_ms": stat(self.backward_stats, "median"),
            "backward_ms_p10": stat(self.backward_stats, "p10"),
            "backward_ms_p90": stat(self.backward_stats, "p90"),
            "total_ms": self.total_ms,
            "share": self.share,
            "flops": self.flops,
            "bytes": self.bytes,
            "params": self.params,
            "achieved_flops_per_s": self.achieved_flops_per_s,
            "achieved_bytes_per_s": self.achieved_bytes_per_s,
            "bound": self.bound,
        }


@dataclass(frozen=True)
class ProfileReport:
    """The result of :func:`cnnstat.profile.profile`.

    ``step`` holds the profiled steps' wall times, ``bench`` a plain (unprofiled) bench of the
    same model in the same run; ``leaves`` the per-module samples that ``rows(depth)`` rolls up.
    """

    model: str
    device: str
    mode: str
    dtype: str
    batch_size: int
    input_shape: tuple[int, ...]
    threads: int
    math: str
    ceiling_flops_per_s: float
    bandwidth_bytes_per_s: float
    step: TimingStats | None
    bench: TimingStats | None
    leaves: tuple[LeafTimes, ...]
    module_types: dict[str, str] = field(default_factory=dict)
    depth: int | None = None
    interrupted: bool = False
    # unattributed time the events can name, by cause, one sample per profiled step
    overhead_samples_ms: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def total_ms(self) -> float | None:
        """The whole profiled step's median."""
        return None if self.step is None else self.step.median

    @property
    def bench_ms(self) -> float | None:
        return None if self.bench is None else self.bench.median

    @property
    def iterations(self) -> int:
        return 0 if self.step is None else self.step.n

    def rows(self, depth: int | None = None) -> list[ProfileRow]:
        """Rows at ``depth`` (None: the report's depth), each summing its modules step by step."""
        return self._rows(self.depth if depth is None else depth)

    def leaf_rows(self) -> list[ProfileRow]:
        """Rows of the finest modules, whatever the report's depth."""
        return self._rows(None)

    def _rows(self, depth: int | None) -> list[ProfileRow]:
        from cnnstat.bench.ceiling import bound

        groups: dict[str, list[LeafTimes]] = {}
        for leaf in self.leaves:
            groups.setdefault(rollup_name(leaf.key, depth), []).append(leaf)
        total = self.total_ms
        rows = []
        for key, leaves in groups.items():
            fwd = _summed([lf.forward_samples_ms for lf in leaves])
            bwd = _summed([lf.backward_samples_ms for lf in leaves]) if self.mode == "train" else None
            flops = sum(lf.flops for lf in leaves)
            nbytes = sum(lf.bytes for lf in leaves)
            single = len(leaves) == 1 and leaves[0].key == key
            row_time = sum(t.median for t in (fwd, bwd) if t is not None)
            fwd_s = fwd.median / 1e3 if fwd is not None else 0.0
            rows.append(
                ProfileRow(
                    name=key if key else f"{self.model} (model)",
                    key=key,
                    type=leaves[0].type if single else self.module_types.get(key, ""),
                    kind=leaves[0].kind if single else "block",
                    depth=key.count(".") + 1 if key else 0,
                    forward_stats=fwd,
                    backward_stats=bwd,
                    flops=flops,
                    bytes=nbytes,
                    params=sum(lf.params for lf in leaves),
                    share=row_time / total if total else None,
                    achieved_flops_per_s=flops / fwd_s if fwd_s > 0 else None,
                    achieved_bytes_per_s=nbytes / fwd_s if fwd_s > 0 else None,
                    bound=bound(flops, nbytes, self.ceiling_flops_per_s, self.bandwidth_bytes_per_s)
                    if (flops or nbytes) and self.ceiling_flops_per_s > 0
                    and self.bandwidth_bytes_per_s > 0
                    else None,
                )
            )
        return rows

    def unattributed_ms(self, depth: int | None = None) -> float | None:
        """The whole step's median less the rows' medians: what no layer can be charged with."""
        total = self.total_ms
        if total is None:
            return None
        return total - sum(r.total_ms for r in self.rows(depth))

    def unattributed_breakdown_ms(self, depth: int | None = None) -> dict[str, float]:
        """The unattributed row by cause (medians); what the events cannot name is ``gaps``:
        time between events, the profiler's own, and the difference of medians and sums."""
        unattributed = self.unattributed_ms(depth)
        if unattributed is None:
            return {}
        out = {cause: summarize(s).median for cause, s in self.overhead_samples_ms.items() if s}
        out["gaps"] = unattributed - sum(out.values())
        return out

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        """The JSON-ready dict documented in README.md."""
        from cnnstat import __version__

        depth = self.depth if depth is None else depth
        rows = self.rows(depth)
        attributed = sum(r.total_ms for r in rows)
        total, bench = self.total_ms, self.bench_ms
        return {
            "cnnstat_version": __version__,
            "model": self.model,
            "device": self.device,
            "mode": self.mode,
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "input_shape": list(self.input_shape),
            "threads": self.threads,
            "depth": depth,
            "interrupted": self.interrupted,
            "iterations": self.iterations,
            "total_ms": total,
            "total_ms_p10": None if self.step is None else self.step.p10,
            "total_ms_p90": None if self.step is None else self.step.p90,
            "unattributed_ms": None if total is None else total - attributed,
            "attributed_ms": attributed,
            "unattributed_breakdown_ms": self.unattributed_breakdown_ms(depth),
            "bench_ms": bench,
            "profiled_over_bench": total / bench if total and bench else None,
            "attributed_over_bench": attributed / bench if bench else None,
            "math": self.math,
            "ceiling_flops_per_s": self.ceiling_flops_per_s,
            "bandwidth_bytes_per_s": self.bandwidth_bytes_per_s,
            "step_ms": None if self.step is None else self.step.to_dict(),
            "bench_step_ms": None if self.bench is None else self.bench.to_dict(),
            "layers": [r.to_dict() for r in rows],
        }

    def to_frame(self, depth: int | None = None) -> pd.DataFrame:
        """The rows as a DataFrame, with the ``unattributed`` row last."""
        import pandas as pd

        rows = [r.to_dict() for r in self.rows(depth)]
        rows.append({"name": "unattributed", "total_ms": self.unattributed_ms(depth)})
        return pd.DataFrame(rows)


def _summed(samples: list[tuple[float, ...]]) -> TimingStats | None:
    """Step-by-step sums of several modules' samples, summarised; None when nothing was measured."""
    n = max((len(s) for s in samples), default=0)
    if n == 0:
        return None
    return summarize([sum(s[i] for s in samples if i < len(s)) for i in range(n)])
