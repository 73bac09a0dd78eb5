"""Leaderboards from stored runs: rows are models, columns are each task's primary metric."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..store import StoredRun
from ..types import MetricValue

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Column:
    task: str
    split: str
    metric: str
    lower_is_better: bool

    @property
    def key(self) -> str:
        suffix = "" if self.split == "test" else f" ({self.split})"
        return f"{self.task}{suffix} {self.metric}"

    @property
    def header(self) -> str:
        return f"{self.key} {'↓' if self.lower_is_better else '↑'}"


@dataclass(frozen=True)
class Cell:
    value: MetricValue
    n_failed: int
    run_dir: str


@dataclass(frozen=True)
class Leaderboard:
    columns: list[Column]
    rows: list[tuple[str, dict[str, Cell]]]
    """(model, column key -> cell) in display order."""


def runs_frame(runs: Sequence[StoredRun]) -> pd.DataFrame:
    """One row per (run, metric) of every completed run: the long format for analysis."""
    import pandas as pd

    rows = []
    for run in runs:
        if run.metrics is None:
            continue
        for name, value in run.metrics.metrics.items():
            rows.append(
                {
                    "model": run.manifest.model,
                    "task": run.manifest.task,
                    "split": run.manifest.split,
                    "metric": name,
                    "primary": name == run.metrics.primary_metric,
                    "value": value.value,
                    "ci_low": value.ci_low,
                    "ci_high": value.ci_high,
                    "n": value.n,
                    "lower_is_better": value.lower_is_better,
                    "n_samples": run.metrics.n_samples,
                    "n_failed": run.metrics.n_failed,
                    "finished_at": run.manifest.finished_at,
                    "run_dir": str(run.directory),
                }
            )
    return pd.DataFrame(rows)


def build_leaderboard(runs: Sequence[StoredRun]) -> Leaderboard:
    """The primary metric of each task as a column; the latest run wins where several match."""
    columns: dict[str, Column] = {}
    table: dict[str, dict[str, Cell]] = {}
    finished: dict[tuple[str, str], str] = {}
    for run in runs:
        if run.metrics is None:
            log.info("skipping %s: the run has not completed", run.directory)
            continue
        metric = run.metrics.primary_metric
        value = run.metrics.metrics.get(metric)
        if value is None:
            continue
        column = Column(run.manifest.task, run.manifest.split, metric, value.lower_is_better)
        columns.setdefault(column.key, column)
        stamp = run.manifest.finished_at or ""
        slot = (run.manifest.model, column.key)
        if slot in finished:
            log.warning("several runs of %s on %s; showing the latest", *slot)
            if stamp < finished[slot]:
                continue
        finished[slot] = stamp
        table.setdefault(run.manifest.model, {})[column.key] = Cell(value, run.metrics.n_failed, str(run.directory))
    _add_group_scores(runs, columns, table)
    return Leaderboard(list(columns.values()), [(model, table[model]) for model in sorted(table)])


def _add_group_scores(runs: Sequence[StoredRun], columns: dict[str, Column], table: dict[str, dict[str, Cell]]) -> None:
    """A column per task group with an overall score, for each model and split that has all its tasks."""
    from ..task import group_scores

    latest: dict[tuple[str, str], dict[str, StoredRun]] = {}
    for run in sorted(runs, key=lambda r: r.manifest.finished_at or ""):
        if run.metrics is not None:
            latest.setdefault((run.manifest.model, run.manifest.split), {})[run.manifest.task] = run
    for group, score in group_scores().items():
        for (model, split), by_task in latest.items():
            value = score.compute({task: run.metrics for task, run in by_task.items() if run.metrics is not None})
            if value is None:
                continue
            column = Column(group, split, score.name, False)
            columns.setdefault(column.key, column)
            failed = sum(run.metrics.n_failed for run in by_task.values() if run.metrics is not None)
            table.setdefault(model, {})[column.key] = Cell(MetricValue(value, 0), failed, "")


def _format(cell: Cell | None, with_ci: bool) -> str:
    if cell is None:
        return "–"
    text = f"{cell.value.value:.2f}"
    if with_ci and cell.value.ci_low is not None and cell.value.ci_high is not None:
        text += f" [{cell.value.ci_low:.2f}, {cell.value.ci_high:.2f}]"
    return text + ("*" if cell.n_failed else "")


def _footnote(board: Leaderboard) -> str:
    if any(cell.n_failed for _, cells in board.rows for cell in cells.values()):
        return "* some samples failed and are not counted; see n_failed in the run's metrics.json"
    return ""


def to_markdown(board: Leaderboard, with_ci: bool = False) -> str:
    header = ["model", *(c.header for c in board.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", *(["---:"] * len(board.columns))]) + "|"]
    for model, cells in board.rows:
        values = [_format(cells.get(c.key), with_ci) for c in board.columns]
        lines.append("| " + " | ".join([model, *values]) + " |")
    note = _footnote(board)
    return "\n".join(lines) + ("\n\n" + note if note else "") + "\n"


def to_csv(board: Leaderboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["model", "task", "split", "metric", "value", "ci_low", "ci_high", "n", "n_failed", "lower_is_better"]
    )
    for model, cells in board.rows:
        for column in board.columns:
            cell = cells.get(column.key)
            if cell is not None:
                v = cell.value
                writer.writerow(
                    [
                        model,
                        column.task,
                        column.split,
                        column.metric,
                        f"{v.value:.4f}",
                        "" if v.ci_low is None else f"{v.ci_low:.4f}",
                        "" if v.ci_high is None else f"{v.ci_high:.4f}",
                        v.n,
                        cell.n_failed,
                        v.lower_is_better,
                    ]
                )
    return out.getvalue()


def to_json(board: Leaderboard) -> str:
    data: dict[str, Any] = {
        "columns": [
            {"key": c.key, "task": c.task, "split": c.split, "metric": c.metric, "lower_is_better": c.lower_is_better}
            for c in board.columns
        ],
        "rows": [
            {
                "model": model,
                "cells": {
                    key: {**cell.value.to_dict(), "n_failed": cell.n_failed, "run_dir": cell.run_dir}
                    for key, cell in cells.items()
                },
            }
            for model, cells in board.rows
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def to_rich(board: Leaderboard, with_ci: bool = False) -> Any:
    """A rich Table for the terminal."""
    from rich.table import Table

    table = Table(title="diffa-eval leaderboard", caption=_footnote(board) or None)
    table.add_column("model", style="bold")
    for column in board.columns:
        table.add_column(column.header.replace(" ", "\n", 1), justify="right")
    for model, cells in board.rows:
        table.add_row(model, *(_format(cells.get(c.key), with_ci) for c in board.columns))
    return table
