"""The commands that hand stored runs to other tools: `export-dataset` (a Hugging Face dataset folder, pushed
when asked) and `export-wandb` (Weights & Biases). Both are optional: nothing else needs them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .app import app, console, escape, setup_logging

if TYPE_CHECKING:
    from ..report.wandb_log import WandbTarget

WANDB_HELP = (
    "Log each run to Weights & Biases (needs the wandb extra): KEY=VALUE,... with project, entity, name, group, "
    "job_type, notes, tags (repeatable: tags=a,tags=b). WANDB_MODE=offline writes the runs locally and sends nothing."
)


def wandb_target(text: str) -> WandbTarget:
    """The W&B target of a --wandb value, with wandb checked to be installed (before any work)."""
    from ..report.wandb_log import WandbTarget, wandb_module

    target = WandbTarget.parse(text)
    wandb_module()
    return target


def log_to_wandb(directories: list[Path], target: WandbTarget) -> None:
    """Log the run directories to W&B and say how many were logged."""
    from ..report.wandb_log import log_runs
    from ..store import read_run

    logged = log_runs([read_run(directory) for directory in directories], target)
    console().print(f"logged {len(logged)} runs to W&B" + (f" (project {target.project})" if target.project else ""))


@app.command("export-dataset")
def export_dataset_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or folders that contain them.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The dataset folder to write.")],
    push_to_hub: Annotated[
        str | None, typer.Option(help="Also upload the folder as this hub dataset repository (OWNER/NAME).")
    ] = None,
    private: Annotated[bool, typer.Option("--private", help="With --push-to-hub: create the repository private.")] = (
        False
    ),
    partial: Annotated[
        bool, typer.Option("--partial", help="Partial runs enter the leaderboard where no full run is.")
    ] = False,
) -> None:
    """Write runs as a Hugging Face dataset folder: configurations samples, runs and leaderboard (Parquet)."""
    from ..report.hf_dataset import check_push, export_dataset, push
    from ..store import find_runs

    setup_logging(False)
    if push_to_hub is not None:
        check_push(push_to_hub)  # before any work: a push that cannot happen is said at once
    counts = export_dataset(find_runs(runs), output, partial=partial)
    out = console()
    rows = ", ".join(f"{name} {n}" for name, n in counts.items())
    out.print(f"wrote {escape(str(output))} (rows: {rows})")
    if push_to_hub is not None:
        out.print(f"pushed to {escape(push(output, push_to_hub, private))}")


@app.command("export-wandb")
def export_wandb_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or folders that contain them.")],
    wandb: Annotated[str, typer.Option("--wandb", help=WANDB_HELP)],
) -> None:
    """Log stored runs to Weights & Biases: settings as config, metrics as summary, samples as a table."""
    from ..store import find_runs

    setup_logging(False)
    target = wandb_target(wandb)
    log_to_wandb([run.directory for run in find_runs(runs)], target)
