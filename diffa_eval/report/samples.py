"""The samples behind a leaderboard, for the HTML report's sample browser: one entry per run a cell shows.

Each sample gets a status from its record alone: `failed` (no output, or its scoring failed), `pending`
(waiting for a judge), `excluded` (scored, but not counted by the run's primary metric), else `correct`
or `wrong` where the primary metric is a percentage of right answers (a sample is right at the best per-
sample value: 1 for accuracy-like metrics, 0 for error rates), and `scored` for other scales (e.g. 1-5
judge ratings). Texts that repeat across runs (prompts, references, audio paths) are stored once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..store import SampleRecord, StoredRun, read_plan
from .board import Column, GroupedTable
from .legacy import describe_run

STATUSES = ("correct", "wrong", "scored", "excluded", "pending", "failed")

_LONGEST_TEXT = 4000
"""Characters of a model output kept in the page; longer outputs are cut (the record keeps them whole)."""


@dataclass(frozen=True)
class Verdict:
    """How a run's per-sample values are read: which value, and whether right and wrong apply."""

    field: str | None
    """The `score_details` entry the primary metric reads, or None for the score itself."""
    right_value: float | None
    """The per-sample value of a right answer (1 or 0), or None when the scale has no right answer."""

    def status(self, record: SampleRecord) -> str:
        if record.failed:
            return "failed"
        if record.pending is not None:
            return "pending"
        value = self.value(record)
        if value is None:
            return "excluded"
        if self.right_value is None:
            return "scored"
        return "correct" if abs(value - self.right_value) < 1e-9 else "wrong"

    def value(self, record: SampleRecord) -> float | None:
        if self.field is None:
            return record.score
        value = record.score_details.get(self.field)
        return None if value is None else float(value)


def verdict(run: StoredRun) -> Verdict:
    """The run's reading of per-sample values, from its primary metric as the run describes it."""
    description = describe_run(run)
    primary = run.metrics.primary_metric if run.metrics is not None else None
    metric = description.metric(primary) if description is not None and primary is not None else None
    if metric is None:
        return Verdict(None, None)
    data = metric.to_dict()
    reads = data.get("field") if isinstance(data.get("field"), str) else None
    if metric.unit != "%" or data.get("kind") == "pooled_ratio":  # a rating, or a ratio over many items
        return Verdict(reads, None)
    return Verdict(reads, 0.0 if metric.lower_is_better else 1.0)


@dataclass
class _Strings:
    """Texts stored once, referred to by index."""

    items: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def ref(self, text: str | None) -> int | None:
        if text is None:
            return None
        if text not in self.index:
            self.index[text] = len(self.items)
            self.items.append(text)
        return self.index[text]


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= _LONGEST_TEXT:
        return text
    return text[:_LONGEST_TEXT] + f" … ({len(text) - _LONGEST_TEXT} more characters in the run's samples.jsonl)"


def _audio_link(path: str | None, page_folder: Path | None) -> str | None:
    """A link to the recorded audio file (recorded absolute), for the page to play: relative to the folder
    the page is written to, so that a report moved or shared together with its data still plays, else a
    file URI."""
    if not path or not Path(path).is_absolute():
        return None
    if page_folder is not None:
        try:
            relative = os.path.relpath(path, page_folder.resolve())
        except ValueError:  # another drive (Windows): no relative path
            return Path(path).as_uri()
        return quote(Path(relative).as_posix())
    return Path(path).as_uri()


def _note(record: SampleRecord) -> str | None:
    if record.error is not None:
        return f"{record.error_stage or 'failed'}: {record.error}"
    return record.pending or record.explanation


def ordered_records(run: StoredRun) -> list[SampleRecord]:
    """The run's records in dataset order (its plan's order; file order without a plan)."""
    records = run.records()
    plan = read_plan(run.directory)
    if plan is None:
        return records
    position = {key: i for i, key in enumerate(plan)}
    return sorted(records, key=lambda record: position.get(record.key, len(position)))


def _runs_by_cell(table: GroupedTable, runs: Sequence[StoredRun]) -> list[tuple[str, Column, StoredRun]]:
    """(row name, the run's column, run) for each run a measured cell shows, in row then column order; the
    column is the run's own overall column (no breakdown) where it has one."""
    by_directory = {str(run.directory): run for run in runs}
    found: dict[str, tuple[str, Column, StoredRun]] = {}
    for row in (row for row in table.rows if row.kind == "measured"):
        for column in table.columns:
            cell = row.cells.get(column.key)
            run = by_directory.get(cell.source) if cell is not None else None  # a group score names no run
            if run is None:
                continue
            earlier = found.get(str(run.directory))
            if earlier is None or (earlier[1].spec.breakdown is not None and column.spec.breakdown is None):
                found[str(run.directory)] = (row.name, column, run)
    return list(found.values())


def _task_title(table: GroupedTable, column: Column) -> str:
    """The group title, plus the column's label when its group holds several tasks (e.g. LibriSpeech clean)."""
    same_group = [c for c in table.columns if c.benchmark == column.benchmark and c.split == column.split]
    tasks = {c.spec.task for c in same_group if not c.spec.group_score}
    return column.group_title if len(tasks) <= 1 else f"{column.group_title} · {column.spec.label}"


def sample_browser_data(
    table: GroupedTable, runs: Sequence[StoredRun], page_folder: Path | None = None
) -> dict[str, Any]:
    """The sample browser's data: `runs` (row, task title, metric, records as compact entries) and
    `strings` (the texts entries refer to by index). Audio links are relative to `page_folder`, the folder
    the page is written to, when given."""
    strings = _Strings()
    entries = []
    for row_name, column, run in _runs_by_cell(table, runs):
        reading = verdict(run)
        samples = []
        for record in ordered_records(run):
            status = reading.status(record)
            value = reading.value(record)
            samples.append(
                {
                    "id": record.sample_id,
                    "s": status,
                    "v": None if value is None or not math.isfinite(value) else round(value, 6),
                    "p": strings.ref(record.prompt),
                    "o": _cut(record.output),
                    "x": _cut(record.extracted),
                    "r": strings.ref(record.reference),
                    "a": strings.ref(_audio_link(record.audio_path, page_folder)),
                    "g": dict(record.groups),
                    "n": _note(record),
                }
            )
        counts = {status: sum(1 for s in samples if s["s"] == status) for status in STATUSES}
        entries.append(
            {
                "row": row_name,
                "task": _task_title(table, column),
                "metric": run.metrics.primary_metric if run.metrics is not None else "",
                "directory": str(run.directory),
                "counts": {status: n for status, n in counts.items() if n},
                "samples": samples,
            }
        )
    return {"runs": entries, "strings": strings.items}
