"""Metrics: aggregate many Scores into one MetricValue with a bootstrap confidence interval.

Every metric here is a ratio of sums over samples (or a mean of such ratios), so its
confidence interval comes from resampling samples. A metric reads `Score.value` by default,
or one of `Score.details` when it names a `field`: that is how a task reports a second
scoring protocol (e.g. `accuracy_strict`) or a rate (e.g. `parse_failure_rate`) next to
its official number.

A metric is also data: `to_dict` writes its rule, title, unit and protocol into a run's manifest, and
`metric_from_dict` rebuilds it, so reports, comparisons and merges recompute and label a stored run's
metrics as the run defined them, without the task's code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol, cast

from ..errors import DataError
from ..types import MetricValue, Score
from .stats import bootstrap_mean_of_ratios_ci

Columns = tuple[list[float], list[float]]
"""Per-sample numerators and denominators."""


class Metric(Protocol):
    """Aggregates the scores of one task; samples that do not count for it are left out.

    `title` is the name a table shows (the metric's name when empty), `protocol` one line on the rule
    it follows (e.g. "official string match"), `unit` the unit of its values ("%" or a rating scale).
    """

    # Read-only, so that the frozen metric dataclasses satisfy the protocol.
    @property
    def name(self) -> str: ...

    @property
    def lower_is_better(self) -> bool: ...

    @property
    def title(self) -> str: ...

    @property
    def protocol(self) -> str: ...

    @property
    def unit(self) -> str: ...

    def compute(self, scores: Sequence[Score]) -> MetricValue | None:
        """The aggregate, or None when no score counts."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The metric as data: its kind and every field (see `metric_from_dict`)."""
        ...


class _Described:
    """`to_dict` shared by the metric dataclasses: their kind and every field."""

    kind = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(cast(Any, self))
        if "parts" in data:
            data["parts"] = [part.to_dict() for part in cast(Any, self).parts]
        return {"kind": self.kind, **data}


def _read(score: Score, field: str | None) -> float | None:
    if field is None:
        return score.value
    value = score.details.get(field)
    return None if value is None else float(value)


def _each_sample(scores: Sequence[Score], field: str | None) -> Columns | None:
    """The samples that have the value, each weighing one (None when none has it)."""
    values = [value for value in (_read(score, field) for score in scores) if value is not None]
    return (values, [1.0] * len(values)) if values else None


def _from_columns(
    parts: Sequence[Columns], scale: float, lower_is_better: bool, details: dict[str, float] | None = None
) -> MetricValue:
    value = sum(sum(num) / sum(den) for num, den in parts) / len(parts)
    low, high = bootstrap_mean_of_ratios_ci(parts)
    return MetricValue(
        value=scale * value,
        n=len(parts[0][0]),
        ci_low=scale * low,
        ci_high=scale * high,
        lower_is_better=lower_is_better,
        details=details or {},
    )


@dataclass(frozen=True)
class Accuracy(_Described):
    """Pooled (micro) mean of per-sample 0/1 values, in percent; samples without the value are left out."""

    name: str = "accuracy"
    field: str | None = None
    """Read this `Score.details` entry instead of `Score.value`."""
    lower_is_better: bool = False
    title: str = ""
    protocol: str = ""

    kind = "accuracy"

    @property
    def unit(self) -> str:
        return "%"

    def columns(self, scores: Sequence[Score]) -> Columns | None:
        return _each_sample(scores, self.field)

    def compute(self, scores: Sequence[Score]) -> MetricValue | None:
        columns = self.columns(scores)
        return _from_columns([columns], 100.0, self.lower_is_better) if columns else None


@dataclass(frozen=True)
class MeanScore(_Described):
    """Mean of per-sample values on their own scale (e.g. a 1-5 judge score), not in percent."""

    name: str
    field: str | None = None
    lower_is_better: bool = False
    title: str = ""
    protocol: str = ""
    scale: str = ""
    """The rating scale, e.g. "1-5"; the unit a table shows."""

    kind = "mean"

    @property
    def unit(self) -> str:
        return self.scale

    def compute(self, scores: Sequence[Score]) -> MetricValue | None:
        columns = _each_sample(scores, self.field)
        return _from_columns([columns], 1.0, self.lower_is_better) if columns else None


@dataclass(frozen=True)
class PooledRatio(_Described):
    """Sum of one `Score.details` entry over the sum of another, in percent (e.g. instructions
    followed over instructions given)."""

    name: str
    numerator: str
    denominator: str
    lower_is_better: bool = False
    title: str = ""
    protocol: str = ""

    kind = "pooled_ratio"

    @property
    def unit(self) -> str:
        return "%"

    def columns(self, scores: Sequence[Score]) -> Columns | None:
        counted = [s.details for s in scores if self.numerator in s.details and self.denominator in s.details]
        if not counted or not sum(d[self.denominator] for d in counted):
            return None
        return [float(d[self.numerator]) for d in counted], [float(d[self.denominator]) for d in counted]

    def compute(self, scores: Sequence[Score]) -> MetricValue | None:
        columns = self.columns(scores)
        return _from_columns([columns], 100.0, self.lower_is_better) if columns else None


@dataclass(frozen=True)
class MeanOfMetrics(_Described):
    """The plain mean of several percentages over the same samples (e.g. IFEval's final score)."""

    name: str
    parts: tuple[Accuracy | PooledRatio, ...]
    lower_is_better: bool = False
    title: str = ""
    protocol: str = ""

    kind = "mean_of"

    @property
    def unit(self) -> str:
        return "%"

    def compute(self, scores: Sequence[Score]) -> MetricValue | None:
        columns = [part.columns(scores) for part in self.parts]
        present = [c for c in columns if c is not None]
        if len(present) != len(columns) or len({len(num) for num, _ in present}) != 1:
            return None
        return _from_columns(present, 100.0, self.lower_is_better)


@dataclass(frozen=True)
class CorpusWER(_Described):
    """Corpus word error rate in percent: summed edits over summed reference words.

    Reads the `Score.details` counts `substitutions`, `deletions`, `insertions`, `hits` and
    `reference_words`, each name after `prefix` (e.g. "diffa2_" for a second WER protocol
    reported next to the first); samples without them do not count.
    """

    name: str = "wer"
    lower_is_better: bool = True
    title: str = ""
    protocol: str = ""

    kind = "corpus_wer"

    @property
    def unit(self) -> str:
        return "%"

    prefix: str = ""

    def counts(self, score: Score) -> tuple[float, float] | None:
        """One sample's (edits, reference words), or None when it does not count."""
        d, p = score.details, self.prefix
        if p + "reference_words" not in d:
            return None
        return float(d[p + "substitutions"] + d[p + "deletions"] + d[p + "insertions"]), float(d[p + "reference_words"])

    def compute(self, scores: Sequence[Score]) -> MetricValue | None:
        counted = [(score, counts) for score in scores if (counts := self.counts(score)) is not None]
        words = [reference_words for _, (_, reference_words) in counted]
        if not sum(words):
            return None
        totals = {
            key: float(sum(score.details[self.prefix + key] for score, _ in counted))
            for key in ("substitutions", "deletions", "insertions", "hits", "reference_words")
        }
        errors = [edits for _, (edits, _) in counted]
        return _from_columns([(errors, words)], 100.0, self.lower_is_better, totals)


_KINDS: dict[str, type[Any]] = {cls.kind: cls for cls in (Accuracy, MeanScore, PooledRatio, MeanOfMetrics, CorpusWER)}


def metric_from_dict(data: Mapping[str, Any]) -> Metric:
    """The metric that `Metric.to_dict` wrote; a DataError names what does not fit."""
    kind = data.get("kind")
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise DataError(f"unknown metric kind {kind!r}; known: {', '.join(_KINDS)}")
    known = {f.name for f in fields(cls)}
    values = {key: value for key, value in data.items() if key in known}
    if cls is MeanOfMetrics:
        values["parts"] = tuple(metric_from_dict(part) for part in values.get("parts", ()))
    try:
        metric: Metric = cls(**values)
    except TypeError as error:
        raise DataError(f"metric {data.get('name')!r} cannot be rebuilt: {error}") from None
    return metric
