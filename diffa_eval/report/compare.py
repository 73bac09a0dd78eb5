"""Compare a candidate with a baseline on the same samples: per-metric deltas, paired tests and a verdict.

Each side's run per (task, split) is chosen as the leaderboard chooses (`select`: a partial run only where
no full run is, and then named in the summary), and runs are paired by (task, split). Within a pair, samples
are aligned by sample id. A sample counts when both runs scored it, or when one scored it and the other
failed it: the failure counts as the worst outcome (a wrong answer; for WER every reference word deleted),
so a run cannot gain by failing. Mean ratings (judge scores) have no worst value, so their failed samples
are left out; for every task the failure rates are compared too. Every metric gets a paired-bootstrap delta
with its 95% interval; accuracy metrics take their p-value from McNemar's exact test and list the samples
that flipped. A metric regresses when it got worse by more than its tolerance and the change is significant
at `alpha`; the failures regress when the candidate's failure rate exceeds the baseline's by more than
`max_failure_increase` points. `render.verdict` writes the verdict as Markdown or JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..describe import TaskDescription
from ..errors import ConfigError, DataError
from ..scoring.metrics import Metric
from ..scoring.paired import failed_parts, is_binary, mcnemar, metric_scale, paired_bootstrap, sample_parts
from ..store import SampleRecord, StoredRun
from ..types import Score
from .legacy import describe_run
from .select import Chosen, choose_runs, row_labels

Describe = Callable[[str], TaskDescription | None]
"""Task name -> its description, for version-1 runs of tasks that are not built in (e.g. from --tasks-dir)."""


@dataclass(frozen=True)
class Tolerance:
    """How much a metric may get worse (in its own units: points for %, rating for 1-5 scores) and alpha."""

    max_drop: float = 1.0
    alpha: float = 0.05
    per_metric: Mapping[str, float] = field(default_factory=dict)
    """Metric name (or `task:metric`) -> its own max drop."""
    max_failure_increase: float = 1.0
    """How many points the candidate's share of failed samples may exceed the baseline's."""

    def for_metric(self, task: str, metric: str) -> float:
        return self.per_metric.get(f"{task}:{metric}", self.per_metric.get(metric, self.max_drop))


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    lower_is_better: bool
    baseline: float
    candidate: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    """`mcnemar` or `paired-bootstrap`."""
    n: int
    max_drop: float
    status: str
    """`regressed`, `improved` or `unchanged`."""
    regressions: tuple[str, ...] = ()
    """Sample ids whose 0/1 outcome got worse (for accuracy: right in the baseline, wrong in the candidate)."""
    improvements: tuple[str, ...] = ()

    @property
    def drop(self) -> float:
        """How much worse the candidate is, in the metric's direction (negative: better)."""
        return self.delta if self.lower_is_better else -self.delta


@dataclass(frozen=True)
class RunComparison:
    task: str
    split: str
    baseline_run: str
    candidate_run: str
    baseline_model: str
    candidate_model: str
    n_paired: int
    only_baseline: int
    only_candidate: int
    metrics: tuple[MetricComparison, ...]
    baseline_failed: int = 0
    """Samples of the baseline run that failed (audio, model or scoring error)."""
    candidate_failed: int = 0
    baseline_samples: int = 0
    candidate_samples: int = 0
    failures_regressed: bool = False
    """True when the candidate's failure rate exceeds the baseline's by more than the tolerance."""
    baseline_partial: str = ""
    """Why the baseline run is partial (e.g. "3 of 10 samples"; used only when no full run was there)."""
    candidate_partial: str = ""

    @property
    def baseline_failure_rate(self) -> float:
        return 100.0 * self.baseline_failed / self.baseline_samples if self.baseline_samples else 0.0

    @property
    def candidate_failure_rate(self) -> float:
        return 100.0 * self.candidate_failed / self.candidate_samples if self.candidate_samples else 0.0


@dataclass(frozen=True)
class Verdict:
    comparisons: tuple[RunComparison, ...]
    tolerance: Tolerance
    unmatched: tuple[str, ...] = ()
    """(task, split) pairs present on one side only."""

    @property
    def passed(self) -> bool:
        return not self.regressions and not any(c.failures_regressed for c in self.comparisons)

    @property
    def regressions(self) -> list[tuple[RunComparison, MetricComparison]]:
        return [(c, m) for c in self.comparisons for m in c.metrics if m.status == "regressed"]


def _scores(records: list[SampleRecord]) -> dict[str, Score]:
    """Sample id -> score, for samples with a score the protocol counts."""
    scores = {}
    for record in records:
        scored = record.scored().score
        if scored is not None:
            scores[record.sample_id] = scored
    return scores


def _failed(records: list[SampleRecord]) -> set[str]:
    return {record.sample_id for record in records if record.failed}


def metric_rules(run: StoredRun, describe: Describe | None = None) -> tuple[Metric, ...]:
    """The metrics a run was scored with: from its manifest (version 1: the built-in task's of that time)."""
    description = describe_run(run) or (describe(run.manifest.task) if describe is not None else None)
    if description is None:
        raise DataError(
            f"{run.directory}: a version-1 run of task {run.manifest.task!r}, which records no metric rules; "
            "give its task file (--tasks-dir), or run the same command again to record them"
        )
    return description.metrics


def compare_runs(
    baseline: StoredRun,
    candidate: StoredRun,
    tolerance: Tolerance,
    metrics: Sequence[str] | None = None,
    describe: Describe | None = None,
) -> RunComparison:
    """Paired comparison of two runs of one task and split, by the metrics both runs were scored with."""
    task = baseline.manifest.task
    rules = metric_rules(baseline, describe)
    candidate_names = {metric.name for metric in metric_rules(candidate, describe)}
    base_records, cand_records = baseline.records(), candidate.records()
    base_scores, cand_scores = _scores(base_records), _scores(cand_records)
    base_failed, cand_failed = _failed(base_records), _failed(cand_records)
    shared = [i for i in base_scores if i in cand_scores or i in cand_failed]
    shared += [i for i in cand_scores if i in base_failed]
    results = []
    for metric in rules:
        if metric.name not in candidate_names or (metrics is not None and metric.name not in metrics):
            continue
        pairs = []
        for sample_id in shared:
            a = sample_parts(metric, base_scores[sample_id]) if sample_id in base_scores else None
            b = sample_parts(metric, cand_scores[sample_id]) if sample_id in cand_scores else None
            if a is None and b is not None and sample_id in base_failed:
                a = failed_parts(metric, b)
            elif b is None and a is not None and sample_id in cand_failed:
                b = failed_parts(metric, a)
            if a is not None and b is not None:
                pairs.append((sample_id, a, b))
        if not pairs:
            continue
        boot = paired_bootstrap([a for _, a, _ in pairs], [b for _, _, b in pairs], scale=metric_scale(metric))
        p_value, test = boot.p_value, "paired-bootstrap"
        regressions: tuple[str, ...] = ()
        improvements: tuple[str, ...] = ()
        if is_binary(metric):
            outcomes_a = [a[0][0] for _, a, _ in pairs]
            outcomes_b = [b[0][0] for _, _, b in pairs]
            p_value, test = mcnemar(outcomes_a, outcomes_b).p_value, "mcnemar"
            good = not metric.lower_is_better  # whether an outcome of 1 is the good one
            regressions = tuple(s for s, a, b in pairs if (a[0][0] >= 0.5) is good and (b[0][0] >= 0.5) is not good)
            improvements = tuple(s for s, a, b in pairs if (a[0][0] >= 0.5) is not good and (b[0][0] >= 0.5) is good)
        max_drop = tolerance.for_metric(task, metric.name)
        drop = boot.delta if metric.lower_is_better else -boot.delta
        significant = p_value < tolerance.alpha
        status = "unchanged"
        if significant and drop > max_drop:
            status = "regressed"
        elif significant and drop < 0:
            status = "improved"
        results.append(
            MetricComparison(
                metric=metric.name,
                lower_is_better=metric.lower_is_better,
                baseline=boot.baseline,
                candidate=boot.candidate,
                delta=boot.delta,
                ci_low=boot.ci_low,
                ci_high=boot.ci_high,
                p_value=p_value,
                test=test,
                n=boot.n,
                max_drop=max_drop,
                status=status,
                regressions=regressions,
                improvements=improvements,
            )
        )
    paired = set(shared)
    comparison = RunComparison(
        task=baseline.manifest.task,
        split=baseline.manifest.split,
        baseline_run=str(baseline.directory),
        candidate_run=str(candidate.directory),
        baseline_model=baseline.manifest.model,
        candidate_model=candidate.manifest.model,
        n_paired=len(shared),
        only_baseline=sum(1 for sample_id in base_scores if sample_id not in paired),
        only_candidate=sum(1 for sample_id in cand_scores if sample_id not in paired),
        metrics=tuple(results),
        baseline_failed=len(base_failed),
        candidate_failed=len(cand_failed),
        baseline_samples=len(base_records),
        candidate_samples=len(cand_records),
    )
    increase = comparison.candidate_failure_rate - comparison.baseline_failure_rate
    return replace(comparison, failures_regressed=increase > tolerance.max_failure_increase)


def _chosen(runs: Sequence[StoredRun], side: str) -> dict[tuple[str, str], Chosen]:
    """The run per (task, split), chosen as the leaderboard chooses (a partial run only where no full run is);
    all of one row (model and settings), or the pairing would be a guess."""
    chosen = choose_runs(runs, partial=True)
    models = sorted({item.row.model for item in chosen})
    if len(models) > 1:
        raise ConfigError(
            f"the {side} runs are of several models ({', '.join(models)}); give the runs of one model, "
            "e.g. <output-dir>/<model>"
        )
    labels = row_labels({item.row: item.variant for item in chosen})
    if len(labels) > 1:
        raise ConfigError(
            f"the {side} runs are of several settings of {models[0]} ({'; '.join(sorted(labels.values()))}); "
            "give the run directories of one"
        )
    return {(item.task, item.split): item for item in chosen}


def compare(
    baseline: Sequence[StoredRun],
    candidate: Sequence[StoredRun],
    tolerance: Tolerance | None = None,
    metrics: Sequence[str] | None = None,
    describe: Describe | None = None,
) -> Verdict:
    """Pair the run per (task, split) of each side, chosen by content as the leaderboard does, and compare
    every pair. `describe` gives the metric rules of version-1 runs of tasks that are not built in."""
    tolerance = tolerance or Tolerance()
    base, cand = _chosen(baseline, "baseline"), _chosen(candidate, "candidate")
    shared = [key for key in base if key in cand]
    if not shared:
        raise ConfigError("the baseline and the candidate have no completed run of the same task and split")
    unmatched = tuple(f"{task} ({split})" for task, split in sorted(set(base) ^ set(cand)))
    comparisons = []
    for key in sorted(shared):
        comparison = compare_runs(base[key].run, cand[key].run, tolerance, metrics, describe)
        comparisons.append(
            replace(comparison, baseline_partial=base[key].coverage.note, candidate_partial=cand[key].coverage.note)
        )
    return Verdict(tuple(comparisons), tolerance, unmatched)
