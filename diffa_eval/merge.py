"""Combine the shards of a run: recompute its metrics from the records, compact it, report missing samples.

`merge_runs(paths)` finishes run directories in place (shards that shared one output folder).
`merge_runs(paths, into=folder)` first gathers run directories of the same run from several output
folders (e.g. one per node-local disk) into one run directory per run under `folder`, keeping for
each sample its best record: a scored one over one waiting for a score over a failed one, and the
later source among equals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from .errors import StoreError
from .scoring.aggregate import aggregate
from .store import (
    SAMPLES,
    RunStore,
    SampleRecord,
    StoredRun,
    find_runs,
    latest_records,
    read_plan,
    read_records,
    read_run,
    run_cost,
)
from .task import TASKS
from .types import TaskMetrics


@dataclass(frozen=True)
class MergeResult:
    """One run directory after a merge."""

    directory: Path
    model: str
    task: str
    split: str
    recorded: int
    """Planned samples that have a record (failed samples included)."""
    missing: tuple[str, ...]
    """Ids of planned samples that no shard has recorded yet, in dataset order."""
    metrics: TaskMetrics | None
    """The recomputed metrics; None while samples are missing."""
    has_plan: bool = True
    """False for a run directory without plan.json (written before sharding existed): its records are
    taken as the whole run, so missing samples cannot be found."""

    @property
    def complete(self) -> bool:
        return not self.missing


def merge_runs(paths: Sequence[Path], into: Path | None = None) -> list[MergeResult]:
    """Finish every run directory at or below `paths`, or gather them under `into` first."""
    runs = find_runs(paths)
    if not runs:
        raise StoreError(f"no run directories under {', '.join(map(str, paths))}")
    if into is None:
        return [finish_run(run.directory) for run in runs]
    groups: dict[Path, list[StoredRun]] = {}
    for run in runs:
        groups.setdefault(into / run.directory.parent.name / run.directory.name, []).append(run)
    results = []
    for target, sources in groups.items():
        others = [run for run in sources if run.directory.resolve() != target.resolve()]
        gather_run(target, others)
        results.append(finish_run(target))
    return results


def gather_run(target: Path, sources: Sequence[StoredRun]) -> None:
    """Add the records and plan of `sources` (run directories of one run) to the run directory `target`."""
    if not sources:
        return
    existing = read_run(target) if (target / "manifest.json").exists() else None
    run_ids = {run.manifest.run_id for run in sources} | ({existing.manifest.run_id} if existing else set())
    if len(run_ids) > 1:
        listed = ", ".join(str(run.directory) for run in sources)
        raise StoreError(f"cannot merge different runs into {target} (run ids {', '.join(sorted(run_ids))}): {listed}")
    with RunStore(target) as store:
        current = store.records()
        best = dict(current)
        plan = read_plan(target) or {}
        for run in sources:
            for key, record in latest_records(read_records(run.directory / SAMPLES)).items():
                if key not in best or _quality(record) >= _quality(best[key]):
                    best[key] = record
            for key, sample_id in (read_plan(run.directory) or {}).items():
                plan.setdefault(key, sample_id)
        store.append_all(record for key, record in best.items() if current.get(key) != record)
        store.sync()
        if plan:
            store.write_plan(plan)
        manifests = [run.manifest for run in sources] + ([existing.manifest] if existing else [])
        first_start = min(manifest.started_at for manifest in manifests)
        store.write_manifest(replace(sources[-1].manifest, started_at=first_start, status="running", finished_at=None))


def finish_run(directory: Path) -> MergeResult:
    """Recompute a run's metrics from its records, compact it, and mark it complete when no sample is missing."""
    run = read_run(directory)
    description = run.manifest.description
    if description is not None:
        metric_rules, breakdown_fields = description.metrics, description.breakdown_fields
    else:  # a version-1 run does not describe its metrics: its task's code does
        task = TASKS.get(run.manifest.task)
        metric_rules, breakdown_fields = tuple(task.metrics), tuple(task.breakdown_fields)
    with RunStore(directory) as store:
        records = store.records()
        stored_plan = read_plan(directory)
        plan = stored_plan if stored_plan is not None else {key: r.sample_id for key, r in records.items()}
        missing = tuple(sample_id for key, sample_id in plan.items() if key not in records)
        metrics = None
        if not missing:
            planned = [records[key] for key in plan]
            metrics = aggregate(metric_rules, [record.scored() for record in planned], breakdown_fields)
            metrics = replace(metrics, cost=run_cost(planned))
            store.write_metrics(metrics)
        store.compact(plan)
        if not missing:
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            store.write_manifest(replace(run.manifest, status="complete", finished_at=now))
    recorded = sum(1 for key in plan if key in records)
    return MergeResult(
        directory,
        run.manifest.model,
        run.manifest.task,
        run.manifest.split,
        recorded,
        missing,
        metrics,
        has_plan=stored_plan is not None,
    )


def _quality(record: SampleRecord) -> int:
    """How finished a record is: failed before an output < output waiting for a score < scored."""
    if record.needs_output:
        return 0
    return 1 if record.needs_score else 2
