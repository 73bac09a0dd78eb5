"""Paired tests between two runs on the same samples: paired bootstrap for any metric, McNemar for accuracy.

A metric's value is a mean over parts of sum(numerators) / sum(denominators) (see
`diffa_eval.scoring.metrics`); `sample_parts` gives one sample's contribution to each part, so both
runs can be resampled with the same draw of samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..types import Score
from .metrics import Accuracy, CorpusWER, MeanOfMetrics, MeanScore, Metric, PooledRatio
from .stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED

Parts = list[tuple[float, float]]
"""One sample's (numerator, denominator) for each part of a metric."""


def sample_parts(metric: object, score: Score) -> Parts | None:
    """What one sample adds to `metric`, or None when the metric does not count it (or is not a ratio of sums)."""
    if isinstance(metric, (Accuracy, MeanScore)):
        value = score.value if metric.field is None else score.details.get(metric.field)
        return None if value is None else [(float(value), 1.0)]
    if isinstance(metric, PooledRatio):
        if metric.numerator not in score.details or metric.denominator not in score.details:
            return None
        return [(float(score.details[metric.numerator]), float(score.details[metric.denominator]))]
    if isinstance(metric, MeanOfMetrics):
        parts = [sample_parts(part, score) for part in metric.parts]
        return None if any(p is None for p in parts) else [p[0] for p in parts if p is not None]
    if isinstance(metric, CorpusWER):
        counts = metric.counts(score)
        return None if counts is None else [counts]
    return None


def failed_parts(metric: Metric, counted: Parts) -> Parts | None:
    """What a sample that failed in one run adds to `metric`, given what the other run's output of it
    added: the worst outcome (wrong; for WER every reference word deleted). None for a mean score,
    which has no worst value in common use (a failed sample is then left out)."""
    if isinstance(metric, MeanScore):
        return None
    return [(denominator if metric.lower_is_better else 0.0, denominator) for _, denominator in counted]


def metric_scale(metric: Metric) -> float:
    """Percent for ratios, the metric's own scale for a mean score."""
    return 1.0 if isinstance(metric, MeanScore) else 100.0


def is_binary(metric: Metric) -> bool:
    """Whether each sample is right or wrong (0/1), so McNemar's test applies."""
    return isinstance(metric, Accuracy)


@dataclass(frozen=True)
class PairedBootstrap:
    baseline: float
    candidate: float
    delta: float
    """candidate - baseline."""
    ci_low: float
    ci_high: float
    p_value: float
    """Two-sided: how often a resampled delta lies at least |delta| away from the observed one."""
    n: int


def _statistic(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Mean over parts of sum(num) / sum(den), along the last-but-one axis; num, den: (..., samples, parts)."""
    totals = den.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(totals > 0, num.sum(axis=-2) / totals, np.nan)
    result: np.ndarray = ratios.mean(axis=-1)
    return result


def paired_bootstrap(
    baseline: Sequence[Parts],
    candidate: Sequence[Parts],
    *,
    scale: float = 100.0,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairedBootstrap:
    """Resample samples with replacement, the same draw for both runs, and collect candidate - baseline.

    The interval is the percentile interval of the resampled deltas; the p-value is the share of
    resampled deltas that, centred on the observed delta, are at least as far from zero as it is.
    """
    if len(baseline) != len(candidate) or not baseline:
        raise ValueError("paired samples must be non-empty sequences of equal length")
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError("every sample needs the same number of (numerator, denominator) parts in both runs")
    value_a = float(_statistic(a[..., 0], a[..., 1])) * scale
    value_b = float(_statistic(b[..., 0], b[..., 1])) * scale
    delta = value_b - value_a
    rng = np.random.default_rng(seed)
    size = a.shape[0]
    deltas = np.empty(resamples)
    chunk = max(1, 2_000_000 // (size * a.shape[1]))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        index = rng.integers(0, size, size=(stop - start, size))
        draw_a, draw_b = a[index], b[index]
        deltas[start:stop] = (
            _statistic(draw_b[..., 0], draw_b[..., 1]) - _statistic(draw_a[..., 0], draw_a[..., 1])
        ) * scale
    deltas = deltas[np.isfinite(deltas)]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    if delta == 0:
        p_value = 1.0
    else:
        far = np.abs(deltas - delta) >= abs(delta) - 1e-12
        p_value = float((far.sum() + 1) / (deltas.size + 1))
    return PairedBootstrap(value_a, value_b, delta, float(low), float(high), min(1.0, p_value), size)


@dataclass(frozen=True)
class McNemar:
    regressions: int
    """Samples right in the baseline and wrong in the candidate."""
    improvements: int
    """Samples wrong in the baseline and right in the candidate."""
    p_value: float
    """Exact two-sided binomial test on the discordant pairs."""


def mcnemar(baseline: Sequence[float], candidate: Sequence[float]) -> McNemar:
    """McNemar's exact test on paired 0/1 outcomes."""
    if len(baseline) != len(candidate):
        raise ValueError("paired outcomes must have equal length")
    regressions = sum(1 for a, b in zip(baseline, candidate, strict=True) if a >= 0.5 > b)
    improvements = sum(1 for a, b in zip(baseline, candidate, strict=True) if b >= 0.5 > a)
    return McNemar(regressions, improvements, mcnemar_p_value(regressions, improvements))


def mcnemar_p_value(regressions: int, improvements: int) -> float:
    """2 * P(X <= min(b, c)) for X ~ Binomial(b + c, 1/2), capped at 1; 1 when nothing flipped."""
    n = regressions + improvements
    if n == 0:
        return 1.0
    k = min(regressions, improvements)
    # log-space sum keeps large n (thousands of flips) exact enough without overflow
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(v - top) for v in logs)
    return min(1.0, 2 * tail)
