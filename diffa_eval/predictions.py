"""Score a predictions file made by any toolkit, record by record, with a task's own scorer."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .datasources import parse_json_records
from .errors import DataError, DiffaEvalError
from .files import unicode_safe
from .scoring.aggregate import ScoredSample, aggregate
from .task import Task
from .types import Sample, TaskMetrics, Unscored

if TYPE_CHECKING:
    from .scoring.judge import JudgeSettings


@dataclass(frozen=True)
class ScoredFile:
    """Per-record results (`id`, `score`, `extracted`, and `error` for unreadable records) and metrics."""

    lines: list[dict[str, Any]]
    metrics: TaskMetrics
    problems: list[str] = field(default_factory=list)


def prediction_of(task: Task, record: Mapping[str, Any]) -> str | None:
    """The model text of a record, as the task reads it (see `Task.prediction_of`)."""
    text = task.prediction_of(record)
    return None if text is None else unicode_safe(text)


def check_predictions_present(task: Task, records: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Raise DataError, naming the fields looked for, when no record holds a prediction in any of them: a file
    with no model text at all is a wrong file (or field name), never a score of zero."""
    fields = task.prediction_fields
    if not records or any(record.get(name) is not None for record in records for name in fields):
        return
    present = sorted({str(key) for record in records for key in record})
    close: dict[str, str] = {}  # a record's field -> the prediction field it is closest to, first match wins
    for name in fields:
        for match in difflib.get_close_matches(name, present, n=1, cutoff=0.7):
            close.setdefault(match, name)
    hint = "".join(f" ({match!r} is close to {name!r})" for match, name in close.items())
    raise DataError(
        f"no record of {path} holds a prediction: {task.name} looks for the field(s) {', '.join(fields)} (the first "
        f"one present is used); the records have {', '.join(present[:20])}{' ...' if len(present) > 20 else ''}.{hint}"
    )


def score_file(task: Task, path: Path, judge: JudgeSettings | None = None) -> ScoredFile:
    """Score every record of a predictions file; unreadable records are reported, never fatal, but
    ids that occur more than once are a DataError (each would count several times). `judge`: the LLM judge
    of a judge-scored task (None: the default one)."""
    records, problems = parse_json_records(path.read_text(encoding="utf-8-sig", errors="replace"), str(path))
    check_predictions_present(task, [record for record in records if record is not None], path)
    lines: list[dict[str, Any]] = []
    scored: list[ScoredSample] = []
    readable: list[tuple[int, Sample, str | None]] = []
    for index, record in enumerate(records):
        if record is None:
            lines.append({"id": None, "score": None, "extracted": None, "error": "unreadable record"})
            scored.append(ScoredSample(None))
            continue
        try:
            sample = task.sample_from_record(record, path.parent)
            prediction = prediction_of(task, record)
        except DiffaEvalError as error:
            where = f"record {index}" + (f" (id {record['id']})" if record.get("id") is not None else "")
            problems.append(f"{path}: {where}: {error}")
            lines.append({"id": record.get("id"), "score": None, "extracted": None, "error": str(error)})
            scored.append(ScoredSample(None))
            continue
        readable.append((len(lines), sample, prediction))
        lines.append({"id": sample.id})
        scored.append(ScoredSample(None))
    repeated = [(sample_id, n) for sample_id, n in Counter(s.id for _, s, _ in readable).items() if n > 1]
    if repeated:
        shown = ", ".join(f"{sample_id} ({n} times)" for sample_id, n in repeated[:10])
        raise DataError(
            f"{path}: {len(repeated)} ids occur more than once: {shown}{' ...' if len(repeated) > 10 else ''}"
        )
    results = task.score_batch([(sample, prediction) for _, sample, prediction in readable], judge)
    for (position, sample, _), result in zip(readable, results, strict=True):
        if isinstance(result, Unscored):
            if not result.pending:
                problems.append(f"{path}: record {sample.id}: {result.reason}")
            lines[position].update(score=None, extracted=None, error=result.reason)
            scored[position] = ScoredSample(None, task.breakdown_labels(sample), pending=result.pending)
            continue
        lines[position].update(score=result.value, extracted=result.extracted)
        if result.judgement is not None:
            lines[position]["judgement"] = dict(result.judgement)
        scored[position] = ScoredSample(result, task.breakdown_labels(sample))
    return ScoredFile(lines, aggregate(task.metrics, scored, task.breakdown_fields), problems)
