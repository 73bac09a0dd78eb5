"""Stored runs logged to Weights & Biases (the optional extra `wandb`, imported only here, when asked).

Each run directory becomes one W&B run: its settings (model, task, variant, generation, model facts, dataset
revision, batching, command, versions) as the config, its metrics (overall, per breakdown label, counts and
cost totals, see `flat.run_metrics`) as the summary, and its samples as the table `samples`. The W&B run id
comes from the run id, so logging a resumed run again updates its W&B run instead of adding another.
W&B's own settings apply: `WANDB_MODE=offline` writes the runs under `WANDB_DIR` and sends nothing
(`wandb sync` sends them later).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, DiffaEvalError, MissingDependencyError
from ..store import StoredRun
from .flat import SAMPLE_COLUMNS, run_metrics, run_settings, sample_rows

WANDB_KEYS = ("project", "entity", "name", "group", "job_type", "notes", "tags")


@dataclass(frozen=True)
class WandbTarget:
    """Where and how runs are logged (`--wandb project=P,name=N,...`). `name` names the W&B runs (each is
    `NAME · TASK (SPLIT)`) and, unless `group` is given, groups them; without it each is `MODEL · TASK (SPLIT)`."""

    project: str | None = None
    entity: str | None = None
    name: str | None = None
    group: str | None = None
    job_type: str = "eval"
    notes: str | None = None
    tags: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> WandbTarget:
        """`KEY=VALUE,...` with keys among `WANDB_KEYS`; `tags` may be given more than once (tags=a,tags=b)."""
        values: dict[str, Any] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in WANDB_KEYS or not value.strip():
                keys = ", ".join(WANDB_KEYS)
                raise ConfigError(f"--wandb {part.strip()!r}: expected KEY=VALUE with KEY one of {keys}")
            values[key] = (*values.get("tags", ()), value.strip()) if key == "tags" else value.strip()
        return cls(**values)

    def run_name(self, run: StoredRun) -> str:
        manifest = run.manifest
        head = self.name or manifest.model
        label = f" · {manifest.variant.label}" if manifest.variant and manifest.variant.label and not self.name else ""
        return f"{head}{label} · {manifest.task} ({manifest.split})"


def wandb_module() -> Any:
    """The wandb package; a clear error naming the extra when it is not installed."""
    try:
        return importlib.import_module("wandb")
    except ImportError:
        raise MissingDependencyError("wandb", "wandb") from None


def wandb_run_id(run: StoredRun) -> str:
    """The W&B run id of a run directory: from its run id, so that the same run is logged into the same W&B run."""
    return run.manifest.run_id[:32]


def log_runs(runs: Sequence[StoredRun], target: WandbTarget) -> list[str]:
    """Log each run as a W&B run; returns the W&B run ids, in order. Runs without metrics are logged with their
    samples so far (a partial or unfinished run)."""
    wandb = wandb_module()
    logged = []
    for run in runs:
        try:
            tracked = wandb.init(
                project=target.project,
                entity=target.entity,
                name=target.run_name(run),
                group=target.group or target.name,
                job_type=target.job_type,
                notes=target.notes,
                tags=list(target.tags) or None,
                config=run_settings(run),
                id=wandb_run_id(run),
                resume="allow",
                # the run has finished: there is no console output to capture
                settings=wandb.Settings(console="off", save_code=False),
            )
        except Exception as error:  # W&B raises its own types, e.g. for a missing API key
            raise DiffaEvalError(
                f"W&B could not start a run for {run.directory}: {type(error).__name__}: {error} "
                "(log in, set WANDB_API_KEY, or WANDB_MODE=offline; the run is stored either way)"
            ) from None
        try:
            tracked.summary.update(run_metrics(run))
            rows = [[row[column] for column in SAMPLE_COLUMNS] for row in sample_rows(run)]
            tracked.log({"samples": wandb.Table(columns=list(SAMPLE_COLUMNS), data=rows)})
        finally:
            tracked.finish()
        logged.append(wandb_run_id(run))
    return logged
