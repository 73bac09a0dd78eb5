"""The `diffa-eval` command line: run, sweep, merge, list, score, table, compare and bench.

Heavy modules (numpy, torch, datasets) are imported inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from .runner import RunOutcome
    from .task import Task

app = typer.Typer(
    name="diffa-eval",
    help="Evaluate audio-language models (diffusion and autoregressive) on audio benchmarks, scored exactly "
    "as the official scripts score them. `diffa-eval list tasks` shows the benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JudgeUrlOption = Annotated[
    str | None,
    typer.Option(
        "--judge-url",
        help="OpenAI-compatible base URL of the LLM judge (VoiceBench open-ended subsets and sd-qa); "
        "also DIFFA_EVAL_JUDGE_BASE_URL. Default: the OpenAI API with DIFFA_EVAL_JUDGE_API_KEY or OPENAI_API_KEY. "
        "Another judge gets only DIFFA_EVAL_JUDGE_API_KEY, never OPENAI_API_KEY.",
    ),
]
JudgeModelOption = Annotated[
    str | None,
    typer.Option("--judge-model", help="Judge model name (default gpt-4o-mini); also DIFFA_EVAL_JUDGE_MODEL."),
]


def _set_judge(url: str | None, model: str | None) -> None:
    """Judge options reach the judge scorers through the environment variables they read."""
    import os

    from .scoring.judge import BASE_URL_ENV, MODEL_ENV

    for name, value in ((BASE_URL_ENV, url), (MODEL_ENV, model)):
        if value:
            os.environ[name] = value


TasksDirOption = Annotated[
    list[Path] | None,
    typer.Option("--tasks-dir", help="Folder of extra task files (repeatable); also DIFFA_EVAL_TASKS_DIR."),
]


class TableFormat(str, Enum):
    terminal = "terminal"
    markdown = "markdown"
    latex = "latex"
    html = "html"
    csv = "csv"
    json = "json"


class LongAudio(str, Enum):
    truncate = "truncate"
    skip = "skip"


class ListKind(str, Enum):
    tasks = "tasks"
    models = "models"
    scorers = "scorers"


def _escape(text: str) -> str:
    """Text shown as is by rich (square brackets are markup otherwise)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr)


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=_console(stderr=True), show_path=False, show_time=False)],
        force=True,
    )


def _load_task_dirs(folders: list[Path] | None) -> None:
    from .task import add_tasks_dir

    for folder in folders or ():
        add_tasks_dir(folder)


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _check_output_file(path: Path, option: str) -> None:
    """Fail before any work, in one line, when `path` cannot be written (a missing folder is created)."""
    import errno
    import os
    import tempfile

    from .errors import StoreError

    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass  # the file is written atomically, by a rename in this folder
    except OSError as error:
        raise StoreError(f"cannot write {option} {path}: {error.strerror or error}") from None


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse_options(items: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; a VALUE that parses as JSON (16, 0.9, true, "x") takes that type."""
    from .errors import ConfigError

    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option expects KEY=VALUE, got {item!r}")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


@app.command()
def run(
    models: Annotated[str, typer.Option("--models", "-m", help="Comma-separated models: NAME[+BACKEND][@CHECKPOINT].")],
    tasks: Annotated[str, typer.Option("--tasks", "-t", help="Comma-separated task or group names.")],
    split: Annotated[
        str | None,
        typer.Option(help="Split to run (default: each task's test split; 'sample' = bundled offline sample)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N samples of each task.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per model call.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed for sampling and for the chance baseline.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    output_dir: Annotated[Path, typer.Option(help="Where run directories are written.")] = Path("results/runs"),
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder with local dataset copies; also DIFFA_EVAL_DATA_DIR.")
    ] = None,
    tasks_dir: TasksDirOption = None,
    max_failures: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Exit non-zero when a run's failed fraction exceeds this.")
    ] = 0.0,
    max_new_tokens: Annotated[int | None, typer.Option(min=1, help="Override the tasks' generation length.")] = None,
    temperature: Annotated[
        float | None, typer.Option(min=0.0, help="Override the sampling temperature (0 = greedy).")
    ] = None,
    top_p: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Override nucleus sampling top-p.")] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Model-specific generation option KEY=VALUE (repeatable; VALUE parsed as JSON when it can be), "
            "e.g. -o steps=16 -o block_length=16.",
        ),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(help="Use this prompt variant on every task (default: each model's preferred variant)."),
    ] = None,
    long_audio: Annotated[
        LongAudio,
        typer.Option(help="Audio longer than a model's window: cut it to the window, or skip the sample (recorded)."),
    ] = LongAudio.truncate,
    backend: Annotated[
        str | None,
        typer.Option(help="Inference backend: transformers or vllm (default: each model's first backend)."),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Run only shard I of N (0-based, e.g. 0/4) of each task's samples, into the run directory all "
            "shards share; the shard that completes the run writes its metrics. Under torchrun each rank is a shard."
        ),
    ] = None,
    judge_url: JudgeUrlOption = None,
    judge_model: JudgeModelOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    """Run models on tasks; re-running the same command resumes where it stopped."""
    from .errors import ConfigError
    from .report.tables import build_table, to_rich
    from .runner import RunOptions, evaluate
    from .sharding import ShardSpec, TorchDistributedGroup, TorchrunEnv
    from .store import read_run
    from .task import resolve_tasks
    from .types import ModelSpec

    _setup_logging(verbose)
    _load_task_dirs(tasks_dir)
    _set_judge(judge_url, judge_model)
    specs = [ModelSpec.parse(text) for text in _split_list(models)]
    selected = resolve_tasks(_split_list(tasks))
    options = RunOptions(
        split=split,
        limit=limit,
        batch_size=batch_size,
        seed=seed,
        device=device,
        output_dir=output_dir,
        data_dir=data_dir,
        generation={
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "options": _parse_options(option or []),
        },
        prompt=prompt,
        long_audio=long_audio.value,
        backend=backend,
        command=tuple(sys.argv),
        shard=None if shard is None else ShardSpec.parse(shard),
        max_failures=max_failures,
    )
    ranks = TorchrunEnv.from_environ()
    if ranks is not None and options.shard is not None:
        raise ConfigError("--shard cannot be combined with torchrun ranks: each rank already is a shard")
    if ranks is not None:
        options = replace(options, device=ranks.device(device))
        quiet = quiet or ranks.rank != 0
    console = _console()
    progress = None if quiet else _RichProgress(console)
    group = None if ranks is None else TorchDistributedGroup(ranks)
    try:
        outcomes = evaluate(specs, selected, options, progress, group)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every finished sample is saved; run the same command to resume[/yellow]")
        raise typer.Exit(130) from None
    finally:
        if progress is not None:
            progress.close()
        if group is not None:
            group.close()
    if ranks is not None and ranks.rank != 0:
        return  # rank 0 reports for all ranks
    runs = [read_run(o.run_dir) for o in outcomes if o.run_dir is not None and o.metrics is not None]
    if runs:
        console.print(to_rich(build_table(runs)))
    _summarize(console, outcomes)
    bad = [o for o in outcomes if o.failed_fraction > max_failures]
    if bad:
        console.print(f"[red]{len(bad)} of {len(outcomes)} runs failed or exceeded --max-failures {max_failures}[/red]")
        raise typer.Exit(1)


def _summarize(console: Console, outcomes: list[RunOutcome]) -> None:
    for outcome in outcomes:
        if outcome.error:
            console.print(f"[red]✗ {_escape(outcome.model)} · {outcome.task}: {_escape(outcome.error)}[/red]")
            continue
        if outcome.metrics is None and outcome.shard is not None:
            console.print(
                f"[yellow]{_escape(outcome.model)} · {outcome.task} ({outcome.split}) shard {outcome.shard}: "
                f"{outcome.generated} generated, {outcome.reused} reused; {outcome.missing} samples of other "
                f"shards not recorded yet[/yellow] → {_escape(str(outcome.run_dir))}"
            )
            continue
        metrics = outcome.metrics
        failed = metrics.n_failed if metrics else 0
        waiting = metrics.n_pending if metrics else 0
        colour = "yellow" if failed or waiting else "green"
        console.print(
            f"[{colour}]{_escape(outcome.model)} · {outcome.task} ({outcome.split}): {outcome.generated} generated, "
            f"{outcome.reused} reused"
            + (f" ({outcome.rescored} scored again: reference, choices or fields changed)" if outcome.rescored else "")
            + f", {failed} failed"
            + (f" (first: {_escape(_clip(outcome.failure))})" if failed and outcome.failure else "")
            + (f", {waiting} kept for scoring" if waiting else "")
            + (f" (shard {outcome.shard}, run complete)" if outcome.shard else "")
            + f"[/{colour}] → {_escape(str(outcome.run_dir))}"
        )
    reasons = sorted({o.pending for o in outcomes if o.pending})
    for reason in reasons:
        console.print(f"[yellow]Some outputs are not scored yet: {_escape(reason)} Then run the same command again.[/]")


class _RichProgress:
    """Progress bars with samples/s and ETA, one per (model, task)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Task as ProgressTask
        from rich.text import Text

        class Speed(ProgressColumn):
            def render(self, task: ProgressTask) -> Text:
                speed = task.finished_speed or task.speed
                return Text("" if speed is None else f"{speed:.1f} samples/s", style="cyan")

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            Speed(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._progress.start()
        self._task: Any = None

    def start(self, label: str, total: int, completed: int) -> None:
        self._task = self._progress.add_task(label, total=total, completed=completed)

    def advance(self, count: int) -> None:
        self._progress.advance(self._task, count)

    def finish(self) -> None:
        self._progress.refresh()

    def close(self) -> None:
        self._progress.stop()


@app.command()
def merge(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or folders that contain them.")],
    into: Annotated[
        Path | None,
        typer.Option(help="Gather the runs found (e.g. shards on several output dirs) into this output dir first."),
    ] = None,
    tasks_dir: TasksDirOption = None,
) -> None:
    """Finish sharded runs: recompute metrics from the records, compact, mark complete; list missing samples.

    Exits 1 when some run still misses samples (run the missing shards, or the plain command, to fill them).
    """
    from .merge import merge_runs

    _setup_logging(False)
    _load_task_dirs(tasks_dir)
    results = merge_runs(runs, into)
    console = _console()
    for result in results:
        head = f"{_escape(result.model)} · {result.task} ({result.split}): {result.recorded} samples recorded"
        if not result.has_plan:
            head += " (no plan.json: missing samples cannot be known)"
        if result.complete:
            console.print(f"[green]{head}, complete[/green] → {_escape(str(result.directory))}")
            continue
        shown = ", ".join(result.missing[:20]) + (" ..." if len(result.missing) > 20 else "")
        console.print(
            f"[red]{head}, {len(result.missing)} missing: {_escape(shown)}[/red] → {_escape(str(result.directory))}",
            soft_wrap=True,
        )
    incomplete = [r for r in results if not r.complete]
    if incomplete:
        console.print(f"[red]{len(incomplete)} of {len(results)} runs miss samples[/red]")
        raise typer.Exit(1)


@app.command("compare-backends")
def compare_backends_command(
    model: Annotated[str, typer.Argument(help="Model NAME or NAME@CHECKPOINT, e.g. qwen2-audio-instruct.")],
    tasks: Annotated[str, typer.Option("--tasks", "-t", help="Comma-separated task or group names.")],
    backends: Annotated[str, typer.Option(help="Comma-separated backends; the first is the reference.")] = (
        "transformers,vllm"
    ),
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N samples of each task.")] = 50,
    split: Annotated[str | None, typer.Option(help="Split to run (default: each task's test split).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per model call.")] = 8,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    output_dir: Annotated[Path, typer.Option(help="Where run directories are written.")] = Path("results/runs"),
    data_dir: Annotated[Path | None, typer.Option(help="Folder with local dataset copies.")] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Generation option KEY=VALUE for every backend.")
    ] = None,
    vllm_option: Annotated[
        list[str] | None,
        typer.Option("--vllm-option", help="vLLM engine option KEY=VALUE, e.g. tensor_parallel_size=2 (repeatable)."),
    ] = None,
) -> None:
    """Run one model through two backends on the same samples and prompts: answer agreement and speed ratio."""
    from rich.table import Table

    from .backend_check import compare_backends
    from .runner import RunOptions
    from .task import resolve_tasks
    from .types import ModelSpec

    _setup_logging(False)
    names = _split_list(backends)
    options = RunOptions(
        split=split,
        limit=limit,
        batch_size=batch_size,
        device=device,
        output_dir=output_dir,
        data_dir=data_dir,
        generation={"options": _parse_options(option or [])},
        command=tuple(sys.argv),
    )
    engine = _parse_options(vllm_option or [])
    per_backend = [engine if name == "vllm" else {} for name in names]
    agreements, outcomes = compare_backends(
        ModelSpec.parse(model), resolve_tasks(_split_list(tasks)), options, names, per_backend
    )
    console = _console()
    table = Table(title=f"{model}: {names[0]} vs {', '.join(names[1:])}")
    for column in ("task", "compared with", "n", "same text %", "same answer %", "seconds (ref)", "seconds", "speedup"):
        table.add_column(column)
    for a in agreements:
        speedup = "" if a.speedup is None else f"{a.speedup:.2f}x"
        table.add_row(
            a.task,
            _escape(a.candidate),
            str(a.compared),
            f"{a.text_agreement:.1f}",
            f"{a.answer_agreement:.1f}",
            f"{a.baseline_seconds:.1f}",
            f"{a.candidate_seconds:.1f}",
            speedup,
        )
    console.print(table)
    _summarize(console, outcomes)
    if any(o.error for o in outcomes) or not agreements:
        raise typer.Exit(1)


@app.command("list")
def list_entries(
    kind: Annotated[ListKind, typer.Argument(help="What to list.")],
    tasks_dir: TasksDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the registered tasks (with their groups), models (with their backends) or scorers."""
    from rich.table import Table

    _setup_logging(False)
    if kind is ListKind.tasks:
        from .task import TASKS

        _load_task_dirs(tasks_dir)
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
        from .models import MODELS

        rows = [{"name": e.name, "backends": list(e.tags), "description": e.description} for e in MODELS.entries()]
        columns = ["name", "backends", "description"]
    else:
        from .scoring.scorers import SCORERS

        rows = [{"name": e.name, "description": e.description} for e in SCORERS.entries()]
        columns = ["name", "description"]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"diffa-eval {kind.value}")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column == "name")
    for row in rows:
        cells = (row[column] for column in columns)
        table.add_row(*(", ".join(map(str, v)) if isinstance(v, list) else str(v) for v in cells))
    _console().print(table)


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
    from .scoring.offline import score_file
    from .store import atomic_write_text, unicode_safe, writing

    _setup_logging(False)
    _load_task_dirs(tasks_dir)
    _set_judge(judge_url, judge_model)
    result = score_file(_single_task(task), file)
    if output is not None:
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in result.lines)
        with writing(output, resumable=False):
            atomic_write_text(output, unicode_safe(text))
    for problem in result.problems:
        _console(stderr=True).print(f"[yellow]{_escape(problem)}[/yellow]", soft_wrap=True, highlight=False)
    counts = result.metrics
    if counts.n_scored == 0:  # a gate on this command must not pass on an empty or unreadable file
        from .errors import DataError

        raise DataError(
            f"nothing in {file} was scored: {counts.n_samples} records, {counts.n_excluded} left out by the "
            f"protocol, {counts.n_failed} unreadable or failed, {counts.n_pending} waiting for a score"
        )
    if as_json:
        typer.echo(json.dumps(result.metrics.to_dict(), indent=2))
    else:
        _print_metrics(result.metrics.to_dict())


def _single_task(name: str) -> Task:
    from .task import TASKS

    return TASKS.get(name)


def _print_metrics(data: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="metrics")
    for column in ("metric", "value", "95% CI", "n"):
        table.add_column(column)
    for name, value in data["metrics"].items():
        ci = f"[{value['ci_low']:.2f}, {value['ci_high']:.2f}]" if value["ci_low"] is not None else ""
        table.add_row(name, f"{value['value']:.2f}", ci, str(value["n"]))
    console = _console()
    console.print(table)
    console.print(
        f"{data['n_samples']} records: {data['n_scored']} scored, {data['n_excluded']} excluded by the protocol, "
        f"{data['n_failed']} unreadable"
    )


@app.command()
def table(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or folders that contain them.")],
    format: Annotated[TableFormat, typer.Option("--format", "-f", help="Output format.")] = TableFormat.terminal,
    ci: Annotated[bool, typer.Option("--ci", help="Show 95% confidence intervals (± half-width).")] = False,
    benchmarks: Annotated[
        str | None, typer.Option(help="Comma-separated column groups in display order, e.g. mmau_test_mini,mmsu.")
    ] = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated measured rows in display order.")] = None,
    reported: Annotated[
        bool, typer.Option("--reported", help="Add published numbers (rows marked †) from --reported-dir.")
    ] = False,
    reported_dir: Annotated[Path, typer.Option(help="Folder of reported-number sources.")] = Path("results/reported"),
    delta: Annotated[
        bool, typer.Option("--delta", help="With --reported: a 'measured - reported' row under each matched model.")
    ] = False,
    caption: Annotated[str, typer.Option(help="LaTeX caption / HTML title.")] = "Results.",
    label: Annotated[str, typer.Option(help="LaTeX label.")] = "tab:results",
    standalone: Annotated[bool, typer.Option(help="LaTeX: a complete document instead of a table.")] = False,
    plots: Annotated[
        bool, typer.Option("--plots", help="HTML: embed accuracy/speed and per-category plots (needs matplotlib).")
    ] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead.")] = None,
) -> None:
    """A leaderboard from stored runs: rows are models, columns are benchmarks with sub-columns."""
    from .errors import StoreError
    from .report import tables
    from .report.reported import read_reported
    from .store import atomic_write_text, find_runs, writing

    _setup_logging(False)
    stored = find_runs(runs)
    board = tables.build_table(
        stored,
        reported=read_reported(reported_dir) if reported or delta else (),
        benchmarks=_split_list(benchmarks) if benchmarks else None,
        models=_split_list(models) if models else None,
        delta=delta,
    )
    if not any(row.kind == "measured" for row in board.rows):
        raise StoreError(f"no completed runs under {', '.join(map(str, runs))}")
    if format is TableFormat.terminal:
        _console().print(tables.to_rich(board, with_ci=ci))
        return
    if format is TableFormat.markdown:
        text = tables.to_markdown(board, with_ci=ci)
    elif format is TableFormat.latex:
        text = tables.to_latex(board, with_ci=ci, caption=caption, label=label, standalone=standalone)
    elif format is TableFormat.html:
        from .report.plots import report_figures

        figures = report_figures(stored) if plots else []
        text = tables.to_html(
            board, with_ci=ci, title=caption if caption != "Results." else "diffa-eval leaderboard", figures=figures
        )
    elif format is TableFormat.csv:
        text = tables.to_csv(board)
    else:
        text = tables.to_json(board)
    if output is None:
        typer.echo(text, nl=False)
    else:
        with writing(output, resumable=False):
            atomic_write_text(output, text)


@app.command("compare")
def compare_command(
    baseline: Annotated[Path, typer.Argument(help="Baseline run directory, or a folder of runs.")],
    candidate: Annotated[Path, typer.Argument(help="Candidate run directory, or a folder of runs.")],
    max_drop: Annotated[
        float, typer.Option(min=0.0, help="Largest tolerated drop, in each metric's units (points for %).")
    ] = 1.0,
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="Significance level of the paired tests.")] = 0.05,
    max_drop_for: Annotated[
        list[str] | None,
        typer.Option(
            "--max-drop-for", help="Per-metric tolerance METRIC=VALUE or TASK:METRIC=VALUE (repeatable), e.g. wer=0.5."
        ),
    ] = None,
    metrics: Annotated[str | None, typer.Option(help="Comma-separated metrics to compare (default: all).")] = None,
    max_failure_increase: Annotated[
        float,
        typer.Option(min=0.0, help="Largest tolerated rise of the share of failed samples, in points."),
    ] = 1.0,
    markdown: Annotated[Path | None, typer.Option(help="Write the Markdown summary (a PR comment) here.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the JSON verdict here.")] = None,
    tasks_dir: TasksDirOption = None,
) -> None:
    """Paired comparison of a candidate with a baseline; exits 1 when a metric drops significantly."""
    from .errors import ConfigError
    from .report.compare import Tolerance, compare, to_json, to_markdown
    from .store import atomic_write_text, find_runs, writing

    _setup_logging(False)
    _load_task_dirs(tasks_dir)
    per_metric: dict[str, float] = {}
    for item in max_drop_for or []:
        name, sep, value = item.partition("=")
        try:
            per_metric[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(f"--max-drop-for expects METRIC=NUMBER, got {item!r}")
    tolerance = Tolerance(max_drop, alpha, per_metric, max_failure_increase)
    verdict = compare(
        find_runs([baseline]), find_runs([candidate]), tolerance, _split_list(metrics) if metrics else None
    )
    summary = to_markdown(verdict)
    for path, text in ((markdown, summary), (json_path, to_json(verdict))):
        if path is not None:
            with writing(path, resumable=False):
                atomic_write_text(path, text)
    typer.echo(summary, nl=False)
    if not verdict.passed:
        raise typer.Exit(1)


@app.command()
def sweep(
    models: Annotated[
        str, typer.Option("--models", "-m", help="NAME[+BACKEND]@GLOB, e.g. 'diffa-2@out/checkpoint-*' (quoted).")
    ],
    tasks: Annotated[str, typer.Option("--tasks", "-t", help="Comma-separated task or group names.")],
    split: Annotated[str | None, typer.Option(help="Split to run (default: each task's test split).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N samples of each task.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per model call.")] = 8,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    output_dir: Annotated[Path, typer.Option(help="Where run directories are written.")] = Path("results/runs"),
    max_new_tokens: Annotated[int | None, typer.Option(min=1, help="Override the tasks' generation length.")] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Model-specific generation option KEY=VALUE.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write the trend across checkpoints as a PNG or SVG (needs matplotlib).")
    ] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write the trend table as Markdown here.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder with local dataset copies; also DIFFA_EVAL_DATA_DIR.")
    ] = None,
    tasks_dir: TasksDirOption = None,
    prompt: Annotated[str | None, typer.Option(help="Use this prompt variant on every task.")] = None,
    judge_url: JudgeUrlOption = None,
    judge_model: JudgeModelOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Evaluate every checkpoint matching a glob (resumable), then show the trend across checkpoints."""
    from .report import tables
    from .report.sweep import checkpoint_trend, expand_checkpoints
    from .runner import RunOptions, evaluate
    from .store import atomic_write_text, read_run, writing
    from .task import resolve_tasks

    _setup_logging(False)
    _load_task_dirs(tasks_dir)
    _set_judge(judge_url, judge_model)
    if plot is not None:  # checked before the evaluation, which may take hours
        from .errors import ConfigError
        from .report.plots import figure_formats

        if plot.suffix.lower().lstrip(".") not in figure_formats():
            raise ConfigError(f"--plot {plot}: unknown figure format {plot.suffix!r}; use .png or .svg")
        _check_output_file(plot, "--plot")
    if markdown is not None:
        _check_output_file(markdown, "--markdown")
    specs = [spec for text in _split_list(models) for spec in expand_checkpoints(text)]
    options = RunOptions(
        split=split,
        limit=limit,
        batch_size=batch_size,
        device=device,
        output_dir=output_dir,
        data_dir=data_dir,
        generation={"max_new_tokens": max_new_tokens, "options": _parse_options(option or [])},
        prompt=prompt,
        command=tuple(sys.argv),
    )
    console = _console()
    progress = None if quiet else _RichProgress(console)
    try:
        outcomes = evaluate(specs, resolve_tasks(_split_list(tasks)), options, progress)
    finally:
        if progress is not None:
            progress.close()
    runs = [read_run(o.run_dir) for o in outcomes if o.run_dir is not None and o.metrics is not None]
    _summarize(console, outcomes)
    if not runs:
        raise typer.Exit(1)
    board = tables.build_table(runs, models=[str(s) for s in specs if any(r.manifest.model == str(s) for r in runs)])
    console.print(tables.to_rich(board))
    if markdown is not None:
        with writing(markdown, resumable=False):
            atomic_write_text(markdown, tables.to_markdown(board))
    if plot is not None:
        from .report.plots import plot_checkpoint_trend, save_figure

        save_figure(plot_checkpoint_trend(checkpoint_trend(runs, specs)), str(plot))
    if any(o.error for o in outcomes):
        raise typer.Exit(1)


DEFAULT_BENCH_MODES = "threshold,prefix-cache,dual-cache,threshold+prefix-cache,threshold+dual-cache"


@app.command()
def bench(
    model: Annotated[str, typer.Option("--model", "-m", help="A DIFFA model: NAME[@CHECKPOINT].")] = "diffa-tiny",
    model_size: Annotated[
        str,
        typer.Option(help="tiny: the model as named; 8b: LLaDA-8B's shape with random bf16 weights (no download)."),
    ] = "tiny",
    task: Annotated[str | None, typer.Option("--task", "-t", help="Benchmark this task (default: synthetic).")] = None,
    split: Annotated[str, typer.Option(help="The task's split ('sample' = bundled offline sample).")] = "sample",
    samples: Annotated[int, typer.Option(min=1, help="Samples (synthetic workload; at most this many of a task).")] = 8,
    audio_seconds: Annotated[float, typer.Option(min=0.1, help="Clip length of the synthetic workload.")] = 10.0,
    gen_length: Annotated[int | None, typer.Option(min=1, help="Answer length (default: 16, or the task's).")] = None,
    modes: Annotated[str, typer.Option(help="Comma-separated decoding modes to compare with exact.")] = (
        DEFAULT_BENCH_MODES
    ),
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per batch for the fast modes.")] = 8,
    logit_scale: Annotated[
        float,
        typer.Option(help="Random weights only: scale the output head so that confidences are sharp enough "
        "for threshold commits (answers stay meaningless)."),
    ] = 1.0,
    baseline_batch_size: Annotated[int, typer.Option(min=1, help="Batch size of the exact baseline.")] = 1,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed batches before each mode.")] = 1,
    batch_agreement: Annotated[
        bool, typer.Option(help="Also decode each batched mode one sample at a time (untimed) and compare answers.")
    ] = True,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Generation option KEY=VALUE for every mode, e.g. -o threshold=0.9."),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    name: Annotated[str | None, typer.Option(help="Report name: results/bench/NAME.json.")] = None,
    output: Annotated[Path | None, typer.Option(help="Write the JSON report here instead.")] = None,
) -> None:
    """Decoding speed of a DIFFA model: exact decoding (batch 1) against fast modes, on a task or synthetic audio."""
    import torch
    from rich.table import Table

    from . import bench as bench_lib
    from .errors import ConfigError
    from .models import load_model
    from .store import atomic_write_text, writing
    from .types import GenerationConfig, ModelSpec

    _setup_logging(False)
    if model_size not in bench_lib.MODEL_SIZES:
        raise ConfigError(f"--model-size must be one of {', '.join(bench_lib.MODEL_SIZES)}")
    resolved = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model_label = "llada-8b-shape (random weights)" if model_size == "8b" else model
    slug = "-".join([model_label.split(" ")[0], "gpu" if resolved.startswith("cuda") else "cpu"])
    path = output or Path("results/bench") / f"{name or slug}.json"
    _check_output_file(path, "--output")
    extra_options = GenerationConfig(options=_parse_options(option or [])).options  # bad values fail here
    if not 0 < logit_scale < float("inf"):
        raise ConfigError(f"--logit-scale must be a positive number, got {logit_scale}")
    if model_size == "8b":
        adapter = bench_lib.build_8b_adapter(resolved)
    else:
        adapter = load_model(ModelSpec.parse(model), resolved)
    if logit_scale != 1.0:
        bench_lib.scale_output_head(adapter, logit_scale)
    config = GenerationConfig(max_new_tokens=gen_length or 16)
    if task is not None:
        chosen = _single_task(task)
        workload = bench_lib.task_workload(chosen, split, samples, getattr(adapter, "prompt_variants", ()))
        config = chosen.generation_for(chosen.select_prompt(getattr(adapter, "prompt_variants", ())))
        config = config.replace(max_new_tokens=gen_length)
    else:
        workload = bench_lib.synthetic_workload(samples, audio_seconds)
    config = config.replace(options={**config.options, **extra_options})
    mode_list = _split_list(modes)
    results = bench_lib.run_bench(
        adapter,
        workload,
        mode_list,
        config,
        batch_size=batch_size,
        baseline_batch_size=baseline_batch_size,
        warmup_batches=warmup,
        device=resolved,
        batch_agreement=batch_agreement,
    )
    device_label = bench_lib.device_name(resolved)
    facts = {"model": model_label, "device": device_label, "torch": torch.__version__, "logit_scale": logit_scale}
    document = bench_lib.report(results, workload, config, facts)
    with writing(path, resumable=False):
        atomic_write_text(path, json.dumps(document, indent=2) + "\n")

    memory = "peak GPU mem" if resolved.startswith("cuda") else "peak RSS (CPU)"
    table = Table(title=f"{model_label} · {workload.name} · gen {config.max_new_tokens} · {device_label}")
    columns = ("mode @ batch", "EOS stop", "speedup vs exact", "samples/s", "gen tok/s", "passes (full)")
    agreements = ("agree w/ exact", "agree w/ batch 1", "score delta")
    for column in (*columns, "latency mean / p50 / p95", memory, *agreements):
        table.add_column(column, justify="left" if column.startswith("mode") else "right")
    for r in results:
        table.add_row(
            f"{r.mode} @ {r.batch_size}",
            {True: "yes", False: "no", None: "?"}[r.eos_stop],
            f"{r.speedup_vs_exact:.2f}x",
            f"{r.samples_per_second:.2f}",
            f"{r.generated_tokens_per_second:.1f}",
            f"{r.forward_passes_per_sample:.1f} ({r.full_passes_per_sample:.1f})",
            " / ".join(f"{1000 * v:.0f}" for v in (r.latency_mean, r.latency_p50, r.latency_p95)) + " ms",
            f"{r.peak_memory_bytes / 2**20:.0f} MiB",
            f"{100 * (r.agreement_with_exact or 0):.0f}%",
            "-" if r.agreement_with_batch_1 is None else f"{100 * r.agreement_with_batch_1:.0f}%",
            "-" if r.score_delta_vs_exact is None else f"{r.score_delta_vs_exact:+.3f}",
        )
    console = _console()
    if not console.is_terminal:
        console.width = max(console.width, 200)
    console.print(table)
    console.print(f"wrote {_escape(str(path))}", highlight=False)


def main() -> None:
    """Console entry point: diffa-eval's own errors print as one clear line and exit 2."""
    from .errors import DiffaEvalError

    try:
        app()
    except DiffaEvalError as error:
        _console(stderr=True).print(f"[red]error:[/red] {_escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(2)
