"""Paired tests between two runs: known McNemar values, paired bootstrap, corpus WER resampled by utterance."""

from __future__ import annotations

import pytest

from diffa_eval.scoring.metrics import Accuracy, CorpusWER, MeanOfMetrics, PooledRatio
from diffa_eval.scoring.paired import mcnemar, mcnemar_p_value, paired_bootstrap, sample_parts
from diffa_eval.scoring.stats import bootstrap_ratio_ci
from diffa_eval.types import Score


def test_mcnemar_exact_p_value_matches_the_binomial_tail() -> None:
    # 10 discordant pairs one way, 2 the other: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * 79 / 4096
    assert mcnemar_p_value(10, 2) == pytest.approx(158 / 4096)
    assert mcnemar_p_value(2, 10) == pytest.approx(158 / 4096)
    assert mcnemar_p_value(5, 5) == 1.0
    assert mcnemar_p_value(0, 0) == 1.0
    assert mcnemar_p_value(6, 0) == pytest.approx(2 / 64)


def test_mcnemar_p_value_stays_finite_for_thousands_of_flips() -> None:
    assert 0 < mcnemar_p_value(2600, 2400) < 0.01
    assert mcnemar_p_value(2500, 2500) == pytest.approx(1.0)


def test_mcnemar_counts_the_flips_each_way() -> None:
    result = mcnemar([1, 1, 1, 0, 0, 1], [0, 0, 1, 1, 0, 1])
    assert (result.regressions, result.improvements) == (2, 1)


def test_identical_runs_have_zero_delta_and_p_value_one() -> None:
    parts = [[(1.0, 1.0)]] * 30 + [[(0.0, 1.0)]] * 20
    result = paired_bootstrap(parts, parts)
    assert (result.delta, result.ci_low, result.ci_high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_a_clear_improvement_is_significant_and_its_interval_excludes_zero() -> None:
    baseline = [[(1.0, 1.0)]] * 50 + [[(0.0, 1.0)]] * 50
    candidate = [[(1.0, 1.0)]] * 70 + [[(0.0, 1.0)]] * 30
    result = paired_bootstrap(baseline, candidate)
    assert (result.baseline, result.candidate, result.delta) == (50.0, 70.0, 20.0)
    assert 0 < result.ci_low < 20 < result.ci_high
    assert result.p_value < 0.01
    # pairing matters: the same 20 extra right answers, with every other sample shared, give a tight interval
    # of width about 2 * 1.96 * sqrt(0.2 * 0.8 / 100) * 100 = 15.7 points
    assert result.ci_high - result.ci_low == pytest.approx(15.7, abs=3.0)


def test_a_single_flip_is_not_significant() -> None:
    baseline = [[(1.0, 1.0)]] * 50 + [[(0.0, 1.0)]] * 50
    candidate = [[(0.0, 1.0)]] + [[(1.0, 1.0)]] * 49 + [[(0.0, 1.0)]] * 50
    assert paired_bootstrap(baseline, candidate).p_value > 0.5


def test_corpus_wer_is_resampled_by_utterance() -> None:
    # two utterances of 10 words, one all wrong: a resample holds both (50%), or one of them twice (0% or 100%)
    low, high = bootstrap_ratio_ci([10.0, 0.0], [10.0, 10.0], resamples=2000)
    assert (low, high) == (0.0, 1.0)
    # long utterances weigh more: 1 error in 100 words and 9 errors in 10 words is 10 / 110, not the mean rate
    result = paired_bootstrap([[(1.0, 100.0)], [(9.0, 10.0)]], [[(1.0, 100.0)], [(9.0, 10.0)]])
    assert result.baseline == pytest.approx(100 * 10 / 110)


def test_each_metric_yields_a_sample_contribution() -> None:
    wer = Score(0.2, details={"substitutions": 1, "deletions": 1, "insertions": 0, "hits": 8, "reference_words": 10})
    assert sample_parts(CorpusWER(), wer) == [(2.0, 10.0)]
    assert sample_parts(Accuracy(), Score(1.0)) == [(1.0, 1.0)]
    assert sample_parts(Accuracy("strict", field="strict"), Score(1.0, details={"strict": 0.0})) == [(0.0, 1.0)]
    assert sample_parts(Accuracy(), Score(None)) is None
    ifeval = Score(1.0, details={"p": 1.0, "f": 2.0, "i": 3.0})
    final = MeanOfMetrics("final", (Accuracy("p", field="p"), PooledRatio("i", "f", "i")))
    assert sample_parts(final, ifeval) == [(1.0, 1.0), (2.0, 3.0)]
