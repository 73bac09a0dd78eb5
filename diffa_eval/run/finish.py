"""Finishing a run, from its run directory alone: the one step the runner, every shard and `merge` share.

Once every planned sample has a record, finishing computes the metrics from the records (with the rules
the manifest's task description holds) and their compute totals, writes metrics.json and the benchmark's
submission file (from `submission-plan.json`), compacts samples.jsonl to one record per sample and marks
the manifest complete. No task code is needed, so a run finishes the same however its task code changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..describe import EvalRun, TaskDescription
from ..errors import StoreError
from ..scoring.aggregate import aggregate
from ..store import RunStore, SampleRecord, read_plan, read_run, run_cost
from ..types import TaskMetrics
from .provenance import now
from .submission import write_submission

LegacyDescription = Callable[[str], TaskDescription | None]
"""Describes a task by name, for version-1 runs, whose manifests hold no description (None: unknown task)."""


@dataclass(frozen=True)
class Finished:
    """A run directory after finishing: its records and, when no planned sample is missing, its metrics."""

    manifest: EvalRun
    records: dict[str, SampleRecord]
    plan: dict[str, str]
    """Resume key -> sample id of the planned samples, in dataset order."""
    missing: tuple[str, ...]
    """Ids of planned samples without a record, in dataset order."""
    metrics: TaskMetrics | None
    has_plan: bool = True
    """False for a run directory without plan.json (written before sharding existed): its records are taken
    as the whole run, so missing samples cannot be found."""


def finish_run(store: RunStore, manifest: EvalRun | None = None, legacy: LegacyDescription | None = None) -> Finished:
    """Finish the run `store` writes (held open by the caller): metrics, submission file, compaction and the
    complete manifest when no planned sample is missing; only the compaction otherwise.

    `manifest` is the one to mark complete (the caller's own, when it has just planned the run; else the
    stored one). `legacy` describes the task of a version-1 run. Everything happens under the records lock,
    so that two shards finishing at once finish one after the other, from every record.
    """
    with store.locked():
        run = manifest if manifest is not None else read_run(store.directory).manifest
        records = store.records()
        stored_plan = read_plan(store.directory)
        plan = stored_plan if stored_plan is not None else {key: r.sample_id for key, r in records.items()}
        missing = tuple(sample_id for key, sample_id in plan.items() if key not in records)
        metrics = None
        if not missing:
            description = _description(run, legacy)
            planned = [records[key] for key in plan]
            metrics = aggregate(
                description.metrics, [record.scored() for record in planned], description.breakdown_fields
            )
            metrics = replace(metrics, cost=run_cost(planned))
            store.write_metrics(metrics)
            write_submission(store.directory, list(plan), records)
        store.compact(plan, records)  # read above under the same lock: nothing appended since
        if not missing:
            run = replace(run, status="complete", finished_at=now())
            store.write_manifest(run)
    return Finished(run, records, plan, missing, metrics, has_plan=stored_plan is not None)


def _description(run: EvalRun, legacy: LegacyDescription | None) -> TaskDescription:
    if run.description is not None:
        return run.description
    description = legacy(run.task) if legacy is not None else None
    if description is None:  # a version-1 run does not describe its metrics: only its task's code does
        raise StoreError(
            f"the run of {run.model} on {run.task} was written by an older diffa-eval (schema version "
            f"{run.schema_version}) and does not describe its metrics; finish it with the task's code loaded"
        )
    return description
