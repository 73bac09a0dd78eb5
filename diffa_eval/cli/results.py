"""The commands that read stored runs: `table` (leaderboards), `plots` (figures per benchmark), `compare`
(regression gate) and `merge` (shards)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .app import app, console, escape, load_task_dirs, setup_logging, split_list
from .options import TasksDirOption

if TYPE_CHECKING:
    from ..describe import TaskDescription


class TableFormat(str, Enum):
    terminal = "terminal"
    markdown = "markdown"
    latex = "latex"
    html = "html"
    csv = "csv"
    json = "json"


class LatexLayout(Enum):
    auto = "auto"
    wide = "wide"
    split = "split"
    transposed = "transposed"


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
    from ..run.merge import merge_runs

    setup_logging(False)
    load_task_dirs(tasks_dir)
    results = merge_runs(runs, into, legacy=registered_description)
    out = console()
    for result in results:
        head = f"{escape(result.model)} · {result.task} ({result.split}): {result.recorded} samples recorded"
        if not result.has_plan:
            head += " (no plan.json: missing samples cannot be known)"
        if result.complete:
            out.print(f"[green]{head}, complete[/green] → {escape(str(result.directory))}")
            continue
        shown = ", ".join(result.missing[:20]) + (" ..." if len(result.missing) > 20 else "")
        out.print(
            f"[red]{head}, {len(result.missing)} missing: {escape(shown)}[/red] → {escape(str(result.directory))}",
            soft_wrap=True,
        )
    incomplete = [r for r in results if not r.complete]
    if incomplete:
        out.print(f"[red]{len(incomplete)} of {len(results)} runs miss samples[/red]")
        raise typer.Exit(1)


def registered_description(task: str) -> TaskDescription | None:
    """How a version-1 run's task is described (those manifests hold none): as it was, for a built-in task
    (frozen data), else as the registered task code (e.g. of --tasks-dir) describes it now; None if unknown."""
    from ..report.legacy import legacy_description
    from ..task import TASKS

    known = legacy_description(task)
    if known is not None:
        return known
    return TASKS.get(task).describe() if task in TASKS.names() else None


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
    caption: Annotated[
        str | None, typer.Option(help="LaTeX caption (default: what the table shows) / HTML title.")
    ] = None,
    label: Annotated[str, typer.Option(help="LaTeX label.")] = "tab:results",
    standalone: Annotated[bool, typer.Option(help="LaTeX: a complete document instead of a table.")] = False,
    layout: Annotated[
        LatexLayout,
        typer.Option(
            help="LaTeX: 'wide' (benchmarks side by side), 'split' (benchmarks packed into tabulars that fit), "
            "'transposed' (benchmarks as rows), 'auto' (wide when it fits; else split with --two-column, or "
            "whichever of split and transposed shrinks less).",
        ),
    ] = LatexLayout.auto,
    two_column: Annotated[
        bool, typer.Option("--two-column", help="LaTeX: a table* across both columns of a two-column page.")
    ] = False,
    provenance: Annotated[
        bool, typer.Option("--provenance", help="LaTeX: the dataset revisions as a notes line, not only comments.")
    ] = False,
    plots: Annotated[
        bool,
        typer.Option(
            "--plots", help="HTML: add a grid of plots per benchmark (quality vs speed, categories; matplotlib)."
        ),
    ] = False,
    samples: Annotated[
        bool, typer.Option("--samples/--no-samples", help="HTML: add the sample browser (every sample of each run).")
    ] = True,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead.")] = None,
    partial: Annotated[
        bool,
        typer.Option("--partial", help="Show partial runs (--limit, too many failures), marked, where no full run is."),
    ] = False,
    cost: Annotated[
        bool,
        typer.Option("--cost", help="Add cost columns: forward passes, tokens, seconds per sample, samples/s, device."),
    ] = False,
) -> None:
    """A leaderboard from stored runs: a row per model and settings, columns are benchmarks with sub-columns."""
    from ..errors import StoreError
    from ..files import atomic_write_text, writing
    from ..report import tables
    from ..report.reported import read_reported
    from ..store import find_runs

    setup_logging(False)
    stored = find_runs(runs)
    board = tables.build_table(
        stored,
        reported=read_reported(reported_dir) if reported or delta else (),
        benchmarks=split_list(benchmarks) if benchmarks else None,
        models=split_list(models) if models else None,
        delta=delta,
        partial=partial,
        cost=cost,
    )
    if not any(row.kind == "measured" for row in board.rows):
        left_out = board.partial_left_out
        hint = f" ({left_out} partial runs left out; --partial shows them)" if left_out else ""
        raise StoreError(f"no completed runs under {', '.join(map(str, runs))}{hint}")
    if format is TableFormat.terminal:
        console().print(tables.to_rich(board, with_ci=ci))
        return
    if format is TableFormat.markdown:
        text = tables.to_markdown(board, with_ci=ci)
    elif format is TableFormat.latex:
        text = tables.to_latex(
            board,
            with_ci=ci,
            caption=caption,
            label=label,
            standalone=standalone,
            layout=layout.value,
            two_column=two_column,
            provenance=provenance,
        )
    elif format is TableFormat.html:
        from ..report.samples import sample_browser_data

        figures = []
        if plots:
            from ..report.plots import report_figures

            figures = report_figures(
                stored,
                benchmarks=split_list(benchmarks) if benchmarks else None,
                models=split_list(models) if models else None,
                partial=partial,
            )
        page_folder = output.parent if output is not None else None  # audio links relative to the page
        text = tables.to_html(
            board,
            with_ci=ci,
            title=caption or "diffa-eval leaderboard",
            figures=figures,
            samples=sample_browser_data(board, stored, page_folder) if samples else None,
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


@app.command("plots")
def plots_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or folders that contain them.")],
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Folder for the figure files.")] = Path(
        "figures"
    ),
    formats: Annotated[
        str, typer.Option("--formats", help="Comma-separated file formats, e.g. pdf,svg,png (any matplotlib writes).")
    ] = "pdf,svg,png",
    benchmarks: Annotated[
        str | None, typer.Option(help="Comma-separated column groups, as for `table` (default: all).")
    ] = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated rows, as for `table` (default: all).")] = None,
    partial: Annotated[
        bool, typer.Option("--partial", help="Include partial runs, as `table --partial` does.")
    ] = False,
) -> None:
    """One figure per benchmark for a paper: quality vs speed and vs forward passes with the Pareto front,
    and category bars; baselines drawn as reference lines."""
    from ..errors import ConfigError, StoreError
    from ..report.plots import figure_formats, write_benchmark_figures
    from ..store import find_runs

    setup_logging(False)
    chosen = split_list(formats)
    unknown = [name for name in chosen if name.lower() not in figure_formats()]
    if unknown or not chosen:
        raise ConfigError(f"--formats: unknown figure format {', '.join(unknown) or '(none)'}; e.g. pdf,svg,png")
    written = write_benchmark_figures(
        find_runs(runs),
        output_dir,
        [name.lower() for name in chosen],
        benchmarks=split_list(benchmarks) if benchmarks else None,
        models=split_list(models) if models else None,
        partial=partial,
    )
    if not written:
        raise StoreError(f"nothing to plot under {', '.join(map(str, runs))} (no completed runs of a model)")
    for path in written:
        typer.echo(str(path))


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
    from ..errors import ConfigError
    from ..files import atomic_write_text, writing
    from ..report.compare import Tolerance, compare
    from ..report.render.verdict import to_json, to_markdown
    from ..store import find_runs

    setup_logging(False)
    load_task_dirs(tasks_dir)
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
        find_runs([baseline]),
        find_runs([candidate]),
        tolerance,
        split_list(metrics) if metrics else None,
        describe=registered_description,
    )
    summary = to_markdown(verdict)
    for path, text in ((markdown, summary), (json_path, to_json(verdict))):
        if path is not None:
            with writing(path, resumable=False):
                atomic_write_text(path, text)
    typer.echo(summary, nl=False)
    if not verdict.passed:
        raise typer.Exit(1)
