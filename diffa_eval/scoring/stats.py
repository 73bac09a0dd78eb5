"""Confidence intervals by bootstrap over samples, for metrics that are ratios of sums (or means of them)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0


def bootstrap_ratio_ci(
    numerators: Sequence[float],
    denominators: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of sum(numerators) / sum(denominators).

    Items are resampled with replacement, so a corpus metric such as WER is resampled by
    utterance and accuracy by item. The seed is fixed: the same scores give the same interval.
    """
    return bootstrap_mean_of_ratios_ci(
        [(numerators, denominators)], confidence=confidence, resamples=resamples, seed=seed
    )


def bootstrap_mean_of_ratios_ci(
    parts: Sequence[tuple[Sequence[float], Sequence[float]]],
    *,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over parts of sum(numerators) / sum(denominators).

    All parts describe the same items (e.g. IFEval's four accuracies), so each resample draws
    one set of items and applies it to every part.
    """
    columns = [(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)) for num, den in parts]
    size = columns[0][0].size if columns else 0
    if size == 0 or any(num.shape != (size,) or den.shape != (size,) for num, den in columns):
        raise ValueError("numerators and denominators must be non-empty sequences of equal length")
    rng = np.random.default_rng(seed)
    statistics = np.empty(resamples)
    chunk = max(1, 2_000_000 // size)  # bound memory for large corpora
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        index = rng.integers(0, size, size=(stop - start, size))
        ratios = []
        for num, den in columns:
            totals = den[index].sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios.append(np.where(totals > 0, num[index].sum(axis=1) / totals, np.nan))
        statistics[start:stop] = np.mean(ratios, axis=0)
    statistics = statistics[np.isfinite(statistics)]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(statistics, [tail, 100 - tail])
    return float(low), float(high)
