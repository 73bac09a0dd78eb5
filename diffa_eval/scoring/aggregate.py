"""Turn per-sample scores into a task's metrics, overall and per breakdown group."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..types import MetricValue, Score, TaskMetrics
from .metrics import Metric


@dataclass(frozen=True)
class ScoredSample:
    """One sample's score (None when the sample failed or waits to be scored) and its breakdown labels."""

    score: Score | None
    groups: Mapping[str, str] = field(default_factory=dict)
    pending: bool = False


def _compute(metrics: Sequence[Metric], scores: Sequence[Score]) -> dict[str, MetricValue]:
    values = {metric.name: metric.compute(scores) for metric in metrics}
    return {name: value for name, value in values.items() if value is not None}


def aggregate(
    metrics: Sequence[Metric],
    samples: Sequence[ScoredSample],
    breakdown_fields: Sequence[str] = (),
) -> TaskMetrics:
    """Overall metrics pooled over all counted samples, plus the same metrics per group value."""
    if not metrics:
        raise ValueError("a task needs at least one metric")
    scored = [s for s in samples if s.score is not None]
    scores = [s.score for s in scored if s.score is not None]
    breakdowns: dict[str, dict[str, dict[str, MetricValue]]] = {}
    for group in breakdown_fields:
        members: dict[str, list[Score]] = defaultdict(list)
        for sample in scored:
            if group in sample.groups and sample.score is not None:
                members[sample.groups[group]].append(sample.score)
        breakdowns[group] = {label: _compute(metrics, members[label]) for label in sorted(members)}
    n_excluded = sum(1 for score in scores if score.value is None)
    n_pending = sum(1 for s in samples if s.score is None and s.pending)
    return TaskMetrics(
        metrics=_compute(metrics, scores),
        breakdowns=breakdowns,
        n_samples=len(samples),
        n_scored=len(scores) - n_excluded,
        n_excluded=n_excluded,
        n_failed=len(samples) - len(scores) - n_pending,
        primary_metric=metrics[0].name,
        n_pending=n_pending,
    )
