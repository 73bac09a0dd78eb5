"""Compute next to quality: per-sample cost columns of a leaderboard row, from the runs that make the row.

A run's totals are its metrics.json `cost` (version 2) or, for a version-1 run, the sums over its
records: samples with an output, model seconds (each batch's time as the adapter measured it, shared
among its samples), generated tokens and forward passes as the model counts them. A row's cost sums the
totals of the runs behind its shown cells; a count that a run's model does not report leaves that run
out of the per-sample figure it would enter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..store import StoredRun, run_cost
from ..types import RunCost


def cost_of(run: StoredRun) -> RunCost:
    """The run's compute totals: as recorded in metrics.json, else summed from its records."""
    if run.metrics is not None and run.metrics.cost is not None:
        return run.metrics.cost
    return run_cost(run.records())


@dataclass(frozen=True)
class RowCost:
    """Compute totals of a row's runs, with the samples each count covers."""

    samples: int
    seconds: float
    forward_passes: int | None = None
    passes_samples: int = 0
    """Samples of the runs whose model reports forward passes."""
    generated_tokens: int | None = None
    tokens_samples: int = 0
    devices: tuple[str, ...] = ()

    @classmethod
    def of(cls, runs: Sequence[StoredRun]) -> RowCost:
        totals = [(run, cost_of(run)) for run in runs]
        with_passes = [cost for _, cost in totals if cost.forward_passes is not None]
        with_tokens = [cost for _, cost in totals if cost.generated_tokens is not None]
        return cls(
            samples=sum(cost.samples for _, cost in totals),
            seconds=sum(cost.seconds for _, cost in totals),
            forward_passes=sum(c.forward_passes or 0 for c in with_passes) if with_passes else None,
            passes_samples=sum(c.samples for c in with_passes),
            generated_tokens=sum(c.generated_tokens or 0 for c in with_tokens) if with_tokens else None,
            tokens_samples=sum(c.samples for c in with_tokens),
            devices=tuple(sorted({run.manifest.device for run, _ in totals})),
        )

    @property
    def passes_per_sample(self) -> float | None:
        return (
            self.forward_passes / self.passes_samples
            if self.forward_passes is not None and self.passes_samples
            else None
        )

    @property
    def tokens_per_sample(self) -> float | None:
        if self.generated_tokens is None or not self.tokens_samples:
            return None
        return self.generated_tokens / self.tokens_samples

    @property
    def seconds_per_sample(self) -> float | None:
        return self.seconds / self.samples if self.samples else None

    @property
    def samples_per_second(self) -> float | None:
        return self.samples / self.seconds if self.samples and self.seconds > 0 else None

    @property
    def device(self) -> str:
        return ", ".join(self.devices)


@dataclass(frozen=True)
class CostColumn:
    """One cost column: its key in CSV/JSON, its header, and how a row's value is read."""

    key: str
    label: str
    value: Callable[[RowCost], float | str | None]


COST_COLUMNS = (
    CostColumn("forward_passes_per_sample", "passes/sample", lambda cost: cost.passes_per_sample),
    CostColumn("generated_tokens_per_sample", "tokens/sample", lambda cost: cost.tokens_per_sample),
    CostColumn("seconds_per_sample", "s/sample", lambda cost: cost.seconds_per_sample),
    CostColumn("samples_per_second", "samples/s", lambda cost: cost.samples_per_second),
    CostColumn("device", "device", lambda cost: cost.device or None),
)

COST_TITLE = "cost"

COST_NOTE = (
    "Cost: per sample, over the runs behind the row's cells: forward passes and generated tokens as the model "
    "counts them; seconds of model time (each batch's time shared among its samples; loading audio and scoring "
    "not included); samples/s is samples over model time, on the device named"
)


def format_cost(value: float | str | None) -> str:
    """A cost figure for display: three significant digits at most, never in exponent form; '' when unknown."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    if value == 0:
        return "0"
    return f"{value:.3f}" if value >= 0.001 else "<0.001"
