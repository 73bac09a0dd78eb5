"""The commands that show what is there and score files: `list` (tasks, models, scorers) and `score`."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from .app import app, console, escape, load_task_dirs, setup_logging, single_task
from .options import JudgeModelOption, JudgeUrlOption, TasksDirOption, judge_settings


class ListKind(str, Enum):
    tasks = "tasks"
    models = "models"
    scorers = "scorers"


@app.command("list")
def list_entries(
    kind: Annotated[ListKind, typer.Argument(help="What to list.")],
    tasks_dir: TasksDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the registered tasks (with their groups), models (with their family and backends) or scorers.

    A model's family is diffusion, autoregressive, ASR (speech recognition only) or baseline; its first backend
    is its default (`NAME+BACKEND` picks another); a baseline needs none."""
    from rich.table import Table

    setup_logging(False)
    if kind is ListKind.tasks:
        from ..task import TASKS

        load_task_dirs(tasks_dir)
        tasks = [TASKS.get(name) for name in TASKS.names()]
        rows = [
            {
                "name": t.name,
                "groups": list(t.groups),
                "splits": list(t.splits),
                "version": t.version,
                "metric": t.primary_metric,
                "metrics": [m.name for m in t.metrics],
                "prompts": list(t.variants()),
                "description": t.description,
            }
            for t in tasks
        ]
        columns = ["name", "groups", "metric", "description"]
    elif kind is ListKind.models:
        from ..models import MODELS, model_backends, model_family

        rows = [
            {
                "name": e.name,
                "family": model_family(e.name) or "unknown",
                "backends": model_backends(e.name),
                "description": e.description,
            }
            for e in MODELS.entries()
        ]
        columns = ["name", "family", "backends", "description"]
    else:
        from ..scoring.scorers import SCORERS

        rows = [{"name": e.name, "description": e.description} for e in SCORERS.entries()]
        columns = ["name", "description"]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"diffa-eval {kind.value}")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column == "name")
    for row in rows:
        table.add_row(*(_cell(column, row[column]) for column in columns))
    console().print(table)


def _cell(column: str, value: Any) -> str:
    if not isinstance(value, list):
        return str(value)
    return ", ".join(map(str, value)) or ("none" if column == "backends" else "")  # a baseline needs no backend


@app.command()
def score(
    task: Annotated[str, typer.Argument(help="Task name, e.g. mmau_test_mini.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Predictions: JSON list or JSONL.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Per-record scores as JSONL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the aggregate metrics as JSON.")] = False,
    tasks_dir: TasksDirOption = None,
    judge_url: JudgeUrlOption = None,
    judge_model: JudgeModelOption = None,
) -> None:
    """Re-score a predictions file offline, with the task's official scorer.

    Records are in the benchmark's native metadata schema plus the model's text in
    `prediction` (or the official scripts' own field, e.g. MMAU's `model_output`).
    """
    from ..files import atomic_write_text, unicode_safe, writing
    from ..predictions import score_file

    setup_logging(False)
    load_task_dirs(tasks_dir)
    chosen = single_task(task)
    judge = judge_settings(judge_url, judge_model) if chosen.scores_after_generation else None
    result = score_file(chosen, file, judge)
    if output is not None:
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in result.lines)
        with writing(output, resumable=False):
            atomic_write_text(output, unicode_safe(text))
    for problem in result.problems:
        console(stderr=True).print(f"[yellow]{escape(problem)}[/yellow]", soft_wrap=True, highlight=False)
    counts = result.metrics
    if counts.n_scored == 0:  # a gate on this command must not pass on an empty or unreadable file
        from ..errors import DataError

        raise DataError(
            f"nothing in {file} was scored: {counts.n_samples} records, {counts.n_excluded} left out by the "
            f"protocol, {counts.n_failed} unreadable or failed, {counts.n_pending} waiting for a score"
        )
    if as_json:
        typer.echo(json.dumps(result.metrics.to_dict(), indent=2))
    else:
        _print_metrics(result.metrics.to_dict())


def _print_metrics(data: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="metrics")
    for column in ("metric", "value", "95% CI", "n"):
        table.add_column(column)
    for name, value in data["metrics"].items():
        ci = f"[{value['ci_low']:.2f}, {value['ci_high']:.2f}]" if value["ci_low"] is not None else ""
        table.add_row(name, f"{value['value']:.2f}", ci, str(value["n"]))
    out = console()
    out.print(table)
    out.print(
        f"{data['n_samples']} records: {data['n_scored']} scored, {data['n_excluded']} excluded by the protocol, "
        f"{data['n_failed']} unreadable"
    )
