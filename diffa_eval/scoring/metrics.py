"""Metrics: aggregate many Scores into one MetricValue with a bootstrap confidence interval."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..types import MetricValue, Score
from .stats import bootstrap_ratio_ci


class Metric(Protocol):
    """Aggregates the scores of one task; samples whose Score.value is None are left out."""

    name: str
    lower_is_better: bool

    def compute(self, scores: Sequence[Score]) -> MetricValue | None:
        """The aggregate, or None when no score counts."""
        ...


def _ratio_metric(
    numerators: list[float],
    denominators: list[float],
    lower_is_better: bool,
    n: int,
    details: dict[str, float] | None = None,
) -> MetricValue:
    low, high = bootstrap_ratio_ci(numerators, denominators)
    return MetricValue(
        value=100 * sum(numerators) / sum(denominators),
        n=n,
        ci_low=100 * low,
        ci_high=100 * high,
        lower_is_better=lower_is_better,
        details=details or {},
    )


@dataclass(frozen=True)
class Accuracy:
    """Pooled (micro) accuracy in percent: correct answers over counted samples."""

    name: str = "accuracy"
    lower_is_better: bool = False

    def compute(self, scores: Sequence[Score]) -> MetricValue | None:
        values = [float(s.value) for s in scores if s.value is not None]
        if not values:
            return None
        return _ratio_metric(values, [1.0] * len(values), self.lower_is_better, len(values))


@dataclass(frozen=True)
class CorpusWER:
    """Corpus word error rate in percent: summed edits over summed reference words."""

    name: str = "wer"
    lower_is_better: bool = True

    def compute(self, scores: Sequence[Score]) -> MetricValue | None:
        counted = [s.details for s in scores if s.value is not None]
        if not counted:
            return None
        errors = [d["substitutions"] + d["deletions"] + d["insertions"] for d in counted]
        words = [d["reference_words"] for d in counted]
        totals = {
            key: float(sum(d[key] for d in counted))
            for key in ("substitutions", "deletions", "insertions", "hits", "reference_words")
        }
        return _ratio_metric(errors, words, self.lower_is_better, len(counted), totals)
