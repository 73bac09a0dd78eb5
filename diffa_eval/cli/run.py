"""The commands that run models: `run`, `sweep` (checkpoints matching a glob) and `compare-backends`.

All three take the shared options of `diffa_eval.cli.options` and build their `RunOptions` there.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .app import app, clip, console, escape, parse_options, setup_logging, split_list, write_text
from .export import WANDB_HELP, log_to_wandb, wandb_target
from .options import RunArgs, run_parameters
from .progress import progress_for

if TYPE_CHECKING:
    from rich.console import Console

    from ..run import RunOutcome
    from ..run.options import PlannedRun


@app.command()
@run_parameters()
def run(
    models: Annotated[
        str,
        typer.Option(
            "--models",
            "-m",
            help="Comma-separated models: NAME[+BACKEND]\\[@CHECKPOINT]. @CHECKPOINT is a local folder or a hub id "
            "(owner/name) holding the model's weights, in place of its default, e.g. qwen2-audio-instruct@/ckpt/"
            "my-finetune or diffa-2@out/checkpoint-500 (diffa-tiny@SEED: another random draw). DIFFA's base models "
            "come from DIFFA_EVAL_LLADA and DIFFA_EVAL_WHISPER (folder or hub id). Without the hub "
            "(HF_HUB_OFFLINE=1, or none reachable), weights must be in the local Hugging Face cache or a folder.",
        ),
    ],
    args: RunArgs,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Run only shard I of N (0-based, e.g. 0/4) of each task's samples, into the run directory all "
            "shards share; the shard that completes the run writes its metrics. Under torchrun each rank is a shard."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check the plan as a run does, print it (models x tasks x variants, samples, how many are recorded "
            "already, run directories) and exit: no model loads, nothing is written.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress (bars, or lines off a terminal).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
    wandb: Annotated[str | None, typer.Option("--wandb", help=WANDB_HELP)] = None,
) -> None:
    """Run models on tasks; re-running the same command resumes where it stopped.

    Everything is checked before any model loads: names, options (-o, against what each model takes), every
    model's weights and the data. Progress shows as bars on a terminal and as plain lines otherwise."""
    from ..errors import ConfigError
    from ..report.tables import build_table, to_rich
    from ..run import evaluate
    from ..run.sharding import ShardSpec, TorchDistributedGroup, TorchrunEnv
    from ..store import read_run
    from ..types import ModelSpec

    setup_logging(verbose)
    tracking = None if wandb is None else wandb_target(wandb)
    selected = args.task_list()
    specs = [ModelSpec.parse(text) for text in split_list(models)]
    options = args.options(shard=None if shard is None else ShardSpec.parse(shard))
    ranks = TorchrunEnv.from_environ()
    if ranks is not None and options.shard is not None:
        raise ConfigError("--shard cannot be combined with torchrun ranks: each rank already is a shard")
    if dry_run:
        from ..run import Runner

        show_plan(console(), Runner(options).plan(specs, selected))
        return
    if ranks is not None:
        options = replace(options, device=ranks.device(args.device))
        quiet = quiet or ranks.rank != 0
    out = console()
    progress = None if quiet else progress_for(out)
    group = None if ranks is None else TorchDistributedGroup(ranks)
    try:
        outcomes = evaluate(specs, selected, options, progress, group)
    except KeyboardInterrupt:
        out.print("[yellow]interrupted: every finished sample is saved; run the same command to resume[/yellow]")
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
        out.print(to_rich(build_table(runs, partial=True)))
    summarize(out, outcomes)
    if tracking is not None:
        log_to_wandb([o.run_dir for o in outcomes if o.run_dir is not None], tracking)
    if _too_many_failures(out, outcomes, args.max_failures):
        raise typer.Exit(1)


@app.command()
@run_parameters(defaults={"max_failures": None})
def sweep(
    models: Annotated[
        str, typer.Option("--models", "-m", help="NAME[+BACKEND]@GLOB, e.g. 'diffa-2@out/checkpoint-*' (quoted).")
    ],
    args: RunArgs,
    plot: Annotated[
        Path | None, typer.Option(help="Write the trend across checkpoints as PNG, SVG or PDF (needs matplotlib).")
    ] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write the trend table as Markdown here.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress (bars, or lines off a terminal).")] = False,
    wandb: Annotated[str | None, typer.Option("--wandb", help=WANDB_HELP)] = None,
) -> None:
    """Evaluate every checkpoint matching a glob (resumable), then show the trend across checkpoints."""
    from ..report import tables
    from ..report.sweep import checkpoint_trend, expand_checkpoints
    from ..run import evaluate
    from ..store import read_run
    from .app import check_output_file

    setup_logging(False)
    tracking = None if wandb is None else wandb_target(wandb)
    selected = args.task_list()
    if plot is not None:  # checked before the evaluation, which may take hours
        from ..errors import ConfigError
        from ..report.plots import figure_formats

        if plot.suffix.lower().lstrip(".") not in figure_formats():
            raise ConfigError(f"--plot {plot}: unknown figure format {plot.suffix!r}; use .png, .svg or .pdf")
        check_output_file(plot, "--plot")
    if markdown is not None:
        check_output_file(markdown, "--markdown")
    specs = [spec for text in split_list(models) for spec in expand_checkpoints(text)]
    options = args.options()
    out = console()
    progress = None if quiet else progress_for(out)
    try:
        outcomes = evaluate(specs, selected, options, progress)
    finally:
        if progress is not None:
            progress.close()
    runs = [read_run(o.run_dir) for o in outcomes if o.run_dir is not None and o.metrics is not None]
    summarize(out, outcomes)
    if tracking is not None:
        log_to_wandb([o.run_dir for o in outcomes if o.run_dir is not None], tracking)
    if not runs:
        raise typer.Exit(1)
    chosen = [str(s) for s in specs if any(r.manifest.model == str(s) for r in runs)]
    board = tables.build_table(runs, models=chosen, partial=True)
    out.print(tables.to_rich(board))
    if markdown is not None:
        write_text(markdown, tables.to_markdown(board))
    if plot is not None:
        from ..report.plots import plot_checkpoint_trend, save_figure

        save_figure(plot_checkpoint_trend(checkpoint_trend(runs, specs)), str(plot))
    if any(o.error for o in outcomes) or _too_many_failures(out, outcomes, args.max_failures):
        raise typer.Exit(1)


@app.command("compare-backends")
@run_parameters(defaults={"limit": 50, "max_failures": None}, exclude=("backend",))
def compare_backends_command(
    model: Annotated[str, typer.Argument(help="Model NAME or NAME@CHECKPOINT, e.g. qwen2-audio-instruct.")],
    args: RunArgs,
    backends: Annotated[str, typer.Option(help="Comma-separated backends; the first is the reference.")] = (
        "transformers,vllm"
    ),
    vllm_option: Annotated[
        list[str] | None,
        typer.Option("--vllm-option", help="vLLM engine option KEY=VALUE, e.g. tensor_parallel_size=2 (repeatable)."),
    ] = None,
) -> None:
    """Run one model through two backends on the same samples and prompts: answer agreement and speed ratio."""
    from rich.table import Table

    from ..backend_check import compare_backends
    from ..types import ModelSpec

    setup_logging(False)
    names = split_list(backends)
    selected = args.task_list()
    options = args.options()
    engine = parse_options(vllm_option or [])
    per_backend = [engine if name == "vllm" else {} for name in names]
    agreements, outcomes = compare_backends(ModelSpec.parse(model), selected, options, names, per_backend)
    out = console()
    table = Table(title=f"{model}: {names[0]} vs {', '.join(names[1:])}")
    for column in ("task", "compared with", "n", "same text %", "same answer %", "seconds (ref)", "seconds", "speedup"):
        table.add_column(column)
    for a in agreements:
        speedup = "" if a.speedup is None else f"{a.speedup:.2f}x"
        table.add_row(
            a.task,
            escape(a.candidate),
            str(a.compared),
            f"{a.text_agreement:.1f}",
            f"{a.answer_agreement:.1f}",
            f"{a.baseline_seconds:.1f}",
            f"{a.candidate_seconds:.1f}",
            speedup,
        )
    out.print(table)
    summarize(out, outcomes)
    if any(o.error for o in outcomes) or not agreements or _too_many_failures(out, outcomes, args.max_failures):
        raise typer.Exit(1)


def show_plan(out: Console, planned: list[PlannedRun]) -> None:
    """The plan of `run --dry-run`: one row per run, then the totals."""
    from rich.table import Table

    models = {run.model for run in planned}
    tasks = {(run.task, run.split) for run in planned}
    title = f"plan: {len(models)} model(s) x {len(tasks)} task(s), {len(planned)} run(s)"
    columns = ("model", "task", "prompt", "settings", "samples", "recorded", "to run", "run directory")
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for run in planned:
        table.add_row(*_plan_row(run))
    # measured without a bound (rich clamps a measurement to the width it is given)
    fits = out.measure(table, options=out.options.update_width(1_000_000)).maximum <= out.width
    if out.is_terminal and fits:
        out.print(table)
    else:  # a log, a pipe or a narrow terminal: one whole line per run, for grep and wide editors, not a folded box
        out.print(title, soft_wrap=True)
        for run in planned:
            names = columns if run.directory is not None else (*columns[:-1], "not planned")  # the cell says why
            cells = zip(names, _plan_row(run), strict=True)
            out.print(" · ".join(f"{name}: {value}" if name != "model" else value for name, value in cells if value),
                      soft_wrap=True)  # fmt: skip
    known = [run for run in planned if run.samples is not None and run.recorded is not None]
    planned_samples = sum(run.samples or 0 for run in known)
    recorded = sum(run.recorded or 0 for run in known)
    out.print(
        f"{planned_samples} samples planned, {recorded} recorded already, {planned_samples - recorded} to run; "
        "nothing was run (--dry-run)."
    )


def _plan_row(run: PlannedRun) -> list[str]:
    samples = recorded = to_run = ""
    if run.samples is not None:
        samples = str(run.samples) + (f" of {run.dataset}" if run.dataset and run.samples < run.dataset else "")
    if run.samples is not None and run.recorded is not None:
        recorded, to_run = str(run.recorded), str(run.samples - run.recorded)
    if run.directory is not None:
        where = escape(str(run.directory))
    else:
        where = f"[{'red' if run.samples is None else 'yellow'}]{escape(run.note or '')}[/]"
    task = f"{run.task} ({run.split})"
    return [escape(run.model), task, run.prompt_variant or "", escape(run.variant), samples, recorded, to_run, where]


def _too_many_failures(out: Console, outcomes: list[RunOutcome], max_failures: float | None) -> bool:
    """Say so, and return True, when a run failed or its failed fraction exceeds `max_failures` (None: no bound)."""
    if max_failures is None:
        return False
    bad = [o for o in outcomes if o.failed_fraction > max_failures]
    if bad:
        out.print(f"[red]{len(bad)} of {len(outcomes)} runs failed or exceeded --max-failures {max_failures}[/red]")
    return bool(bad)


def summarize(out: Console, outcomes: list[RunOutcome]) -> None:
    """One line per run: what was generated, reused, failed and kept for scoring, and where it is."""
    for outcome in outcomes:
        if outcome.error:
            out.print(f"[red]✗ {escape(outcome.model)} · {outcome.task}: {escape(outcome.error)}[/red]")
            continue
        if outcome.metrics is None and outcome.shard is not None:
            out.print(
                f"[yellow]{escape(outcome.model)} · {outcome.task} ({outcome.split}) shard {outcome.shard}: "
                f"{outcome.generated} generated, {outcome.reused} reused; {outcome.missing} samples of other "
                f"shards not recorded yet[/yellow] → {escape(str(outcome.run_dir))}"
            )
            continue
        metrics = outcome.metrics
        failed = metrics.n_failed if metrics else 0
        waiting = metrics.n_pending if metrics else 0
        colour = "yellow" if failed or waiting else "green"
        out.print(
            f"[{colour}]{escape(outcome.model)} · {outcome.task} ({outcome.split}): {outcome.generated} generated, "
            f"{outcome.reused} reused"
            + (f" ({outcome.rescored} scored again: reference, choices or fields changed)" if outcome.rescored else "")
            + f", {failed} failed"
            + (f" (first: {escape(clip(outcome.failure))})" if failed and outcome.failure else "")
            + (f", {waiting} kept for scoring" if waiting else "")
            + (f" (shard {outcome.shard}, run complete)" if outcome.shard else "")
            + f"[/{colour}] → {escape(str(outcome.run_dir))}"
        )
    reasons = sorted({o.pending for o in outcomes if o.pending})
    for reason in reasons:
        out.print(f"[yellow]Some outputs are not scored yet: {escape(reason)} Then run the same command again.[/]")
