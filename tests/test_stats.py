"""Bootstrap confidence intervals and the metrics that carry them."""

from __future__ import annotations

import pytest

from diffa_eval.scoring.metrics import Accuracy
from diffa_eval.scoring.stats import bootstrap_ratio_ci
from diffa_eval.types import Score


def test_the_interval_brackets_the_estimate_and_is_reproducible() -> None:
    correct = [1.0] * 60 + [0.0] * 40
    low, high = bootstrap_ratio_ci(correct, [1.0] * 100)
    assert low < 0.6 < high
    assert (low, high) == bootstrap_ratio_ci(correct, [1.0] * 100)


def test_the_interval_width_matches_the_binomial_standard_error() -> None:
    correct = [1.0] * 500 + [0.0] * 500
    low, high = bootstrap_ratio_ci(correct, [1.0] * 1000, resamples=2000)
    # normal approximation: 1.96 * sqrt(0.25 / 1000) = 0.031
    assert high - low == pytest.approx(2 * 0.031, abs=0.006)


def test_a_constant_outcome_has_a_zero_width_interval() -> None:
    assert bootstrap_ratio_ci([1.0] * 5, [1.0] * 5) == (1.0, 1.0)


def test_mismatched_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        bootstrap_ratio_ci([1.0], [1.0, 1.0])
    with pytest.raises(ValueError):
        bootstrap_ratio_ci([], [])


def test_accuracy_counts_only_scores_the_protocol_keeps() -> None:
    value = Accuracy().compute([Score(1.0), Score(0.0), Score(None), Score(1.0)])
    assert value is not None
    assert value.value == pytest.approx(200 / 3)
    assert value.n == 3
    assert value.ci_low is not None and value.ci_high is not None
    assert value.ci_low <= value.value <= value.ci_high
    assert Accuracy().compute([Score(None)]) is None
